package net

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestOffencesBan: a peer that offends BanScore times (over any mix of
// protocols) is disconnected and its new connections refused; another
// peer is not affected; Report reaches a node through its host.
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
	for i := 1; i < BanScore; i++ {
		if Report(a.Host, p, "sync", errors.New("garbage")) {
			t.Fatalf("banned after %d offences", i)
		}
	}
	if a.Score(p) != BanScore-1 || a.Banned(p) {
		t.Fatalf("score %d, banned %v", a.Score(p), a.Banned(p))
	}
	if !a.Offence(p, "call", errors.New("a malformed signal")) || !a.Banned(p) {
		t.Fatal("not banned at BanScore")
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

// TestScoresForgetful: offences older than the window do not add up, and a
// flood of new peers cannot grow the table without bound.
func TestScoresForgetful(t *testing.T) {
	s := newScorer(nil)
	p := peer.ID("someone")
	for range BanScore - 1 {
		s.offence(p, "x", nil)
	}
	s.mu.Lock()
	s.scores[p].first = time.Now().Add(-scoreWindow - time.Second)
	s.mu.Unlock()
	if s.offence(p, "x", nil) || s.score(p) != 1 {
		t.Fatalf("an old window counted: score %d", s.score(p))
	}
	for i := range maxScored + 100 {
		s.offence(peer.ID(fmt.Sprint(i)), "x", nil)
	}
	if len(s.scores) > maxScored {
		t.Fatalf("%d peers scored", len(s.scores))
	}
}
