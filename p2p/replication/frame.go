package replication

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

// MaxFrame bounds one frame on the wire: one batch of blocks (the sender
// cuts batches to fit) or a list of heads. Checked before anything is
// allocated.
const MaxFrame = 1 << 20

// maxHeads bounds the heads of one frame: one per device of a room.
const maxHeads = 1024

// maxBlocksPerFrame bounds the blocks of one frame: MaxFrame over the
// smallest block, rounded up.
const maxBlocksPerFrame = 1 << 15

// Frame types.
const (
	frameHello  = 1 // discovery key: the room this stream is about
	frameHeads  = 2 // the sender's latest head of every log
	frameWant   = 3 // send me writer's log from position From
	frameBlocks = 4 // blocks [Start, Head.Length) of Head's log
)

// ErrFrame means a peer sent a frame that is not one.
var ErrFrame = errors.New("bad frame")

type frame struct {
	typ    byte
	disc   log.Discovery      // hello
	heads  []log.Head         // heads
	writer identity.PublicKey // want
	from   uint64             // want
	head   log.Head           // blocks
	start  uint64             // blocks
	blocks [][]byte           // blocks

	// receive, if set, is the room's Receive with what it prepared of
	// blocks as the frame was read (preparer).
	receive func(log.Head, [][]byte) error
}

func (f *frame) encode() ([]byte, error) {
	w := wire.Encoder{B: make([]byte, 0, 256)}
	w.U8(f.typ)
	switch f.typ {
	case frameHello:
		w.Fixed(f.disc[:])
	case frameHeads:
		w.Uint(uint64(len(f.heads)))
		for i := range f.heads {
			b, _ := f.heads[i].MarshalBinary()
			w.Fixed(b)
		}
	case frameWant:
		w.Fixed(f.writer[:])
		w.Uint(f.from)
	case frameBlocks:
		hb, _ := f.head.MarshalBinary()
		w.Fixed(hb)
		w.Uint(f.start)
		w.Uint(uint64(len(f.blocks)))
		for _, b := range f.blocks {
			w.Bytes(b)
		}
	default:
		return nil, fmt.Errorf("%w: type %d", ErrFrame, f.typ)
	}
	if len(w.B) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrame, len(w.B))
	}
	return w.B, nil
}

func decodeFrame(b []byte) (*frame, error) {
	d := wire.NewDecoder(b)
	f := &frame{typ: d.U8()}
	switch f.typ {
	case frameHello:
		d.Fixed(f.disc[:])
	case frameHeads:
		n := d.Count(maxHeads)
		for range n {
			h, err := log.ParseHead(d.Take(log.HeadLen))
			if d.Err() != nil {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrFrame, err)
			}
			f.heads = append(f.heads, h)
		}
	case frameWant:
		d.Fixed(f.writer[:])
		f.from = d.Uint()
	case frameBlocks:
		h, err := log.ParseHead(d.Take(log.HeadLen))
		if d.Err() == nil && err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFrame, err)
		}
		f.head = h
		f.start = d.Uint()
		n := d.Count(maxBlocksPerFrame)
		f.blocks = make([][]byte, 0, n)
		for range n {
			// A block is a slice of the frame, which nothing else
			// holds (readFrame reads each into a buffer of its own):
			// no copy. Clipped, so an append never runs into the next.
			blk := slices.Clip(d.Take(d.Count(log.MaxBlockLen)))
			if d.Err() != nil {
				break
			}
			f.blocks = append(f.blocks, blk)
		}
		if d.Err() == nil && (f.start > f.head.Length || f.head.Length-f.start != uint64(len(f.blocks))) {
			return nil, fmt.Errorf("%w: %d blocks from %d for a head of %d", ErrFrame, len(f.blocks), f.start, f.head.Length)
		}
	default:
		return nil, fmt.Errorf("%w: type %d", ErrFrame, f.typ)
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFrame, err)
	}
	return f, nil
}

// writeFrame writes a length-prefixed frame.
func writeFrame(w io.Writer, f *frame) error {
	b, err := f.encode()
	if err != nil {
		return err
	}
	var hdr [binary.MaxVarintLen32]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// readFrame reads one frame, refusing a length over MaxFrame before
// allocating.
func readFrame(r *bufio.Reader) (*frame, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n == 0 || n > MaxFrame {
		return nil, fmt.Errorf("%w: length %d", ErrFrame, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return decodeFrame(b)
}
