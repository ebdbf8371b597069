package room

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/identity"
)

// The messages a room shows are rows of its store (Tx), not memory: a
// room holds what the ordering of new entries needs, whatever its history.
//
//	msgs  order key -> message row (encodeMessage)
//	files order key -> nothing: the messages that carry a file
//	rej   order key -> the operation refused and why (encodeRejection)
//	undo  order key of an edit, delete or reaction -> the order key of the
//	      message it changed and that message's row before
//
// An order key is the entry's place in the room's order: its clock, then
// writer, then position, big endian, so rows sort as the room orders
// entries. undo lets the view go back to any point of its order
// (content.rewind) and apply what follows again.
const (
	bucketMsgs  = "msgs"
	bucketFiles = "files"
	bucketRej   = "rej"
	bucketUndo  = "undo"
)

func init() {
	ViewBuckets = append(ViewBuckets, bucketMsgs, bucketFiles, bucketRej, bucketUndo)
}

// okLen is the length of an order key.
const okLen = 8 + 32 + 8

// orderKey is an entry's order key.
func orderKey(clock uint64, ref Ref) []byte {
	k := make([]byte, 0, okLen)
	k = binary.BigEndian.AppendUint64(k, clock)
	k = append(k, ref.Writer[:]...)
	return binary.BigEndian.AppendUint64(k, ref.Seq)
}

// refOf is the entry an order key names.
func refOf(k []byte) (Ref, bool) {
	if len(k) != okLen {
		return Ref{}, false
	}
	return Ref{Writer: identity.PublicKey(k[8:40]), Seq: binary.BigEndian.Uint64(k[40:])}, true
}

// content is where a view's messages and refusals go: the transaction
// applying entries (tx), and how to find an entry's order key. A write
// that fails is kept as err and fails the transaction: the view in memory
// then no longer matches the store, and the room computes it again.
type content struct {
	tx    Tx
	order func(Ref) ([]byte, bool)
	err   error
}

func (c *content) fail(err error) {
	if err != nil && c.err == nil {
		c.err = err
	}
}

// post adds a new message at order key k.
func (c *content) post(k []byte, m *Message) {
	b, err := encodeMessage(m)
	if err != nil {
		c.fail(err)
		return
	}
	c.fail(c.tx.Put(bucketMsgs, k, b))
	if m.File != nil {
		c.fail(c.tx.Put(bucketFiles, k, nil))
	}
}

// message returns the message id, its order key and its row as stored.
func (c *content) message(id Ref) (*Message, []byte, []byte, bool) {
	k, ok := c.order(id)
	if !ok {
		return nil, nil, nil, false
	}
	row := c.tx.Get(bucketMsgs, k)
	if row == nil {
		return nil, nil, nil, false
	}
	m, err := decodeMessage(row)
	if err != nil {
		c.fail(err)
		return nil, nil, nil, false
	}
	return m, k, row, true
}

// change writes message m at order key k, changed by the entry at order
// key by (whose undo row keeps what k held before).
func (c *content) change(by, k, before []byte, m *Message) {
	b, err := encodeMessage(m)
	if err != nil {
		c.fail(err)
		return
	}
	undo := append(slices.Clip(k), before...)
	c.fail(c.tx.Put(bucketUndo, by, undo))
	c.fail(c.tx.Put(bucketMsgs, k, b))
}

// reject records the refusal of the entry at order key k.
func (c *content) reject(k []byte, rj Rejection) {
	c.fail(c.tx.Put(bucketRej, k, encodeRejection(rj)))
}

// clear deletes every row: the view is computed again from the start.
func (c *content) clear() {
	c.rewind(nil)
}

// rewind takes the rows back to what they were before order key from
// (nil: the start): what entries from there wrote is undone, newest
// first.
func (c *content) rewind(from []byte) {
	var undo [][2][]byte
	cur := c.tx.Cursor(bucketUndo)
	for k, v := cur.Last(); k != nil && bytes.Compare(k, from) >= 0; k, v = cur.Prev() {
		undo = append(undo, [2][]byte{slices.Clone(k), slices.Clone(v)})
	}
	for _, u := range undo {
		target, before := u[1][:okLen], u[1][okLen:]
		if bytes.Compare(target, from) < 0 {
			c.fail(c.tx.Put(bucketMsgs, target, before))
		}
		c.fail(c.tx.Delete(bucketUndo, u[0]))
	}
	for _, b := range []string{bucketMsgs, bucketFiles, bucketRej} {
		var keys [][]byte
		cur := c.tx.Cursor(b)
		for k, _ := cur.Last(); k != nil && bytes.Compare(k, from) >= 0; k, _ = cur.Prev() {
			keys = append(keys, slices.Clone(k))
		}
		for _, k := range keys {
			c.fail(c.tx.Delete(b, k))
		}
	}
}

// errRow means a row of the store does not decode: the store was damaged.
var errRow = errors.New("room: a damaged row in the store")

// encodeMessage is a message row: its id, author, time, text, flags and,
// each behind a flag, the reply, file, call, door and reactions.
func encodeMessage(m *Message) ([]byte, error) {
	e := wire.Encoder{B: make([]byte, 0, 96+len(m.Text))}
	e.Fixed(m.ID.Writer[:])
	e.Uint(m.ID.Seq)
	e.Fixed(m.Author[:])
	e.Uint(uint64(m.Time))
	e.String(m.Text)
	var flags byte
	for i, set := range []bool{m.Edited, m.Deleted, m.ReplyTo != nil, m.File != nil, m.Call != nil, m.Door != nil, len(m.Reactions) > 0} {
		if set {
			flags |= 1 << i
		}
	}
	e.U8(flags)
	if m.ReplyTo != nil {
		e.Fixed(m.ReplyTo.Writer[:])
		e.Uint(m.ReplyTo.Seq)
	}
	if m.File != nil {
		b, err := m.File.MarshalBinary()
		if err != nil {
			return nil, err
		}
		e.Bytes(b)
	}
	if c := m.Call; c != nil {
		e.Fixed(c.ID[:])
		e.U8(byte(c.Event))
		e.Uint(c.Duration)
	}
	if d := m.Door; d != nil {
		e.U8(byte(d.Event))
		e.Fixed(d.Call[:])
		e.Fixed(d.Identity[:])
		e.String(d.Text)
	}
	if len(m.Reactions) > 0 {
		emojis := make([]string, 0, len(m.Reactions))
		for em := range m.Reactions {
			emojis = append(emojis, em)
		}
		slices.Sort(emojis)
		e.Uint(uint64(len(emojis)))
		for _, em := range emojis {
			e.String(em)
			e.Uint(uint64(len(m.Reactions[em])))
			for _, who := range m.Reactions[em] {
				e.Fixed(who[:])
			}
		}
	}
	return e.B, nil
}

// maxRowString bounds a string of a row: an entry is at most
// log.MaxEntryLen.
const maxRowString = 1 << 20

func decodeMessage(b []byte) (*Message, error) {
	d := wire.NewDecoder(b)
	m := &Message{}
	d.Fixed(m.ID.Writer[:])
	m.ID.Seq = d.Uint()
	m.Device = m.ID.Writer
	d.Fixed(m.Author[:])
	m.Time = int64(d.Uint())
	m.Text = d.String(maxRowString)
	flags := d.U8()
	if flags&0x80 != 0 {
		d.Fail(fmt.Errorf("flags %#x", flags))
	}
	m.Edited, m.Deleted = flags&1 != 0, flags&2 != 0
	if flags&4 != 0 {
		r := Ref{}
		d.Fixed(r.Writer[:])
		r.Seq = d.Uint()
		m.ReplyTo = &r
	}
	if flags&8 != 0 {
		fm, err := chunk.ParseManifest(d.Bytes(maxRowString))
		if err != nil && d.Err() == nil {
			d.Fail(err)
		}
		m.File = fm
	}
	if flags&16 != 0 {
		c := &CallInfo{}
		d.Fixed(c.ID[:])
		c.Event = CallEvent(d.U8())
		c.Duration = d.Uint()
		m.Call = c
	}
	if flags&32 != 0 {
		dr := &DoorInfo{}
		dr.Event = DoorEvent(d.U8())
		d.Fixed(dr.Call[:])
		d.Fixed(dr.Identity[:])
		dr.Text = d.String(maxRowString)
		m.Door = dr
	}
	if flags&64 != 0 {
		m.Reactions = map[string][]identity.PublicKey{}
		n := d.Count(1 << 16)
		if n == 0 {
			d.Fail(errors.New("no reactions"))
		}
		for range n {
			em := d.String(maxRowString)
			k := d.Count(MaxRoomDevices * 64)
			if k == 0 {
				d.Fail(errors.New("a reaction of nobody"))
			}
			who := make([]identity.PublicKey, k)
			for i := range who {
				d.Fixed(who[i][:])
			}
			m.Reactions[em] = who
		}
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: message: %v", errRow, err)
	}
	return m, nil
}

func encodeRejection(rj Rejection) []byte {
	var e wire.Encoder
	e.Fixed(rj.Ref.Writer[:])
	e.Uint(rj.Ref.Seq)
	e.U8(byte(rj.Op))
	e.String(rj.Reason)
	return e.B
}

func decodeRejection(b []byte) (Rejection, error) {
	d := wire.NewDecoder(b)
	var rj Rejection
	d.Fixed(rj.Ref.Writer[:])
	rj.Ref.Seq = d.Uint()
	rj.Op = OpType(d.U8())
	rj.Reason = d.String(maxRowString)
	if err := d.Finish(); err != nil {
		return Rejection{}, fmt.Errorf("%w: refusal: %v", errRow, err)
	}
	return rj, nil
}
