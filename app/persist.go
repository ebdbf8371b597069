package app

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/room"
)

// What the app keeps in the browser's storage (IndexedDB, web/app/store.js)
// is records of a key and bytes:
//
//	m/device                          this device's keys and name (JSON)
//	m/linked                          its identity, proof and rooms (JSON)
//	b/DISC/WRITER/START               blocks of a log saved from START, with their head
//	k/DISC/EPOCH/KEY                  an epoch key of a room (no value)
//	r/DISC/BUCKET/KEY                 a row of a room's view (the value)
//
// DISC, WRITER, KEY are hex, START and EPOCH 16 hex digits. The rooms'
// records are the changes their MemStore journals (room.Change), so the
// rooms come back by replaying them (Load), without applying an entry
// again.

// Record is one key and its bytes.
type Record struct {
	Key   string
	Value []byte
}

const (
	keyDevice = "m/device"
	keyLinked = "m/linked"
)

// Records turns a room's change into the records to put and the keys to
// delete.
func Records(c room.Change) (puts []Record, dels []string, err error) {
	d := hex.EncodeToString(c.Disc[:])
	for _, b := range c.Blocks {
		hb, err := b.Head.MarshalBinary()
		if err != nil {
			return nil, nil, err
		}
		var w wire.Encoder
		w.Bytes(hb)
		w.Uint(uint64(len(b.Blocks)))
		for _, blk := range b.Blocks {
			w.Bytes(blk)
		}
		puts = append(puts, Record{Key: fmt.Sprintf("b/%s/%s/%016x", d, b.Head.Writer, b.Start), Value: w.B})
	}
	for _, k := range c.Keys {
		puts = append(puts, Record{Key: fmt.Sprintf("k/%s/%016x/%x", d, k.Epoch, k.Key[:])})
	}
	for _, r := range c.Rows {
		if strings.Contains(r.Bucket, "/") {
			return nil, nil, fmt.Errorf("a bucket named %q", r.Bucket)
		}
		k := fmt.Sprintf("r/%s/%s/%x", d, r.Bucket, r.Key)
		if r.Deleted {
			dels = append(dels, k)
		} else {
			puts = append(puts, Record{Key: k, Value: r.Value})
		}
	}
	return puts, dels, nil
}

// maxBlocksPerRecord bounds what a record may claim to hold.
const maxBlocksPerRecord = 1 << 20

// Changes turns stored records back into the changes to replay, room by
// room, each log's blocks in order. A record that does not parse is an
// error: storage the app wrote is never half-read.
func Changes(recs []Record) (map[log.Discovery]*room.Change, error) {
	out := map[log.Discovery]*room.Change{}
	get := func(s string) (*room.Change, log.Discovery, error) {
		var d log.Discovery
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != len(d) {
			return nil, d, fmt.Errorf("a room named %q", s)
		}
		copy(d[:], b)
		c := out[d]
		if c == nil {
			c = &room.Change{Disc: d}
			out[d] = c
		}
		return c, d, nil
	}
	for _, r := range recs {
		if strings.HasPrefix(r.Key, "m/") {
			continue
		}
		parts := strings.SplitN(r.Key, "/", 4)
		if len(parts) != 4 {
			return nil, fmt.Errorf("stored record %q: not the app's", r.Key)
		}
		c, _, err := get(parts[1])
		if err != nil {
			return nil, fmt.Errorf("stored record %q: %w", r.Key, err)
		}
		switch parts[0] {
		case "b":
			start, err := strconv.ParseUint(parts[3], 16, 64)
			if err != nil {
				return nil, fmt.Errorf("stored record %q: %w", r.Key, err)
			}
			dec := wire.NewDecoder(r.Value)
			h, err := log.ParseHead(dec.Bytes(64 << 10))
			if err != nil {
				return nil, fmt.Errorf("stored record %q: its head: %w", r.Key, err)
			}
			if h.Writer.String() != parts[2] {
				return nil, fmt.Errorf("stored record %q: the head of another log", r.Key)
			}
			n := dec.Count(maxBlocksPerRecord)
			sb := room.SavedBlocks{Head: h, Start: start, Blocks: make([][]byte, 0, n)}
			for range n {
				sb.Blocks = append(sb.Blocks, dec.Bytes(log.MaxBlockLen))
			}
			if err := dec.Finish(); err != nil {
				return nil, fmt.Errorf("stored record %q: %w", r.Key, err)
			}
			c.Blocks = append(c.Blocks, sb)
		case "k":
			epoch, err := strconv.ParseUint(parts[2], 16, 64)
			kb, err2 := hex.DecodeString(parts[3])
			if err != nil || err2 != nil || len(kb) != 32 {
				return nil, fmt.Errorf("stored record %q: not an epoch key", r.Key)
			}
			sk := room.SavedKey{Epoch: epoch}
			copy(sk.Key[:], kb)
			c.Keys = append(c.Keys, sk)
		case "r":
			kb, err := hex.DecodeString(parts[3])
			if err != nil {
				return nil, fmt.Errorf("stored record %q: %w", r.Key, err)
			}
			c.Rows = append(c.Rows, room.Row{Bucket: parts[2], Key: kb, Value: r.Value})
		default:
			return nil, fmt.Errorf("stored record %q: not the app's", r.Key)
		}
	}
	for _, c := range out {
		sort.SliceStable(c.Blocks, func(i, j int) bool {
			a, b := c.Blocks[i], c.Blocks[j]
			if a.Head.Writer != b.Head.Writer {
				return a.Head.Writer.String() < b.Head.Writer.String()
			}
			return a.Start < b.Start
		})
	}
	return out, nil
}

// storedDevice is m/device.
type storedDevice struct {
	Seed    string `json:"seed"`    // hex
	Sealing string `json:"sealing"` // hex
	Name    string `json:"name"`
}

// MarshalDevice encodes d for m/device.
func MarshalDevice(d *Device) (Record, error) {
	sb, err := d.Sealing.Bytes()
	if err != nil {
		return Record{}, err
	}
	b, err := json.Marshal(storedDevice{Seed: hex.EncodeToString(d.Key.Seed()), Sealing: hex.EncodeToString(sb), Name: d.Name})
	return Record{Key: keyDevice, Value: b}, err
}

// ParseDevice decodes m/device.
func ParseDevice(b []byte) (*Device, error) {
	var sd storedDevice
	if err := json.Unmarshal(b, &sd); err != nil {
		return nil, fmt.Errorf("the stored device: %w", err)
	}
	seed, err := hex.DecodeString(sd.Seed)
	if err != nil {
		return nil, fmt.Errorf("the stored device key: %w", err)
	}
	k, err := identity.NewSigningKey(seed)
	if err != nil {
		return nil, fmt.Errorf("the stored device key: %w", err)
	}
	sb, err := hex.DecodeString(sd.Sealing)
	if err != nil {
		return nil, fmt.Errorf("the stored sealing key: %w", err)
	}
	s, err := identity.ParseSealingKey(sb)
	if err != nil {
		return nil, fmt.Errorf("the stored sealing key: %w", err)
	}
	return &Device{Key: k, Sealing: s, Name: sd.Name}, nil
}

// storedLinked is m/linked.
type storedLinked struct {
	Identity string             `json:"identity"`
	Proof    []byte             `json:"proof"`
	Rooms    []pairing.LinkRoom `json:"rooms"`
	By       string             `json:"by"`
	Addrs    []string           `json:"addrs,omitempty"`
}

// MarshalLinked encodes l for m/linked.
func MarshalLinked(l *Linked) (Record, error) {
	b, err := json.Marshal(storedLinked{Identity: l.Identity.String(), Proof: l.Proof, Rooms: l.Rooms, By: l.By.String(), Addrs: l.Addrs})
	return Record{Key: keyLinked, Value: b}, err
}

// ParseLinked decodes m/linked.
func ParseLinked(b []byte) (*Linked, error) {
	var sl storedLinked
	if err := json.Unmarshal(b, &sl); err != nil {
		return nil, fmt.Errorf("the stored link: %w", err)
	}
	id, err := identity.ParsePublicKey(sl.Identity)
	if err != nil {
		return nil, fmt.Errorf("the stored identity: %w", err)
	}
	by, err := peer.Decode(sl.By)
	if err != nil {
		return nil, fmt.Errorf("the stored linking device: %w", err)
	}
	if len(sl.Proof) == 0 {
		return nil, errors.New("the stored link has no proof")
	}
	return &Linked{Identity: id, Proof: sl.Proof, Rooms: sl.Rooms, By: by, Addrs: sl.Addrs}, nil
}
