package blob

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// The /hearth/blob protocol: on one stream, a client sends requests and
// the server answers each, in order, so a client keeps a window of
// requests in flight. A request is 41 bytes: op, root, two numbers.
// An answer is a status byte, a length (uvarint) and a payload.

// Operations.
const (
	opHashes byte = 1 // hashes [A, A+B) of the file's hash list
	opChunk  byte = 2 // ciphertext chunk A
	opHave   byte = 3 // which chunks the server holds, as a bitmap
)

// Statuses.
const (
	stOK      byte = 0
	stMissing byte = 1
	stBad     byte = 2
)

// Limits.
const (
	requestLen   = 1 + 32 + 4 + 4
	maxHashesPer = 16384 // 512 KiB of hashes per answer
	maxAnswer    = chunk.MaxChunkSize + 64
	streamIdle   = 2 * time.Minute
	// requestTimeout bounds the first request of a stream, and the rest
	// of any request once its first byte came: a client writes a request
	// whole, and opens a stream to write one at once, so only a slow
	// attacker (slowloris) waits longer; it holds a stream slot that long
	// at most, not streamIdle.
	requestTimeout = 10 * time.Second
	dialTimeout    = 10 * time.Second
	answerTimeout  = 60 * time.Second
)

// Request is one request of the protocol.
type Request struct {
	Op   byte
	Root chunk.Hash
	A, B uint32
}

func (r *Request) encode() []byte {
	b := make([]byte, requestLen)
	b[0] = r.Op
	copy(b[1:33], r.Root[:])
	binary.BigEndian.PutUint32(b[33:], r.A)
	binary.BigEndian.PutUint32(b[37:], r.B)
	return b
}

// DecodeRequest reads a request; any 41 bytes decode, the operation is
// checked.
func DecodeRequest(b []byte) (*Request, error) {
	if len(b) != requestLen {
		return nil, fmt.Errorf("a request of %d bytes", len(b))
	}
	r := &Request{Op: b[0], A: binary.BigEndian.Uint32(b[33:]), B: binary.BigEndian.Uint32(b[37:])}
	copy(r.Root[:], b[1:33])
	if r.Op < opHashes || r.Op > opHave {
		return nil, fmt.Errorf("unknown operation %d", r.Op)
	}
	return r, nil
}

func writeAnswer(w io.Writer, st byte, payload []byte) error {
	var head [1 + binary.MaxVarintLen64]byte
	head[0] = st
	n := 1 + binary.PutUvarint(head[1:], uint64(len(payload)))
	if _, err := w.Write(head[:n]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func readAnswer(r *bufio.Reader, limit int) (byte, []byte, error) {
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
	b := getBuf(int(n))
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return st, b, nil
}

// bufs recycles chunk-sized buffers: a transfer would otherwise allocate
// one per chunk for the garbage collector.
var bufs = sync.Pool{New: func() any { return make([]byte, 0, chunk.Size+64) }}

func getBuf(n int) []byte {
	if n > chunk.Size+64 || n < chunk.Size/2 {
		return make([]byte, n)
	}
	return bufs.Get().([]byte)[:n]
}

// putBuf returns a buffer from getBuf once nothing refers to it.
func putBuf(b []byte) {
	if cap(b) == chunk.Size+64 {
		bufs.Put(b[:0])
	}
}

// An answer of a chunk holds a chunk of memory from the moment it is read
// until it is written, and a peer that asks and reads slowly (or never)
// would hold servePipeline+2 of them on each stream it opens, 32 streams
// a peer. So chunks in memory are counted: servingPerPeer at most for one
// peer's streams together, servingAll for every peer's. A stream past its
// share waits (the client's window waits with it) until another answer is
// written, answerTimeout at most. One honest download uses one stream a
// source (servePipeline+2 chunks); servingAll lets several go at full
// speed at once.
const (
	servingPerPeer = 8
	servingAll     = 32
)

// budget counts the chunks held in memory by answers not yet written.
type budget struct {
	mu      sync.Mutex
	all     int
	per     map[peer.ID]int
	changed chan struct{} // closed and replaced at each release
}

func newBudget() *budget {
	return &budget{per: map[peer.ID]int{}, changed: make(chan struct{})}
}

// acquire takes a chunk for p, waiting for one until the deadline or
// quit; it reports whether it got one.
func (b *budget) acquire(p peer.ID, deadline <-chan time.Time, quit <-chan struct{}) bool {
	for {
		b.mu.Lock()
		if b.all < servingAll && b.per[p] < servingPerPeer {
			b.all++
			b.per[p]++
			b.mu.Unlock()
			return true
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return false
		case <-quit:
			return false
		}
	}
}

// release gives back a chunk of p's.
func (b *budget) release(p peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.all--
	if b.per[p]--; b.per[p] <= 0 {
		delete(b.per, p)
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// held returns the chunks held in all and by p.
func (b *budget) held(p peer.ID) (all, mine int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.all, b.per[p]
}

// Service serves the chunks of the files this node holds.
type Service struct {
	host   host.Host
	lookup func(chunk.Hash) (Source, bool)
	log    *slog.Logger
	budget *budget
}

// NewService registers the handler; lookup finds the source of a file.
func NewService(h host.Host, lookup func(chunk.Hash) (Source, bool), logger *slog.Logger) *Service {
	s := &Service{host: h, lookup: lookup, log: logattr.OrDiscard(logger), budget: newBudget()}
	h.SetStreamHandler(proto.Blob, proto.Guard(s.log, "blob", s.handle))
	return s
}

// Close removes the handler.
func (s *Service) Close() { s.host.RemoveStreamHandler(proto.Blob) }

// servePipeline is how many answers a stream prepares ahead of the one
// being written: the next chunk is read and checked on one core while the
// last one is encrypted and sent on another.
const servePipeline = 2

// prepared is an answer ready to be written.
type prepared struct {
	status  byte
	payload []byte
	pooled  []byte // a buffer to give back once written
	counted bool   // it holds a chunk of the budget until written
	last    bool   // the stream ends after it (a refused request)
}

func (s *Service) handle(st network.Stream) {
	defer st.Close()
	p := st.Conn().RemotePeer()
	done := func(a prepared) {
		putBuf(a.pooled)
		if a.counted {
			s.budget.release(p)
		}
	}
	r := bufio.NewReader(st)
	w := bufio.NewWriter(st)
	answers := make(chan prepared, servePipeline)
	// Answers left unwritten give back what they hold, once the reader
	// has quit (deferred calls run last first).
	defer func() {
		for a := range answers {
			done(a)
		}
	}()
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer close(answers)
		defer proto.Recover(s.log, "blob", st)
		buf := make([]byte, requestLen)
		for idle := requestTimeout; ; idle = streamIdle {
			st.SetReadDeadline(time.Now().Add(idle))
			if _, err := r.Peek(1); err != nil {
				if !errors.Is(err, io.EOF) {
					st.Reset()
				}
				return
			}
			st.SetReadDeadline(time.Now().Add(requestTimeout))
			if _, err := io.ReadFull(r, buf); err != nil {
				if !errors.Is(err, io.EOF) {
					st.Reset()
				}
				return
			}
			a := prepared{}
			req, err := DecodeRequest(buf)
			if err != nil {
				s.log.Debug("blob request refused", logattr.Peer(st.Conn().RemotePeer().String()), logattr.Err(err))
				proto.Report(s.host, st.Conn().RemotePeer(), "blob", err)
				a = prepared{status: stBad, payload: []byte(err.Error()), last: true}
			} else {
				if req.Op == opChunk {
					wait := time.NewTimer(answerTimeout)
					a.counted = s.budget.acquire(p, wait.C, quit)
					wait.Stop()
					if !a.counted {
						// Its earlier answers were not read in time, or
						// the stream ended meanwhile.
						st.Reset()
						return
					}
				}
				a.status, a.payload, a.pooled = s.serve(req)
			}
			select {
			case answers <- a:
			case <-quit:
				done(a)
				return
			}
			if a.last {
				return
			}
		}
	}()
	for a := range answers {
		st.SetWriteDeadline(time.Now().Add(answerTimeout))
		err := writeAnswer(w, a.status, a.payload)
		done(a)
		if err == nil && (a.last || len(answers) == 0) {
			err = w.Flush()
		}
		if err != nil || a.last {
			st.Reset()
			return
		}
	}
}

// serve answers a request; pooled, when not nil, is a buffer from getBuf
// to give back once the answer is written.
func (s *Service) serve(req *Request) (status byte, payload, pooled []byte) {
	src, ok := s.lookup(req.Root)
	if !ok {
		return stMissing, nil, nil
	}
	switch req.Op {
	case opHashes:
		hs, ok := src.Hashes(req.Root)
		if !ok {
			return stMissing, nil, nil
		}
		// Compared before any conversion: on a 32-bit build int(A) of
		// 2^31 or more is negative.
		if uint64(req.A) > uint64(len(hs)) {
			return stBad, []byte("past the end"), nil
		}
		from, n := int(req.A), int(min(req.B, maxHashesPer))
		if from > len(hs) {
			return stBad, []byte("past the end"), nil
		}
		out := make([]byte, 0, 32*min(n, len(hs)-from)+4)
		out = binary.BigEndian.AppendUint32(out, uint32(len(hs)))
		for _, h := range hs[from:min(from+n, len(hs))] {
			out = append(out, h[:]...)
		}
		return stOK, out, nil
	case opChunk:
		buf := getBuf(chunk.Size + 64)
		if uint64(req.A) > math.MaxInt32 {
			putBuf(buf)
			return stBad, []byte("past the end"), nil
		}
		ct, ok := src.Chunk(req.Root, int(req.A), buf)
		if !ok {
			putBuf(buf)
			return stMissing, nil, nil
		}
		if len(ct) == 0 || &ct[:1][0] != &buf[:1][0] {
			// The source used its own memory: buf is free now.
			putBuf(buf)
			return stOK, ct, nil
		}
		return stOK, ct, buf
	default:
		have := src.Have(req.Root)
		if have == nil {
			return stMissing, nil, nil
		}
		bm := make([]byte, (len(have)+7)/8)
		for i, h := range have {
			if h {
				bm[i/8] |= 1 << (i % 8)
			}
		}
		return stOK, bm, nil
	}
}

// client is one stream to one source.
type client struct {
	p  peer.ID
	st network.Stream
	r  *bufio.Reader
	w  *bufio.Writer
}

func dial(ctx context.Context, h host.Host, p peer.ID) (*client, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "hearth blob"), p, proto.Blob)
	if err != nil {
		return nil, err
	}
	return &client{p: p, st: st, r: bufio.NewReader(st), w: bufio.NewWriter(st)}, nil
}

func (c *client) send(req Request) error {
	c.st.SetWriteDeadline(time.Now().Add(answerTimeout))
	_, err := c.w.Write(req.encode())
	return err
}

func (c *client) flush() error { return c.w.Flush() }

func (c *client) recv(limit int) (byte, []byte, error) {
	c.st.SetReadDeadline(time.Now().Add(answerTimeout))
	return readAnswer(c.r, limit)
}

func (c *client) ask(req Request, limit int) (byte, []byte, error) {
	if err := c.send(req); err != nil {
		return 0, nil, err
	}
	if err := c.flush(); err != nil {
		return 0, nil, err
	}
	return c.recv(limit)
}

func (c *client) close() { c.st.Close() }

// hashes fetches the whole hash list of root.
func (c *client) hashes(root chunk.Hash) ([]chunk.Hash, error) {
	var out []chunk.Hash
	for {
		st, b, err := c.ask(Request{Op: opHashes, Root: root, A: uint32(len(out)), B: maxHashesPer}, 4+32*maxHashesPer)
		if err != nil {
			return nil, err
		}
		if st != stOK || len(b) < 4 || (len(b)-4)%32 != 0 {
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
func (c *client) have(root chunk.Hash, n int) ([]bool, error) {
	st, b, err := c.ask(Request{Op: opHave, Root: root}, (chunk.MaxChunks+7)/8)
	if err != nil {
		return nil, err
	}
	if st != stOK {
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
