//go:build js && wasm

package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/hearthp2p/hearth/app/jsnet"
	"github.com/hearthp2p/hearth/call"
)

// The media of the app's calls is the page's (web/app/calls.js): the
// browser's RTCPeerConnection, camera and microphone. Go keeps the
// signalling (package call) and asks the page, for each call:
//
//	media.offer(call, send) → sdp          this side calls
//	media.answer(call, sdp, send) → sdp    this side was called
//	media.setAnswer(call, sdp)
//	media.addCandidate(call, {candidate, sdpMid, sdpMLineIndex})
//	media.close(call)
//
// send is "audio" or "audio+video". The page tells Go what happens with
// hearthCore.callEvent(call, kind, value): kind "candidate" (value
// {candidate, sdpMid, sdpMLineIndex}, or null at the end), "connected",
// "failed" (value: why) or "stats" (value: call.Stats's fields).

// mediaTimeout bounds how long the page may take to make a description.
const mediaTimeout = 20 * time.Second

// pageEndpoint is one call's media in the page.
type pageEndpoint struct {
	media js.Value
	id    string
	c     *call.Call
	ev    call.EndpointEvents

	// events are the page's reports, taken in their order by one
	// goroutine (a JavaScript callback must not block).
	events chan func()
	done   chan struct{}

	forget func() // drops it from the endpoints

	mu     sync.Mutex
	stats  call.Stats
	closed bool
}

// endpoints are the calls' page endpoints, by call id, for callEvent.
type endpoints struct {
	mu sync.Mutex
	m  map[string]*pageEndpoint
}

func (es *endpoints) factory(media js.Value) call.NewEndpoint {
	return func(c *call.Call, ev call.EndpointEvents) (call.Endpoint, error) {
		p := &pageEndpoint{media: media, id: c.ID.String(), c: c, ev: ev, events: make(chan func(), 256), done: make(chan struct{})}
		p.forget = func() { es.drop(p.id) }
		es.mu.Lock()
		if es.m == nil {
			es.m = map[string]*pageEndpoint{}
		}
		es.m[p.id] = p
		es.mu.Unlock()
		go func() {
			for {
				select {
				case f := <-p.events:
					f()
				case <-p.done:
					return
				}
			}
		}()
		return p, nil
	}
}

func (es *endpoints) get(id string) *pageEndpoint {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.m[id]
}

func (es *endpoints) drop(id string) {
	es.mu.Lock()
	delete(es.m, id)
	es.mu.Unlock()
}

func (p *pageEndpoint) ask(ctx context.Context, method string, args ...any) (js.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, mediaTimeout)
	defer cancel()
	v, err := jsnet.Await(ctx, p.media.Call(method, append([]any{p.id}, args...)...))
	if err != nil {
		return js.Undefined(), fmt.Errorf("the page's media: %w", err)
	}
	return v, nil
}

func (p *pageEndpoint) sdp(v js.Value) (string, error) {
	if v.Type() != js.TypeString {
		return "", errors.New("the page made no session description")
	}
	s := v.String()
	if len(s) == 0 || len(s) > call.MaxSDP {
		return "", fmt.Errorf("the page made a session description of %d bytes", len(s))
	}
	return s, nil
}

func (p *pageEndpoint) Offer(ctx context.Context) (string, error) {
	v, err := p.ask(ctx, "offer", p.c.Media.String())
	if err != nil {
		return "", err
	}
	return p.sdp(v)
}

func (p *pageEndpoint) TakeOffer(ctx context.Context, sdp string) (string, error) {
	v, err := p.ask(ctx, "answer", sdp, p.c.Media.String())
	if err != nil {
		return "", err
	}
	return p.sdp(v)
}

func (p *pageEndpoint) TakeAnswer(sdp string) error {
	_, err := p.ask(context.Background(), "setAnswer", sdp)
	return err
}

func (p *pageEndpoint) AddCandidate(s call.Signal) error {
	if s.Candidate == "" {
		return nil
	}
	_, err := p.ask(context.Background(), "addCandidate", map[string]any{"candidate": s.Candidate, "sdpMid": s.Mid, "sdpMLineIndex": int(s.MLine)})
	return err
}

func (p *pageEndpoint) Stats() call.Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func (p *pageEndpoint) Close() error {
	p.mu.Lock()
	closed := p.closed
	p.closed = true
	p.mu.Unlock()
	if !closed {
		close(p.done)
		p.forget()
		p.media.Call("close", p.id)
	}
	return nil
}

// report takes one event of the page, in the JavaScript callback: it
// only queues it.
func (p *pageEndpoint) report(kind string, v js.Value) error {
	var f func()
	switch kind {
	case "candidate":
		if v.Type() != js.TypeObject {
			f = func() { p.ev.Candidate(call.Signal{}) }
			break
		}
		cand, mid := v.Get("candidate"), v.Get("sdpMid")
		if cand.Type() != js.TypeString || len(cand.String()) > call.MaxCandidate {
			return errors.New("a candidate that is not one")
		}
		s := call.Signal{Candidate: cand.String()}
		if mid.Type() == js.TypeString && len(mid.String()) <= call.MaxCandidate {
			s.Mid = mid.String()
		}
		if ml := v.Get("sdpMLineIndex"); ml.Type() == js.TypeNumber {
			s.MLine = uint16(ml.Int())
		}
		if s.Candidate == "" {
			s = call.Signal{} // the end of candidates
		}
		f = func() { p.ev.Candidate(s) }
	case "connected":
		f = p.ev.Connected
	case "failed":
		why := "the connection failed"
		if v.Type() == js.TypeString {
			why = v.String()
		}
		f = func() { p.ev.Failed(errors.New(why)) }
	case "stats":
		var st call.Stats
		if err := json.Unmarshal([]byte(js.Global().Get("JSON").Call("stringify", v).String()), &st); err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		p.mu.Lock()
		p.stats = st
		p.mu.Unlock()
		return nil
	default:
		return fmt.Errorf("unknown call event %q", kind)
	}
	select {
	case p.events <- f:
		return nil
	default:
		return errors.New("the call's events are not being taken")
	}
}
