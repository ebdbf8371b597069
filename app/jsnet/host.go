//go:build js && wasm

package jsnet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// Host is a proto.Host over a js-libp2p node. net is the object of
// web/app/net.js: dial(peer, addrs, protocols) → Promise<{stream, remote,
// addr}>, handle(protocol, fn(stream, remote, addr)), unhandle(protocol).
type Host struct {
	id  peer.ID
	net js.Value

	mu       sync.Mutex
	handlers map[protocol.ID]js.Func
}

// New returns the Host of the node net, whose peer id is id.
func New(id peer.ID, net js.Value) *Host {
	return &Host{id: id, net: net, handlers: map[protocol.ID]js.Func{}}
}

// ID is the node's peer id: the device key's.
func (h *Host) ID() peer.ID { return h.id }

// SetStreamHandler serves protocol p: each inbound stream runs handler in
// a goroutine of its own.
func (h *Host) SetStreamHandler(p protocol.ID, handler network.StreamHandler) {
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 3 {
			return nil
		}
		remote, err := peer.Decode(args[1].String())
		if err != nil {
			args[0].Call("abort", js.Global().Get("Error").New("bad remote peer id"))
			return nil
		}
		s := newStream(args[0], p, h.id, remote, args[2].String(), network.DirInbound)
		go handler(s)
		return nil
	})
	h.mu.Lock()
	if old, ok := h.handlers[p]; ok {
		old.Release()
	}
	h.handlers[p] = f
	h.mu.Unlock()
	h.net.Call("handle", string(p), f)
}

// RemoveStreamHandler stops serving p.
func (h *Host) RemoveStreamHandler(p protocol.ID) {
	h.net.Call("unhandle", string(p))
	h.mu.Lock()
	if f, ok := h.handlers[p]; ok {
		f.Release()
		delete(h.handlers, p)
	}
	h.mu.Unlock()
}

// AddAddrs tells the node where p is (the addresses a link or the
// household's records give).
func (h *Host) AddAddrs(p peer.ID, addrs []ma.Multiaddr) {
	list := make([]any, len(addrs))
	for i, a := range addrs {
		list[i] = a.String()
	}
	h.net.Call("addAddrs", p.String(), js.ValueOf(list))
}

// ClosePeer closes every connection to p (a peer the app banned).
func (h *Host) ClosePeer(p peer.ID) {
	h.net.Call("closePeer", p.String())
}

// NewStream opens a stream to p for the first of protos p supports.
func (h *Host) NewStream(ctx context.Context, p peer.ID, protos ...protocol.ID) (network.Stream, error) {
	if len(protos) == 0 {
		return nil, errors.New("jsnet: no protocol to open")
	}
	list := make([]any, len(protos))
	for i, pr := range protos {
		list[i] = string(pr)
	}
	v, err := Await(ctx, h.net.Call("dial", p.String(), js.ValueOf(list)))
	if err != nil {
		return nil, fmt.Errorf("opening %s to %s: %w", protos[0], p, err)
	}
	st := v.Get("stream")
	return newStream(st, protocol.ID(v.Get("protocol").String()), h.id, p, v.Get("addr").String(), network.DirOutbound), nil
}

// Await waits for promise p: its value, or its rejection as an error.
// ctx ending stops the wait (not the promise).
func Await(ctx context.Context, p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any {
		var v js.Value
		if len(args) > 0 {
			v = args[0]
		}
		done <- result{v: v}
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "rejected"
		if len(args) > 0 {
			if m := args[0].Get("message"); m.Type() == js.TypeString {
				msg = m.String()
			} else {
				msg = args[0].Call("toString").String()
			}
		}
		done <- result{err: errors.New(msg)}
		return nil
	})
	p.Call("then", ok, fail)
	select {
	case r := <-done:
		ok.Release()
		fail.Release()
		return r.v, r.err
	case <-ctx.Done():
		// The callbacks stay until the promise settles (a released one
		// would throw when called); they hold only a buffered channel.
		go func() {
			<-done
			ok.Release()
			fail.Release()
		}()
		return js.Undefined(), ctx.Err()
	}
}
