//go:build js && wasm

package app

import (
	"context"
	"errors"
	"syscall/js"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/app/jsnet"
	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/p2p/blobwire"
)

// The files of the page's API (see Export):
//
//	files(room, limit) → [FileInfo]: the room's files, newest first
//	mirrors(room) → [MirrorInfo]: the blind mirrors that keep the room
//	ringPicture(room, call) → FileInfo or null: the picture the door took
//	    when it rang call, once its entry arrived
//	fetchFile(room, id, progress) → FileInfo: fetches file id (its
//	    message's) from every source at once into the page's storage
//	    (store.js's putChunk), resuming from what it holds; progress(p),
//	    if given, is called with {done, total, sources} as chunks arrive

func (c *core) listFiles(args []js.Value) (any, error) {
	rs, err := c.linkedRooms()
	if err != nil {
		return nil, err
	}
	limit := 200
	if len(args) > 1 && args[1].Type() == js.TypeNumber {
		limit = args[1].Int()
	}
	fs, err := rs.Files(arg(args, 0), limit)
	if err != nil {
		return nil, err
	}
	return toJS(fs)
}

func (c *core) listMirrors(args []js.Value) (any, error) {
	rs, err := c.linkedRooms()
	if err != nil {
		return nil, err
	}
	ms, err := rs.Mirrors(arg(args, 0))
	if err != nil {
		return nil, err
	}
	return toJS(ms)
}

func (c *core) ringPicture(args []js.Value) (any, error) {
	rs, err := c.linkedRooms()
	if err != nil {
		return nil, err
	}
	id, err := call.ParseID(arg(args, 1))
	if err != nil {
		return nil, err
	}
	f, ok, err := rs.RingPicture(arg(args, 0), id)
	if err != nil || !ok {
		return js.Null(), err
	}
	return toJS(f)
}

// fetchTimeout bounds a download that makes no progress.
const fetchTimeout = 2 * time.Minute

func (c *core) fetchFile(args []js.Value) (any, error) {
	rs, err := c.linkedRooms()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	l := c.linked
	c.mu.Unlock()
	var progress js.Value
	if len(args) > 2 && args[2].Type() == js.TypeFunction {
		progress = args[2]
	}
	which, id := arg(args, 0), arg(args, 1)
	// The root, for the page's storage: the file's info first.
	fs, err := rs.Files(which, 0)
	if err != nil {
		return nil, err
	}
	root := ""
	for _, f := range fs {
		if f.ID == id {
			root = f.Root
		}
	}
	if root == "" {
		return nil, errors.New("no such file in the room")
	}
	// A stall ends it, not its length: every chunk that arrives pushes
	// the deadline on.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stall := time.AfterFunc(fetchTimeout, cancel)
	defer stall.Stop()
	heldV, err := jsnet.Await(ctx, c.db.Call("heldChunks", root))
	if err != nil {
		return nil, err
	}
	var held []int
	for i := range heldV.Length() {
		held = append(held, heldV.Index(i).Int())
	}
	info, err := rs.Fetch(ctx, which, id, FetchFile{
		Host:  c.host,
		By:    l.By,
		Addrs: func(p peer.ID, given []string) { addSource(c.host, p, given, l.Addrs) },
		Held:  held,
		Put: func(i int, plain []byte) error {
			b := js.Global().Get("Uint8Array").New(len(plain))
			js.CopyBytesToJS(b, plain)
			_, err := jsnet.Await(ctx, c.db.Call("putChunk", root, i, b))
			stall.Reset(fetchTimeout)
			return err
		},
		Progress: func(p blobwire.Progress) {
			if progress.Truthy() {
				progress.Invoke(js.ValueOf(map[string]any{"done": p.Done, "total": p.Total, "sources": p.Sources}))
			}
		},
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, errors.New("the download stalled: no source sent anything for 2 minutes (what arrived is kept)")
		}
		return nil, err
	}
	return toJS(info)
}
