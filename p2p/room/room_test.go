package room

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/internal/leaktest"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

// TestMain stores the view every few entries (not every 4096), so that
// late entries in the tests' small rooms go back to a checkpoint rather
// than computing the view from the start: every convergence check
// (sameView) then compares views reached through rewinds with views
// computed from the logs alone.
func TestMain(m *testing.M) {
	ckptEvery = 16
	leaktest.Main(m)
}

// person is an identity with its devices, for tests.
type person struct {
	id   identity.SigningKey
	name string
}

func newPerson(t testing.TB, name string) *person {
	t.Helper()
	k, err := identity.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return &person{id: k, name: name}
}

// device makes a new device of p: keys, proof and record.
func (p *person) device(t testing.TB) Self {
	t.Helper()
	dev, _ := identity.GenerateSigningKey()
	seal, _ := identity.GenerateSealingKey()
	proof, _ := identity.NewProof(p.id, dev.Public(), 1).MarshalBinary()
	rec, err := identity.NewDeviceRecord(p.id.Public(), dev, seal.Public(), p.name, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := rec.MarshalBinary()
	return Self{Identity: p.id.Public(), Device: dev, Sealing: seal, Proof: proof, Record: rb}
}

// allMessages returns every message r shows, in the room's order.
func allMessages(r *Room) []*Message {
	var out []*Message
	r.Messages(false, func(m *Message) bool { out = append(out, m); return true })
	return out
}

// allRejections returns every refusal of r, in the room's order.
func allRejections(r *Room) []Rejection {
	var out []Rejection
	r.Rejections(func(rj Rejection) bool { out = append(out, rj); return true })
	slices.Reverse(out)
	return out
}

func openRoom(t testing.TB, key Key, founder identity.PublicKey, self Self) *Room {
	t.Helper()
	r, err := Open(Config{Key: key, Founder: founder, Self: self})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pull copies into dst every block src holds that dst lacks, in small
// batches, as the sync protocol does: a log dst refuses for now (it
// cannot judge it yet) is offered again once another was taken.
func pull(t testing.TB, dst, src *Room) {
	t.Helper()
	me := dst.cfg.Self.Device.Public()
	for {
		progress, refused := false, false
		for _, h := range src.Heads() {
			if h.Writer == me {
				continue
			}
			for {
				hh, blocks, ok := src.Blocks(h.Writer, dst.Len(h.Writer), 2000)
				if !ok {
					break
				}
				err := dst.Receive(hh, blocks)
				if errors.Is(err, log.ErrRefused) && !errors.Is(err, log.ErrJunk) {
					refused = true
					break
				}
				if err != nil {
					t.Fatalf("receive: %v", err)
				}
				progress = true
			}
		}
		if !refused || !progress {
			return
		}
	}
}

func syncAll(t testing.TB, rooms ...*Room) {
	t.Helper()
	for range 3 {
		for _, a := range rooms {
			for _, b := range rooms {
				if a != b {
					pull(t, a, b)
				}
			}
		}
	}
}

func digest(r *Room) [32]byte { return r.Digest() }

func mustWrite(t testing.TB, r *Room, op Op) Ref {
	t.Helper()
	ref, err := r.Write(op)
	if err != nil {
		t.Fatalf("write %s: %v", op.Type, err)
	}
	return ref
}

type household struct {
	key    Key
	alice  *person
	a1     *Room
	rooms  []*Room
	people []*person // people[i] holds rooms[i]
}

// newHousehold makes a room founded by alice with n more members, each
// with one device, all synced.
func newHousehold(t testing.TB, n int) *household {
	h := &household{key: NewKey(), alice: newPerson(t, "alice")}
	h.a1 = openRoom(t, h.key, h.alice.id.Public(), h.alice.device(t))
	if err := h.a1.Create("home"); err != nil {
		t.Fatal(err)
	}
	h.rooms = []*Room{h.a1}
	h.people = []*person{h.alice}
	for i := range n {
		p := newPerson(t, fmt.Sprint("member", i))
		mustWrite(t, h.a1, Op{Type: OpAddMember, Identity: p.id.Public(), Role: RoleMember})
		h.rooms = append(h.rooms, openRoom(t, h.key, h.alice.id.Public(), p.device(t)))
		h.people = append(h.people, p)
	}
	syncAll(t, h.rooms...)
	return h
}

func TestCreateAndChat(t *testing.T) {
	h := newHousehold(t, 2)
	b, c := h.rooms[1], h.rooms[2]
	m1 := mustWrite(t, b, Op{Type: OpMessage, Text: "hello from b"})
	mustWrite(t, c, Op{Type: OpMessage, Text: "hello from c", HasReply: true, Target: m1})
	syncAll(t, h.rooms...)
	for _, r := range h.rooms {
		r.View(func(v *View) {
			if v.Name != "home" || len(v.Members) != 3 || v.Count != 2 {
				t.Fatalf("view: name %q, %d members, %d messages", v.Name, len(v.Members), v.Count)
			}
		})
		for _, m := range allMessages(r) {
			if m.Text == "hello from c" && (m.ReplyTo == nil || *m.ReplyTo != m1) {
				t.Fatal("reply lost")
			}
		}
	}
	if digest(h.a1) != digest(b) || digest(b) != digest(c) {
		t.Fatal("views differ")
	}
}

// TestConvergenceRandom runs random operations on 5 replicas with random
// partial syncs (partitions), then heals: every replica ends with the same
// view and no message is lost.
func TestConvergenceRandom(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			h := newHousehold(t, 4)
			mustWrite(t, h.a1, Op{Type: OpSetRole, Identity: h.rooms[1].cfg.Self.Identity, Role: RoleModerator})
			syncAll(t, h.rooms...)
			sent := 0
			var refs []Ref
			for step := range 300 {
				r := h.rooms[rng.IntN(len(h.rooms))]
				switch x := rng.IntN(10); {
				case x < 5 || len(refs) == 0:
					ref := mustWrite(t, r, Op{Type: OpMessage, Text: fmt.Sprintf("m%d", step)})
					refs = append(refs, ref)
					sent++
				case x < 7:
					r.Write(Op{Type: OpEdit, Target: refs[rng.IntN(len(refs))], Text: fmt.Sprintf("edit%d", step)})
				case x < 8:
					r.Write(Op{Type: OpDelete, Target: refs[rng.IntN(len(refs))]})
				default:
					r.Write(Op{Type: OpReact, Target: refs[rng.IntN(len(refs))], Emoji: []string{"👍", "🎉"}[rng.IntN(2)], Remove: rng.IntN(3) == 0})
				}
				if rng.IntN(4) == 0 { // a random partial sync; replica 4 is cut off until the end
					a, b := h.rooms[rng.IntN(4)], h.rooms[rng.IntN(4)]
					if a != b {
						pull(t, a, b)
					}
				}
			}
			syncAll(t, h.rooms...)
			want := digest(h.a1)
			for i, r := range h.rooms {
				if digest(r) != want {
					t.Fatalf("replica %d diverged", i)
				}
				if n := r.Count(); n != sent {
					t.Fatalf("replica %d: %d messages, %d sent", i, n, sent)
				}
			}
		})
	}
}

func TestEditDeleteAuthorisation(t *testing.T) {
	h := newHousehold(t, 2)
	bob, carol := h.rooms[1], h.rooms[2]
	// Alice's second device.
	a2 := openRoom(t, h.key, h.alice.id.Public(), h.alice.device(t))
	syncAll(t, append(h.rooms, a2)...)
	all := append(h.rooms, a2)

	m := mustWrite(t, h.a1, Op{Type: OpMessage, Text: "from alice's laptop"})
	bm := mustWrite(t, bob, Op{Type: OpMessage, Text: "bob's"})
	syncAll(t, all...)
	mustWrite(t, a2, Op{Type: OpEdit, Target: m, Text: "edited on alice's phone"})
	mustWrite(t, carol, Op{Type: OpEdit, Target: m, Text: "carol was here"}) // not the author
	mustWrite(t, carol, Op{Type: OpDelete, Target: bm})                      // a member deleting another's
	syncAll(t, all...)
	for i, r := range all {
		msg, _ := r.Message(m)
		if msg.Text != "edited on alice's phone" || !msg.Edited {
			t.Fatalf("replica %d: %q", i, msg.Text)
		}
		if b, _ := r.Message(bm); b.Deleted {
			t.Fatalf("replica %d: a member deleted another's message", i)
		}
	}
	// Alice (admin) deletes bob's for everyone; alice's phone deletes the laptop's.
	mustWrite(t, a2, Op{Type: OpDelete, Target: bm})
	mustWrite(t, a2, Op{Type: OpDelete, Target: m})
	syncAll(t, all...)
	for i, r := range all {
		for _, ref := range []Ref{m, bm} {
			if msg, _ := r.Message(ref); !msg.Deleted || msg.Text != "" {
				t.Fatalf("replica %d: %v not deleted", i, ref)
			}
		}
	}
	if digest(bob) != digest(carol) || digest(carol) != digest(a2) {
		t.Fatal("diverged")
	}
}

func TestRemovedMemberCannotRead(t *testing.T) {
	h := newHousehold(t, 2)
	bob, carol := h.rooms[1], h.rooms[2]
	mustWrite(t, carol, Op{Type: OpMessage, Text: "before"})
	syncAll(t, h.rooms...)
	mustWrite(t, h.a1, Op{Type: OpRemoveMember, Identity: carol.cfg.Self.Identity})
	after := mustWrite(t, h.a1, Op{Type: OpMessage, Text: "after carol left"})
	pull(t, bob, h.a1)
	// Carol still gets the ciphertext (a mirror would pass it on).
	pull(t, carol, h.a1)
	if carol.Len(h.a1.cfg.Self.Device.Public()) != h.a1.Len(h.a1.cfg.Self.Device.Public()) {
		t.Fatal("carol did not receive the blocks")
	}
	bob.View(func(v *View) {
		if v.Epoch != 1 {
			t.Fatalf("bob's epoch %d", v.Epoch)
		}
	})
	if m, ok := bob.Message(after); !ok || m.Text != "after carol left" {
		t.Fatalf("bob cannot read the new epoch (refusals %+v)", allRejections(bob))
	}
	if _, ok := carol.Message(after); ok {
		t.Fatal("carol read a message of the new epoch")
	}
	if ms := allMessages(carol); len(ms) != 1 || ms[0].Text != "before" {
		t.Fatalf("carol lost the old messages: %d", len(ms))
	}
	if _, err := carol.Write(Op{Type: OpMessage, Text: "still here?"}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("carol wrote after removal: %v", err)
	}
}

func TestInviteRulesInView(t *testing.T) {
	h := newHousehold(t, 0)
	now := time.Now().UnixMilli()
	inv := InviteID{1}
	mustWrite(t, h.a1, Op{Type: OpInvite, Invite: inv, Expires: now + 60_000, Uses: 1, Role: RoleMember})
	p1, p2 := newPerson(t, "p1"), newPerson(t, "p2")
	mustWrite(t, h.a1, Op{Type: OpAddMember, Identity: p1.id.Public(), Role: RoleMember, Invite: inv})
	mustWrite(t, h.a1, Op{Type: OpAddMember, Identity: p2.id.Public(), Role: RoleMember, Invite: inv}) // used up
	h.a1.View(func(v *View) {
		if _, ok := v.Members[p1.id.Public()]; !ok {
			t.Fatal("first use refused")
		}
		if _, ok := v.Members[p2.id.Public()]; ok {
			t.Fatal("second use of a one-use invite accepted")
		}
		if v.Invites[inv].Used != 1 {
			t.Fatal("use not counted")
		}
	})
	expired := InviteID{2}
	mustWrite(t, h.a1, Op{Type: OpInvite, Invite: expired, Expires: now - 1, Role: RoleMember})
	mustWrite(t, h.a1, Op{Type: OpAddMember, Identity: p2.id.Public(), Role: RoleMember, Invite: expired})
	h.a1.View(func(v *View) {
		if _, ok := v.Members[p2.id.Public()]; ok {
			t.Fatal("expired invite accepted")
		}
	})
}

func TestNonMemberAndForeignEntriesRefused(t *testing.T) {
	h := newHousehold(t, 1)
	mallory := newPerson(t, "mallory")
	// Mallory somehow has the room key but was never added: her hello and
	// messages are refused everywhere.
	m := openRoom(t, h.key, h.alice.id.Public(), mallory.device(t))
	syncAll(t, append(h.rooms, m)...)
	if _, err := m.Write(Op{Type: OpMessage, Text: "let me in"}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("non-member write: %v", err)
	}
	// A fake genesis by a non-founder is refused.
	fake := openRoom(t, h.key, mallory.id.Public(), mallory.device(t))
	if err := fake.Create("mine"); err != nil {
		t.Fatal(err)
	}
	pull(t, h.a1, fake)
	h.a1.View(func(v *View) {
		if v.Name != "home" || len(v.Members) != 2 {
			t.Fatalf("fake genesis changed the view: %q %d", v.Name, len(v.Members))
		}
	})
}

// twinOf is a second copy of r's device (the same key, its log so far),
// to write another history with.
func twinOf(t *testing.T, h *household, r *Room) *Room {
	t.Helper()
	twin := openRoom(t, h.key, h.alice.id.Public(), r.cfg.Self)
	me := r.cfg.Self.Device.Public()
	bh, blocks, _ := r.Blocks(me, 0, 1<<20)
	if err := twin.LoadLog(me, []log.Head{bh}, blocks); err != nil {
		t.Fatal(err)
	}
	return twin
}

func TestForkCaughtAndHeldBack(t *testing.T) {
	h := newHousehold(t, 2)
	bob, carol := h.rooms[1], h.rooms[2]
	mustWrite(t, bob, Op{Type: OpMessage, Text: "honest"})
	syncAll(t, h.rooms...)
	// A second copy of bob's device (same key) writes another history.
	twin := twinOf(t, h, bob)
	for _, r := range h.rooms {
		if r != bob {
			pull(t, twin, r)
		}
	}
	mustWrite(t, bob, Op{Type: OpMessage, Text: "left"})
	mustWrite(t, twin, Op{Type: OpMessage, Text: "right"})
	pull(t, h.a1, bob)
	// Alice is shown the twin's head: a fork.
	var th log.Head
	for _, hh := range twin.Heads() {
		if hh.Writer == bob.cfg.Self.Device.Public() {
			th = hh
		}
	}
	fp, err := h.a1.Check(th)
	if err != nil || fp == nil {
		t.Fatalf("fork not caught: %v", err)
	}
	blob, _ := fp.MarshalBinary()
	mustWrite(t, h.a1, Op{Type: OpFork, Blob: blob})
	syncAll(t, h.a1, bob, carol)
	// Bob's device, unaware, writes on: ordered after the proof, held back.
	bob.Write(Op{Type: OpMessage, Text: "after the fork"})
	syncAll(t, h.a1, bob, carol)
	for i, r := range []*Room{h.a1, bob, carol} {
		r.View(func(v *View) {
			if !v.Devices[bob.cfg.Self.Device.Public()].Forked {
				t.Fatalf("replica %d: device not marked forked", i)
			}
		})
		for _, m := range allMessages(r) {
			if m.Text == "after the fork" {
				t.Fatalf("replica %d applied an entry of a forked device", i)
			}
		}
	}
	if digest(h.a1) != digest(carol) || digest(carol) != digest(bob) {
		t.Fatal("diverged")
	}
}

// TestStoreFailure: a disk that fails is reported, and nothing counts
// that it did not store: no block is served or applied, no head
// announced, and the room writes once the disk takes it.
func TestStoreFailure(t *testing.T) {
	p := newPerson(t, "alice")
	store := &switchStore{MemStore: NewMemStore(), fail: true}
	var announced []log.Head
	r, err := Open(Config{Key: NewKey(), Founder: p.id.Public(), Self: p.device(t), Store: store,
		OnChange: func(own []log.Head) { announced = append(announced, own...) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Create("home"); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("create on a full disk: %v", err)
	}
	me := r.cfg.Self.Device.Public()
	if _, _, ok := r.Blocks(me, 0, 1<<20); ok || r.Len(me) != 0 || len(announced) != 0 {
		t.Fatal("a block the disk refused is served or announced")
	}
	r.View(func(v *View) {
		if v.Name != "" {
			t.Fatal("a genesis the disk refused was applied")
		}
	})
	// The disk takes writes again: the genesis is written at the same
	// place, once.
	store.fail = false
	if err := r.Create("home"); err != nil {
		t.Fatal(err)
	}
	if _, blocks, ok := r.Blocks(me, 0, 1<<20); !ok || len(blocks) != 1 || len(announced) != 1 {
		t.Fatalf("after the disk recovered: %d blocks served, %d heads announced", len(blocks), len(announced))
	}
	r.View(func(v *View) {
		if v.Name != "home" {
			t.Fatal("the genesis was not applied")
		}
	})
	// A peer's blocks the disk refuses are not taken either, and are
	// taken when they come again.
	other := openRoom(t, r.Key(), p.id.Public(), p.device(t))
	if err := Copy(other, r); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, other, Op{Type: OpMessage, Text: "hello from the other device"})
	if err := Copy(r, other); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, other, Op{Type: OpMessage, Text: "while the disk is full"})
	dev := other.cfg.Self.Device.Public()
	held := r.Len(dev)
	store.fail = true
	if err := Copy(r, other); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("blocks the disk refused: %v", err)
	}
	if r.Len(dev) != held {
		t.Fatalf("%d blocks held after the disk refused them, want %d", r.Len(dev), held)
	}
	store.fail = false
	if err := Copy(r, other); err != nil {
		t.Fatal(err)
	}
	if digest(r) != digest(other) {
		t.Fatal("the two devices disagree once the disk took the blocks")
	}
}

// switchStore fails every write while fail is set.
type switchStore struct {
	*MemStore
	fail bool
}

func (s *switchStore) SaveBlocks(d log.Discovery, h log.Head, start uint64, blocks [][]byte) error {
	if s.fail {
		return errors.New("disk full")
	}
	return s.MemStore.SaveBlocks(d, h, start, blocks)
}

func (s *switchStore) Update(d log.Discovery, fn func(Tx) error) error {
	if s.fail {
		return errors.New("disk full")
	}
	return s.MemStore.Update(d, fn)
}

// TestStrangerLogsBounded: a room holds logs of devices its view does not
// know only as far as they may yet count, and only so many.
func TestStrangerLogsBounded(t *testing.T) {
	h := newHousehold(t, 1)
	bob := h.rooms[1]
	disc := h.key.Discovery()
	// logOf makes a one-entry log of a fresh key, sealed with key in epoch.
	logOf := func(key log.Key, epoch uint64, op Op) (log.Head, [][]byte) {
		k, _ := identity.GenerateSigningKey()
		e := Entry{Time: 1, Op: op}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		blocks, head, err := log.New(disc, k.Public()).Append(k, key, epoch, [][]byte{b})
		if err != nil {
			t.Fatal(err)
		}
		return head, blocks
	}
	refused := func(what string, head log.Head, blocks [][]byte) {
		t.Helper()
		if err := bob.Receive(head, blocks); !errors.Is(err, log.ErrRefused) {
			t.Fatalf("%s: %v, want refused", what, err)
		}
		if bob.Len(head.Writer) != 0 {
			t.Fatalf("%s: held", what)
		}
	}
	// Logs that can never count are refused outright.
	hd, bl := logOf(h.key.epochZero(), 0, Op{Type: OpMessage, Text: "no hello first"})
	refused("a log without a hello", hd, bl)
	stranger := newPerson(t, "stranger")
	self := stranger.device(t)
	self.Proof, _ = identity.NewProof(stranger.id, h.alice.device(t).Device.Public(), 1).MarshalBinary()
	hd, bl = logOf(h.key.epochZero(), 0, Op{Type: OpHello, Proof: self.Proof, Record: self.Record})
	refused("a hello whose proof is for another key", hd, bl)

	// Logs that cannot be judged yet: MaxStrangers of them are held.
	heads := len(bob.Heads())
	for range 3 * MaxStrangers {
		hd, bl := logOf(log.RandomKey(), 5, Op{Type: OpMessage, Text: "sealed in an epoch to come"})
		if err := bob.Receive(hd, bl); err != nil && !errors.Is(err, log.ErrRefused) {
			t.Fatal(err)
		}
	}
	if n := len(bob.Heads()) - heads; n != MaxStrangers {
		t.Fatalf("bob holds %d logs of unknown devices, want %d", n, MaxStrangers)
	}

	// A member's new device whose log comes before the entry that adds
	// her: refused while longer than MaxStrangerEntries, taken whole once
	// the addition has come.
	carol := newPerson(t, "carol")
	mustWrite(t, h.a1, Op{Type: OpAddMember, Identity: carol.id.Public(), Role: RoleMember})
	c := openRoom(t, h.key, h.alice.id.Public(), carol.device(t))
	pull(t, c, h.a1)
	ops := make([]Op, MaxStrangerEntries+500)
	for i := range ops {
		ops[i] = Op{Type: OpMessage, Text: fmt.Sprint("carol ", i)}
	}
	if _, err := c.WriteBatch(ops); err != nil {
		t.Fatal(err)
	}
	dev := c.cfg.Self.Device.Public()
	ch, cb, _ := c.Blocks(dev, 0, 1<<30)
	if err := bob.Receive(ch, cb); !errors.Is(err, log.ErrRefused) {
		t.Fatalf("a long log of a device bob does not know yet: %v", err)
	}
	pull(t, bob, h.a1)
	pull(t, bob, c)
	if bob.Len(dev) != c.Len(dev) {
		t.Fatalf("bob holds %d of carol's %d entries once she is added", bob.Len(dev), c.Len(dev))
	}
	if digest(bob) != digest(c) {
		t.Fatal("bob and carol differ")
	}
}

// TestMemberLogSavedAtOnce: a log whose first entry is the hello of a
// member's device (or the founder's genesis) goes to the store as it
// comes, before the view knows the device, while a stranger's is held in
// memory: a new member's catch-up writes each block once.
func TestMemberLogSavedAtOnce(t *testing.T) {
	h := newHousehold(t, 1)
	bob := newPerson(t, "bob")
	mustWrite(t, h.a1, Op{Type: OpAddMember, Identity: bob.id.Public(), Role: RoleMember})
	store := &flushCounter{MemStore: NewMemStore(), flushed: map[identity.PublicKey]bool{}}
	phone, err := Open(Config{Key: h.key, Founder: h.alice.id.Public(), Self: bob.device(t), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	alice := h.a1.cfg.Self.Device.Public()
	hd, bl, _ := h.a1.Blocks(alice, 0, 1<<30)
	if err := phone.Receive(hd, bl); err != nil {
		t.Fatal(err)
	}
	member := h.rooms[1].cfg.Self.Device.Public()
	mh, mb, _ := h.rooms[1].Blocks(member, 0, 1<<30)
	// A stranger's hello, sealed with the room's key.
	stranger := newPerson(t, "stranger").device(t)
	e := Entry{Time: 1, Op: Op{Type: OpHello, Proof: stranger.Proof, Record: stranger.Record}}
	eb, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sb, sh, err := log.New(h.key.Discovery(), stranger.Device.Public()).Append(stranger.Device, h.key.epochZero(), 0, [][]byte{eb})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		head   log.Head
		blocks [][]byte
	}{{mh, mb}, {sh, sb}} {
		if err := phone.Receive(l.head, l.blocks); err != nil && !errors.Is(err, log.ErrRefused) {
			t.Fatal(err)
		}
	}
	phone.mu.Lock()
	defer phone.mu.Unlock()
	for w, want := range map[identity.PublicKey]bool{alice: true, member: true, stranger.Device.Public(): false} {
		ls, ok := phone.logs[w]
		if !ok {
			t.Fatalf("log %s not held at all", w.Short())
		}
		stored, err := phone.store.OpenLog(phone.disc, w)
		if err != nil {
			t.Fatal(err)
		}
		if saved := !ls.unsaved && stored.Len() == ls.log.Len(); saved != want {
			t.Fatalf("log %s: saved %v, want %v", w.Short(), saved, want)
		}
		if store.flushed[w] {
			t.Fatalf("log %s: held in memory first, then saved", w.Short())
		}
	}
}

// flushCounter notes the logs saved outside a transaction of the view:
// those a room held in memory first (Room.flush).
type flushCounter struct {
	*MemStore
	flushed map[identity.PublicKey]bool
}

func (s *flushCounter) SaveBlocks(d log.Discovery, h log.Head, start uint64, blocks [][]byte) error {
	s.flushed[h.Writer] = true
	return s.MemStore.SaveBlocks(d, h, start, blocks)
}
