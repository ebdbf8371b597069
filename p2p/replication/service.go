package replication

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	gosync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// ErrRefused is what Room.Receive returns (wrapped) for valid blocks it
// will not store, e.g. a mirror out of space: not the peer's fault.
var ErrRefused = log.ErrRefused

// wanter is a Room that keeps only some logs (a blind mirror keeps those
// its room's keeper named): the others are not asked for.
type wanter interface{ Wants(h log.Head) bool }

// Room is what replication needs of a room (package room implements it;
// so will a mirror's store).
type Room interface {
	Heads() []log.Head
	Len(writer identity.PublicKey) uint64
	Blocks(writer identity.PublicKey, from uint64, maxBytes int) (log.Head, [][]byte, bool)
	Receive(head log.Head, blocks [][]byte) error
	Check(head log.Head) (*log.ForkProof, error)
}

// preparer is a room that does ahead what receiving blocks takes that
// depends on nothing it holds (room.Room: hashing and opening them), and
// returns the Receive to call with them then: a session prepares the next
// frame while the room applies the one before.
type preparer interface {
	Prepare(writer identity.PublicKey, start uint64, blocks [][]byte) func(log.Head, [][]byte) error
}

// mirrorNamer is what a room may tell of the peers it names as mirrors.
type mirrorNamer interface{ NamesMirror(peer string) bool }

// Config builds a Service. Host and Lookup are required.
type Config struct {
	Host proto.Host
	// Lookup returns the room of a discovery key, if this node holds it.
	Lookup func(log.Discovery) (Room, bool)
	// OnFork is called when a peer shows a head that proves a fork: once
	// per log (two peers that hold the two histories show each other
	// their heads on every change, and a proof written is a change).
	OnFork func(log.Discovery, *log.ForkProof)
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
}

// Timeouts and limits of the protocol.
const (
	helloTimeout  = 10 * time.Second
	idleTimeout   = 3 * time.Minute // a session with no frame for this long is dead
	headsInterval = time.Minute     // heads are re-sent at least this often (keepalive)
	writeTimeout  = 30 * time.Second
	frameBudget   = MaxFrame - 64<<10 // bytes of blocks per frame, leaving room for the head and lengths
	wantRetry     = 15 * time.Second  // ask again when an answer stalls this long
	outQueue      = 64
)

// Service runs the sync protocol for every room this node holds.
type Service struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     gosync.WaitGroup

	mu       gosync.Mutex
	sessions map[log.Discovery]map[*session]struct{}
	forked   map[log.ID]bool // logs whose fork went to OnFork
}

// New registers the protocol handler on the host.
func New(cfg Config) *Service {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg:      cfg,
		log:      logattr.OrDiscard(cfg.Logger),
		ctx:      ctx,
		cancel:   cancel,
		sessions: map[log.Discovery]map[*session]struct{}{},
		forked:   map[log.ID]bool{},
	}
	cfg.Host.SetStreamHandler(proto.Sync, proto.Guard(s.log, "sync", s.handle))
	return s
}

// Close stops every session and waits for them.
func (s *Service) Close() {
	s.cfg.Host.RemoveStreamHandler(proto.Sync)
	s.cancel()
	s.mu.Lock()
	for _, m := range s.sessions {
		for ss := range m {
			ss.stream.Reset()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Score returns a peer's protocol offences at this node so far, over
// every protocol (the node's scorer: see proto.Report); a host that is not
// a hnet.Node's scores nothing.
func (s *Service) Score(p peer.ID) int { return proto.ScoreAt(s.cfg.Host, p) }

func (s *Service) isBanned(p peer.ID) bool { return proto.BannedAt(s.cfg.Host, p) }

// penalise reports a violation to the node's scorer, which disconnects
// and refuses the peer at proto.BanScore offences over every protocol:
// one threshold for the whole node.
func (s *Service) penalise(p peer.ID, why error) {
	s.log.Debug("sync violation", logattr.Peer(p.String()), logattr.Err(why))
	proto.Report(s.cfg.Host, p, "sync", why)
}

// Sessions returns how many peers a room is syncing with.
func (s *Service) Sessions(d log.Discovery) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions[d])
}

// Changed tells every session of the room that it changed: they send
// their heads again.
func (s *Service) Changed(d log.Discovery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions[d] {
		ss.poke()
	}
}

// Sync opens a session with p for the room of d, unless one is open
// already. It returns once the session runs (or failed to start).
func (s *Service) Sync(ctx context.Context, p peer.ID, d log.Discovery) error {
	room, ok := s.cfg.Lookup(d)
	if !ok {
		return errors.New("sync: no such room here")
	}
	if s.has(d, p) {
		return nil
	}
	if s.isBanned(p) {
		return errors.New("sync: peer is banned")
	}
	st, err := s.cfg.Host.NewStream(network.WithAllowLimitedConn(ctx, "hearth sync"), p, proto.Sync)
	if err != nil {
		return fmt.Errorf("sync: opening stream to %s: %w", p.ShortString(), err)
	}
	st.SetDeadline(time.Now().Add(helloTimeout))
	r := bufio.NewReader(st)
	if err := writeFrame(st, &frame{typ: frameHello, disc: d}); err != nil {
		st.Reset()
		return err
	}
	f, err := readFrame(r)
	if err != nil || f.typ != frameHello || f.disc != d {
		st.Reset()
		if err == nil {
			err = errors.New("peer does not hold the room")
		}
		return fmt.Errorf("sync: hello from %s: %w", p.ShortString(), err)
	}
	st.SetDeadline(time.Time{})
	s.start(room, d, st, r)
	return nil
}

// Syncing reports whether the room of d has a session with p.
func (s *Service) Syncing(d log.Discovery, p peer.ID) bool { return s.has(d, p) }

func (s *Service) has(d log.Discovery, p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions[d] {
		if ss.peer == p {
			return true
		}
	}
	return false
}

func (s *Service) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	if s.isBanned(p) {
		st.Reset()
		return
	}
	st.SetDeadline(time.Now().Add(helloTimeout))
	r := bufio.NewReader(st)
	f, err := readFrame(r)
	if err != nil || f.typ != frameHello {
		if err == nil || errors.Is(err, ErrFrame) {
			s.penalise(p, fmt.Errorf("first frame: %v", err))
		}
		st.Reset()
		return
	}
	room, ok := s.cfg.Lookup(f.disc)
	if !ok {
		st.Reset()
		return
	}
	if err := writeFrame(st, &frame{typ: frameHello, disc: f.disc}); err != nil {
		st.Reset()
		return
	}
	st.SetDeadline(time.Time{})
	s.start(room, f.disc, st, r)
}

func (s *Service) start(room Room, d log.Discovery, st network.Stream, r *bufio.Reader) {
	ss := &session{
		s:      s,
		room:   room,
		disc:   d,
		peer:   st.Conn().RemotePeer(),
		stream: st,
		r:      r,
		out:    make(chan *frame, outQueue),
		dirty:  make(chan struct{}, 1),
		wanted: map[identity.PublicKey]want{},
		wdone:  make(chan struct{}),
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		st.Reset()
		return
	}
	if s.sessions[d] == nil {
		s.sessions[d] = map[*session]struct{}{}
	}
	s.sessions[d][ss] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	ss.poke()
	done := make(chan struct{})
	go func() {
		defer s.wg.Done()
		defer close(ss.wdone)
		defer proto.Recover(s.log, "sync", st)
		ss.writeLoop(done)
	}()
	go func() {
		defer s.wg.Done()
		closed := false
		defer func() {
			if !closed {
				close(done) // after a panic, recovered below
			}
		}()
		defer proto.Recover(s.log, "sync", st)
		err := ss.readLoop()
		close(done)
		closed = true
		if err != nil && !errors.Is(err, io.EOF) && s.ctx.Err() == nil {
			s.log.Debug("sync session ended", logattr.Peer(ss.peer.String()), logattr.Room(d), logattr.Err(err))
		}
		st.Reset()
		s.mu.Lock()
		delete(s.sessions[d], ss)
		if len(s.sessions[d]) == 0 {
			delete(s.sessions, d)
		}
		s.mu.Unlock()
	}()
}

// session is one stream with one peer for one room.
type session struct {
	s      *Service
	room   Room
	disc   log.Discovery
	peer   peer.ID
	stream network.Stream
	r      *bufio.Reader
	out    chan *frame
	dirty  chan struct{}

	wdone chan struct{} // closed when writeLoop ends

	mu     gosync.Mutex
	wanted map[identity.PublicKey]want
	// deferred are logs the room refused for now (it could not judge
	// them yet, and holds as many such as it will): asked for again
	// once blocks of another log were taken, which may let the room
	// judge them (a new member receiving its room's logs in any order).
	deferred map[identity.PublicKey]uint64
	serving  map[identity.PublicKey]uint64 // logs being streamed: the lowest From asked meanwhile, or noWant
}

// maxDeferred bounds the logs a session asks for again (session.deferred).
const maxDeferred = 4096

// noWant marks a log being served with no Want arrived meanwhile.
const noWant = ^uint64(0)

// want is an outstanding request: from which position, for a head of
// which length, when.
type want struct {
	from, to uint64
	at       time.Time
}

func (ss *session) poke() {
	select {
	case ss.dirty <- struct{}{}:
	default:
	}
}

// send queues a frame; it gives up when the session ends.
func (ss *session) send(f *frame) bool {
	select {
	case ss.out <- f:
		return true
	case <-ss.wdone:
		return false
	case <-ss.s.ctx.Done():
		return false
	}
}

func (ss *session) writeLoop(done <-chan struct{}) {
	tick := time.NewTicker(headsInterval)
	defer tick.Stop()
	w := bufio.NewWriter(ss.stream)
	write := func(f *frame) bool {
		ss.stream.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := writeFrame(w, f); err != nil {
			ss.stream.Reset()
			return false
		}
		if len(ss.out) == 0 {
			if err := w.Flush(); err != nil {
				ss.stream.Reset()
				return false
			}
		}
		return true
	}
	for {
		var f *frame
		select {
		case <-done:
			return
		case <-ss.s.ctx.Done():
			return
		case f = <-ss.out:
		case <-ss.dirty:
			f = &frame{typ: frameHeads, heads: ss.room.Heads()}
		case <-tick.C:
			f = &frame{typ: frameHeads, heads: ss.room.Heads()}
		}
		if !write(f) {
			return
		}
	}
}

// readLoop reads frames and acts on each in turn. Three goroutines pass
// frames along: one reads them, so the peer can send on while the others
// work; one prepares blocks (preparer); this one acts on them. At most
// four frames are held (a frame is at most MaxFrame), and a catch-up's
// frames come back to back.
func (ss *session) readLoop() error {
	read := make(chan *frame, 1)
	frames := make(chan *frame)
	stop := make(chan struct{})
	readErr := errors.New("the frame reader stopped")
	var wg gosync.WaitGroup
	wg.Go(func() {
		defer close(read)
		defer proto.Recover(ss.s.log, "sync", ss.stream)
		for {
			ss.stream.SetReadDeadline(time.Now().Add(idleTimeout))
			f, err := readFrame(ss.r)
			if err != nil {
				readErr = err
				return
			}
			select {
			case read <- f:
			case <-stop:
				return
			}
		}
	})
	wg.Go(func() {
		defer close(frames)
		defer proto.Recover(ss.s.log, "sync", ss.stream)
		p, prepares := ss.room.(preparer)
		for f := range read {
			if prepares && ss.prepares(f) {
				f.receive = p.Prepare(f.head.Writer, f.start, f.blocks)
			}
			select {
			case frames <- f:
			case <-stop:
				return
			}
		}
	})
	var err error
	for f := range frames {
		if err = ss.handle(f); err != nil {
			ss.s.penalise(ss.peer, err)
			close(stop)
			ss.stream.Reset() // the reader may be waiting for a frame
			break
		}
	}
	wg.Wait()
	if err != nil {
		return err
	}
	if errors.Is(readErr, ErrFrame) {
		ss.s.penalise(ss.peer, readErr)
	}
	return readErr
}

// prepares says whether a frame read is worth preparing: blocks of a log
// this session asked for, as many as its head covers past their start.
// Anything else the handler refuses or ignores, and nobody's frames make
// the room work ahead for nothing.
func (ss *session) prepares(f *frame) bool {
	if f.typ != frameBlocks || f.head.Discovery != ss.disc || f.head.Length < f.start || f.head.Length-f.start != uint64(len(f.blocks)) {
		return false
	}
	ss.mu.Lock()
	_, asked := ss.wanted[f.head.Writer]
	ss.mu.Unlock()
	return asked
}

// handle acts on one frame; an error is the peer's violation.
func (ss *session) handle(f *frame) error {
	switch f.typ {
	case frameHeads:
		for _, h := range f.heads {
			if h.Discovery != ss.disc {
				return errors.New("head of another room")
			}
			if local := ss.room.Len(h.Writer); h.Length > local {
				// Asked for only if its writer signed it: a forged head
				// would have this node chase blocks that do not exist.
				if err := h.Verify(); err != nil {
					return fmt.Errorf("head of %s: %w", h.Writer.Short(), err)
				}
				if w, ok := ss.room.(wanter); ok && !w.Wants(h) {
					continue // a log this room would refuse: not fetched
				}
				ss.ask(h.Writer, local, h.Length)
				continue
			}
			if err := ss.check(h); err != nil {
				return err
			}
		}
	case frameWant:
		// One streaming goroutine per log at most: a serve runs to the
		// latest head, so a Want that arrives meanwhile only asks it to
		// look once more before it ends; a flood of Wants cannot start a
		// flood of goroutines.
		ss.mu.Lock()
		if ss.serving == nil {
			ss.serving = map[identity.PublicKey]uint64{}
		}
		pending, busy := ss.serving[f.writer]
		if busy {
			ss.serving[f.writer] = min(pending, f.from)
		} else {
			ss.serving[f.writer] = noWant
		}
		ss.mu.Unlock()
		if busy {
			return nil
		}
		ss.s.wg.Add(1)
		go func() {
			defer ss.s.wg.Done()
			defer proto.Recover(ss.s.log, "sync", ss.stream)
			from := f.from
			for {
				from = ss.serve(f.writer, from)
				ss.mu.Lock()
				pending := ss.serving[f.writer]
				if pending == noWant {
					delete(ss.serving, f.writer)
				} else {
					ss.serving[f.writer] = noWant
				}
				ss.mu.Unlock()
				if pending == noWant {
					return
				}
				from = min(from, pending)
			}
		}()
	case frameBlocks:
		local := ss.room.Len(f.head.Writer)
		switch {
		case f.head.Discovery != ss.disc:
			return errors.New("blocks of another room")
		case f.head.Length <= local:
			// Already held; but the head is its writer's word like any
			// other: one that disagrees with the blocks held proves a
			// fork (a device that signed two histories sends the other
			// one's blocks).
			return ss.check(f.head)
		case f.start > local:
			ss.ask(f.head.Writer, local, f.head.Length)
			return nil
		}
		receive := ss.room.Receive
		if f.receive != nil {
			receive = f.receive
		}
		if err := receive(f.head, f.blocks[local-f.start:]); err != nil {
			if errors.Is(err, log.ErrStale) {
				return nil
			}
			if errors.Is(err, ErrRefused) {
				// Not asked again until the peer's next heads. A log
				// that can never count is the offering peer's fault,
				// unless the room names it a mirror (it passes on what
				// others left with it).
				ss.s.log.Debug("blocks not stored", logattr.Room(ss.disc), logattr.Err(err))
				junk := errors.Is(err, log.ErrJunk)
				if m, ok := ss.room.(mirrorNamer); junk && (!ok || !m.NamesMirror(ss.peer.String())) {
					ss.s.penalise(ss.peer, err)
				}
				ss.mu.Lock()
				delete(ss.wanted, f.head.Writer)
				if !junk && len(ss.deferred) < maxDeferred {
					if ss.deferred == nil {
						ss.deferred = map[identity.PublicKey]uint64{}
					}
					ss.deferred[f.head.Writer] = f.head.Length
				}
				ss.mu.Unlock()
				return nil
			}
			return fmt.Errorf("blocks of %s: %w", f.head.Writer.Short(), err)
		}
		ss.mu.Lock()
		if w, ok := ss.wanted[f.head.Writer]; ok {
			w.at = time.Now() // progress: the request is alive
			ss.wanted[f.head.Writer] = w
		}
		again := ss.deferred
		ss.deferred = nil
		ss.mu.Unlock()
		for w, to := range again {
			ss.ask(w, ss.room.Len(w), to)
		}
	default:
		return fmt.Errorf("unexpected frame %d", f.typ)
	}
	return nil
}

// check compares a head no longer than the log held with it, and hands
// a fork it proves to OnFork; an error is the peer's violation.
func (ss *session) check(h log.Head) error {
	fp, err := ss.room.Check(h)
	if err != nil {
		return fmt.Errorf("head of %s: %w", h.Writer.Short(), err)
	}
	if fp == nil || ss.s.cfg.OnFork == nil {
		return nil
	}
	id := log.LogID(ss.disc, h.Writer)
	ss.s.mu.Lock()
	told := ss.s.forked[id]
	ss.s.forked[id] = true
	ss.s.mu.Unlock()
	if !told {
		ss.s.cfg.OnFork(ss.disc, fp)
	}
	return nil
}

// ask sends Want for writer's log from local, having seen a head of
// length to, unless a recent request already covers it.
func (ss *session) ask(writer identity.PublicKey, local, to uint64) {
	ss.mu.Lock()
	w, ok := ss.wanted[writer]
	if ok && w.from <= local && to <= w.to && time.Since(w.at) < wantRetry {
		ss.mu.Unlock()
		return
	}
	ss.wanted[writer] = want{from: local, to: max(to, w.to), at: time.Now()}
	ss.mu.Unlock()
	ss.send(&frame{typ: frameWant, writer: writer, from: local})
}

// serve streams writer's log from from up to the latest head, one batch
// (ending at a signed head) per frame, and returns where it stopped.
func (ss *session) serve(writer identity.PublicKey, from uint64) uint64 {
	for {
		h, blocks, ok := ss.room.Blocks(writer, from, frameBudget)
		if !ok {
			return from
		}
		f := &frame{typ: frameBlocks, head: h, start: from, blocks: blocks}
		if _, err := f.encode(); err != nil {
			ss.s.log.Warn("a batch does not fit a frame", logattr.Room(ss.disc), logattr.Err(err))
			return from
		}
		if !ss.send(f) {
			return from
		}
		from = h.Length
	}
}
