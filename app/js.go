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

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/app/jsnet"
)

// core is the app's state in the page.
type core struct {
	mu     sync.Mutex
	dev    *Device
	host   *jsnet.Host
	linked *Linked
	rooms  *Rooms
	peers  []peer.ID // the devices the link was made with: synced first
}

// Export sets globalThis.hearthCore, what the page calls:
//
//	newDevice(name) → {peer, key}: a new device; key is the raw Ed25519
//	    private key js-libp2p's node is made with (it stays in the page)
//	start(net): the js-libp2p node (web/app/net.js), once made
//	link(link, addrs) → Promise<{identity, device, rooms}>: this device
//	    joins the link's identity, opens its rooms and syncs them with
//	    the device that linked it
//	rooms() → [{id, name, messages}]
//	history(room, limit) → [{id, author, mine, text, time, ...}]
//	send(room, text) → Promise<id>
//	sync(addrs) → Promise<sessions>: syncs every room with those peers
func Export() {
	c := &core{}
	js.Global().Set("hearthCore", js.ValueOf(map[string]any{
		"newDevice": js.FuncOf(c.newDevice),
		"start":     js.FuncOf(c.start),
		"link":      js.FuncOf(c.link),
		"rooms":     js.FuncOf(c.listRooms),
		"history":   js.FuncOf(c.history),
		"send":      js.FuncOf(c.send),
		"sync":      js.FuncOf(c.syncWith),
	}))
}

// toJS turns v (JSON-shaped: what encoding/json makes of a struct) into
// a JavaScript value.
func toJS(v any) (js.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return js.Undefined(), err
	}
	return js.Global().Get("JSON").Call("parse", string(b)), nil
}

func arg(args []js.Value, i int) string {
	if i < len(args) && args[i].Type() == js.TypeString {
		return args[i].String()
	}
	return ""
}

func (c *core) roomsOrThrow() *Rooms {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rooms == nil {
		panic(jsError(errors.New("this device is not linked yet")))
	}
	return c.rooms
}

func (c *core) listRooms(_ js.Value, _ []js.Value) any {
	v, err := toJS(c.roomsOrThrow().List())
	if err != nil {
		panic(jsError(err))
	}
	return v
}

func (c *core) history(_ js.Value, args []js.Value) any {
	limit := 50
	if len(args) > 1 && args[1].Type() == js.TypeNumber {
		limit = args[1].Int()
	}
	msgs, err := c.roomsOrThrow().History(arg(args, 0), limit)
	if err != nil {
		panic(jsError(err))
	}
	v, err := toJS(msgs)
	if err != nil {
		panic(jsError(err))
	}
	return v
}

func (c *core) send(_ js.Value, args []js.Value) any {
	rs := c.roomsOrThrow()
	which, text := arg(args, 0), arg(args, 1)
	return promise(func() (any, error) {
		return rs.Send(which, text)
	})
}

// syncAll syncs every room with each of peers, and reports the sessions
// that run.
func (c *core) syncAll(ctx context.Context, rs *Rooms, peers []peer.ID) (int, error) {
	n := 0
	var errs []error
	for _, p := range peers {
		k, err := rs.SyncWith(ctx, p)
		n += k
		if err != nil {
			errs = append(errs, err)
		}
	}
	if n == 0 && len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	return n, nil
}

func (c *core) syncWith(_ js.Value, args []js.Value) any {
	rs := c.roomsOrThrow()
	var addrs []string
	if len(args) > 0 && args[0].Type() == js.TypeObject {
		for i := range args[0].Length() {
			addrs = append(addrs, args[0].Index(i).String())
		}
	}
	return promise(func() (any, error) {
		c.mu.Lock()
		h, peers := c.host, append([]peer.ID(nil), c.peers...)
		c.mu.Unlock()
		if len(addrs) > 0 {
			ps, err := addPeers(h, addrs)
			if err != nil {
				return nil, err
			}
			peers = ps
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return c.syncAll(ctx, rs, peers)
	})
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
		rs, err := OpenRooms(h, d, l, nil, time.Now())
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.linked, c.rooms, c.peers = l, rs, []peer.ID{l.By}
		c.mu.Unlock()
		if _, err := c.syncAll(ctx, rs, []peer.ID{l.By}); err != nil {
			return nil, fmt.Errorf("linked, but the rooms did not sync: %w", err)
		}
		rooms := make([]any, len(l.Rooms))
		for i, r := range l.Rooms {
			rooms[i] = r.Name
		}
		return js.ValueOf(map[string]any{"identity": l.Identity.String(), "device": d.Key.Public().String(), "rooms": rooms}), nil
	})
}
