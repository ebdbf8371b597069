package mirror

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	hnet "github.com/hearthp2p/hearth/p2p/net"
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
)

// Response statuses.
const (
	statusOK      byte = 0
	statusDenied  byte = 1
	statusFull    byte = 2
	statusNotKept byte = 3
	statusBad     byte = 4
)

// Limits of the protocol.
const (
	maxRequest  = 16 << 10
	maxResponse = 1 << 20
	maxList     = 4096
	maxProof    = 8 << 10
	reqTimeout  = 15 * time.Second
)

// Request asks a mirror to keep, drop or list.
type Request struct {
	Op        byte
	Proof     []byte // the requester's device proof
	Discovery log.Discovery
	Pin       bool
}

func (r *Request) encode() []byte {
	w := wire.Encoder{}
	w.U8(r.Op)
	w.Bytes(r.Proof)
	w.Fixed(r.Discovery[:])
	w.Bool(r.Pin)
	return w.B
}

func decodeRequest(b []byte) (*Request, error) {
	d := wire.NewDecoder(b)
	r := &Request{Op: d.U8(), Proof: d.Bytes(maxProof)}
	d.Fixed(r.Discovery[:])
	r.Pin = d.Bool()
	if err := d.Finish(); err != nil {
		return nil, err
	}
	if r.Op < OpKeep || r.Op > OpList {
		return nil, fmt.Errorf("unknown operation %d", r.Op)
	}
	return r, nil
}

// Response is a mirror's answer.
type Response struct {
	status  byte
	message string
	Rooms   []Info
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
		r.Rooms = append(r.Rooms, in)
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
	default:
		base = errors.New("bad request")
	}
	return fmt.Errorf("mirror: %w (%s)", base, r.message)
}

// writeMsg and readMsg frame a message with its length.
func writeMsg(w io.Writer, b []byte) error {
	_, err := w.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...))
	return err
}

func readMsg(r *bufio.Reader, limit int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("message of %d bytes, at most %d", n, limit)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// Service answers /hearth/mirror requests for a Store.
type Service struct {
	host  host.Host
	store *Store
	log   *slog.Logger
	// OnKeep is called after a room is kept at a peer's request, with
	// that peer: the caller starts syncing with it.
	onKeep func(log.Discovery, peer.ID)
}

// NewService registers the protocol handler on h.
func NewService(h host.Host, store *Store, onKeep func(log.Discovery, peer.ID), logger *slog.Logger) *Service {
	s := &Service{host: h, store: store, log: logattr.OrDiscard(logger), onKeep: onKeep}
	h.SetStreamHandler(hnet.ProtocolMirror, s.handle)
	return s
}

// Close removes the handler.
func (s *Service) Close() { s.host.RemoveStreamHandler(hnet.ProtocolMirror) }

func (s *Service) handle(st network.Stream) {
	defer st.Close()
	st.SetDeadline(time.Now().Add(reqTimeout))
	p := st.Conn().RemotePeer()
	resp := s.serve(p, st)
	if resp.status != statusOK {
		s.log.Debug("mirror request refused", logattr.Peer(p.String()), "why", resp.message)
	}
	if err := writeMsg(st, resp.encode()); err != nil {
		st.Reset()
	}
}

func (s *Service) serve(p peer.ID, st network.Stream) *Response {
	bad := func(err error) *Response { return &Response{status: statusBad, message: err.Error()} }
	b, err := readMsg(bufio.NewReader(st), maxRequest)
	if err != nil {
		return bad(fmt.Errorf("reading the request: %w", err))
	}
	req, err := decodeRequest(b)
	if err != nil {
		return bad(fmt.Errorf("request: %w", err))
	}
	dev, err := hnet.DeviceOf(p)
	if err != nil {
		return bad(err)
	}
	proof, err := identity.ParseProof(req.Proof)
	if err != nil {
		return bad(fmt.Errorf("device proof: %w", err))
	}
	id, err := proof.Verify(identity.VerifyOptions{Device: dev})
	if err != nil {
		return &Response{status: statusDenied, message: fmt.Sprintf("device proof: %v", err)}
	}
	switch req.Op {
	case OpKeep:
		in, err := s.store.Keep(req.Discovery, id, req.Pin)
		if err != nil {
			return statusOf(err)
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

func statusOf(err error) *Response {
	st := statusBad
	switch {
	case errors.Is(err, ErrDenied):
		st = statusDenied
	case errors.Is(err, ErrFull):
		st = statusFull
	case errors.Is(err, ErrNotKept):
		st = statusNotKept
	}
	return &Response{status: st, message: err.Error()}
}

// Ask sends req to the mirror p and returns its answer.
func Ask(ctx context.Context, h host.Host, p peer.ID, req Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, reqTimeout)
	defer cancel()
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "hearth mirror"), p, hnet.ProtocolMirror)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", p.ShortString(), err)
	}
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		st.SetDeadline(dl)
	}
	if err := writeMsg(st, req.encode()); err != nil {
		st.Reset()
		return nil, fmt.Errorf("mirror %s: %w", p.ShortString(), err)
	}
	b, err := readMsg(bufio.NewReader(st), maxResponse)
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
