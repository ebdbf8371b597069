package pairing

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// Handler answers a sealed request for invite id; the sealed answer goes
// back to the candidate. An error is sent as a plain message (it must say
// nothing secret: "no such invite here", "not an admin").
type Handler func(ctx context.Context, from peer.ID, id ID, sealed []byte) ([]byte, error)

// Refusals a candidate may try elsewhere or later.
const (
	NoSuchInvite = "no such invite here"
	TooMany      = "too many requests: try again later"
	// AwaitingApproval: the invite asks an admin to approve each request;
	// the request is kept until one does.
	AwaitingApproval = "waiting for an admin to approve the request"
)

// Timeouts and rates of the protocol.
const (
	streamTimeout = 30 * time.Second
	// A peer may ask a few times in a row, then once every few seconds:
	// enough for a person retrying, not for a flood.
	askBurst    = 5
	askInterval = 5 * time.Second
)

// Service answers pairing requests.
type Service struct {
	host    proto.Host
	handler Handler
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	limits map[peer.ID]*rate.Limiter
}

// NewService registers the pairing protocol on h.
func NewService(h proto.Host, handler Handler, logger *slog.Logger) *Service {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{host: h, handler: handler, log: logattr.OrDiscard(logger), ctx: ctx, cancel: cancel, limits: map[peer.ID]*rate.Limiter{}}
	h.SetStreamHandler(proto.Pairing, proto.Guard(s.log, "pairing", s.handle))
	return s
}

// Close stops answering and waits for requests under way.
func (s *Service) Close() {
	s.host.RemoveStreamHandler(proto.Pairing)
	s.cancel()
	s.wg.Wait()
}

func (s *Service) allow(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.limits[p]
	if !ok {
		if len(s.limits) > 4096 { // forget old peers rather than grow without bound
			clear(s.limits)
		}
		l = rate.NewLimiter(rate.Every(askInterval), askBurst)
		s.limits[p] = l
	}
	return l.Allow()
}

func (s *Service) handle(st network.Stream) {
	s.wg.Add(1)
	defer s.wg.Done()
	defer st.Close()
	p := st.Conn().RemotePeer()
	st.SetDeadline(time.Now().Add(streamTimeout))
	if !s.allow(p) {
		wire.WriteMsg(st, append([]byte{1}, TooMany...))
		return
	}
	body, err := wire.ReadMsg(bufio.NewReader(st), 16+MaxRequest)
	if err != nil || len(body) < 16 {
		s.log.Debug("bad pairing request", logattr.Peer(p.String()), logattr.Err(err))
		if err == nil || wire.Malformed(err) {
			proto.Report(s.host, p, "pairing", fmt.Errorf("a request of %d bytes: %v", len(body), err))
		}
		st.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, streamTimeout)
	defer cancel()
	answer, err := s.handler(ctx, p, ID(body[:16]), body[16:])
	if err != nil {
		wire.WriteMsg(st, append([]byte{1}, err.Error()...))
		return
	}
	wire.WriteMsg(st, append([]byte{0}, answer...))
}

// Ask sends a sealed request to p and returns its sealed answer.
func Ask(ctx context.Context, h proto.Host, p peer.ID, id ID, sealed []byte) ([]byte, error) {
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "hearth pairing"), p, proto.Pairing)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(streamTimeout))
	if err := wire.WriteMsg(st, append(id[:], sealed...)); err != nil {
		st.Reset()
		return nil, err
	}
	st.CloseWrite()
	body, err := wire.ReadMsg(bufio.NewReader(st), 1+MaxAnswer)
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) == 0 {
		return nil, ErrMalformed
	}
	if body[0] != 0 {
		return nil, &RefusedError{Reason: string(body[1:])}
	}
	return body[1:], nil
}

// RefusedError is a peer's plain refusal.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

// LinkAsk is how AskLink reaches the devices a link names.
type LinkAsk struct {
	// Reach, if set, connects to a peer before it is asked (a daemon's
	// node finds it through the DHT and relays; the browser's is given
	// its addresses).
	Reach func(ctx context.Context, p peer.ID) error
	// Timeout bounds each peer's try; zero means 30 s.
	Timeout time.Duration
	// Failed, if set, hears why a peer gave no answer.
	Failed func(p peer.ID, err error)
}

// AskLink asks each of peers in turn, once each, for the answer to a
// device link request (sealed by NewLinkRequest with eph) of invite inv,
// and returns the first answer that opens and is the link's identity's,
// with who gave it. A refusal is an answer (a.OK false).
func AskLink(ctx context.Context, h proto.Host, peers []peer.ID, inv Invite, sealed []byte, eph identity.SealingKey, opts LinkAsk) (*LinkAnswer, peer.ID, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var last error = errors.New("no device to ask")
	seen := map[peer.ID]bool{}
	for _, p := range peers {
		if seen[p] {
			continue
		}
		seen[p] = true
		actx, cancel := context.WithTimeout(ctx, timeout)
		var err error
		if opts.Reach != nil {
			err = opts.Reach(actx, p)
		}
		var sa []byte
		if err == nil {
			sa, err = Ask(actx, h, p, inv.ID(), sealed)
		}
		cancel()
		if err == nil {
			var a *LinkAnswer
			if a, err = OpenLinkAnswer(eph, inv.ID(), sa); err == nil && a.Matches(inv.Tag()) {
				return a, p, nil
			}
			err = fmt.Errorf("%s answered what is not this link's answer", p)
		}
		last = err
		if opts.Failed != nil {
			opts.Failed(p, err)
		}
	}
	return nil, "", last
}
