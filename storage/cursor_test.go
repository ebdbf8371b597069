package storage

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestCursor walks a bucket both ways and seeks into it; a bucket that
// does not exist reads as empty.
func TestCursor(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "hearth.db"), Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := []byte("b")
	err = db.Update(func(tx *Tx) error {
		for _, k := range []string{"k3", "k1", "k5", "k2"} {
			if err := tx.Put(b, []byte(k), []byte("v"+k[1:])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	walk := func(c *Cursor, first func() ([]byte, []byte), next func() ([]byte, []byte)) string {
		var out []string
		for k, v := first(); k != nil; k, v = next() {
			out = append(out, fmt.Sprintf("%s=%s", k, v))
		}
		return strings.Join(out, " ")
	}
	err = db.View(func(tx *Tx) error {
		c := tx.Cursor(b)
		if got, want := walk(c, c.First, c.Next), "k1=v1 k2=v2 k3=v3 k5=v5"; got != want {
			t.Errorf("forward: %q, want %q", got, want)
		}
		if got, want := walk(c, c.Last, c.Prev), "k5=v5 k3=v3 k2=v2 k1=v1"; got != want {
			t.Errorf("backward: %q, want %q", got, want)
		}
		seek := func() ([]byte, []byte) { return c.Seek([]byte("k4")) }
		if got, want := walk(c, seek, c.Next), "k5=v5"; got != want {
			t.Errorf("seek k4: %q, want %q", got, want)
		}
		if k, _ := c.Seek([]byte("k9")); k != nil {
			t.Errorf("seek past the end: %q", k)
		}
		// Before the first key: the first; Prev from there ends.
		if k, _ := c.Seek([]byte("a")); string(k) != "k1" {
			t.Errorf("seek before the start: %q", k)
		}
		if k, _ := c.Prev(); k != nil {
			t.Errorf("prev before the first: %q", k)
		}
		none := tx.Cursor([]byte("none"))
		for _, f := range []func() ([]byte, []byte){none.First, none.Last, none.Next, none.Prev, func() ([]byte, []byte) { return none.Seek([]byte("k")) }} {
			if k, v := f(); k != nil || v != nil {
				t.Errorf("a missing bucket gave %q=%q", k, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
