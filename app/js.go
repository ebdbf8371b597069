//go:build js && wasm

package app

import (
	"context"
	"errors"
	"sync"
	"syscall/js"
	"time"

	"github.com/hearthp2p/hearth/app/jsnet"
)

// core is the app's state in the page.
type core struct {
	mu     sync.Mutex
	dev    *Device
	host   *jsnet.Host
	linked *Linked
}

// Export sets globalThis.hearthCore, what the page calls:
//
//	newDevice(name) → {peer, key}: a new device; key is the raw Ed25519
//	    private key js-libp2p's node is made with (it stays in the page)
//	start(net): the js-libp2p node (web/app/net.js), once made
//	link(link, addrs) → Promise<{identity, device, rooms}>
func Export() {
	c := &core{}
	js.Global().Set("hearthCore", js.ValueOf(map[string]any{
		"newDevice": js.FuncOf(c.newDevice),
		"start":     js.FuncOf(c.start),
		"link":      js.FuncOf(c.link),
	}))
}

func jsError(err error) js.Value { return js.Global().Get("Error").New(err.Error()) }

// promise runs f in a goroutine and returns a Promise of its result.
func promise(f func() (any, error)) js.Value {
	var exec js.Func
	exec = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer exec.Release()
			v, err := f()
			if err != nil {
				reject.Invoke(jsError(err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(exec)
}

func (c *core) newDevice(_ js.Value, args []js.Value) any {
	name := ""
	if len(args) > 0 && args[0].Type() == js.TypeString {
		name = args[0].String()
	}
	d, err := NewDevice(name)
	if err != nil {
		panic(jsError(err))
	}
	id, err := d.PeerID()
	if err != nil {
		panic(jsError(err))
	}
	c.mu.Lock()
	c.dev = d
	c.mu.Unlock()
	raw := d.Key.Ed25519()
	key := js.Global().Get("Uint8Array").New(len(raw))
	js.CopyBytesToJS(key, raw)
	return js.ValueOf(map[string]any{"peer": id.String(), "key": key})
}

func (c *core) start(_ js.Value, args []js.Value) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev == nil {
		panic(jsError(errors.New("start: no device yet (newDevice first)")))
	}
	if len(args) == 0 || args[0].Type() != js.TypeObject {
		panic(jsError(errors.New("start: give the js-libp2p node's bridge")))
	}
	id, _ := c.dev.PeerID()
	c.host = jsnet.New(id, args[0])
	return nil
}

func (c *core) link(_ js.Value, args []js.Value) any {
	var link string
	var addrs []string
	if len(args) > 0 {
		link = args[0].String()
	}
	if len(args) > 1 && args[1].Type() == js.TypeObject {
		for i := range args[1].Length() {
			addrs = append(addrs, args[1].Index(i).String())
		}
	}
	return promise(func() (any, error) {
		c.mu.Lock()
		d, h := c.dev, c.host
		c.mu.Unlock()
		if h == nil {
			return nil, errors.New("link: the node is not started")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		l, err := Link(ctx, h, d, link, addrs, time.Now())
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.linked = l
		c.mu.Unlock()
		rooms := make([]any, len(l.Rooms))
		for i, r := range l.Rooms {
			rooms[i] = r.Name
		}
		return js.ValueOf(map[string]any{"identity": l.Identity.String(), "device": d.Key.Public().String(), "rooms": rooms}), nil
	})
}
