package room

import (
	"errors"
	"slices"
	"testing"
)

// TestMemStoreJournal: a MemStore with a journal hands it every change
// (blocks, keys, rows) before showing it; a new MemStore that replays the
// journal reopens the room (Load) to the same view, without applying its
// entries again; and a change the journal refuses is not made at all: the
// write fails and the room and its store are as before.
func TestMemStoreJournal(t *testing.T) {
	alice, bob := newPerson(t, "alice"), newPerson(t, "bob")
	key := NewKey()
	aSelf, bSelf := alice.device(t), bob.device(t)
	var journal []Change
	var fail error
	ms := NewMemStore()
	ms.SetJournal(func(c Change) error {
		if fail != nil {
			return fail
		}
		journal = append(journal, c)
		return nil
	})
	a, err := Open(Config{Key: key, Founder: alice.id.Public(), Self: aSelf, Store: ms})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Create("family"); err != nil {
		t.Fatal(err)
	}
	b := openRoom(t, key, alice.id.Public(), bSelf)
	mustWrite(t, a, Op{Type: OpAddMember, Identity: bob.id.Public(), Role: RoleMember})
	for i := range 30 {
		mustWrite(t, a, Op{Type: OpMessage, Text: "from alice " + string(rune('a'+i%26))})
	}
	syncAll(t, a, b)
	for range 20 {
		mustWrite(t, b, Op{Type: OpMessage, Text: "from bob"})
	}
	syncAll(t, a, b)
	ref := mustWrite(t, a, Op{Type: OpMessage, Text: "to edit"})
	mustWrite(t, a, Op{Type: OpEdit, Target: ref, Text: "edited"})
	a.Process()
	if len(journal) == 0 {
		t.Fatal("nothing reached the journal")
	}

	// The journal alone brings the room back.
	again := NewMemStore()
	for _, c := range journal {
		if err := again.Replay(c); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Open(Config{Key: key, Founder: alice.id.Public(), Self: aSelf, Store: again})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(); err != nil {
		t.Fatal(err)
	}
	r.Process()
	if r.Digest() != a.Digest() || !slices.Equal(messageTexts(r), messageTexts(a)) {
		t.Fatalf("the replayed room differs: %q, want %q", messageTexts(r), messageTexts(a))
	}
	if r.recomputes != 0 {
		t.Fatalf("reopening computed the view again %d times", r.recomputes)
	}

	// A journal that refuses: nothing changes.
	before, n := a.Digest(), len(journal)
	heads := a.Heads()
	fail = errors.New("the disk is full")
	if _, err := a.Write(Op{Type: OpMessage, Text: "lost"}); !errors.Is(err, fail) {
		t.Fatalf("a write the journal refused: %v", err)
	}
	mustWrite(t, b, Op{Type: OpMessage, Text: "bob again"})
	hh, blocks, _ := b.Blocks(bSelf.Device.Public(), a.Len(bSelf.Device.Public()), 1<<20)
	if err := a.Receive(hh, blocks); err == nil {
		t.Fatal("blocks the journal refused were received")
	}
	if a.Digest() != before || !slices.Equal(a.Heads(), heads) || len(journal) != n {
		t.Fatal("a refused change left a trace")
	}
	fail = nil
	mustWrite(t, a, Op{Type: OpMessage, Text: "kept"})
	syncAll(t, a, b)
	if got := messageTexts(a); !slices.Contains(got, "kept") || !slices.Contains(got, "bob again") || slices.Contains(got, "lost") {
		t.Fatalf("after the journal came back: %q", got)
	}
}
