package storage_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hearthp2p/hearth/storage"
)

func ExampleChunks() {
	dir, _ := os.MkdirTemp("", "chunks")
	defer os.RemoveAll(dir)
	chunks, err := storage.OpenChunks(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	id, _ := chunks.Put([]byte("ciphertext bytes"))
	data, _ := chunks.Get(id)
	fmt.Printf("%s %q\n", id.Short(), data)

	// Damage the file on disk: the chunk is reported, never served.
	h := id.String()
	os.WriteFile(filepath.Join(dir, h[:2], h), []byte("other bytes"), 0o600)
	_, err = chunks.Get(id)
	fmt.Println(errors.Is(err, storage.ErrCorrupt))
	// Output:
	// 4b5670f2 "ciphertext bytes"
	// true
}

func ExampleDB_Update() {
	dir, _ := os.MkdirTemp("", "db")
	defer os.RemoveAll(dir)
	db, err := storage.Open(filepath.Join(dir, "hearth.db"), storage.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	_ = db.Update(func(tx *storage.Tx) error {
		return tx.Put([]byte("rooms"), []byte("kitchen"), []byte("room id"))
	})
	v, err := db.Get([]byte("rooms"), []byte("kitchen"))
	fmt.Printf("%s %v\n", v, err)
	// Output:
	// room id <nil>
}
