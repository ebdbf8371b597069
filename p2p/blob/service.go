package blob

import (
	"bufio"
	"encoding/binary"
	"errors"
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
	"github.com/hearthp2p/hearth/p2p/blobwire"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// An answer of a chunk holds a chunk of memory from the moment it is read
// until it is written, and a peer that asks and reads slowly (or never)
// would hold servePipeline+2 of them on each stream it opens, 32 streams
// a peer. So chunks in memory are counted: servingPerPeer at most for one
// peer's streams together, servingAll for every peer's. A stream past its
// share waits (the client's window waits with it) until another answer is
// written, blobwire.AnswerTimeout at most. One honest download uses one stream a
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
		blobwire.PutBuf(a.pooled)
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
		buf := make([]byte, blobwire.RequestLen)
		for idle := blobwire.RequestTimeout; ; idle = blobwire.StreamIdle {
			st.SetReadDeadline(time.Now().Add(idle))
			if _, err := r.Peek(1); err != nil {
				if !errors.Is(err, io.EOF) {
					st.Reset()
				}
				return
			}
			st.SetReadDeadline(time.Now().Add(blobwire.RequestTimeout))
			if _, err := io.ReadFull(r, buf); err != nil {
				if !errors.Is(err, io.EOF) {
					st.Reset()
				}
				return
			}
			a := prepared{}
			req, err := blobwire.DecodeRequest(buf)
			if err != nil {
				s.log.Debug("blob request refused", logattr.Peer(st.Conn().RemotePeer().String()), logattr.Err(err))
				proto.Report(s.host, st.Conn().RemotePeer(), "blob", err)
				a = prepared{status: blobwire.StatusBad, payload: []byte(err.Error()), last: true}
			} else {
				if req.Op == blobwire.OpChunk {
					wait := time.NewTimer(blobwire.AnswerTimeout)
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
		st.SetWriteDeadline(time.Now().Add(blobwire.AnswerTimeout))
		err := blobwire.WriteAnswer(w, a.status, a.payload)
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

// serve answers a request; pooled, when not nil, is a buffer from blobwire.GetBuf
// to give back once the answer is written.
func (s *Service) serve(req *blobwire.Request) (status byte, payload, pooled []byte) {
	src, ok := s.lookup(req.Root)
	if !ok {
		return blobwire.StatusMissing, nil, nil
	}
	switch req.Op {
	case blobwire.OpHashes:
		hs, ok := src.Hashes(req.Root)
		if !ok {
			return blobwire.StatusMissing, nil, nil
		}
		// Compared before any conversion: on a 32-bit build int(A) of
		// 2^31 or more is negative.
		if uint64(req.A) > uint64(len(hs)) {
			return blobwire.StatusBad, []byte("past the end"), nil
		}
		from, n := int(req.A), int(min(req.B, blobwire.MaxHashesPer))
		if from > len(hs) {
			return blobwire.StatusBad, []byte("past the end"), nil
		}
		out := make([]byte, 0, 32*min(n, len(hs)-from)+4)
		out = binary.BigEndian.AppendUint32(out, uint32(len(hs)))
		for _, h := range hs[from:min(from+n, len(hs))] {
			out = append(out, h[:]...)
		}
		return blobwire.StatusOK, out, nil
	case blobwire.OpChunk:
		buf := blobwire.GetBuf(chunk.Size + 64)
		if uint64(req.A) > math.MaxInt32 {
			blobwire.PutBuf(buf)
			return blobwire.StatusBad, []byte("past the end"), nil
		}
		ct, ok := src.Chunk(req.Root, int(req.A), buf)
		if !ok {
			blobwire.PutBuf(buf)
			return blobwire.StatusMissing, nil, nil
		}
		if len(ct) == 0 || &ct[:1][0] != &buf[:1][0] {
			// The source used its own memory: buf is free now.
			blobwire.PutBuf(buf)
			return blobwire.StatusOK, ct, nil
		}
		return blobwire.StatusOK, ct, buf
	default:
		have := src.Have(req.Root)
		if have == nil {
			return blobwire.StatusMissing, nil, nil
		}
		bm := make([]byte, (len(have)+7)/8)
		for i, h := range have {
			if h {
				bm[i/8] |= 1 << (i % 8)
			}
		}
		return blobwire.StatusOK, bm, nil
	}
}
