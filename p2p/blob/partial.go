package blob

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/blobwire"
)

// Partial is a file being received: plaintext written in place at each
// chunk's offset. It needs no state of its own to resume: encryption is
// deterministic for a file (its key and each chunk's place), so a chunk on
// disk is verified by sealing it again and comparing with its hash. After
// a crash or a break, what was written and is whole is kept; only the
// rest is fetched. A member serves the chunks it holds the same way.
type Partial struct {
	*blobwire.HeldSet // Missing, Held, Complete
	m                 *chunk.Manifest
	hashes            []chunk.Hash
	f                 *os.File
}

// ErrNoSpace means the disk is full: the partial file stays, and the
// transfer resumes when space returns.
var ErrNoSpace = errors.New("no space left on the disk")

// OpenPartial opens (or creates) the partial file at path for m, whose
// hash list hashes has been checked, and finds the chunks it already
// holds.
func OpenPartial(path string, m *chunk.Manifest, hashes []chunk.Hash) (*Partial, error) {
	if err := chunk.CheckHashes(m, hashes); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > m.Size {
		if err := f.Truncate(m.Size); err != nil {
			f.Close()
			return nil, err
		}
	}
	p := &Partial{HeldSet: blobwire.NewHeldSet(m), m: m, hashes: hashes, f: f}
	buf := make([]byte, m.ChunkSize)
	for i := range m.Chunks() {
		off := int64(i) * int64(m.ChunkSize)
		n := m.ChunkLen(i)
		if off+int64(n) > fi.Size() {
			break
		}
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			continue
		}
		if chunk.Sum(chunk.Seal(m.Key, i, m.Size, buf[:n])) == hashes[i] {
			p.Mark(i)
		}
	}
	return p, nil
}

// chunk.Manifest returns the file's manifest.
func (p *Partial) Manifest() *chunk.Manifest { return p.m }

// Put verifies ciphertext chunk i against its hash, decrypts it (over
// ct, which it consumes) and writes it in place.
func (p *Partial) Put(i int, ct []byte) error {
	if i < 0 || i >= len(p.hashes) || chunk.Sum(ct) != p.hashes[i] {
		return fmt.Errorf("%w: chunk %d does not match its hash", chunk.ErrBad, i)
	}
	plain, err := chunk.OpenInPlace(p.m, i, ct)
	if err != nil {
		return err
	}
	if _, err := p.f.WriteAt(plain, int64(i)*int64(p.m.ChunkSize)); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("%w: %v", ErrNoSpace, err)
		}
		return err
	}
	p.Mark(i)
	return nil
}

// Sync flushes what was written to the disk.
func (p *Partial) Sync() error { return p.f.Sync() }

// Close closes the file (it stays, complete or not).
func (p *Partial) Close() error { return p.f.Close() }

// Hashes serves the hash list (Source).
func (p *Partial) Hashes(root chunk.Hash) ([]chunk.Hash, bool) {
	if root != p.m.Root {
		return nil, false
	}
	return p.hashes, true
}

// Chunk serves chunk i, sealed again from the plaintext and checked
// (Source).
func (p *Partial) Chunk(root chunk.Hash, i int, buf []byte) ([]byte, bool) {
	if root != p.m.Root || i < 0 || i >= len(p.hashes) {
		return nil, false
	}
	if !p.Has(i) {
		return nil, false
	}
	n := p.m.ChunkLen(i)
	if cap(buf) < n+chacha20poly1305.Overhead {
		buf = make([]byte, n, n+chacha20poly1305.Overhead)
	}
	plain := buf[:n]
	if _, err := p.f.ReadAt(plain, int64(i)*int64(p.m.ChunkSize)); err != nil {
		return nil, false
	}
	ct := chunk.SealInPlace(p.m.Key, i, p.m.Size, plain)
	if chunk.Sum(ct) != p.hashes[i] {
		return nil, false // changed on disk since: never serve a bad chunk
	}
	return ct, true
}

// Have reports the chunks held (Source).
func (p *Partial) Have(root chunk.Hash) []bool {
	if root != p.m.Root {
		return nil
	}
	return p.Bitmap()
}

var _ blobwire.Sink = (*Partial)(nil)
