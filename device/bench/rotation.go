package bench

import (
	"fmt"
	"slices"
	"time"

	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/room"
)

// countingStore counts the bytes a room saves.
type countingStore struct {
	*room.MemStore
	bytes int
}

func (s *countingStore) SaveBlocks(d log.Discovery, h log.Head, start uint64, blocks [][]byte) error {
	for _, b := range blocks {
		s.bytes += len(b)
	}
	return s.MemStore.SaveBlocks(d, h, start, blocks)
}

// Update counts the blocks saved within the room's transactions too.
func (s *countingStore) Update(d log.Discovery, fn func(room.Tx) error) error {
	return s.MemStore.Update(d, func(tx room.Tx) error { return fn(countingTx{tx, s}) })
}

type countingTx struct {
	room.Tx
	s *countingStore
}

func (t countingTx) SaveBlocks(h log.Head, start uint64, blocks [][]byte, hashed *log.Hashed) error {
	for _, b := range blocks {
		t.s.bytes += len(b)
	}
	return t.Tx.SaveBlocks(h, start, blocks, hashed)
}

// rotation measures what removing a member costs the admin who removes it
// in a room of the given number of devices: the new epoch's key sealed to
// every remaining device (ML-KEM-768 + X25519), written and saved; and
// what it costs a member's device to take that batch and open its key.
func rotation(devices, rounds int) ([]Figure, error) {
	key := room.NewKey()
	alice := newMember()
	store := &countingStore{MemStore: room.NewMemStore()}
	a, err := room.Open(room.Config{Key: key, Founder: alice.id.Public(), Self: alice.self, Store: store})
	if err != nil {
		return nil, err
	}
	if err := a.Create("bench"); err != nil {
		return nil, err
	}
	var members []member
	var rooms []*room.Room
	for range devices - 1 {
		m := newMember()
		if _, err := a.Write(room.Op{Type: room.OpAddMember, Identity: m.id.Public(), Role: room.RoleMember}); err != nil {
			return nil, err
		}
		r, err := room.Open(room.Config{Key: key, Founder: alice.id.Public(), Self: m.self})
		if err != nil {
			return nil, err
		}
		if err := room.Copy(r, a); err != nil { // r says hello
			return nil, err
		}
		if err := room.Copy(a, r); err != nil {
			return nil, err
		}
		members, rooms = append(members, m), append(rooms, r)
	}
	n := 0
	a.View(func(v *room.View) { n = len(v.Devices) })
	if n != devices {
		return nil, fmt.Errorf("the room has %d devices, want %d", n, devices)
	}
	reader := rooms[0]
	if err := room.Copy(reader, a); err != nil {
		return nil, err
	}
	var took, takes []time.Duration
	var bytes []int
	for i := range rounds {
		gone := members[len(members)-1-i]
		before := store.bytes
		start := time.Now()
		ref, err := a.Write(room.Op{Type: room.OpRemoveMember, Identity: gone.id.Public()})
		if err != nil {
			return nil, err
		}
		took = append(took, time.Since(start))
		var epoch uint64
		a.View(func(v *room.View) { epoch = v.Epoch })
		if epoch != uint64(i+1) {
			return nil, fmt.Errorf("no rotation after removal %d (epoch %d)", i+1, epoch)
		}
		// The removal entry alone, as it would be without a rotation.
		removal := 0
		if _, blocks, ok := a.Blocks(ref.Writer, ref.Seq, 1<<30); ok {
			removal = len(blocks[0])
		}
		bytes = append(bytes, store.bytes-before-removal)
		start = time.Now()
		if err := room.Copy(reader, a); err != nil {
			return nil, err
		}
		takes = append(takes, time.Since(start))
		var got uint64
		reader.View(func(v *room.View) { got = v.Epoch })
		if got != epoch {
			return nil, fmt.Errorf("a member's device is in epoch %d after taking the rotation, want %d", got, epoch)
		}
		if _, err := reader.Write(room.Op{Type: room.OpMessage, Text: "in the new epoch"}); err != nil {
			return nil, fmt.Errorf("a member's device cannot write in the new epoch: %w", err)
		}
	}
	slices.Sort(took)
	slices.Sort(takes)
	slices.Sort(bytes)
	note := fmt.Sprintf("median of %d removals from a room of %d devices (%d to %d remain)", rounds, devices, devices-1, devices-rounds)
	return []Figure{
		{Name: "rotation", Value: float64(took[len(took)/2].Microseconds()) / 1000, Unit: "ms", Note: "the removing admin: the new key sealed to each remaining device, written and saved; " + note},
		{Name: "rotation bytes", Value: float64(bytes[len(bytes)/2]), Unit: "bytes", Note: "written by the rotation (its sealed keys), besides the removal; " + note},
		{Name: "rotation at a member", Value: float64(takes[len(takes)/2].Microseconds()) / 1000, Unit: "ms", Note: "a member's device takes the batch and opens its key; " + note},
	}, nil
}
