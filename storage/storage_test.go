package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	db, err := Open(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("database mode %o", fi.Mode().Perm())
	}
	if err := db.Put([]byte("b"), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	v, err := db.Get([]byte("b"), []byte("k"))
	if err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := db.Get([]byte("b"), []byte("missing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := db.Get([]byte("nobucket"), []byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing bucket: %v", err)
	}
	if err := db.Put([]byte("b"), nil, []byte("v")); !errors.Is(err, ErrBadKey) {
		t.Fatalf("empty key: %v", err)
	}
	if err := db.Put(make([]byte, MaxKeyLen+1), []byte("k"), nil); !errors.Is(err, ErrBadKey) {
		t.Fatalf("long bucket name: %v", err)
	}
	// A failing closure rolls back everything it wrote.
	boom := errors.New("boom")
	err = db.Update(func(tx *Tx) error {
		if err := tx.Put([]byte("b"), []byte("k2"), []byte("x")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := db.Get([]byte("b"), []byte("k2")); !errors.Is(err, ErrNotFound) {
		t.Fatal("rolled-back write is visible")
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	// A second opener is refused while the first holds the file.
	if _, err := Open(path, Config{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
}

func TestChunks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chunks")
	c, err := OpenChunks(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("hearth"), 10000)
	id, err := c.Put(data)
	if err != nil {
		t.Fatal(err)
	}
	if id != SumChunk(data) {
		t.Fatal("id is not the SHA-256")
	}
	got, err := c.Get(id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %v", err)
	}
	if id2, err := c.Put(data); err != nil || id2 != id {
		t.Fatalf("second Put: %v", err)
	}
	if _, err := c.Get(SumChunk([]byte("other"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing chunk: %v", err)
	}
	if _, err := c.Put(make([]byte, MaxChunkSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge chunk: %v", err)
	}

	// Flip one byte on disk: the chunk is reported, moved aside, never served.
	p := c.path(id)
	raw, _ := os.ReadFile(p)
	raw[100] ^= 0xff
	os.WriteFile(p, raw, 0o600)
	_, err = c.Get(id)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.ID != id || ce.Quarantined == "" {
		t.Fatalf("corrupt chunk: %v", err)
	}
	if c.Has(id) {
		t.Fatal("corrupt chunk still in place")
	}
	if _, err := c.Get(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after quarantine: %v", err)
	}
	// Storing it again repairs it.
	if _, err := c.Put(data); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(id); err != nil {
		t.Fatal(err)
	}

	// A truncated chunk is caught by Scrub.
	os.WriteFile(p, raw[:10], 0o600)
	bad, err := c.Scrub()
	if err != nil || len(bad) != 1 || bad[0] != id {
		t.Fatalf("Scrub = %v, %v", bad, err)
	}

	// Leftovers of a crash are cleaned at open.
	os.WriteFile(filepath.Join(dir, tmpDir, "junk"), []byte("x"), 0o600)
	if _, err := OpenChunks(dir); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(left) != 0 {
		t.Fatalf("temporary files left: %d", len(left))
	}
	n := 0
	c.Walk(func(ChunkID, int64) error { n++; return nil })
	if n != 0 {
		t.Fatalf("Walk found %d chunks, want 0", n)
	}
	if err := c.Delete(id); err != nil {
		t.Fatal(err)
	}
}

func benchChunks(b *testing.B, size int) (*Chunks, [][]byte) {
	c, err := OpenChunks(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, size)
		fillChunk(bufs[i], uint64(i)+1)
	}
	return c, bufs
}

func BenchmarkChunkPut(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			c, bufs := benchChunks(b, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				buf := bufs[i%len(bufs)]
				buf[0], buf[1] = byte(i), byte(i>>8) // a new chunk every time
				if _, err := c.Put(buf); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkChunkGet(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			c, bufs := benchChunks(b, size)
			ids := make([]ChunkID, len(bufs))
			for i, buf := range bufs {
				var err error
				if ids[i], err = c.Put(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := c.Get(ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return itoa(n>>20) + "MiB"
	}
	return itoa(n>>10) + "KiB"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// TestOpenRefusesEmptyOrDamaged: a truncated or overwritten database file
// is refused, never initialized over; the file is left as it was.
func TestOpenRefusesEmptyOrDamaged(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty, Config{}); !errors.Is(err, ErrEmpty) {
		t.Fatalf("an empty file: %v", err)
	}
	if fi, _ := os.Stat(empty); fi.Size() != 0 {
		t.Fatal("the empty file was written")
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(junk, Config{}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("a damaged file: %v", err)
	}
	// A new file is still made.
	db, err := Open(filepath.Join(dir, "new.db"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}
