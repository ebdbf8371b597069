package logdb

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/storage"
)

func TestSaveLoad(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, _ := identity.GenerateSigningKey()
	disc := log.Discovery{7}
	l := log.New(disc, w.Public())
	b := Buckets{Blocks: []byte("blocks"), Heads: []byte("heads")}
	key := log.RandomKey()
	for batch := range 3 {
		start := l.Len()
		blocks, h, err := l.Append(w, key, 0, [][]byte{[]byte("a"), []byte("b"), {byte(batch)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *storage.Tx) error { return Save(tx, b, h, start, blocks) }); err != nil {
			t.Fatal(err)
		}
	}
	var heads map[identity.PublicKey][]log.Head
	var blocks map[identity.PublicKey][][]byte
	if err := db.View(func(tx *storage.Tx) error {
		heads, blocks, err = Load(tx, b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	hs := heads[w.Public()]
	if len(hs) != 3 || hs[2].Length != 9 || len(blocks[w.Public()]) != 9 {
		t.Fatalf("loaded %d heads, %d blocks", len(hs), len(blocks[w.Public()]))
	}
	// A fresh log verifies what was loaded.
	again := log.New(disc, w.Public())
	if err := again.Extend(hs[2], blocks[w.Public()]); err != nil {
		t.Fatal(err)
	}
	// A missing block is a gap, reported.
	db.Update(func(tx *storage.Tx) error { return tx.Delete(b.Blocks, Key(w.Public(), 4)) })
	err = db.View(func(tx *storage.Tx) error { _, _, err := Load(tx, b); return err })
	if err == nil || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("a gap: %v", err)
	}
}
