package blobwire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// The /hearth/blob protocol: on one stream, a client sends requests and
// the server answers each, in order, so a client keeps a window of
// requests in flight. A request is 41 bytes: op, root, two numbers.
// An answer is a status byte, a length (uvarint) and a payload.

// Operations.
const (
	OpHashes byte = 1 // hashes [A, A+B) of the file's hash list
	OpChunk  byte = 2 // ciphertext chunk A
	OpHave   byte = 3 // which chunks the server holds, as a bitmap
)

// Statuses.
const (
	StatusOK      byte = 0
	StatusMissing byte = 1
	StatusBad     byte = 2
)

// Limits.
const (
	RequestLen   = 1 + 32 + 4 + 4
	MaxHashesPer = 16384 // 512 KiB of hashes per answer
	MaxAnswer    = chunk.MaxChunkSize + 64
	StreamIdle   = 2 * time.Minute
	// RequestTimeout bounds the first request of a stream, and the rest
	// of any request once its first byte came: a client writes a request
	// whole, and opens a stream to write one at once, so only a slow
	// attacker (slowloris) waits longer; it holds a stream slot that long
	// at most, not StreamIdle.
	RequestTimeout = 10 * time.Second
	dialTimeout    = 10 * time.Second
	AnswerTimeout  = 60 * time.Second
)

// Request is one request of the protocol.
type Request struct {
	Op   byte
	Root chunk.Hash
	A, B uint32
}

func (r *Request) Encode() []byte {
	b := make([]byte, RequestLen)
	b[0] = r.Op
	copy(b[1:33], r.Root[:])
	binary.BigEndian.PutUint32(b[33:], r.A)
	binary.BigEndian.PutUint32(b[37:], r.B)
	return b
}

// DecodeRequest reads a request; any 41 bytes decode, the operation is
// checked.
func DecodeRequest(b []byte) (*Request, error) {
	if len(b) != RequestLen {
		return nil, fmt.Errorf("a request of %d bytes", len(b))
	}
	r := &Request{Op: b[0], A: binary.BigEndian.Uint32(b[33:]), B: binary.BigEndian.Uint32(b[37:])}
	copy(r.Root[:], b[1:33])
	if r.Op < OpHashes || r.Op > OpHave {
		return nil, fmt.Errorf("unknown operation %d", r.Op)
	}
	return r, nil
}

func WriteAnswer(w io.Writer, st byte, payload []byte) error {
	var head [1 + binary.MaxVarintLen64]byte
	head[0] = st
	n := 1 + binary.PutUvarint(head[1:], uint64(len(payload)))
	if _, err := w.Write(head[:n]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func ReadAnswer(r *bufio.Reader, limit int) (byte, []byte, error) {
	st, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if n > uint64(limit) {
		return 0, nil, fmt.Errorf("an answer of %d bytes, at most %d", n, limit)
	}
	b := GetBuf(int(n))
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return st, b, nil
}

// bufs recycles chunk-sized buffers: a transfer would otherwise allocate
// one per chunk for the garbage collector.
var bufs = sync.Pool{New: func() any { return make([]byte, 0, chunk.Size+64) }}

func GetBuf(n int) []byte {
	if n > chunk.Size+64 || n < chunk.Size/2 {
		return make([]byte, n)
	}
	return bufs.Get().([]byte)[:n]
}

// PutBuf returns a buffer from GetBuf once nothing refers to it.
func PutBuf(b []byte) {
	if cap(b) == chunk.Size+64 {
		bufs.Put(b[:0])
	}
}

// Client is one stream to one source.
type Client struct {
	p  peer.ID
	st network.Stream
	r  *bufio.Reader
	w  *bufio.Writer
}

// Host is what the client needs of its node: streams to a peer. A
// libp2p host is one, and so is the phone's.
type Host interface {
	NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
}

// Dial opens a stream of the protocol to p.
func Dial(ctx context.Context, h Host, p peer.ID) (*Client, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "hearth blob"), p, proto.Blob)
	if err != nil {
		return nil, err
	}
	return &Client{p: p, st: st, r: bufio.NewReader(st), w: bufio.NewWriter(st)}, nil
}

func (c *Client) Send(req Request) error {
	c.st.SetWriteDeadline(time.Now().Add(AnswerTimeout))
	_, err := c.w.Write(req.Encode())
	return err
}

func (c *Client) Flush() error { return c.w.Flush() }

func (c *Client) Recv(limit int) (byte, []byte, error) {
	c.st.SetReadDeadline(time.Now().Add(AnswerTimeout))
	return ReadAnswer(c.r, limit)
}

func (c *Client) Ask(req Request, limit int) (byte, []byte, error) {
	if err := c.Send(req); err != nil {
		return 0, nil, err
	}
	if err := c.Flush(); err != nil {
		return 0, nil, err
	}
	return c.Recv(limit)
}

func (c *Client) Close() { c.st.Close() }

// Reset ends the stream at once, on both sides.
func (c *Client) Reset() { c.st.Reset() }

// hashes fetches the whole hash list of root.
func (c *Client) Hashes(root chunk.Hash) ([]chunk.Hash, error) {
	var out []chunk.Hash
	for {
		st, b, err := c.Ask(Request{Op: OpHashes, Root: root, A: uint32(len(out)), B: MaxHashesPer}, 4+32*MaxHashesPer)
		if err != nil {
			return nil, err
		}
		if st != StatusOK || len(b) < 4 || (len(b)-4)%32 != 0 {
			return nil, errors.New("no hash list")
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > chunk.MaxChunks { // before converting: a 32-bit int turns negative past 2^31
			return nil, fmt.Errorf("a hash list of %d hashes", n)
		}
		total := int(n)
		for i := 4; i < len(b); i += 32 {
			out = append(out, chunk.Hash(b[i:i+32]))
		}
		if len(out) >= total || len(b) == 4 {
			return out, nil
		}
	}
}

// have fetches the source's bitmap for a file of n chunks.
func (c *Client) Have(root chunk.Hash, n int) ([]bool, error) {
	st, b, err := c.Ask(Request{Op: OpHave, Root: root}, (chunk.MaxChunks+7)/8)
	if err != nil {
		return nil, err
	}
	if st != StatusOK {
		return nil, errors.New("the source does not hold the file")
	}
	out := make([]bool, n)
	for i := range out {
		if i/8 < len(b) {
			out[i] = b[i/8]&(1<<(i%8)) != 0
		}
	}
	return out, nil
}
