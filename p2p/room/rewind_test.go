package room

import (
	"bytes"
	"fmt"
	"testing"
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
	h := newHousehold(t, 0)
	bob := newPerson(t, "bob")
	mustWrite(t, h.a1, Op{Type: OpAddMember, Identity: bob.id.Public(), Role: RoleMember})
	for i := range 200 {
		mustWrite(t, h.a1, Op{Type: OpMessage, Text: fmt.Sprintf("message %d", i)})
	}
	alice := h.a1.cfg.Self.Device.Public()
	dev := bob.device(t)
	for mine := dev.Device.Public(); bytes.Compare(alice[:], mine[:]) > 0; mine = dev.Device.Public() {
		dev = bob.device(t)
	}
	b := openRoom(t, h.key, h.alice.id.Public(), dev)
	_, all, _ := h.a1.Blocks(alice, 0, 1<<30)
	first := 0
	for _, blk := range all[:100] {
		first += len(blk)
	}
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
