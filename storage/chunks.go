package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MaxChunkSize bounds one chunk. File transfer picks its chunk size well
// below it; the bound keeps a damaged or hostile chunk file from being read
// whole into memory.
const MaxChunkSize = 16 << 20

// ChunkID is the SHA-256 of a chunk's bytes.
type ChunkID [32]byte

// String returns the id in hex.
func (id ChunkID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits.
func (id ChunkID) Short() string { return hex.EncodeToString(id[:4]) }

// ParseChunkID decodes a 64-digit hex id.
func ParseChunkID(s string) (ChunkID, error) {
	var id ChunkID
	if len(s) != 64 {
		return id, fmt.Errorf("chunk id: want 64 hex digits, got %d", len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("chunk id: not hex")
	}
	return id, nil
}

// SumChunk returns the id of data.
func SumChunk(data []byte) ChunkID { return sha256.Sum256(data) }

// Chunks is a content-addressed store of chunks in a folder. It is safe for
// concurrent use by goroutines and by processes.
type Chunks struct {
	dir string
}

const (
	tmpDir     = "tmp"
	corruptDir = "corrupt"
)

// OpenChunks opens or creates a chunk store in dir (mode 0700) and removes
// temporary files a crash left behind.
func OpenChunks(dir string) (*Chunks, error) {
	for _, d := range []string{dir, filepath.Join(dir, tmpDir), filepath.Join(dir, corruptDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("chunk store: %w", err)
		}
	}
	left, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("chunk store: %w", err)
	}
	for _, e := range left {
		os.Remove(filepath.Join(dir, tmpDir, e.Name()))
	}
	return &Chunks{dir: dir}, nil
}

func (c *Chunks) path(id ChunkID) string {
	h := id.String()
	return filepath.Join(c.dir, h[:2], h)
}

// Put stores data and returns its id. It returns only once the chunk is
// durable: written, synced and renamed into place, the folder synced. A
// chunk already stored intact is not written again.
func (c *Chunks) Put(data []byte) (ChunkID, error) {
	if len(data) > MaxChunkSize {
		return ChunkID{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxChunkSize)
	}
	id := SumChunk(data)
	final := c.path(id)
	if _, err := c.Get(id); err == nil {
		return id, nil
	}
	sub := filepath.Dir(final)
	if _, err := os.Stat(sub); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(sub, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return id, fmt.Errorf("chunk %s: %w", id.Short(), err)
		}
		if err := syncDir(c.dir); err != nil {
			return id, fmt.Errorf("chunk %s: %w", id.Short(), err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Join(c.dir, tmpDir), id.Short()+"-*")
	if err != nil {
		return id, fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	name := tmp.Name()
	if err := writeSync(tmp, data); err != nil {
		os.Remove(name)
		return id, fmt.Errorf("writing chunk %s: %w", id.Short(), err)
	}
	if err := os.Rename(name, final); err != nil {
		os.Remove(name)
		return id, fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	if err := syncDir(sub); err != nil {
		return id, fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	return id, nil
}

func writeSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	d.Close()
	return err
}

// Get returns the chunk's bytes after checking them against id. A missing
// chunk is ErrNotFound; a chunk whose bytes do not match is moved aside and
// reported as a *CorruptError, so it is never served.
func (c *Chunks) Get(id ChunkID) ([]byte, error) { return c.GetInto(id, nil) }

// GetInto is Get reading into buf when it is large enough (a transfer
// reuses one buffer per chunk in flight instead of allocating each).
func (c *Chunks) GetInto(id ChunkID, buf []byte) ([]byte, error) {
	f, err := os.Open(c.path(id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("chunk %s: %w", id.Short(), ErrNotFound)
		}
		return nil, fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", id.Short(), err)
	}
	if fi.Size() > MaxChunkSize {
		return nil, c.quarantine(id)
	}
	data := buf[:0]
	if int64(cap(buf)) < fi.Size() {
		data = make([]byte, fi.Size())
	}
	data = data[:fi.Size()]
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("reading chunk %s: %w", id.Short(), err)
	}
	if SumChunk(data) != id {
		return nil, c.quarantine(id)
	}
	return data, nil
}

func (c *Chunks) quarantine(id ChunkID) error {
	dst := filepath.Join(c.dir, corruptDir, id.String())
	if err := os.Rename(c.path(id), dst); err != nil {
		return &CorruptError{ID: id}
	}
	return &CorruptError{ID: id, Quarantined: dst}
}

// Has reports whether a chunk file exists for id (without checking it).
func (c *Chunks) Has(id ChunkID) bool {
	_, err := os.Stat(c.path(id))
	return err == nil
}

// Delete removes a chunk; a missing chunk is not an error.
func (c *Chunks) Delete(id ChunkID) error {
	err := os.Remove(c.path(id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting chunk %s: %w", id.Short(), err)
	}
	return nil
}

// Walk calls fn with the id and size of every stored chunk, in no
// particular order, and stops at fn's first error. Files that are not
// chunks are skipped.
func (c *Chunks) Walk(fn func(id ChunkID, size int64) error) error {
	subs, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	for _, s := range subs {
		if !s.IsDir() || len(s.Name()) != 2 {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(c.dir, s.Name()))
		if err != nil {
			return err
		}
		for _, e := range entries {
			id, err := ParseChunkID(e.Name())
			if err != nil || !strings.HasPrefix(e.Name(), s.Name()) {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			if err := fn(id, fi.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Scrub reads every chunk, moves aside those that fail their check and
// returns their ids.
func (c *Chunks) Scrub() ([]ChunkID, error) {
	var bad []ChunkID
	err := c.Walk(func(id ChunkID, _ int64) error {
		if _, err := c.Get(id); errors.Is(err, ErrCorrupt) {
			bad = append(bad, id)
		} else if err != nil {
			return err
		}
		return nil
	})
	return bad, err
}
