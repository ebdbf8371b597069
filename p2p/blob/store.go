package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/blobwire"
	"github.com/hearthp2p/hearth/storage"
)

// Source is what serves a file's chunks: a Store (sender, mirror) or a
// Partial (a member that downloaded it).
type Source interface {
	// Hashes returns the chunks' hashes of the file of root.
	Hashes(root chunk.Hash) ([]chunk.Hash, bool)
	// Chunk returns ciphertext chunk i, checked against its hash. It may
	// use buf (when large enough) for the bytes it returns.
	Chunk(root chunk.Hash, i int, buf []byte) ([]byte, bool)
	// Have reports which chunks it holds.
	Have(root chunk.Hash) []bool
}

var bucketBlobs = []byte("blobs")

// Store keeps files as ciphertext chunks in a chunk store, with their hash
// lists in the database.
type Store struct {
	db     *storage.DB
	chunks *storage.Chunks

	mu    sync.Mutex
	cache map[chunk.Hash][]chunk.Hash // hash lists recently served
}

// NewStore uses db for hash lists and chunks for the bytes.
func NewStore(db *storage.DB, chunks *storage.Chunks) *Store {
	return &Store{db: db, chunks: chunks, cache: map[chunk.Hash][]chunk.Hash{}}
}

// cacheSize bounds the hash lists kept decoded.
const cacheSize = 16

// Put encrypts the file read from r (size bytes) into the chunk store and
// records it. The file is read once, one chunk at a time.
func (s *Store) Put(r io.Reader, size int64) (*chunk.Manifest, error) {
	return s.put(context.Background(), r, size, nil)
}

// put is Put, stopped by ctx. A put that fails deletes the chunks it
// stored: nothing would ever refer to them.
func (s *Store) put(ctx context.Context, r io.Reader, size int64, progress func(done int64)) (*chunk.Manifest, error) {
	var stored []storage.ChunkID
	m, hashes, err := chunk.Encrypt(r, size, func(i int, ct []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		id, err := s.chunks.Put(ct)
		if err != nil {
			return fmt.Errorf("storing chunk %d: %w", i, err)
		}
		stored = append(stored, id)
		if progress != nil {
			progress(min(int64(i+1)*chunk.Size, size))
		}
		return nil
	})
	if err != nil {
		for _, id := range stored {
			s.chunks.Delete(id)
		}
		return nil, err
	}
	if err := s.add(m.Root, hashes); err != nil {
		return nil, err
	}
	return m, nil
}

// PutFile is Put for a regular file on disk.
func (s *Store) PutFile(path string) (*chunk.Manifest, error) {
	return s.PutFileProgress(context.Background(), path, nil)
}

// PutFileProgress is PutFile, stopped by ctx, calling progress (if not
// nil) with the bytes encrypted so far after each chunk.
func (s *Store) PutFileProgress(ctx context.Context, path string, progress func(done int64)) (*chunk.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return s.put(ctx, f, fi.Size(), progress)
}

// Add records the hash list of a file whose chunks are (or will be) in
// the chunk store, e.g. on a mirror.
func (s *Store) Add(m *chunk.Manifest, hashes []chunk.Hash) error {
	if err := chunk.CheckHashes(m, hashes); err != nil {
		return err
	}
	return s.add(m.Root, hashes)
}

func (s *Store) add(root chunk.Hash, hashes []chunk.Hash) error {
	v := make([]byte, 0, 32*len(hashes))
	for _, h := range hashes {
		v = append(v, h[:]...)
	}
	return s.db.Put(bucketBlobs, root[:], v)
}

// Hashes returns the hash list of the file of root (checked when it was
// added).
func (s *Store) Hashes(root chunk.Hash) ([]chunk.Hash, bool) {
	s.mu.Lock()
	hs, ok := s.cache[root]
	s.mu.Unlock()
	if ok {
		return hs, true
	}
	v, err := s.db.Get(bucketBlobs, root[:])
	if err != nil || len(v)%32 != 0 {
		return nil, false
	}
	hs = make([]chunk.Hash, len(v)/32)
	for i := range hs {
		copy(hs[i][:], v[32*i:])
	}
	s.mu.Lock()
	if len(s.cache) >= cacheSize {
		clear(s.cache)
	}
	s.cache[root] = hs
	s.mu.Unlock()
	return hs, true
}

// Chunk returns ciphertext chunk i of the file of root.
func (s *Store) Chunk(root chunk.Hash, i int, buf []byte) ([]byte, bool) {
	hs, ok := s.Hashes(root)
	if !ok || i < 0 || i >= len(hs) {
		return nil, false
	}
	ct, err := s.chunks.GetInto(storage.ChunkID(hs[i]), buf)
	return ct, err == nil
}

// Have reports which chunks of the file of root the chunk store holds.
func (s *Store) Have(root chunk.Hash) []bool {
	hs, ok := s.Hashes(root)
	if !ok {
		return nil
	}
	have := make([]bool, len(hs))
	for i, h := range hs {
		have[i] = s.chunks.Has(storage.ChunkID(h))
	}
	return have
}

// PutChunk stores a ciphertext chunk fetched for a file (a mirror keeping
// it), after checking it against the hash list.
func (s *Store) PutChunk(root chunk.Hash, i int, ct []byte) error {
	hs, ok := s.Hashes(root)
	if !ok || i < 0 || i >= len(hs) {
		return errors.New("unknown file or chunk")
	}
	if chunk.Sum(ct) != hs[i] {
		return fmt.Errorf("%w: chunk %d does not match its hash", chunk.ErrBad, i)
	}
	_, err := s.chunks.Put(ct)
	return err
}

// StoreSink fetches a file into the store as ciphertext (a mirror keeping
// it): no key needed.
type StoreSink struct {
	s      *Store
	m      *chunk.Manifest
	hashes []chunk.Hash
	// Admit, when set, is asked before a chunk that matched its hash is
	// stored, with its length; an error refuses the chunk and ends the
	// fetch (a mirror out of space).
	Admit func(n int64) error
}

var _ blobwire.Sink = (*StoreSink)(nil)

// Sink records a file's checked hash list and returns a sink for its
// chunks. m needs only chunk.Root, Size and chunk.Size.
func (s *Store) Sink(m *chunk.Manifest, hashes []chunk.Hash) (*StoreSink, error) {
	if err := chunk.CheckHashes(m, hashes); err != nil {
		return nil, err
	}
	if err := s.add(m.Root, hashes); err != nil {
		return nil, err
	}
	return &StoreSink{s: s, m: m, hashes: hashes}, nil
}

// chunk.Manifest returns the file's manifest (without key).
func (k *StoreSink) Manifest() *chunk.Manifest { return k.m }

// Missing returns the chunks the store lacks.
func (k *StoreSink) Missing() []int {
	var out []int
	for i, h := range k.hashes {
		if !k.s.chunks.Has(storage.ChunkID(h)) {
			out = append(out, i)
		}
	}
	return out
}

// Held returns the chunks and bytes the store holds.
func (k *StoreSink) Held() (n int, b int64) {
	for i, h := range k.hashes {
		if k.s.chunks.Has(storage.ChunkID(h)) {
			n++
			b += int64(k.m.ChunkLen(i))
		}
	}
	return n, b
}

// Complete reports whether every chunk is held.
func (k *StoreSink) Complete() bool { n, _ := k.Held(); return n == len(k.hashes) }

// Put checks and stores chunk i.
func (k *StoreSink) Put(i int, ct []byte) error {
	if k.Admit != nil {
		if i < 0 || i >= len(k.hashes) {
			return errors.New("unknown chunk")
		}
		if chunk.Sum(ct) != k.hashes[i] {
			return fmt.Errorf("%w: chunk %d does not match its hash", chunk.ErrBad, i)
		}
		if err := k.Admit(int64(len(ct))); err != nil {
			return err
		}
	}
	return k.s.PutChunk(k.m.Root, i, ct)
}

// Sync does nothing: the chunk store syncs every chunk.
func (k *StoreSink) Sync() error { return nil }

// Drop deletes a file's chunks and hash list from the store.
func (s *Store) Drop(root chunk.Hash) error {
	hs, ok := s.Hashes(root)
	if !ok {
		return nil
	}
	for _, h := range hs {
		if err := s.chunks.Delete(storage.ChunkID(h)); err != nil {
			return err
		}
	}
	s.mu.Lock()
	delete(s.cache, root)
	s.mu.Unlock()
	return s.db.Update(func(tx *storage.Tx) error { return tx.Delete(bucketBlobs, root[:]) })
}
