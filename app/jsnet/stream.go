//go:build js && wasm

package jsnet

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

var streamIDs atomic.Uint64

// stream is a network.Stream over a js-libp2p stream (web/app/net.js
// wraps it: next() → Promise<Uint8Array|null>, send(bytes) →
// Promise, closeWrite() → Promise, reset()).
type stream struct {
	js     js.Value
	id     string
	proto  protocol.ID
	conn   *conn
	dir    network.Direction
	opened time.Time

	rmu     sync.Mutex // one reader at a time
	pending chan readResult
	left    []byte
	eof     bool
	rerr    error
	rdl     deadline
	wmu     sync.Mutex
	wdl     deadline
	closed  atomic.Bool
}

type readResult struct {
	b   []byte
	eof bool
	err error
}

func newStream(v js.Value, p protocol.ID, local, remote peer.ID, addr string, dir network.Direction) *stream {
	c := &conn{local: local, remote: remote}
	if a, err := ma.NewMultiaddr(addr); err == nil {
		c.addr = a
	}
	return &stream{js: v, id: "js-" + strconv.FormatUint(streamIDs.Add(1), 10), proto: p, conn: c, dir: dir, opened: time.Now()}
}

// next asks js-libp2p for the stream's next chunk, once: a read that
// timed out leaves it pending for the next read.
func (s *stream) next() chan readResult {
	if s.pending != nil {
		return s.pending
	}
	ch := make(chan readResult, 1)
	s.pending = ch
	go func() {
		v, err := Await(context.Background(), s.js.Call("next"))
		switch {
		case err != nil:
			ch <- readResult{err: err}
		case v.IsNull() || v.IsUndefined():
			ch <- readResult{eof: true}
		default:
			b := make([]byte, v.Get("length").Int())
			js.CopyBytesToGo(b, v)
			ch <- readResult{b: b}
		}
	}()
	return ch
}

func (s *stream) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for len(s.left) == 0 {
		if s.eof {
			return 0, io.EOF
		}
		if s.rerr != nil {
			return 0, s.rerr
		}
		if s.closed.Load() {
			return 0, network.ErrReset
		}
		timeout, stop := s.rdl.wait()
		select {
		case r := <-s.next():
			stop()
			s.pending = nil
			s.left, s.eof = r.b, r.eof
			if r.err != nil {
				s.rerr = network.ErrReset
			}
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		}
	}
	n := copy(p, s.left)
	s.left = s.left[n:]
	return n, nil
}

func (s *stream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return 0, network.ErrReset
	}
	const chunk = 16 << 10 // a WebRTC data channel message at most
	n := 0
	for n < len(p) {
		m := min(len(p)-n, chunk)
		b := js.Global().Get("Uint8Array").New(m)
		js.CopyBytesToJS(b, p[n:n+m])
		ctx, cancel := s.wdl.context()
		_, err := Await(ctx, s.js.Call("send", b))
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return n, os.ErrDeadlineExceeded
			}
			return n, network.ErrReset
		}
		n += m
	}
	return n, nil
}

// CloseWrite ends what this side sends; the other side reads EOF.
func (s *stream) CloseWrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Await(ctx, s.js.Call("closeWrite"))
	return err
}

// CloseRead stops reading: what arrives later is dropped.
func (s *stream) CloseRead() error {
	s.js.Call("closeRead")
	return nil
}

// Close closes both directions.
func (s *stream) Close() error {
	err := s.CloseWrite()
	s.CloseRead()
	s.closed.Store(true)
	return err
}

// Reset ends the stream at once, both ways.
func (s *stream) Reset() error {
	if !s.closed.Swap(true) {
		s.js.Call("reset")
	}
	return nil
}

func (s *stream) ResetWithError(network.StreamErrorCode) error { return s.Reset() }

func (s *stream) SetDeadline(t time.Time) error {
	s.rdl.set(t)
	s.wdl.set(t)
	return nil
}
func (s *stream) SetReadDeadline(t time.Time) error  { s.rdl.set(t); return nil }
func (s *stream) SetWriteDeadline(t time.Time) error { s.wdl.set(t); return nil }

func (s *stream) ID() string                      { return s.id }
func (s *stream) Protocol() protocol.ID           { return s.proto }
func (s *stream) SetProtocol(p protocol.ID) error { s.proto = p; return nil }
func (s *stream) Stat() network.Stats             { return network.Stats{Direction: s.dir, Opened: s.opened} }
func (s *stream) Conn() network.Conn              { return s.conn }
func (s *stream) Scope() network.StreamScope      { return &network.NullScope{} }

// deadline is a settable deadline that readers and writers wait on.
type deadline struct {
	mu sync.Mutex
	t  time.Time
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	d.t = t
	d.mu.Unlock()
}

// wait returns a channel that fires at the deadline (never without one)
// and what stops its timer.
func (d *deadline) wait() (<-chan time.Time, func()) {
	d.mu.Lock()
	t := d.t
	d.mu.Unlock()
	if t.IsZero() {
		return nil, func() {}
	}
	tm := time.NewTimer(time.Until(t))
	return tm.C, func() { tm.Stop() }
}

func (d *deadline) context() (context.Context, context.CancelFunc) {
	d.mu.Lock()
	t := d.t
	d.mu.Unlock()
	if t.IsZero() {
		return context.WithCancel(context.Background())
	}
	return context.WithDeadline(context.Background(), t)
}

// conn is what a stream tells of its connection: whose it is.
type conn struct {
	local, remote peer.ID
	addr          ma.Multiaddr
}

func (c *conn) Close() error                               { return nil }
func (c *conn) CloseWithError(network.ConnErrorCode) error { return nil }
func (c *conn) LocalPeer() peer.ID                         { return c.local }
func (c *conn) RemotePeer() peer.ID                        { return c.remote }
func (c *conn) RemotePublicKey() ic.PubKey                 { k, _ := c.remote.ExtractPublicKey(); return k }
func (c *conn) ConnState() network.ConnectionState         { return network.ConnectionState{} }
func (c *conn) LocalMultiaddr() ma.Multiaddr               { return nil }
func (c *conn) RemoteMultiaddr() ma.Multiaddr              { return c.addr }
func (c *conn) Stat() network.ConnStats                    { return network.ConnStats{} }
func (c *conn) Scope() network.ConnScope                   { return &network.NullScope{} }
func (c *conn) ID() string                                 { return c.remote.String() }
func (c *conn) NewStream(context.Context) (network.Stream, error) {
	return nil, errors.New("jsnet: open streams through the Host")
}
func (c *conn) GetStreams() []network.Stream { return nil }
func (c *conn) IsClosed() bool               { return false }
func (c *conn) As(any) bool                  { return false }
