//go:build js && wasm

package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/app/jsnet"
	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// core is the app's state in the page.
type core struct {
	mu     sync.Mutex
	db     js.Value // web/app/store.js's store
	store  *room.MemStore
	dev    *Device
	host   *jsnet.Host
	linked *Linked
	rooms  *Rooms
	watch  atomic.Value // js.Value: the page's function called with a room's id on a change

	media     js.Value // web/app/calls.js's media, given to start
	turns     *call.TURNClients
	endpoints endpoints
	calls     *Calls
	callWatch atomic.Value // js.Value: the page's function called with a call's CallInfo on a change
}

// Export sets globalThis.hearthCore, what the page calls. Every function
// returns a Promise: Go code that may wait for the storage or the network
// never runs in a JavaScript callback itself.
//
//	open(store, name) → {peer, key, linked}: loads what the store holds,
//	    or makes this device (named name) and stores it; key is the raw
//	    Ed25519 private key js-libp2p's node is made with (it stays in the
//	    page)
//	start(net, media) → {identity, rooms}: the js-libp2p node's bridge
//	    (web/app/net.js) and the calls' media (web/app/calls.js, see
//	    jscalls.go); a linked device opens its rooms, syncs them and
//	    takes calls
//	link(link, addrs, name) → {identity, device, rooms}: this device
//	    (renamed name, if given) joins the
//	    link's identity, opens its rooms and syncs them with the device
//	    that linked it
//	rooms() → [{id, name, messages}]
//	history(room, limit) → [{id, author, mine, text, time, ...}]
//	send(room, text) → id
//	sync(addrs) → sessions: syncs every room with those peers
//	watch(fn): fn(roomID) is called when a room changed
//	self() → {peer, device, identity}: who this app is ("" identity
//	    before it is linked)
//	calls() → [CallInfo]: the calls, ringing, in progress and ended
//	answer(call, send) takes a ringing call; send is "audio" or
//	    "audio+video"
//	hangup(call, reason) ends a call, or declines it while it rings
//	unlock(room, door) → {opened, reason}: asks the room's door (its
//	    device, or "" for the only one) to open
//	watchCalls(fn): fn(CallInfo) is called when a call changed
//	callEvent(call, kind, value): the page's media reports (jscalls.go);
//	    not a Promise
//	files, mirrors, ringPicture, fetchFile: see jsfiles.go
//	iceServers() → [{urls, username, credential}]: the STUN and TURN
//	    servers for a call, with fresh credentials from the always-on
//	    nodes the link named
//	pushKey() → the applicationServerKey (base64url) to subscribe to
//	    pushes with, "" when no room has one (Rooms.PushKey)
//	setPush(endpoint, p256dh, auth) → rooms: gives the rooms of that key
//	    this device's push subscription (keys base64url, as
//	    PushSubscription.toJSON gives them)
func Export() {
	c := &core{}
	fns := map[string]func([]js.Value) (any, error){
		"open":        c.open,
		"start":       c.start,
		"link":        c.link,
		"rooms":       c.listRooms,
		"history":     c.history,
		"send":        c.send,
		"sync":        c.syncWith,
		"watch":       c.setWatch,
		"self":        c.self,
		"calls":       c.listCalls,
		"answer":      c.answer,
		"hangup":      c.hangup,
		"unlock":      c.unlock,
		"watchCalls":  c.setCallWatch,
		"pushKey":     c.pushKey,
		"iceServers":  c.iceServers,
		"setPush":     c.setPush,
		"files":       c.listFiles,
		"mirrors":     c.listMirrors,
		"ringPicture": c.ringPicture,
		"fetchFile":   c.fetchFile,
	}
	api := map[string]any{}
	for name, f := range fns {
		api[name] = js.FuncOf(func(_ js.Value, args []js.Value) any {
			// The arguments are read here, in the callback: JavaScript
			// values are not to be kept past it.
			own := make([]js.Value, len(args))
			copy(own, args)
			return promise(func() (any, error) { return f(own) })
		})
	}
	// The media's reports are queued in order, in the callback itself.
	api["callEvent"] = js.FuncOf(func(_ js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				out = jsError(fmt.Errorf("callEvent: %v", r))
			}
		}()
		p := c.endpoints.get(arg(args, 0))
		if p == nil {
			return nil // a call already over
		}
		v := js.Null()
		if len(args) > 2 {
			v = args[2]
		}
		if err := p.report(arg(args, 1), v); err != nil {
			return jsError(err)
		}
		return nil
	})
	js.Global().Set("hearthCore", js.ValueOf(api))
}

func jsError(err error) js.Value { return js.Global().Get("Error").New(err.Error()) }

// promise runs f in a goroutine and returns a Promise of its result.
func promise(f func() (any, error)) js.Value {
	var exec js.Func
	exec = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer exec.Release()
			// A panic here would end the whole app (its Go program): it
			// rejects the call that caused it instead.
			defer func() {
				if r := recover(); r != nil {
					reject.Invoke(jsError(fmt.Errorf("the app's core failed: %v", r)))
				}
			}()
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

// toJS turns v (JSON-shaped) into a JavaScript value.
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

func argList(args []js.Value, i int) []string {
	var out []string
	if i < len(args) && args[i].Type() == js.TypeObject {
		for j := range args[i].Length() {
			out = append(out, args[i].Index(j).String())
		}
	}
	return out
}

// commit writes records to the browser's storage and waits until it has
// them.
func (c *core) commit(puts []Record, dels []string) error {
	ps := make([]any, len(puts))
	for i, r := range puts {
		b := js.Global().Get("Uint8Array").New(len(r.Value))
		js.CopyBytesToJS(b, r.Value)
		ps[i] = js.ValueOf([]any{r.Key, b})
	}
	ds := make([]any, len(dels))
	for i, d := range dels {
		ds[i] = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := jsnet.Await(ctx, c.db.Call("commit", js.ValueOf(ps), js.ValueOf(ds))); err != nil {
		return fmt.Errorf("the browser's storage: %w", err)
	}
	return nil
}

func (c *core) open(args []js.Value) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev != nil {
		return nil, errors.New("open: already open")
	}
	if len(args) == 0 || args[0].Type() != js.TypeObject {
		return nil, errors.New("open: give the store (web/app/store.js)")
	}
	c.db = args[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v, err := jsnet.Await(ctx, c.db.Call("load"))
	if err != nil {
		return nil, fmt.Errorf("reading the browser's storage: %w", err)
	}
	recs := make([]Record, v.Length())
	var devRec, linkRec []byte
	for i := range recs {
		kv := v.Index(i)
		val := kv.Index(1)
		recs[i] = Record{Key: kv.Index(0).String(), Value: make([]byte, val.Get("length").Int())}
		js.CopyBytesToGo(recs[i].Value, val)
		switch recs[i].Key {
		case keyDevice:
			devRec = recs[i].Value
		case keyLinked:
			linkRec = recs[i].Value
		}
	}
	changes, err := Changes(recs)
	if err != nil {
		return nil, err
	}
	c.store = room.NewMemStore()
	for _, ch := range changes {
		if err := c.store.Replay(*ch); err != nil {
			return nil, fmt.Errorf("the stored rooms: %w", err)
		}
	}
	c.store.SetJournal(func(ch room.Change) error {
		puts, dels, err := Records(ch)
		if err != nil {
			return err
		}
		return c.commit(puts, dels)
	})
	if devRec != nil {
		if c.dev, err = ParseDevice(devRec); err != nil {
			return nil, err
		}
	} else {
		d, err := NewDevice(arg(args, 1))
		if err != nil {
			return nil, err
		}
		r, err := MarshalDevice(d)
		if err != nil {
			return nil, err
		}
		if err := c.commit([]Record{r}, nil); err != nil {
			return nil, err
		}
		c.dev = d
	}
	if linkRec != nil {
		if c.linked, err = ParseLinked(linkRec); err != nil {
			return nil, err
		}
	}
	id, err := c.dev.PeerID()
	if err != nil {
		return nil, err
	}
	raw := c.dev.Key.Ed25519()
	key := js.Global().Get("Uint8Array").New(len(raw))
	js.CopyBytesToJS(key, raw)
	return js.ValueOf(map[string]any{"peer": id.String(), "key": key, "linked": c.linked != nil}), nil
}

func (c *core) start(args []js.Value) (any, error) {
	c.mu.Lock()
	if c.dev == nil {
		c.mu.Unlock()
		return nil, errors.New("start: open first")
	}
	if len(args) == 0 || args[0].Type() != js.TypeObject {
		c.mu.Unlock()
		return nil, errors.New("start: give the js-libp2p node's bridge")
	}
	if len(args) < 2 || args[1].Type() != js.TypeObject {
		c.mu.Unlock()
		return nil, errors.New("start: give the calls' media (web/app/calls.js)")
	}
	id, _ := c.dev.PeerID()
	c.host = jsnet.New(id, args[0])
	c.media = args[1]
	// A peer that breaks Hearth's protocols is scored and banned here as
	// on a daemon: its streams are refused and its connections closed.
	scores := proto.NewScorer(nil)
	scores.SetCloser(c.host.ClosePeer)
	proto.Register(id, scores)
	l := c.linked
	c.mu.Unlock()
	if l == nil {
		return js.ValueOf(map[string]any{"identity": ""}), nil
	}
	rs, err := c.openRooms(l)
	if err != nil {
		return nil, err
	}
	// Catch up in the background: the page shows what is stored now.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.syncLinked(ctx, rs, l)
	}()
	return js.ValueOf(map[string]any{"identity": l.Identity.String()}), nil
}

func (c *core) openRooms(l *Linked) (*Rooms, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rooms != nil {
		return c.rooms, nil
	}
	rs, err := OpenRooms(RoomsConfig{Host: c.host, Device: c.dev, Linked: l, Store: c.store, Now: time.Now(),
		OnChange: func(id string) {
			if fn, ok := c.watch.Load().(js.Value); ok {
				// Not from within the room's lock: the page reads the
				// room when told.
				go fn.Invoke(id)
			}
		}})
	if err != nil {
		return nil, err
	}
	c.rooms = rs
	calls, err := NewCalls(CallsConfig{Host: c.host, Device: c.dev, Rooms: rs, Endpoint: c.endpoints.factory(c.media),
		OnChange: func(s call.Status) {
			fn, ok := c.callWatch.Load().(js.Value)
			if !ok {
				return
			}
			c.mu.Lock()
			calls := c.calls
			c.mu.Unlock()
			if calls == nil {
				return
			}
			if v, err := toJS(calls.Info(s)); err == nil {
				fn.Invoke(v)
			}
		}})
	if err != nil {
		rs.Close()
		c.rooms = nil
		return nil, err
	}
	c.calls = calls
	// TURN credentials for the page's calls, from the always-on nodes the
	// link named (a phone away from home reaches the door's media through
	// them).
	c.turns = &call.TURNClients{Host: c.host, Proof: l.Proof, Nodes: func() []peer.ID { return relays(c.host, l.Addrs) }}
	// The rooms stay synced with the device that linked this one for as
	// long as the page is open.
	go rs.Keep(context.Background(), l.By, func() { addPeers(c.host, l.Addrs) }, keepEvery)
	return rs, nil
}

// keepEvery is how often the app looks for rooms that lost their sync.
const keepEvery = 5 * time.Second

// syncLinked syncs every room with the device that linked this one.
func (c *core) syncLinked(ctx context.Context, rs *Rooms, l *Linked) (int, error) {
	if len(l.Addrs) > 0 {
		if _, err := addPeers(c.host, l.Addrs); err != nil {
			return 0, err
		}
	}
	return rs.SyncWith(ctx, l.By)
}

func (c *core) link(args []js.Value) (any, error) {
	link, addrs, name := arg(args, 0), argList(args, 1), arg(args, 2)
	c.mu.Lock()
	d, h, already := c.dev, c.host, c.linked != nil
	c.mu.Unlock()
	if h == nil {
		return nil, errors.New("link: the node is not started")
	}
	if already {
		return nil, errors.New("this app is a device of an identity already")
	}
	if name != "" && name != d.Name {
		if err := identity.CheckDeviceName(name); err != nil {
			return nil, err
		}
		renamed := *d
		renamed.Name = name
		rec, err := MarshalDevice(&renamed)
		if err != nil {
			return nil, err
		}
		if err := c.commit([]Record{rec}, nil); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.dev = &renamed
		c.mu.Unlock()
		d = &renamed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := Link(ctx, h, d, link, addrs, time.Now())
	if err != nil {
		return nil, err
	}
	rec, err := MarshalLinked(l)
	if err != nil {
		return nil, err
	}
	if err := c.commit([]Record{rec}, nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.linked = l
	c.mu.Unlock()
	rs, err := c.openRooms(l)
	if err != nil {
		return nil, err
	}
	if _, err := c.syncLinked(ctx, rs, l); err != nil {
		return nil, fmt.Errorf("linked, but the rooms did not sync: %w", err)
	}
	rooms := make([]any, len(l.Rooms))
	for i, r := range l.Rooms {
		rooms[i] = r.Name
	}
	return js.ValueOf(map[string]any{"identity": l.Identity.String(), "device": d.Key.Public().String(), "rooms": rooms}), nil
}

func (c *core) self([]js.Value) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev == nil {
		return nil, errors.New("the app is not open")
	}
	id, err := c.dev.PeerID()
	if err != nil {
		return nil, err
	}
	out := map[string]any{"peer": id.String(), "device": c.dev.Key.Public().String(), "identity": ""}
	if c.linked != nil {
		out["identity"] = c.linked.Identity.String()
	}
	return js.ValueOf(out), nil
}

func (c *core) setWatch(args []js.Value) (any, error) {
	if len(args) == 0 || args[0].Type() != js.TypeFunction {
		return nil, errors.New("watch: give a function")
	}
	c.watch.Store(args[0])
	return nil, nil
}

func (c *core) linkedRooms() (*Rooms, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rooms == nil {
		return nil, errors.New("this device is not linked yet")
	}
	return c.rooms, nil
}

func (c *core) listRooms([]js.Value) (any, error) {
	rs, err := c.linkedRooms()
	if err != nil {
		return nil, err
	}
	return toJS(rs.List())
}

func (c *core) history(args []js.Value) (any, error) {
	rs, err := c.linkedRooms()
	if err != nil {
		return nil, err
	}
	limit := 50
	if len(args) > 1 && args[1].Type() == js.TypeNumber {
		limit = args[1].Int()
	}
	msgs, err := rs.History(arg(args, 0), limit)
	if err != nil {
		return nil, err
	}
	return toJS(msgs)
}

func (c *core) send(args []js.Value) (any, error) {
	rs, err := c.linkedRooms()
	if err != nil {
		return nil, err
	}
	return rs.Send(arg(args, 0), arg(args, 1))
}

func (c *core) syncWith(args []js.Value) (any, error) {
	rs, err := c.linkedRooms()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	l := c.linked
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addrs := argList(args, 0)
	if len(addrs) == 0 {
		return c.syncLinked(ctx, rs, l)
	}
	peers, err := addPeers(c.host, addrs)
	if err != nil {
		return nil, err
	}
	return rs.SyncWith(ctx, peers...)
}

func (c *core) linkedCalls() (*Calls, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		return nil, errors.New("this device is not linked yet")
	}
	return c.calls, nil
}

func (c *core) listCalls([]js.Value) (any, error) {
	cs, err := c.linkedCalls()
	if err != nil {
		return nil, err
	}
	return toJS(cs.List())
}

func (c *core) answer(args []js.Value) (any, error) {
	cs, err := c.linkedCalls()
	if err != nil {
		return nil, err
	}
	media := call.Audio | call.Video
	switch arg(args, 1) {
	case "audio":
		media = call.Audio
	case "", "audio+video":
	default:
		return nil, fmt.Errorf("answer: send %q (audio or audio+video)", arg(args, 1))
	}
	return nil, cs.Answer(arg(args, 0), media)
}

func (c *core) hangup(args []js.Value) (any, error) {
	cs, err := c.linkedCalls()
	if err != nil {
		return nil, err
	}
	return nil, cs.Hangup(arg(args, 0), arg(args, 1))
}

func (c *core) unlock(args []js.Value) (any, error) {
	cs, err := c.linkedCalls()
	if err != nil {
		return nil, err
	}
	a, err := cs.Unlock(context.Background(), arg(args, 0), arg(args, 1))
	if err != nil {
		return nil, err
	}
	return js.ValueOf(map[string]any{"opened": a.Opened, "reason": a.Reason}), nil
}

func (c *core) setCallWatch(args []js.Value) (any, error) {
	if len(args) == 0 || args[0].Type() != js.TypeFunction {
		return nil, errors.New("watchCalls: give a function")
	}
	c.callWatch.Store(args[0])
	return nil, nil
}

func (c *core) pushKey([]js.Value) (any, error) {
	rs, err := c.linkedRooms()
	if err != nil {
		return nil, err
	}
	return base64.RawURLEncoding.EncodeToString(rs.PushKey()), nil
}

func (c *core) setPush(args []js.Value) (any, error) {
	rs, err := c.linkedRooms()
	if err != nil {
		return nil, err
	}
	key := rs.PushKey()
	if key == nil {
		return nil, errors.New("no room of this device has a push key: a household's door gives its room one")
	}
	p256dh, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(arg(args, 1), "="))
	auth, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(arg(args, 2), "="))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("the subscription's keys: %w", err)
	}
	return rs.SetPush(key, arg(args, 0), p256dh, auth)
}

func (c *core) iceServers([]js.Value) (any, error) {
	c.mu.Lock()
	t := c.turns
	c.mu.Unlock()
	out := []any{}
	if t == nil {
		return out, nil
	}
	for _, o := range t.Offers(context.Background()) {
		urls := make([]any, len(o.URLs))
		for i, u := range o.URLs {
			urls[i] = u
		}
		out = append(out, map[string]any{"urls": urls, "username": o.Username, "credential": o.Credential})
	}
	return js.ValueOf(out), nil
}
