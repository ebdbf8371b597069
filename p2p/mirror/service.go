package mirror

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// The /hearth/mirror protocol: one request, one response per stream. A
// request carries the requester's device proof: the mirror checks that it
// attests the device at the other end of the stream, and acts for that
// identity.

// Operations.
const (
	OpKeep byte = 1
	OpDrop byte = 2
	OpList byte = 3
	// Mailboxes (see Mailboxes).
	OpBoxOpen     byte = 4  // an admin opens the box of an invite: Box, Expires (proof required)
	OpBoxPut      byte = 5  // a candidate leaves Sealed in Box, its answer to go to Answer: InviteKey, Sig
	OpBoxRequests byte = 6  // the requests in Box
	OpBoxAnswer   byte = 7  // an admin leaves the Sealed answer in answer box Box
	OpBoxFetch    byte = 8  // the answers in answer box Box, if any
	OpKeepBlob    byte = 9  // keep the file of Root (Size, ChunkSize) of the kept room of Discovery (proof required)
	OpWriters     byte = 10 // name the Writers of the kept room of Discovery (proof required; writers.go)
	opMax              = OpWriters
)

// needsProof reports whether an operation acts for an identity: all but
// a candidate's (leave a request, fetch an answer) and reading the sealed
// requests of a box.
func needsProof(op byte) bool { return op != OpBoxPut && op != OpBoxRequests && op != OpBoxFetch }

// Response statuses.
const (
	statusOK      byte = 0
	statusDenied  byte = 1
	statusFull    byte = 2
	statusNotKept byte = 3
	statusBad     byte = 4
	statusNoBox   byte = 5
	statusBoxFull byte = 6
	statusBusy    byte = 7
	statusLimit   byte = 8
)

// Limits of the protocol.
const (
	maxRequest  = pairing.MaxAnswer + 16<<10 + MaxWriters*48 + MaxMembers*32 + MaxAnswerers*40
	maxResponse = 1 << 20
	maxList     = 4096
	maxProof    = 8 << 10
	// maxRevocationLen bounds one encoded revocation in a request.
	maxRevocationLen = 512
	reqTimeout       = 15 * time.Second
)

// Request asks a mirror to keep, drop or list rooms, or to use a mailbox.
type Request struct {
	Op        byte
	Proof     []byte // the requester's device proof (keep, drop, list, box open)
	Discovery log.Discovery
	Pin       bool
	Box       BoxID
	Answer    BoxID              // box put: where the answer goes
	Sealed    []byte             // box put, box answer
	InviteKey identity.PublicKey // box put
	Sig       [64]byte           // box put
	Expires   int64              // box open: unix ms
	// Answerers are, for box open, the identities whose devices may
	// answer the box's requests (the room's admins).
	Answerers []identity.PublicKey
	// Writers and Members are, for keep and writers, the logs of the room
	// to keep and the identities that are its members (writers.go).
	Writers   []Writer
	Members   []identity.PublicKey
	Root      [32]byte // keep blob
	Size      int64    // keep blob
	ChunkSize uint32   // keep blob
	// Revocations are the requester's identity's revocations of its
	// devices (encoded), for the mirror to keep (revoked.go).
	Revocations [][]byte
}

func (r *Request) encode() []byte {
	w := wire.Encoder{}
	w.U8(r.Op)
	w.Bytes(r.Proof)
	w.Fixed(r.Discovery[:])
	w.Bool(r.Pin)
	w.Fixed(r.Box[:])
	w.Fixed(r.Answer[:])
	w.Bytes(r.Sealed)
	w.Fixed(r.InviteKey[:])
	w.Fixed(r.Sig[:])
	w.Uint(uint64(r.Expires))
	w.Fixed(r.Root[:])
	w.Uint(uint64(r.Size))
	w.Uint(uint64(r.ChunkSize))
	w.Uint(uint64(len(r.Revocations)))
	for _, rv := range r.Revocations {
		w.Bytes(rv)
	}
	w.Uint(uint64(len(r.Answerers)))
	for _, a := range r.Answerers {
		w.Fixed(a[:])
	}
	w.Uint(uint64(len(r.Writers)))
	for _, wr := range r.Writers {
		w.Fixed(wr.Key[:])
		w.Uint(wr.Max)
	}
	w.Uint(uint64(len(r.Members)))
	for _, m := range r.Members {
		w.Fixed(m[:])
	}
	return w.B
}

func decodeRequest(b []byte) (*Request, error) {
	d := wire.NewDecoder(b)
	r := &Request{Op: d.U8(), Proof: d.Bytes(maxProof)}
	d.Fixed(r.Discovery[:])
	r.Pin = d.Bool()
	d.Fixed(r.Box[:])
	d.Fixed(r.Answer[:])
	r.Sealed = d.Bytes(pairing.MaxAnswer)
	d.Fixed(r.InviteKey[:])
	d.Fixed(r.Sig[:])
	r.Expires = int64(d.Uint() & (1<<62 - 1))
	d.Fixed(r.Root[:])
	r.Size = int64(d.Uint() & (1<<62 - 1))
	r.ChunkSize = uint32(d.Uint() & (1<<32 - 1))
	for range d.Count(maxRequestRevocations) {
		r.Revocations = append(r.Revocations, d.Bytes(maxRevocationLen))
	}
	for range d.Count(MaxAnswerers) {
		var a identity.PublicKey
		d.Fixed(a[:])
		r.Answerers = append(r.Answerers, a)
	}
	for range d.Count(MaxWriters) {
		var wr Writer
		d.Fixed(wr.Key[:])
		wr.Max = d.Uint()
		r.Writers = append(r.Writers, wr)
	}
	for range d.Count(MaxMembers) {
		var m identity.PublicKey
		d.Fixed(m[:])
		r.Members = append(r.Members, m)
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	if r.Op < OpKeep || r.Op > opMax {
		return nil, fmt.Errorf("unknown operation %d", r.Op)
	}
	return r, nil
}

// ErrBusy: the mirror limits how often one peer may ask.
var ErrBusy = errors.New("mirror busy")

// Response is a mirror's answer.
type Response struct {
	status  byte
	message string
	Rooms   []Info
	Entries []Entry  // box requests
	Answers [][]byte // box fetch
}

func (r *Response) encode() []byte {
	w := wire.Encoder{}
	w.U8(r.status)
	w.String(r.message)
	w.Uint(uint64(len(r.Rooms)))
	for _, in := range r.Rooms {
		w.Fixed(in.Discovery[:])
		w.Fixed(in.Requester[:])
		w.Bool(in.Pinned)
		w.Uint(uint64(in.Bytes))
		w.Uint(uint64(in.Logs))
		w.Uint(in.Entries)
		w.Uint(uint64(in.Kept.UnixMilli()))
		w.Uint(uint64(in.Used.UnixMilli()))
		w.Uint(uint64(max(in.Limit, 0)))
	}
	w.Uint(uint64(len(r.Entries)))
	for _, e := range r.Entries {
		w.Bytes(e.Sealed)
		w.Fixed(e.AnswerBox[:])
		w.Uint(uint64(e.Time))
		w.Bool(e.Answered)
	}
	w.Uint(uint64(len(r.Answers)))
	for _, a := range r.Answers {
		w.Bytes(a)
	}
	return w.B
}

func decodeResponse(b []byte) (*Response, error) {
	d := wire.NewDecoder(b)
	r := &Response{status: d.U8(), message: d.String(1024)}
	n := d.Count(maxList)
	for range n {
		var in Info
		d.Fixed(in.Discovery[:])
		d.Fixed(in.Requester[:])
		in.Pinned = d.Bool()
		in.Bytes = int64(d.Uint() & (1<<62 - 1))
		in.Logs = int(d.Uint() & (1<<31 - 1))
		in.Entries = d.Uint()
		in.Kept = time.UnixMilli(int64(d.Uint() & (1<<62 - 1))).UTC()
		in.Used = time.UnixMilli(int64(d.Uint() & (1<<62 - 1))).UTC()
		in.Limit = int64(d.Uint() & (1<<62 - 1))
		r.Rooms = append(r.Rooms, in)
	}
	n = d.Count(MaxBoxEntries)
	for range n {
		var e Entry
		e.Sealed = d.Bytes(pairing.MaxRequest)
		d.Fixed(e.AnswerBox[:])
		e.Time = int64(d.Uint() & (1<<62 - 1))
		e.Answered = d.Bool()
		r.Entries = append(r.Entries, e)
	}
	n = d.Count(MaxAnswers)
	for range n {
		r.Answers = append(r.Answers, d.Bytes(pairing.MaxAnswer))
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return r, nil
}

// err turns a status into the error it stands for.
func (r *Response) err() error {
	var base error
	switch r.status {
	case statusOK:
		return nil
	case statusDenied:
		base = ErrDenied
	case statusFull:
		base = ErrFull
	case statusNotKept:
		base = ErrNotKept
	case statusNoBox:
		base = ErrNoBox
	case statusBoxFull:
		base = ErrBoxFull
	case statusBusy:
		base = ErrBusy
	case statusLimit:
		base = ErrBoxLimit
	default:
		base = errors.New("bad request")
	}
	return fmt.Errorf("mirror: %w (%s)", base, r.message)
}

// Service answers /hearth/mirror requests for a Store.
type Service struct {
	host   host.Host
	store  *Store
	boxes  *Mailboxes
	log    *slog.Logger
	rate   *rateLimit
	onKeep func(log.Discovery, peer.ID)
	onOpen func(BoxID)
	onBlob func(d log.Discovery, root [32]byte, size int64, chunkSize uint32, from peer.ID)
}

// ServiceConfig builds a Service; Host, Store and Boxes are required.
type ServiceConfig struct {
	Host  host.Host
	Store *Store
	Boxes *Mailboxes
	// OnKeep is called after a room is kept at a peer's request, with
	// that peer: the caller starts syncing with it.
	OnKeep func(log.Discovery, peer.ID)
	// OnOpen is called after a mailbox is opened: the caller announces it.
	OnOpen func(BoxID)
	// OnBlob is called after a file of a kept room is accepted: the
	// caller fetches its chunks from the peer that asked.
	OnBlob func(d log.Discovery, root [32]byte, size int64, chunkSize uint32, from peer.ID)
	Logger *slog.Logger
}

// NewService registers the protocol handler on the host.
func NewService(cfg ServiceConfig) *Service {
	s := &Service{host: cfg.Host, store: cfg.Store, boxes: cfg.Boxes, log: logattr.OrDiscard(cfg.Logger),
		onKeep: cfg.OnKeep, onOpen: cfg.OnOpen, onBlob: cfg.OnBlob, rate: newRateLimit()}
	s.host.SetStreamHandler(proto.Mirror, proto.Guard(s.log, "mirror", s.handle))
	return s
}

// Close removes the handler.
func (s *Service) Close() { s.host.RemoveStreamHandler(proto.Mirror) }

func (s *Service) handle(st network.Stream) {
	defer st.Close()
	st.SetDeadline(time.Now().Add(reqTimeout))
	p := st.Conn().RemotePeer()
	var resp *Response
	if s.rate.allow(p, time.Now()) {
		resp = s.serve(p, st)
	} else {
		resp = &Response{status: statusBusy, message: fmt.Sprintf("over %d requests a minute from this peer: try again later", requestsPerMinute)}
	}
	if resp.status != statusOK {
		s.log.Debug("mirror request refused", logattr.Peer(p.String()), "why", resp.message)
	}
	if err := wire.WriteMsg(st, resp.encode()); err != nil {
		st.Reset()
	}
}

func (s *Service) serve(p peer.ID, st network.Stream) *Response {
	bad := func(err error) *Response { return &Response{status: statusBad, message: err.Error()} }
	b, err := wire.ReadMsg(bufio.NewReader(st), maxRequest)
	if err != nil {
		if wire.Malformed(err) {
			proto.Report(s.host, p, "mirror", err)
		}
		return bad(fmt.Errorf("reading the request: %w", err))
	}
	req, err := decodeRequest(b)
	if err != nil {
		proto.Report(s.host, p, "mirror", err)
		return bad(fmt.Errorf("request: %w", err))
	}
	if !needsProof(req.Op) {
		return s.serveBox(req)
	}
	dev, err := proto.DeviceOf(p)
	if err != nil {
		return bad(err)
	}
	proof, err := identity.ParseProof(req.Proof)
	if err != nil {
		return bad(fmt.Errorf("device proof: %w", err))
	}
	// Revocations first: an honest device of the identity brings them,
	// and they hold against every later request.
	for _, b := range req.Revocations {
		rv, err := identity.ParseRevocation(b)
		if err != nil || rv.Identity != proof.Identity {
			continue
		}
		if err := s.store.Revoke(rv); err != nil {
			s.log.Debug("revocation not kept", logattr.Err(err))
		}
	}
	// Verify returns the device the proof attests; the mirror acts for
	// the identity behind it, unless a link of the chain was revoked.
	// A proof of an older identity epoch than one seen is of a device
	// superseded by a restore of the phrase.
	if _, err := proof.Verify(identity.VerifyOptions{Device: dev, Revoked: s.store.IsRevoked, MinEpoch: s.store.MinEpoch(proof.Identity)}); err != nil {
		return &Response{status: statusDenied, message: fmt.Sprintf("device proof: %v", err)}
	}
	id := proof.Identity
	defer func() {
		if err := s.store.SeeEpoch(id, proof.Epoch); err != nil {
			s.log.Warn("recording an identity epoch", logattr.Err(err))
		}
	}()
	switch req.Op {
	case OpBoxOpen:
		if err := s.boxes.Open(req.Box, id, p.String(), time.UnixMilli(req.Expires), req.Answerers); err != nil {
			return statusOf(err)
		}
		if s.onOpen != nil {
			s.onOpen(req.Box)
		}
		return &Response{}
	case OpBoxAnswer:
		if err := s.boxes.Answer(req.Box, id, req.Sealed); err != nil {
			return statusOf(err)
		}
		return &Response{}
	case OpKeepBlob:
		m := chunk.Manifest{Name: "-", Size: req.Size, ChunkSize: req.ChunkSize, Root: req.Root}
		if _, err := m.MarshalBinary(); err != nil {
			return &Response{status: statusBad, message: err.Error()}
		}
		fetch, err := s.store.KeepBlob(req.Discovery, dev, req.Root, req.Size)
		if err != nil {
			return statusOf(err)
		}
		if fetch && s.onBlob != nil {
			s.onBlob(req.Discovery, req.Root, req.Size, req.ChunkSize, p)
		}
		return &Response{}
	case OpWriters:
		if err := s.store.Name(req.Discovery, id, dev, req.Writers, req.Members); err != nil {
			return statusOf(err)
		}
		return &Response{}
	case OpKeep:
		in, err := s.store.KeepFrom(req.Discovery, id, p.String(), req.Pin)
		if err != nil {
			return statusOf(err)
		}
		if len(req.Writers) > 0 || len(req.Members) > 0 {
			if err := s.store.Name(req.Discovery, id, dev, req.Writers, req.Members); err != nil && !errors.Is(err, ErrDenied) {
				return statusOf(err)
			}
		}
		if s.onKeep != nil {
			s.onKeep(req.Discovery, p)
		}
		return &Response{Rooms: []Info{in}}
	case OpDrop:
		if err := s.store.Drop(req.Discovery, id); err != nil {
			return statusOf(err)
		}
		return &Response{}
	default:
		rooms := s.store.List(id)
		if len(rooms) > maxList {
			rooms = rooms[:maxList]
		}
		return &Response{Rooms: rooms}
	}
}

// serveBox answers the mailbox operations anyone may use.
func (s *Service) serveBox(req *Request) *Response {
	switch req.Op {
	case OpBoxPut:
		if err := s.boxes.Put(req.Box, req.Sealed, req.Answer, req.InviteKey, req.Sig); err != nil {
			return statusOf(err)
		}
		return &Response{}
	case OpBoxRequests:
		es, err := s.boxes.Requests(req.Box)
		if err != nil {
			return statusOf(err)
		}
		return &Response{Entries: es}
	default: // OpBoxFetch
		as, err := s.boxes.Fetch(req.Box)
		if err != nil {
			return statusOf(err)
		}
		return &Response{Answers: as}
	}
}

// rateLimit bounds the requests of one peer per minute.
type rateLimit struct {
	mu     sync.Mutex
	window time.Time
	counts map[peer.ID]int
}

const requestsPerMinute = 600

func newRateLimit() *rateLimit { return &rateLimit{counts: map[peer.ID]int{}} }

func (r *rateLimit) allow(p peer.ID, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.window) > time.Minute {
		r.window, r.counts = now, map[peer.ID]int{}
	}
	r.counts[p]++
	return r.counts[p] <= requestsPerMinute
}

func statusOf(err error) *Response {
	st := statusBad
	switch {
	case errors.Is(err, ErrDenied):
		st = statusDenied
	case errors.Is(err, ErrFull):
		st = statusFull
	case errors.Is(err, ErrNotKept):
		st = statusNotKept
	case errors.Is(err, ErrNoBox):
		st = statusNoBox
	case errors.Is(err, ErrBoxFull):
		st = statusBoxFull
	case errors.Is(err, ErrBusy):
		st = statusBusy
	case errors.Is(err, ErrBoxLimit):
		st = statusLimit
	}
	return &Response{status: st, message: err.Error()}
}

// Ask sends req to the mirror p and returns its answer.
func Ask(ctx context.Context, h host.Host, p peer.ID, req Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, reqTimeout)
	defer cancel()
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "hearth mirror"), p, proto.Mirror)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", p.ShortString(), err)
	}
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		st.SetDeadline(dl)
	}
	if err := wire.WriteMsg(st, req.encode()); err != nil {
		st.Reset()
		return nil, fmt.Errorf("mirror %s: %w", p.ShortString(), err)
	}
	b, err := wire.ReadMsg(bufio.NewReader(st), maxResponse)
	if err != nil {
		st.Reset()
		return nil, fmt.Errorf("mirror %s: reading the answer: %w", p.ShortString(), err)
	}
	resp, err := decodeResponse(b)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: answer: %w", p.ShortString(), err)
	}
	return resp, resp.err()
}
