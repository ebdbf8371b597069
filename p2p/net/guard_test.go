package net

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/proto"
)

// TestGuard: a handler that panics on a request ends that stream only;
// the node serves the next one.
func TestGuard(t *testing.T) {
	a, b := newNode(t, false), newNode(t, false)
	const testProto = "/hearth/test-guard/1.0.0"
	a.Host.SetStreamHandler(testProto, proto.Guard(nil, "test", func(s network.Stream) {
		buf := make([]byte, 1)
		io.ReadFull(s, buf)
		if buf[0] == 'p' {
			var m map[string]int
			m["boom"]++ // a bug a request reaches
		}
		s.Write([]byte("ok"))
		s.Close()
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Host.Connect(ctx, peer.AddrInfo{ID: a.Host.ID(), Addrs: a.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	ask := func(c byte) (string, error) {
		s, err := b.Host.NewStream(ctx, a.Host.ID(), testProto)
		if err != nil {
			return "", err
		}
		defer s.Close()
		s.Write([]byte{c})
		s.CloseWrite()
		out, err := io.ReadAll(s)
		return string(out), err
	}
	if out, err := ask('p'); err == nil && out == "ok" {
		t.Fatal("the panicking request was answered")
	}
	if out, err := ask('x'); err != nil || out != "ok" {
		t.Fatalf("after a panic: %q, %v", out, err)
	}
}
