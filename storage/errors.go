package storage

import (
	"errors"
	"fmt"
)

// Errors callers branch on.
var (
	// ErrNotFound means no record or chunk has that key.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt means stored bytes no longer match their hash.
	ErrCorrupt = errors.New("corrupt chunk")
	// ErrLocked means another process holds the database.
	ErrLocked = errors.New("database is in use by another process")
	// ErrTooLarge means a chunk exceeds MaxChunkSize.
	ErrTooLarge = errors.New("chunk too large")
	// ErrBadKey means a bucket name or key is empty or too long.
	ErrBadKey = errors.New("bad bucket name or key")
)

// CorruptError names the chunk that failed its check and where it was
// moved; it unwraps to ErrCorrupt.
type CorruptError struct {
	ID          ChunkID
	Quarantined string // path it was moved to, or "" if the move failed
}

func (e *CorruptError) Error() string {
	if e.Quarantined == "" {
		return fmt.Sprintf("chunk %s: %v", e.ID.Short(), ErrCorrupt)
	}
	return fmt.Sprintf("chunk %s: %v (moved to %s)", e.ID.Short(), ErrCorrupt, e.Quarantined)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }
