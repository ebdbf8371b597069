package mirror

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/replication"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// The attacks of the boundaries issue, as the attacker's own program makes
// them: identities made on the spot, over libp2p, against a mirror run as
// a daemon runs it (its store, its mailboxes, its protocol and sync).

// testMirror is a mirror on a host of its own that serves the mirror
// protocol and sync.
type testMirror struct {
	store *Store
	boxes *Mailboxes
	db    *storage.DB
	n     *hnet.Node
	sync  *replication.Service
}

func newTestMirror(t *testing.T, cfg Config) *testMirror {
	t.Helper()
	store, db := openStore(t, t.TempDir(), cfg)
	mn, svc, boxes := serveMirror(t, store, db)
	rs := replication.New(replication.Config{Host: mn.Host, Lookup: store.Lookup})
	t.Cleanup(func() { rs.Close(); svc.Close(); mn.Close(); db.Close() })
	return &testMirror{store: store, boxes: boxes, db: db, n: mn, sync: rs}
}

// actor is an identity and one device of it, on a host connected to the
// mirror.
type actor struct {
	id    identity.SigningKey
	dev   identity.SigningKey
	proof []byte
	n     *hnet.Node
	m     *testMirror
}

func newActor(t *testing.T, m *testMirror, id *identity.SigningKey) *actor {
	t.Helper()
	if id == nil {
		k, _ := identity.GenerateSigningKey()
		id = &k
	}
	dev, _ := identity.GenerateSigningKey()
	return actorOn(t, m, *id, dev, nil)
}

// actorOn is identity id on device dev, reusing n when given.
func actorOn(t *testing.T, m *testMirror, id, dev identity.SigningKey, n *hnet.Node) *actor {
	t.Helper()
	proof, _ := identity.NewProof(id, dev.Public(), 1).MarshalBinary()
	if n == nil {
		var err error
		if n, err = hnet.New(hnet.Config{Key: dev, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		if err := n.Host.Connect(context.Background(), peer.AddrInfo{ID: m.n.Host.ID(), Addrs: m.n.Host.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	return &actor{id: id, dev: dev, proof: proof, n: n, m: m}
}

func (a *actor) ask(req Request) (*Response, error) {
	if needsProof(req.Op) {
		req.Proof = a.proof
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Ask(ctx, a.n.Host, a.m.n.Host.ID(), req)
}

// namesOf returns the writers and members a keeper's device names for r.
func namesOf(r *room.Room) ([]Writer, []identity.PublicKey) {
	var ws []Writer
	var ms []identity.PublicKey
	r.View(func(v *room.View) {
		for k := range v.Devices {
			ws = append(ws, Writer{Key: k})
		}
		for id := range v.Members {
			ms = append(ms, id)
		}
	})
	return ws, ms
}

// syncTo pushes r to the mirror over the sync protocol from a host with
// device key dev, and waits until the mirror holds want blocks of
// writer's log (or, want 0, for the sync to settle).
func syncTo(t *testing.T, m *testMirror, dev identity.SigningKey, r *room.Room) *node {
	t.Helper()
	return syncRoom(t, m, dev, r, r.Discovery())
}

func syncRoom(t *testing.T, m *testMirror, dev identity.SigningKey, r replication.Room, d log.Discovery) *node {
	t.Helper()
	nd := newNode(t, dev, r, d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nd.n.Host.Connect(ctx, peer.AddrInfo{ID: m.n.Host.ID(), Addrs: m.n.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := nd.svc.Sync(ctx, m.n.Host.ID(), d); err != nil {
		t.Fatal(err)
	}
	return nd
}

func waitLen(t *testing.T, b interface {
	Len(identity.PublicKey) uint64
}, w identity.PublicKey, want uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for b.Len(w) < want {
		if time.Now().After(deadline) {
			t.Fatalf("the mirror holds %d blocks of %s, want %d", b.Len(w), w.Short(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJunkLogsInKeptRoom: alice keeps her room, pinned, on her mirror.
// Bob, removed from it, still knows its key and discovery key: he writes
// logs of fresh device keys (and of fresh identities) into his copy and
// syncs them to the mirror, and tries to name them there. The mirror
// stores none of it; what the members write still arrives; the room never
// passes the budget.
func TestJunkLogsInKeptRoom(t *testing.T) {
	aliceID, alice := newSelf(t)
	m := newTestMirror(t, Config{Owners: []identity.PublicKey{aliceID.Public()}, Budget: 256 << 10})
	key := room.NewKey()
	r, err := room.Open(room.Config{Key: key, Founder: aliceID.Public(), Self: alice})
	if err != nil {
		t.Fatal(err)
	}
	r.Create("home")
	bobID, _ := newSelf(t)
	r.Write(room.Op{Type: room.OpAddMember, Identity: bobID.Public(), Role: room.RoleMember})
	r.Write(room.Op{Type: room.OpMessage, Text: "before"})
	d := r.Discovery()

	// Alice's device keeps the room and names its writers.
	a := actorOn(t, m, aliceID, alice.Device, nil)
	ws, ms := namesOf(r)
	if _, err := a.ask(Request{Op: OpKeep, Discovery: d, Pin: true, Writers: ws, Members: ms}); err != nil {
		t.Fatal(err)
	}
	alicesSync := syncTo(t, m, alice.Device, r)
	b, _ := m.store.Room(d)
	waitLen(t, b, alice.Device.Public(), r.Len(alice.Device.Public()))

	// Bob is removed; the keeper names the members again.
	r.Write(room.Op{Type: room.OpRemoveMember, Identity: bobID.Public()})
	ws, ms = namesOf(r)
	if _, err := a.ask(Request{Op: OpWriters, Discovery: d, Writers: ws, Members: ms}); err != nil {
		t.Fatal(err)
	}
	before := b.bytes()

	// Bob's junk: 8 fresh device keys of his identity and 8 of fresh
	// identities, 64 KiB each, synced from hosts of those keys.
	var junk []identity.PublicKey
	for i := range 16 {
		jid := bobID
		if i >= 8 {
			jid, _ = identity.GenerateSigningKey()
		}
		dev, _ := identity.GenerateSigningKey()
		// His own program: a signed log of 64 KiB blocks under his key,
		// served from a store of his that takes anything.
		jl := log.New(d, dev.Public())
		blocks, head, err := jl.Append(dev, log.Key{}, 1, [][]byte{[]byte(strings.Repeat("junk ", 64<<10/5))})
		if err != nil {
			t.Fatal(err)
		}
		scratch, sdb := openStore(t, t.TempDir(), Config{Owners: []identity.PublicKey{jid.Public()}})
		defer sdb.Close()
		scratch.Keep(d, jid.Public(), true)
		if err := scratch.Name(d, jid.Public(), dev.Public(), []Writer{{Key: dev.Public()}}, nil); err != nil {
			t.Fatal(err)
		}
		jr, _ := scratch.Room(d)
		if err := jr.Receive(head, blocks); err != nil {
			t.Fatal(err)
		}
		junk = append(junk, dev.Public())
		// He names his fresh device at the mirror: refused.
		ja := actorOn(t, m, jid, dev, nil)
		jws := []Writer{{Key: dev.Public()}}
		if _, err := ja.ask(Request{Op: OpWriters, Discovery: d, Writers: jws, Members: []identity.PublicKey{jid.Public()}}); !errors.Is(err, ErrDenied) {
			t.Fatalf("a former member named a log of fresh keys: %v", err)
		}
		if _, err := ja.ask(Request{Op: OpKeep, Discovery: d, Writers: jws}); err != nil {
			t.Fatalf("keep of a room kept already: %v", err)
		}
		syncRoom(t, m, dev, jr, d)
	}
	// Alice writes on: her message arrives, which shows the mirror synced
	// while Bob's logs were offered.
	r.Write(room.Op{Type: room.OpMessage, Text: "after"})
	alicesSync.svc.Changed(d)
	waitLen(t, b, alice.Device.Public(), r.Len(alice.Device.Public()))
	for _, j := range junk {
		if n := b.Len(j); n != 0 {
			t.Fatalf("the mirror keeps %d blocks of the junk log %s", n, j.Short())
		}
	}
	if got := b.bytes(); got > before+4<<10 {
		t.Fatalf("the kept room grew from %d to %d bytes", before, got)
	}
	if info := b.info(); info.Logs != 1 {
		t.Fatalf("the mirror holds %d logs, want alice's one", info.Logs)
	}
}

// TestClaimsEvictNothing: the household's room is kept (not pinned) on
// its mirror. 32 identities made on the spot each keep a room of their
// own and claim files as large as their quota allows: nothing counts
// before its bytes arrive, so nothing is evicted. Strangers who then send
// real bytes fill their quotas and evict only one another; the
// household's room stays.
func TestClaimsEvictNothing(t *testing.T) {
	ownerID, owner := newSelf(t)
	const budget, quota = 96 << 10, 24 << 10
	m := newTestMirror(t, Config{Owners: []identity.PublicKey{ownerID.Public()}, Budget: budget, Quota: quota})
	home, err := room.Open(room.Config{Key: room.NewKey(), Founder: ownerID.Public(), Self: owner})
	if err != nil {
		t.Fatal(err)
	}
	home.Create("home")
	for i := range 100 {
		home.Write(room.Op{Type: room.OpMessage, Text: fmt.Sprintf("household message %d", i)})
	}
	o := actorOn(t, m, ownerID, owner.Device, nil)
	ws, ms := namesOf(home)
	if _, err := o.ask(Request{Op: OpKeep, Discovery: home.Discovery(), Writers: ws, Members: ms}); err != nil {
		t.Fatal(err)
	}
	syncTo(t, m, owner.Device, home)
	hb, _ := m.store.Room(home.Discovery())
	waitLen(t, hb, owner.Device.Public(), home.Len(owner.Device.Public()))
	homeBytes := hb.bytes()

	refused := map[string]int{}
	for i := range 32 {
		s := newActor(t, m, nil)
		d := log.Discovery{byte(i), 0xc1}
		if _, err := s.ask(Request{Op: OpKeep, Discovery: d, Writers: []Writer{{Key: s.dev.Public()}}}); err != nil {
			t.Fatal(err)
		}
		for j := range 4 {
			_, err := s.ask(Request{Op: OpKeepBlob, Discovery: d, Root: [32]byte{byte(i), byte(j), 1}, Size: quota, ChunkSize: 64 << 10})
			if err != nil {
				refused[err.Error()]++
			}
		}
		// A claim no quota could hold is refused outright.
		if _, err := s.ask(Request{Op: OpKeepBlob, Discovery: d, Root: [32]byte{byte(i), 9}, Size: 64 << 30, ChunkSize: 1 << 20}); !errors.Is(err, ErrFull) {
			t.Fatalf("a claim of 64 GiB: %v", err)
		}
		// A stranger cannot add files to the household's room.
		if _, err := s.ask(Request{Op: OpKeepBlob, Discovery: home.Discovery(), Root: [32]byte{byte(i), 8}, Size: 1, ChunkSize: 64 << 10}); !errors.Is(err, ErrDenied) {
			t.Fatalf("a stranger added a file to the household's room: %v", err)
		}
	}
	if len(refused) > 0 {
		t.Fatalf("claims refused: %v", refused)
	}
	if hb, ok := m.store.Room(home.Discovery()); !ok || hb.bytes() != homeBytes {
		t.Fatal("claims evicted or grew the household's room")
	}
	for _, in := range m.store.List(ownerID.Public()) {
		if in.Discovery != home.Discovery() && in.Bytes != 0 {
			t.Fatalf("a claim counted %d bytes before any arrived", in.Bytes)
		}
	}

	// Now the strangers' bytes arrive (chunks that verified): each fills
	// its quota; the budget runs out; strangers evict strangers only.
	for _, in := range m.store.List(ownerID.Public()) {
		if in.Discovery == home.Discovery() {
			continue
		}
		for j := range 4 {
			root := [32]byte{in.Discovery[0], byte(j), 1}
			for {
				err := m.store.GrowBlob(in.Discovery, root, 4<<10)
				if err != nil {
					if !errors.Is(err, ErrFull) && !errors.Is(err, ErrNotKept) {
						t.Fatal(err)
					}
					refused[strings.SplitN(err.Error(), ":", 3)[1]]++
					break
				}
			}
		}
	}
	t.Logf("refused: %v", refused)
	if hb, ok := m.store.Room(home.Discovery()); !ok || hb.bytes() != homeBytes {
		t.Fatal("strangers' bytes evicted the household's room")
	}
	var total int64
	for _, in := range m.store.List(ownerID.Public()) {
		total += in.Bytes
	}
	if total > budget {
		t.Fatalf("the mirror keeps %d bytes over its budget of %d", total, budget)
	}
}

// TestMailboxFlood: identities made on the spot, many on one peer and one
// per peer, open every mailbox they can. They are bounded per identity,
// per peer and in all, for a week at most, and told why; the owners still
// open boxes for their invites.
func TestMailboxFlood(t *testing.T) {
	ownerID, _ := identity.GenerateSigningKey()
	m := newTestMirror(t, Config{Owners: []identity.PublicKey{ownerID.Public()}})
	refused := map[string]int{}
	open := func(a *actor, i int) {
		_, err := a.ask(Request{Op: OpBoxOpen, Box: BoxID{byte(i), byte(i >> 8), 0xb0}, Expires: time.Now().Add(MaxBoxLife).UnixMilli()})
		if err != nil {
			if !errors.Is(err, ErrBoxLimit) {
				t.Fatalf("a refusal that says nothing: %v", err)
			}
			msg := err.Error()
			refused[msg[strings.Index(msg, "mailbox limit: ")+15:strings.LastIndex(msg, ")")]]++
		}
	}
	// 8 identities on one peer (one device attested by each), 48 on
	// their own peers; each tries 12 boxes.
	dev, _ := identity.GenerateSigningKey()
	var shared *hnet.Node
	box := 0
	for i := range 56 {
		var a *actor
		if i < 8 {
			id, _ := identity.GenerateSigningKey()
			a = actorOn(t, m, id, dev, shared)
			shared = a.n
		} else {
			a = newActor(t, m, nil)
		}
		for range 12 {
			open(a, box)
			box++
		}
	}
	t.Logf("refused: %v", refused)
	m.boxes.mu.Lock()
	var strangers int
	for _, b := range m.boxes.boxes {
		if !b.IsReply {
			strangers++
			if life := time.Until(time.UnixMilli(b.Expires)); life > MaxStrangerBoxLife {
				t.Errorf("a stranger's box lives %v", life)
			}
		}
	}
	m.boxes.mu.Unlock()
	if strangers > MaxStrangerBoxes {
		t.Fatalf("%d strangers' boxes, at most %d", strangers, MaxStrangerBoxes)
	}
	for _, why := range []string{"for this identity", "from this device", "do not own this mirror"} {
		found := false
		for msg := range refused {
			found = found || strings.Contains(msg, why)
		}
		if !found {
			t.Errorf("no refusal %q: %v", why, refused)
		}
	}
	// The owner still opens boxes, for 90 days.
	o := newActor(t, m, &ownerID)
	for i := range 20 {
		if _, err := o.ask(Request{Op: OpBoxOpen, Box: BoxID{byte(i), 0x0e}, Expires: time.Now().Add(MaxBoxLife).UnixMilli()}); err != nil {
			t.Fatalf("the owner's box %d: %v", i, err)
		}
	}
}

// TestJunkAnswers: whoever holds an invite (or learns a request box's id)
// tries to mark every request answered with junk: only a device of an
// identity the box's opener named (the room's admins) may answer.
func TestJunkAnswers(t *testing.T) {
	m := newTestMirror(t, Config{})
	admin := newActor(t, m, nil)
	otherAdmin, _ := identity.GenerateSigningKey()
	inv := pairing.NewInvite()
	box := BoxID(inv.ID())
	if _, err := admin.ask(Request{Op: OpBoxOpen, Box: box, Expires: time.Now().Add(time.Hour).UnixMilli(),
		Answerers: []identity.PublicKey{otherAdmin.Public()}}); err != nil {
		t.Fatal(err)
	}
	candidate := newActor(t, m, nil)
	sealed, _, answer, pub, sig := request(t, inv)
	if _, err := candidate.ask(Request{Op: OpBoxPut, Box: box, Sealed: sealed, Answer: answer, InviteKey: pub, Sig: sig}); err != nil {
		t.Fatal(err)
	}
	// The attacker reads the request box (anyone may), opens the request
	// with the invite, and answers each request with junk, with and
	// without a proof, and re-opens the box naming itself.
	attacker := newActor(t, m, nil)
	resp, err := attacker.ask(Request{Op: OpBoxRequests, Box: box})
	if err != nil || len(resp.Entries) != 1 {
		t.Fatalf("requests: %+v %v", resp, err)
	}
	if _, err := attacker.ask(Request{Op: OpBoxAnswer, Box: resp.Entries[0].AnswerBox, Sealed: []byte("junk")}); !errors.Is(err, ErrDenied) {
		t.Fatalf("junk answer: %v", err)
	}
	if _, err := attacker.ask(Request{Op: OpBoxOpen, Box: box, Expires: time.Now().Add(time.Hour).UnixMilli(),
		Answerers: []identity.PublicKey{attacker.id.Public()}}); !errors.Is(err, ErrDenied) {
		t.Fatalf("the attacker named itself an answerer: %v", err)
	}
	// Nor can it answer without a proof (a request without one is
	// refused before the mailbox sees it).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Ask(ctx, attacker.n.Host, m.n.Host.ID(), Request{Op: OpBoxAnswer, Box: answer, Sealed: []byte("junk")}); err == nil {
		t.Fatal("an answer without a proof was taken")
	}
	if resp, _ := admin.ask(Request{Op: OpBoxRequests, Box: box}); resp.Entries[0].Answered {
		t.Fatal("junk marked the request answered")
	}
	// The other admin's device answers: the request is answered, the
	// candidate fetches it.
	oa := newActor(t, m, &otherAdmin)
	if _, err := oa.ask(Request{Op: OpBoxAnswer, Box: answer, Sealed: []byte("a sealed answer")}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := admin.ask(Request{Op: OpBoxRequests, Box: box}); !resp.Entries[0].Answered {
		t.Fatal("the admin's answer did not mark the request answered")
	}
	got, err := candidate.ask(Request{Op: OpBoxFetch, Box: answer})
	if err != nil || len(got.Answers) != 1 || string(got.Answers[0]) != "a sealed answer" {
		t.Fatalf("fetch: %+v %v", got, err)
	}
}

// TestStrangerFlood: hundreds of identities made on the spot (on 24
// peers) keep rooms, claim files, open mailboxes and fill them, as fast as
// the mirror lets them. The owners' room and mailboxes keep working; the
// test prints what was refused; the mirror's bytes stay within its budget
// and its database within the budget plus the strangers' mailboxes and a
// margin of 8 MiB.
func TestStrangerFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood of 240 identities: not with -short")
	}
	ownerID, owner := newSelf(t)
	const budget = 1 << 20
	m := newTestMirror(t, Config{Owners: []identity.PublicKey{ownerID.Public()}, Budget: budget, Quota: 64 << 10})
	home, _ := room.Open(room.Config{Key: room.NewKey(), Founder: ownerID.Public(), Self: owner})
	home.Create("home")
	o := actorOn(t, m, ownerID, owner.Device, nil)
	ws, ms := namesOf(home)
	if _, err := o.ask(Request{Op: OpKeep, Discovery: home.Discovery(), Writers: ws, Members: ms}); err != nil {
		t.Fatal(err)
	}
	ownerSync := syncTo(t, m, owner.Device, home)
	// A handle: the room may be unloaded and loaded again meanwhile.
	hb, _ := m.store.Lookup(home.Discovery())

	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	refused := map[string]int{}
	note := func(err error) {
		if err != nil {
			msg := err.Error()
			if i := strings.Index(msg, "("); i >= 0 {
				msg = msg[:i]
			}
			refused[strings.TrimSpace(msg)]++
		}
	}
	var peers []*hnet.Node
	for p := range 24 {
		dev, _ := identity.GenerateSigningKey()
		var n *hnet.Node
		for i := range 10 {
			id, _ := identity.GenerateSigningKey()
			a := actorOn(t, m, id, dev, n)
			n = a.n
			d := log.Discovery{byte(p), byte(i), 0xf1}
			_, err := a.ask(Request{Op: OpKeep, Discovery: d, Writers: []Writer{{Key: dev.Public()}}})
			note(err)
			_, err = a.ask(Request{Op: OpKeepBlob, Discovery: d, Root: [32]byte{byte(p), byte(i)}, Size: 64 << 10, ChunkSize: 64 << 10})
			note(err)
			inv := pairing.NewInvite()
			bx := BoxID(inv.ID())
			_, err = a.ask(Request{Op: OpBoxOpen, Box: bx, Expires: time.Now().Add(MaxBoxLife).UnixMilli()})
			note(err)
			for k := range 4 {
				sealed := make([]byte, pairing.MaxRequest)
				sealed[0], sealed[1], sealed[2] = byte(p), byte(i), byte(k)
				answer := BoxID{byte(p), byte(i), byte(k), 0xf3}
				pub, sig := inv.SignDeposit(answer, sealed)
				_, err := a.ask(Request{Op: OpBoxPut, Box: bx, Sealed: sealed, Answer: answer, InviteKey: pub, Sig: sig})
				note(err)
			}
		}
		peers = append(peers, n)
	}
	// The owners' room still syncs and their mailbox still opens.
	home.Write(room.Op{Type: room.OpMessage, Text: "still here"})
	ownerSync.svc.Changed(home.Discovery())
	waitLen(t, hb, owner.Device.Public(), home.Len(owner.Device.Public()))
	if _, err := o.ask(Request{Op: OpBoxOpen, Box: BoxID{0x0e}, Expires: time.Now().Add(MaxBoxLife).UnixMilli()}); err != nil {
		t.Fatalf("the owner's mailbox under the flood: %v", err)
	}
	for _, n := range peers {
		n.Close()
	}
	var total int64
	for _, in := range m.store.List(ownerID.Public()) {
		total += in.Bytes
	}
	m.boxes.mu.Lock()
	boxBytes := m.boxes.strangerBytesLocked()
	nboxes := len(m.boxes.boxes)
	m.boxes.mu.Unlock()
	fi, err := os.Stat(m.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	t.Logf("refused: %v", refused)
	t.Logf("kept: %d rooms, %d bytes (budget %d); %d mailboxes, %d bytes; database %d bytes; heap %d → %d KiB",
		len(m.store.Kept()), total, budget, nboxes, boxBytes, fi.Size(), ms0.HeapAlloc>>10, ms1.HeapAlloc>>10)
	if total > budget {
		t.Fatalf("%d bytes kept over a budget of %d", total, budget)
	}
	if boxBytes > MaxStrangerBoxBytes {
		t.Fatalf("strangers' mailboxes hold %d bytes", boxBytes)
	}
	if fi.Size() > budget+MaxStrangerBoxBytes+8<<20 {
		t.Fatalf("the database takes %d bytes", fi.Size())
	}
	if len(refused) == 0 {
		t.Fatal("the flood was refused nothing")
	}
	if grew := int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc); grew > 64<<20 {
		t.Fatalf("the heap grew by %d MiB", grew>>20)
	}
}
