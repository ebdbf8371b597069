// Package roomdb keeps the daemon's rooms in its database: each room's
// record (its key, founder and name), the blocks and heads of its logs,
// and its epoch keys. It implements room.Store.
package roomdb

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/logdb"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// Buckets of the daemon's database. Log blocks are small records (an
// entry is at most 64 KiB, a chat message far less) and live in bbolt with
// their heads; file contents never do (they go to the chunk store).
var (
	BucketRooms = []byte("rooms")
)

// BucketOf is the bucket of one kind (blocks, heads, keys) of a room.
func BucketOf(kind string, d log.Discovery) []byte { return []byte(kind + "/" + d.String()) }

// Record is what the daemon keeps of a room it holds.
type Record struct {
	Key     [32]byte           `json:"key"`
	Founder identity.PublicKey `json:"founder"`
	Name    string             `json:"name"` // as last seen, for listing
	Joined  int64              `json:"joined"`
	// Peers are full multiaddrs of peers known to hold the room (its
	// mirrors), tried while the room's view names no device yet.
	Peers []string `json:"peers,omitempty"`
}

// Store implements room.Store on the daemon's database.
type Store struct{ db *storage.DB }

// New is the Store of the rooms in db.
func New(db *storage.DB) Store { return Store{db: db} }

var _ room.Store = Store{}

func logBuckets(d log.Discovery) logdb.Buckets {
	return logdb.Named(func(kind string) []byte { return BucketOf(kind, d) })
}

// SaveBlocks stores blocks [start, start+len) of a log and the head that
// covers them, in one transaction.
func (s Store) SaveBlocks(d log.Discovery, h log.Head, start uint64, blocks [][]byte) error {
	return s.db.Update(func(tx *storage.Tx) error { return logdb.Save(tx, logBuckets(d), h, start, blocks) })
}

// ReadBlocks implements room.Store.
func (s Store) ReadBlocks(d log.Discovery, w identity.PublicKey, from uint64, n int) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(tx *storage.Tx) error {
		var err error
		out, err = logdb.ReadBlocks(tx, logBuckets(d), w, from, n)
		return err
	})
	return out, err
}

// Serve implements room.Store.
func (s Store) Serve(d log.Discovery, w identity.PublicKey, from, length uint64, maxBytes int) (h log.Head, blocks [][]byte, ok bool, err error) {
	err = s.db.View(func(tx *storage.Tx) error {
		var err error
		h, blocks, ok, err = logdb.Serve(tx, logBuckets(d), w, from, length, maxBytes)
		return err
	})
	return h, blocks, ok, err
}

// Writers implements room.Store.
func (s Store) Writers(d log.Discovery) ([]identity.PublicKey, error) {
	var out []identity.PublicKey
	err := s.db.View(func(tx *storage.Tx) error {
		var err error
		out, err = logdb.Writers(tx, logBuckets(d))
		return err
	})
	return out, err
}

// OpenLog implements room.Store.
func (s Store) OpenLog(d log.Discovery, w identity.PublicKey) (*log.Log, error) {
	return logdb.Open(s.db, logBuckets(d), d, w)
}

// Update implements room.Store: the room's view buckets are "v.<name>/<disc>".
func (s Store) Update(d log.Discovery, fn func(room.Tx) error) error {
	return s.db.Update(func(tx *storage.Tx) error { return fn(newViewTx(tx, d)) })
}

// View implements room.Store.
func (s Store) View(d log.Discovery, fn func(room.Tx) error) error {
	return s.db.View(func(tx *storage.Tx) error { return fn(newViewTx(tx, d)) })
}

// viewBucket is the bucket of a room's view named name.
func viewBucket(name string, d log.Discovery) []byte { return BucketOf("v."+name, d) }

// viewTx is a room.Tx on the daemon's database.
type viewTx struct {
	tx    *storage.Tx
	d     log.Discovery
	names map[string][]byte // viewBucket of each name used, made once
}

func newViewTx(tx *storage.Tx, d log.Discovery) *viewTx {
	return &viewTx{tx: tx, d: d, names: make(map[string][]byte, 8)}
}

func (t *viewTx) bucket(name string) []byte {
	b, ok := t.names[name]
	if !ok {
		b = viewBucket(name, t.d)
		t.names[name] = b
	}
	return b
}

func (t *viewTx) Get(bucket string, key []byte) []byte {
	v, err := t.tx.Get(t.bucket(bucket), key)
	if err != nil {
		return nil
	}
	return v
}

// Put fills pages as Append does: a room's rows arrive mostly in the
// order of their keys (its order, its logs' positions), so its pages are
// written nearly full.
func (t *viewTx) Put(bucket string, key, value []byte) error {
	return t.tx.Append(t.bucket(bucket), key, value)
}

func (t *viewTx) Delete(bucket string, key []byte) error {
	return t.tx.Delete(t.bucket(bucket), key)
}

func (t *viewTx) Cursor(bucket string) room.Cursor { return t.tx.Cursor(t.bucket(bucket)) }

func (t *viewTx) ReadBlocks(w identity.PublicKey, from uint64, n int) ([][]byte, error) {
	return logdb.ReadBlocks(t.tx, logBuckets(t.d), w, from, n)
}

func (t *viewTx) SaveBlocks(h log.Head, start uint64, blocks [][]byte, hashed *log.Hashed) error {
	return logdb.SaveHashed(t.tx, logBuckets(t.d), h, start, blocks, hashed)
}

// SaveKey stores an epoch key learnt from a rotation.
func (s Store) SaveKey(d log.Discovery, epoch uint64, key [32]byte) error {
	k := binary.BigEndian.AppendUint64(nil, epoch)
	k = append(k, key[:8]...) // several keys may share an epoch
	return s.db.Put(BucketOf("keys", d), k, key[:])
}

func (s Store) SaveRecord(id room.ID, rec Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.db.Put(BucketRooms, id[:], b)
}

func (s Store) DeleteRoom(id room.ID, d log.Discovery) error {
	return s.db.Update(func(tx *storage.Tx) error {
		for _, kind := range append([]string{"keys"}, logdb.Kinds...) {
			if err := tx.DeleteBucket(BucketOf(kind, d)); err != nil {
				return err
			}
		}
		for _, name := range room.ViewBuckets {
			if err := tx.DeleteBucket(viewBucket(name, d)); err != nil {
				return err
			}
		}
		return tx.Delete(BucketRooms, id[:])
	})
}

func (s Store) Records() (map[room.ID]Record, error) {
	out := map[room.ID]Record{}
	err := s.db.View(func(tx *storage.Tx) error {
		return tx.ForEach(BucketRooms, func(k, v []byte) error {
			var rec Record
			if len(k) != len(room.ID{}) {
				return fmt.Errorf("room record key of %d bytes", len(k))
			}
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("room record: %w", err)
			}
			out[room.ID(k)] = rec
			return nil
		})
	})
	return out, err
}

// Load restores a room's epoch keys and logs into r, and applies them.
// The logs reopen from their records: nothing is verified again.
func (s Store) Load(r *room.Room) error {
	var keys [][2][]byte
	err := s.db.View(func(tx *storage.Tx) error {
		return tx.ForEach(BucketOf("keys", r.Discovery()), func(k, v []byte) error {
			keys = append(keys, [2][]byte{append([]byte{}, k...), append([]byte{}, v...)})
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("loading room %s: %w", r.ID(), err)
	}
	for _, kv := range keys {
		if len(kv[0]) < 8 || len(kv[1]) != 32 {
			return fmt.Errorf("loading room %s: bad epoch key record", r.ID())
		}
		r.LoadKey(binary.BigEndian.Uint64(kv[0]), [32]byte(kv[1]))
	}
	if err := r.Load(); err != nil {
		return err
	}
	r.Process()
	return nil
}

// SaveLinked writes a room a device link carried (its record and epoch
// keys) into a home's database: the new device opens it at its first
// start.
func SaveLinked(db *storage.DB, lr pairing.LinkRoom, now time.Time) error {
	store := New(db)
	key := room.KeyFromBytes(lr.Key)
	if err := store.SaveRecord(key.ID(), Record{Key: lr.Key, Founder: lr.Founder, Name: lr.Name, Joined: now.Unix(), Peers: lr.Peers}); err != nil {
		return err
	}
	for _, k := range lr.Keys {
		if err := store.SaveKey(key.Discovery(), k.Epoch, k.Key); err != nil {
			return err
		}
	}
	return nil
}
