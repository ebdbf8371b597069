package room

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/p2p/identity"
)

// TestLateBranchesGoBack: two households' devices write while apart,
// edits, deletions and reactions included, then meet again, many times:
// each branch that arrives late is applied by going back to a checkpoint
// before it, never from the start, and every device shows what the logs
// alone give (sameView computes it again from scratch).
func TestLateBranchesGoBack(t *testing.T) {
	h := newHousehold(t, 1)
	a, b := h.a1, h.rooms[1]
	var last Ref
	for round := range 8 {
		for i := range 5 {
			last = mustWrite(t, a, Op{Type: OpMessage, Text: fmt.Sprintf("a %d.%d", round, i)})
		}
		for i := range 4 {
			mustWrite(t, b, Op{Type: OpMessage, Text: fmt.Sprintf("b %d.%d", round, i)})
		}
		if round%2 == 1 {
			mustWrite(t, a, Op{Type: OpEdit, Target: last, Text: "edited"})
			mustWrite(t, b, Op{Type: OpReact, Target: last, Emoji: "+1"})
			mustWrite(t, a, Op{Type: OpDelete, Target: last})
		}
		// Each gets the other's branch, written meanwhile: for one of
		// them it sorts before what it applied.
		syncAll(t, a, b)
		sameView(t, a, b)
	}
	a.mu.Lock()
	ar := a.rewinds
	a.mu.Unlock()
	b.mu.Lock()
	br := b.rewinds
	b.mu.Unlock()
	if ar+br < 8 {
		t.Fatalf("%d and %d late branches went back to a checkpoint, want most of 16", ar, br)
	}
	t.Logf("late branches applied from a checkpoint: %d and %d", ar, br)
}

// TestHelloWhileCatchingUp: a member's device says hello as soon as the
// history it has names it a member, then gets the rest, whose first
// entry sorts before its hello (the same clock, a smaller writer). Its
// hello excludes nobody (its identity has no device of an older epoch),
// so the device goes back to a checkpoint rather than computing the view
// from the start, and shows what the logs alone give.
func TestHelloWhileCatchingUp(t *testing.T) {
	h, bob, alice := bobAddedBefore(t, 200)
	dev := bob.device(t)
	for mine := dev.Device.Public(); bytes.Compare(alice[:], mine[:]) > 0; mine = dev.Device.Public() {
		dev = bob.device(t)
	}
	b := openRoom(t, h.key, h.alice.id.Public(), dev)
	first := bytesOf(h.a1, alice, 0, 100)
	// The first 100 entries, then the rest: the hello comes between.
	for _, max := range []int{first, 1 << 30} {
		hh, blocks, ok := h.a1.Blocks(alice, b.Len(alice), max)
		if !ok {
			t.Fatal("nothing to serve")
		}
		if err := b.Receive(hh, blocks); err != nil {
			t.Fatal(err)
		}
	}
	if b.Len(alice) != h.a1.Len(alice) || b.Len(dev.Device.Public()) != 1 {
		t.Fatalf("bob holds %d of alice's %d entries and %d of his own", b.Len(alice), h.a1.Len(alice), b.Len(dev.Device.Public()))
	}
	syncAll(t, h.a1, b)
	sameView(t, h.a1, b)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rewinds == 0 || b.recomputes != 0 {
		t.Fatalf("%d rewinds and %d recomputes from the start, want a rewind only", b.rewinds, b.recomputes)
	}
}

// TestPrepared: blocks prepared ahead (Room.Prepare, as the sync
// protocol's session does with the next frame while the room applies one)
// give the same room as blocks received as they come, even when the
// frame before brings the key that opens them; and what was prepared of
// some blocks is never taken for other blocks: forged blocks given with
// it are verified, and refused.
func TestPrepared(t *testing.T) {
	h := newHousehold(t, 2)
	bob, carol := h.rooms[1], h.rooms[2]
	alice := h.a1.cfg.Self.Device.Public()
	write := func(what string, n int) {
		for i := range n {
			mustWrite(t, h.a1, Op{Type: OpMessage, Text: fmt.Sprintf("%s %d", what, i)})
		}
	}
	write("before", 150)
	mustWrite(t, h.a1, Op{Type: OpRemoveMember, Identity: carol.cfg.Self.Identity})
	write("after carol left", 150)

	from := bob.Len(alice)
	_, all, _ := h.a1.Blocks(alice, from, 1<<30)
	half := 0
	for _, b := range all[:len(all)/2] {
		half += len(b)
	}
	h1, b1, _ := h.a1.Blocks(alice, from, half)
	h2, b2, _ := h.a1.Blocks(alice, h1.Length, 1<<30)
	if len(b1) < minPrepared || len(b2) < minPrepared {
		t.Fatalf("frames of %d and %d blocks", len(b1), len(b2))
	}
	// Both prepared before either is received: the second's blocks of
	// the new epoch open only once the first's rotation is applied.
	r1 := bob.Prepare(alice, from, b1)
	r2 := bob.Prepare(alice, h1.Length, b2)

	// Forged blocks at the second frame's place, given with what was
	// prepared of the genuine ones, are verified and refused.
	forged := make([][]byte, len(b2))
	for i, b := range b2 {
		forged[i] = bytes.Clone(b)
	}
	m := forged[len(forged)/2]
	m[len(m)-1] ^= 1
	if err := r1(h1, b1); err != nil {
		t.Fatal(err)
	}
	if err := r2(h2, forged); err == nil {
		t.Fatal("forged blocks received with what was prepared of others")
	}
	if bob.Len(alice) != h1.Length {
		t.Fatalf("bob holds %d of alice's entries after the forgery, want %d", bob.Len(alice), h1.Length)
	}
	if err := r2(h2, b2); err != nil {
		t.Fatal(err)
	}
	syncAll(t, h.a1, bob)
	sameView(t, h.a1, bob)
	if n := len(allMessages(bob)); n != 300 {
		t.Fatalf("bob shows %d messages, want 300 (refusals %+v)", n, allRejections(bob))
	}
}

// TestHelloAfterCatchUp: a new device whose peer announces more of the
// room than it holds says hello once it holds it all, so its hello sorts
// after the history for everyone and the peer applies it at the tail
// rather than going back into its history. A peer that announces what it
// never sends delays the hello helloWait at most.
func TestHelloAfterCatchUp(t *testing.T) {
	h, bob, alice := bobAddedBefore(t, 200)
	now := time.Unix(1000, 0)
	self := bob.device(t)
	b, err := Open(Config{Key: h.key, Founder: h.alice.id.Public(), Self: self, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	me := self.Device.Public()
	last := h.a1.Heads()[0]
	b.Wants(last)
	first := bytesOf(h.a1, alice, 0, 100)
	hd, blocks, _ := h.a1.Blocks(alice, 0, first)
	if err := b.Receive(hd, blocks); err != nil {
		t.Fatal(err)
	}
	if b.Len(me) != 0 {
		t.Fatal("hello said while the peer announced more than bob holds")
	}
	hd, blocks, _ = h.a1.Blocks(alice, b.Len(alice), 1<<30)
	if err := b.Receive(hd, blocks); err != nil {
		t.Fatal(err)
	}
	if b.Len(me) != 1 {
		t.Fatalf("bob holds all of alice's log and %d entries of his own, want his hello", b.Len(me))
	}
	syncAll(t, h.a1, b)
	sameView(t, h.a1, b)
	h.a1.mu.Lock()
	rw, rc := h.a1.rewinds, h.a1.recomputes
	h.a1.mu.Unlock()
	if rw+rc != 0 {
		t.Fatalf("alice went back %d times and recomputed %d times to apply bob's hello", rw, rc)
	}

	// A peer that announces a head it never sends.
	carol := newPerson(t, "carol")
	mustWrite(t, h.a1, Op{Type: OpAddMember, Identity: carol.id.Public(), Role: RoleMember})
	cself := carol.device(t)
	c, err := Open(Config{Key: h.key, Founder: h.alice.id.Public(), Self: cself, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	withheld := h.a1.Heads()[0]
	withheld.Length += 1000 // the room only compares lengths (the protocol verified it)
	c.Wants(withheld)
	pull(t, c, h.a1)
	if c.Len(alice) != h.a1.Len(alice) {
		t.Fatal("carol did not take alice's log")
	}
	if c.Len(cself.Device.Public()) != 0 {
		t.Fatal("hello said at once while a peer announced more")
	}
	now = now.Add(helloWait)
	c.Wants(withheld)
	if c.Len(cself.Device.Public()) != 1 {
		t.Fatal("hello still not said helloWait later")
	}
}

// bytesOf is the size of n blocks of writer's log in r from from on.
func bytesOf(r *Room, writer identity.PublicKey, from uint64, n int) int {
	_, blocks, _ := r.Blocks(writer, from, 1<<30)
	size := 0
	for _, b := range blocks[:n] {
		size += len(b)
	}
	return size
}

// bobAddedBefore is a household whose founder added bob, then wrote n
// messages one at a time: bob's first device has everything to catch up.
func bobAddedBefore(t *testing.T, n int) (h *household, bob *person, alice identity.PublicKey) {
	t.Helper()
	h = newHousehold(t, 0)
	bob = newPerson(t, "bob")
	mustWrite(t, h.a1, Op{Type: OpAddMember, Identity: bob.id.Public(), Role: RoleMember})
	for i := range n {
		mustWrite(t, h.a1, Op{Type: OpMessage, Text: fmt.Sprintf("message %d", i)})
	}
	return h, bob, h.a1.cfg.Self.Device.Public()
}
