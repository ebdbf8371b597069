package net

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/proto"
)

// TestOffencesBan: a peer that offends proto.BanScore times (over any mix of
// protocols) is disconnected and its new connections refused; another
// peer is not affected; proto.Report reaches a node through its host.
func TestOffencesBan(t *testing.T) {
	a, bad, good := newNode(t, false), newNode(t, false), newNode(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info := peer.AddrInfo{ID: a.Host.ID(), Addrs: a.Host.Addrs()}
	for _, n := range []*Node{bad, good} {
		if err := n.Host.Connect(ctx, info); err != nil {
			t.Fatal(err)
		}
	}
	p := bad.Host.ID()
	for i := 1; i < proto.BanScore; i++ {
		if proto.Report(a.Host, p, "sync", errors.New("garbage")) {
			t.Fatalf("banned after %d offences", i)
		}
	}
	if a.Score(p) != proto.BanScore-1 || a.Banned(p) {
		t.Fatalf("score %d, banned %v", a.Score(p), a.Banned(p))
	}
	if !a.Offence(p, "call", errors.New("a malformed signal")) || !a.Banned(p) {
		t.Fatal("not banned at proto.BanScore")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(a.Host.Network().ConnsToPeer(p)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the banned peer is still connected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	bad.Host.Peerstore().AddAddrs(a.Host.ID(), a.Host.Addrs(), time.Minute)
	if err := bad.Host.Connect(ctx, info); err == nil {
		// The dial may succeed at the dialer's end before a's gater
		// refuses it: a closes it, which the dialer sees.
		for deadline := time.Now().Add(5 * time.Second); len(bad.Host.Network().ConnsToPeer(a.Host.ID())) > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the banned peer connected again: its connection stays open")
			}
		}
		if len(a.Host.Network().ConnsToPeer(p)) > 0 {
			t.Fatal("the banned peer connected again")
		}
	}
	if a.Banned(good.Host.ID()) || len(a.Host.Network().ConnsToPeer(good.Host.ID())) == 0 {
		t.Fatal("the honest peer suffered")
	}
}
