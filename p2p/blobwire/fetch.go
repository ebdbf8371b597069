package blobwire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
)

// DefaultWindow is how many chunk requests are in flight per source.
const DefaultWindow = 8

// FetchHashes gets the hash list of m from the sources, asking them all
// at once (a dead one costs nothing), and keeps the first that makes m's
// root.
func FetchHashes(ctx context.Context, h Host, m *chunk.Manifest, peers []peer.ID) ([]chunk.Hash, error) {
	if m.Chunks() == 0 {
		return nil, nil
	}
	if len(peers) == 0 {
		return nil, errors.New("no source for the file")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		hs  []chunk.Hash
		err error
	}
	results := make(chan result, len(peers))
	for _, p := range peers {
		go func() {
			c, err := Dial(ctx, h, p)
			if err != nil {
				results <- result{err: fmt.Errorf("%s: %w", p.ShortString(), err)}
				return
			}
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Reset() })
			defer stop()
			hs, err := c.Hashes(m.Root)
			if err == nil {
				err = chunk.CheckHashes(m, hs)
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", p.ShortString(), err)
			}
			results <- result{hs: hs, err: err}
		}()
	}
	var errs []error
	for range peers {
		r := <-results
		if r.err == nil {
			return r.hs, nil
		}
		errs = append(errs, r.err)
	}
	return nil, fmt.Errorf("no source gave the file's hash list: %w", errors.Join(errs...))
}

// Sink takes the chunks Fetch gets.
type Sink interface {
	Manifest() *chunk.Manifest
	Missing() []int
	Held() (chunks int, bytes int64)
	Complete() bool
	// Put checks ciphertext chunk i against its hash (chunk.ErrBad if it
	// does not match) and keeps it.
	Put(i int, ct []byte) error
	Sync() error
}

// Progress is reported as chunks arrive.
type Progress struct {
	Done, Total int64 // bytes held, file size
	Sources     int   // sources in use now
}

// FetchConfig is what Fetch needs.
type FetchConfig struct {
	Host  Host
	Peers []peer.ID
	// Partial is where the chunks go: a receiver's Partial, or a Store's
	// sink (a mirror keeping the file).
	Partial Sink
	// Window is the requests in flight per source; zero means
	// DefaultWindow.
	Window   int
	Progress func(Progress)
	Logger   *slog.Logger
}

// Fetch gets every missing chunk of the partial file from all the sources
// at once, a window of requests in flight on each. Received chunks are
// verified, decrypted and written by a small pool, so that a source's
// stream keeps flowing meanwhile. A source that serves a chunk that does
// not match its hash is dropped for this file and its chunks go to the
// others. It returns nil when the file is complete; on an error the
// partial file keeps what was verified.
func Fetch(ctx context.Context, cfg FetchConfig) error {
	part := cfg.Partial
	m := part.Manifest()
	if part.Complete() {
		return part.Sync()
	}
	win := cfg.Window
	if win <= 0 {
		win = DefaultWindow
	}
	log := logattr.OrDiscard(cfg.Logger)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := newSched(part.Missing(), m.Chunks())
	defer context.AfterFunc(ctx, s.stop)()
	_, held := part.Held()
	var mu sync.Mutex
	done := held
	sources := 0
	report := func(n int64, dSources int) {
		mu.Lock()
		done += n
		sources += dSources
		p := Progress{Done: done, Total: m.Size, Sources: sources}
		mu.Unlock()
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
	}
	var fatal error
	var fatalOnce sync.Once
	fail := func(err error) {
		fatalOnce.Do(func() { fatal = err })
		cancel()
		s.stop()
	}

	// The pool: verify, decrypt, write.
	work := make(chan received, poolQueue)
	var pool sync.WaitGroup
	for range poolSize {
		pool.Add(1)
		go func() {
			defer pool.Done()
			for r := range work {
				err := part.Put(r.i, r.ct)
				PutBuf(r.ct)
				switch {
				case err == nil:
					if s.complete(r.i) {
						cancel() // complete: sources still dialling are not waited for
					}
					report(int64(m.ChunkLen(r.i)), 0)
				case errors.Is(err, chunk.ErrBad):
					r.src.bad.Store(true)
					s.requeue(r.i)
					log.Info("a source served a bad chunk: dropped for this file", logattr.Peer(r.src.p.String()))
				default:
					s.requeue(r.i)
					fail(err)
				}
			}
		}()
	}

	var wg sync.WaitGroup
	for _, p := range cfg.Peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := &source{p: p}
			if err := fetchFrom(ctx, cfg.Host, src, part, s, win, work, report); err != nil {
				log.Debug("a file source stopped", logattr.Peer(p.String()), logattr.Err(err))
			}
		}()
	}
	wg.Wait()
	close(work)
	pool.Wait()
	if err := part.Sync(); err != nil && fatal == nil {
		fatal = err
	}
	if fatal != nil {
		return fatal
	}
	if !part.Complete() {
		if ctx.Err() != nil {
			return context.Canceled
		}
		n, _ := part.Held()
		return fmt.Errorf("no source has the rest of the file (%d of %d chunks held)", n, m.Chunks())
	}
	return nil
}

// The pool's size and queue.
const (
	poolSize  = 2
	poolQueue = 4
)

// source is one peer serving a file.
type source struct {
	p   peer.ID
	bad atomic.Bool // it served a bad chunk
}

// received is a chunk on its way to the pool.
type received struct {
	i   int
	ct  []byte
	src *source
}

// fetchFrom runs one source until nothing is left for it or it is
// dropped.
func fetchFrom(ctx context.Context, h Host, src *source, part Sink, s *sched, win int, work chan<- received, report func(int64, int)) error {
	m := part.Manifest()
	c, err := Dial(ctx, h, src.p)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Reset() })
	defer stop()
	have, err := c.Have(m.Root, m.Chunks())
	if err != nil {
		return err
	}
	report(0, 1)
	defer report(0, -1)
	var inflight []int
	defer func() {
		for _, i := range inflight {
			s.requeue(i)
		}
	}()
	for {
		if src.bad.Load() {
			return errors.New("dropped for serving a bad chunk")
		}
		for len(inflight) < win {
			i, ok := s.pick(have, len(inflight) == 0)
			if !ok {
				break
			}
			if err := c.Send(Request{Op: OpChunk, Root: m.Root, A: uint32(i)}); err != nil {
				s.requeue(i)
				return err
			}
			inflight = append(inflight, i)
		}
		if len(inflight) == 0 {
			return nil
		}
		if err := c.Flush(); err != nil {
			return err
		}
		st, ct, err := c.Recv(MaxAnswer)
		if err != nil {
			return err
		}
		i := inflight[0]
		inflight = inflight[1:]
		if st != StatusOK {
			// The source lacks it after all: someone else may have it.
			have[i] = false
			s.requeue(i)
			continue
		}
		select {
		case work <- received{i: i, ct: ct, src: src}:
		case <-ctx.Done():
			s.requeue(i)
			return ctx.Err()
		}
	}
}

// sched hands out the missing chunks to the sources.
type sched struct {
	mu          sync.Mutex
	cond        *sync.Cond
	queue       []int
	assigned    []bool
	outstanding int
	left        int
	stopped     bool
}

func newSched(missing []int, n int) *sched {
	s := &sched{queue: append([]int(nil), missing...), assigned: make([]bool, n), left: len(missing)}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// pick returns a chunk that have holds and nobody fetches. With wait set
// it waits while chunks are in flight elsewhere (they may come back).
func (s *sched) pick(have []bool, wait bool) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.stopped || s.left == 0 {
			return 0, false
		}
		for k, i := range s.queue {
			if !s.assigned[i] && have[i] {
				s.assigned[i] = true
				s.outstanding++
				if k == 0 {
					s.queue = s.queue[1:]
				} else {
					s.queue = append(s.queue[:k], s.queue[k+1:]...)
				}
				return i, true
			}
		}
		if !wait || s.outstanding == 0 {
			return 0, false
		}
		s.cond.Wait()
	}
}

// complete records a chunk held; it reports whether none is left.
func (s *sched) complete(int) bool {
	s.mu.Lock()
	s.outstanding--
	s.left--
	none := s.left == 0
	s.mu.Unlock()
	s.cond.Broadcast()
	return none
}

func (s *sched) requeue(i int) {
	s.mu.Lock()
	s.assigned[i] = false
	s.outstanding--
	s.queue = append(s.queue, i)
	s.mu.Unlock()
	s.cond.Broadcast()
}

func (s *sched) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cond.Broadcast()
}
