package web

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/call/av"
)

// The browser endpoint: a call placed or answered on the web page has its
// media in the browser, which talks WebRTC with the remote device itself.
// The daemon only relays the signaling between the page and the remote
// device; no media passes through it, so nothing is transcoded and the
// daemon adds no delay.

// pageEvent is what the page is told, one JSON line each.
type pageEvent struct {
	Type string        `json:"type"`            // calls, signal, room, rooms
	Call string        `json:"call,omitempty"`  // signal: the call
	Kind string        `json:"kind,omitempty"`  // signal: make-offer, take-offer, take-answer, candidate, close
	SDP  string        `json:"sdp,omitempty"`   // take-offer, take-answer
	Cand *pageCand     `json:"cand,omitempty"`  // candidate
	ICE  []iceServer   `json:"ice,omitempty"`   // make-offer, take-offer: the servers to use
	Send string        `json:"send,omitempty"`  // make-offer, take-offer: audio or audio+video
	List []call.Status `json:"calls,omitempty"` // calls
	Room string        `json:"room,omitempty"`  // room: a room whose view changed
}

type pageCand struct {
	Candidate string `json:"candidate"`
	Mid       string `json:"sdpMid"`
	MLine     uint16 `json:"sdpMLineIndex"`
}

type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// pageSignal is what the page posts for a call.
type pageSignal struct {
	Kind  string      `json:"kind"` // offer, answer, candidate, connected, failed, stats
	SDP   string      `json:"sdp,omitempty"`
	Cand  *pageCand   `json:"cand,omitempty"`
	Error string      `json:"error,omitempty"`
	Stats *call.Stats `json:"stats,omitempty"`
}

// browserEndpoint is a call's media in a page (session).
type browserEndpoint struct {
	web  *Server
	sess string
	c    *call.Call
	ev   call.EndpointEvents
	ice  []iceServer

	mu      sync.Mutex
	sdp     chan string // the page's offer or answer
	stats   call.Stats
	done    bool
	pending []pageCand // remote candidates before the page has a description
	haveRem bool
}

// browserTimeout bounds how long the page may take to make a description.
const browserTimeout = 20 * time.Second

func (w *pageCalls) NewBrowserEndpoint(sess string, c *call.Call, ev call.EndpointEvents) (*browserEndpoint, error) {
	if !w.hasSession(sess) {
		return nil, errors.New("the page that took the call is gone")
	}
	b := &browserEndpoint{web: w.Server, sess: sess, c: c, ev: ev, sdp: make(chan string, 1)}
	for _, s := range w.iceServers() {
		is := iceServer{Username: s.Username}
		is.URLs = s.URLs
		if cred, ok := s.Credential.(string); ok {
			is.Credential = cred
		}
		b.ice = append(b.ice, is)
	}
	w.bind(c.ID, b)
	return b, nil
}

func (b *browserEndpoint) push(e pageEvent) {
	e.Type, e.Call = "signal", b.c.ID.String()
	b.web.send(b.sess, e)
}

func (b *browserEndpoint) wait(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	select {
	case s := <-b.sdp:
		return s, nil
	case <-ctx.Done():
		return "", fmt.Errorf("the page made no session description in %s", browserTimeout)
	}
}

func (b *browserEndpoint) Offer(ctx context.Context) (string, error) {
	b.push(pageEvent{Kind: "make-offer", ICE: b.ice, Send: b.c.Media.String()})
	return b.wait(ctx)
}

func (b *browserEndpoint) TakeOffer(ctx context.Context, sdp string) (string, error) {
	b.push(pageEvent{Kind: "take-offer", SDP: sdp, ICE: b.ice, Send: b.c.Media.String()})
	ans, err := b.wait(ctx)
	if err == nil {
		b.remoteSet()
	}
	return ans, err
}

func (b *browserEndpoint) TakeAnswer(sdp string) error {
	b.push(pageEvent{Kind: "take-answer", SDP: sdp})
	b.remoteSet()
	return nil
}

// remoteSet sends the candidates that came before the page had the
// remote description.
func (b *browserEndpoint) remoteSet() {
	b.mu.Lock()
	b.haveRem = true
	pending := b.pending
	b.pending = nil
	b.mu.Unlock()
	for _, c := range pending {
		b.push(pageEvent{Kind: "candidate", Cand: &c})
	}
}

func (b *browserEndpoint) AddCandidate(s call.Signal) error {
	if s.Candidate == "" {
		return nil
	}
	if err := av.CheckCandidate(s.Candidate); err != nil {
		return err
	}
	c := pageCand{Candidate: s.Candidate, Mid: s.Mid, MLine: s.MLine}
	b.mu.Lock()
	if !b.haveRem {
		b.pending = append(b.pending, c)
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	b.push(pageEvent{Kind: "candidate", Cand: &c})
	return nil
}

// fromPage takes what the page posts.
func (b *browserEndpoint) fromPage(s pageSignal) error {
	switch s.Kind {
	case "offer", "answer":
		if s.SDP == "" || len(s.SDP) > call.MaxSDP {
			return errors.New("a session description of a bad size")
		}
		select {
		case b.sdp <- s.SDP:
		default:
			return errors.New("a session description nobody asked for")
		}
	case "candidate":
		if s.Cand == nil {
			b.ev.Candidate(call.Signal{}) // the end of candidates
			return nil
		}
		if len(s.Cand.Candidate) > call.MaxCandidate || len(s.Cand.Mid) > call.MaxCandidate {
			return errors.New("a candidate over its size")
		}
		b.ev.Candidate(call.Signal{Candidate: s.Cand.Candidate, Mid: s.Cand.Mid, MLine: s.Cand.MLine})
	case "connected":
		b.ev.Connected()
	case "failed":
		b.ev.Failed(fmt.Errorf("the page's connection failed: %s", s.Error))
	case "stats":
		if s.Stats != nil {
			b.mu.Lock()
			b.stats = *s.Stats
			b.mu.Unlock()
		}
	default:
		return fmt.Errorf("unknown signal %q", s.Kind)
	}
	return nil
}

func (b *browserEndpoint) Stats() call.Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Path = "browser " + s.Path
	// The page decodes the frames but reads no stamp.
	s.UnreadFrames, s.VideoFrames, s.BadStamps = s.Frames(), 0, 0
	return s
}

func (b *browserEndpoint) Close() error {
	b.mu.Lock()
	done := b.done
	b.done = true
	b.mu.Unlock()
	if !done {
		b.push(pageEvent{Kind: "close"})
		b.web.pc.unbind(b.c.ID)
	}
	return nil
}

var _ call.Endpoint = (*browserEndpoint)(nil)

// iceServers are the servers a call uses now: the --stun ones and TURN
// credentials from the bootstrap nodes.
func (w *pageCalls) iceServers() []webrtc.ICEServer {
	return w.calls.ICEServers(w.ctx)
}
