package log

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// Discovery is a room's discovery key: a keyed hash of the room key, the
// public handle peers announce and mirrors store under. It reveals nothing
// of the room key.
type Discovery [32]byte

// String returns the key in hex.
func (d Discovery) String() string { return hex.EncodeToString(d[:]) }

// Short returns the first 8 hex digits.
func (d Discovery) Short() string { return hex.EncodeToString(d[:4]) }

// LogValue logs the short form.
func (d Discovery) LogValue() slog.Value { return slog.StringValue(d.Short()) }

// ID names one writer's log in one room.
type ID [32]byte

// String returns the id in hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// LogValue logs the short form.
func (id ID) LogValue() slog.Value { return slog.StringValue(id.Short()) }

const idDomain = "hearth/log-id/v1\x00"

// LogID returns the id of writer's log in the room of disc.
func LogID(disc Discovery, writer [32]byte) ID {
	h := sha256.New()
	h.Write([]byte(idDomain))
	h.Write(disc[:])
	h.Write(writer[:])
	var id ID
	h.Sum(id[:0])
	return id
}

// Key is an epoch key: the XChaCha20-Poly1305 key that seals a room's
// entries for one epoch. It never prints itself.
type Key struct{ k [32]byte }

// NewKey makes a key from 32 bytes (copied).
func NewKey(b [32]byte) Key { return Key{k: b} }

// RandomKey makes a fresh key.
func RandomKey() Key {
	var k Key
	rand.Read(k.k[:])
	return k
}

// Bytes returns a copy of the key, to seal it to a device; the caller
// wipes it.
func (k Key) Bytes() [32]byte { return k.k }

// IsZero reports whether the key is unset.
func (k Key) IsZero() bool { return k.k == [32]byte{} }

// String never shows the key.
func (Key) String() string { return "Key(redacted)" }

// GoString never shows the key.
func (Key) GoString() string { return "Key(redacted)" }

// LogValue never shows the key.
func (Key) LogValue() slog.Value { return slog.StringValue("redacted") }
