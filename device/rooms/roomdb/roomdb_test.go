package roomdb

import (
	"bytes"
	"fmt"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/logdb"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

func self(t testing.TB, id identity.SigningKey, name string) room.Self {
	t.Helper()
	dev, _ := identity.GenerateSigningKey()
	seal, _ := identity.GenerateSealingKey()
	proof, _ := identity.NewProof(id, dev.Public(), 1).MarshalBinary()
	rec, err := identity.NewDeviceRecord(id.Public(), dev, seal.Public(), name, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := rec.MarshalBinary()
	return room.Self{Identity: id.Public(), Device: dev, Sealing: seal, Proof: proof, Record: rb}
}

func digest(r *room.Room) (d [32]byte, n int) {
	return r.Digest(), r.Count()
}

// TestReopen writes a room of two devices into the database, reopens it
// from the logs' records, and again as a home stored by a version that
// kept no records nor trees (they are rebuilt once, verifying the logs):
// the same view each time, and the room writes on.
func TestReopen(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "hearth.db"), storage.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := New(db)
	alice, _ := identity.GenerateSigningKey()
	key := room.NewKey()
	me := self(t, alice, "laptop")
	r, err := room.Open(room.Config{Key: key, Founder: alice.Public(), Self: me, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Create("home"); err != nil {
		t.Fatal(err)
	}
	phone, err := room.Open(room.Config{Key: key, Founder: alice.Public(), Self: self(t, alice, "phone")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		var ops []room.Op
		for j := range 40 {
			ops = append(ops, room.Op{Type: room.OpMessage, Text: fmt.Sprintf("message %d.%d", i, j)})
		}
		w := r
		if i%3 == 2 {
			w = phone
		}
		if _, err := w.WriteBatch(ops); err != nil {
			t.Fatal(err)
		}
		if err := room.Copy(phone, r); err != nil {
			t.Fatal(err)
		}
		if err := room.Copy(r, phone); err != nil {
			t.Fatal(err)
		}
	}
	want, n := digest(r)
	if n != 1200 {
		t.Fatalf("%d messages written", n)
	}
	reopen := func(what string) *room.Room {
		t.Helper()
		again, err := room.Open(room.Config{Key: key, Founder: alice.Public(), Self: me, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Load(again); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got, _ := digest(again); got != want {
			t.Fatalf("%s: the view differs", what)
		}
		return again
	}
	reopen("from the records")
	// The previous version's home: blocks and heads only.
	db.Update(func(tx *storage.Tx) error {
		for _, kind := range []string{"tree", "logs"} {
			if err := tx.DeleteBucket(BucketOf(kind, key.Discovery())); err != nil {
				return err
			}
		}
		return nil
	})
	again := reopen("stored without records")
	var logs int
	db.View(func(tx *storage.Tx) error {
		return tx.ForEach(BucketOf("logs", key.Discovery()), func(_, _ []byte) error { logs++; return nil })
	})
	if logs != 2 {
		t.Fatalf("%d log records rebuilt, want 2", logs)
	}
	if _, err := again.Write(room.Op{Type: room.OpMessage, Text: "after the upgrade"}); err != nil {
		t.Fatal(err)
	}
	if err := room.Copy(phone, again); err != nil {
		t.Fatal(err)
	}
	if a, _ := digest(again); a != func() [32]byte { d, _ := digest(phone); return d }() {
		t.Fatal("the phone disagrees after the upgraded home wrote on")
	}
	// Deleting the room deletes every kind of its buckets.
	if err := store.DeleteRoom(key.ID(), key.Discovery()); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *storage.Tx) error {
		for _, kind := range append([]string{"keys"}, logdb.Kinds...) {
			tx.ForEach(BucketOf(kind, key.Discovery()), func(k, _ []byte) error {
				t.Errorf("bucket %s holds %x after the room was deleted", kind, k)
				return nil
			})
		}
		return nil
	})
}

// TestPreparedIsOfItsBlocks: what Room.Prepare did of a frame's blocks is
// used only with those very blocks. The database trusts the leaf hashes
// the room verified: forged blocks given with what was prepared of the
// genuine ones must be hashed and refused, never stored.
func TestPreparedIsOfItsBlocks(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "hearth.db"), storage.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	alice, bob := mustKey(t), mustKey(t)
	key := room.NewKey()
	src, err := room.Open(room.Config{Key: key, Founder: alice.Public(), Self: self(t, alice, "laptop")})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Create("home"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Write(room.Op{Type: room.OpAddMember, Identity: bob.Public(), Role: room.RoleMember}); err != nil {
		t.Fatal(err)
	}
	var ops []room.Op
	for i := range 300 {
		ops = append(ops, room.Op{Type: room.OpMessage, Text: fmt.Sprint("message ", i)})
	}
	if _, err := src.WriteBatch(ops); err != nil {
		t.Fatal(err)
	}
	dst, err := room.Open(room.Config{Key: key, Founder: alice.Public(), Self: self(t, bob, "phone"), Store: New(db)})
	if err != nil {
		t.Fatal(err)
	}
	w := src.Heads()[0].Writer
	h, blocks, _ := src.Blocks(w, 0, 1<<30)
	receive := dst.Prepare(w, 0, blocks)
	forged := make([][]byte, len(blocks))
	for i, b := range blocks {
		forged[i] = bytes.Clone(b)
	}
	m := forged[len(forged)-1]
	m[len(m)-1] ^= 1
	if err := receive(h, forged); err == nil {
		t.Fatal("forged blocks received with what was prepared of the genuine ones")
	}
	if n := dst.Len(w); n != 0 {
		t.Fatalf("%d blocks held after the forgery", n)
	}
	if err := receive(h, blocks); err != nil {
		t.Fatal(err)
	}
	stored, err := New(db).ReadBlocks(key.Discovery(), w, 0, len(blocks))
	if err != nil || len(stored) != len(blocks) {
		t.Fatalf("%d blocks stored: %v", len(stored), err)
	}
	for i := range stored {
		if !bytes.Equal(stored[i], blocks[i]) {
			t.Fatalf("block %d stored is not the one signed", i)
		}
	}
	if got, want := dst.Count(), 300; got != want {
		t.Fatalf("%d messages, want %d", got, want)
	}
	// The tree stored from what was prepared is the one hashing the
	// blocks again stores.
	again, err := storage.Open(filepath.Join(t.TempDir(), "again.db"), storage.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := New(again).SaveBlocks(key.Discovery(), h, 0, blocks); err != nil {
		t.Fatal(err)
	}
	tree := BucketOf("tree", key.Discovery())
	rows := func(db *storage.DB) map[string]string {
		out := map[string]string{}
		db.View(func(tx *storage.Tx) error {
			return tx.ForEach(tree, func(k, v []byte) error {
				if bytes.HasPrefix(k, w[:]) {
					out[string(k)] = string(v)
				}
				return nil
			})
		})
		return out
	}
	if a, b := rows(db), rows(again); len(a) == 0 || !maps.Equal(a, b) {
		t.Fatalf("%d tree nodes stored from what was prepared, %d hashing again, or different", len(a), len(b))
	}
}

func mustKey(t *testing.T) identity.SigningKey {
	t.Helper()
	k, err := identity.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
