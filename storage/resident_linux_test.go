//go:build linux

package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// residentKB is what this process holds resident of its mappings of the
// file at path.
func residentKB(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	in, kb := false, 0
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		switch {
		case len(f) >= 5 && bytes.Contains(f[0], []byte("-")):
			in = len(f) >= 6 && string(f[5]) == path
		case in && len(f) == 3 && string(f[0]) == "Rss:":
			n, _ := strconv.Atoi(string(f[1]))
			kb += n
		}
	}
	return kb
}

// TestTrim reads a database of 16 MiB whole, then trims it: its pages
// leave the process's resident memory and read back the same.
func TestTrim(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trim.db")
	db, err := Open(path, Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := bytes.Repeat([]byte{7}, 1000)
	for i := range 16 {
		if err := db.Update(func(tx *Tx) error {
			for j := range 1024 {
				if err := tx.Append([]byte("b"), fmt.Appendf(nil, "%04d-%04d", i, j), val); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func() int {
		n := 0
		db.View(func(tx *Tx) error {
			return tx.ForEach([]byte("b"), func(_, v []byte) error {
				if bytes.Equal(v, val) {
					n++
				}
				return nil
			})
		})
		return n
	}
	if n := readAll(); n != 16*1024 {
		t.Fatalf("%d values read", n)
	}
	before := residentKB(t, db.mapped)
	if before < 8<<10 {
		t.Fatalf("%d KiB of the database resident after reading it whole", before)
	}
	if err := db.Trim(); err != nil {
		t.Fatal(err)
	}
	if after := residentKB(t, db.mapped); after > before/8 {
		t.Fatalf("%d KiB resident after the trim, %d before", after, before)
	}
	if n := readAll(); n != 16*1024 {
		t.Fatalf("%d values read after the trim", n)
	}
}
