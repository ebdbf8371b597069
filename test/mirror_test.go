package test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tcpAddr returns d's loopback TCP address.
func tcpAddr(t *testing.T, d *daemon) string {
	t.Helper()
	for _, a := range d.addrs {
		if strings.Contains(a, "/tcp/") {
			return a
		}
	}
	t.Fatalf("%s has no TCP address: %v", d.name, d.addrs)
	return ""
}

// mirrorEntries returns how many entries the mirror at addr keeps for
// the room of disc, asked by d ("" for d itself, a mirror).
func mirrorEntries(d *daemon, addr, disc string) uint64 {
	var l struct {
		Rooms []struct {
			Discovery string
			Entries   uint64
		}
	}
	args := []string{"mirror", "list"}
	if addr != "" {
		args = append(args, "--mirror", addr)
	}
	d.json(&l, args...)
	for _, r := range l.Rooms {
		if r.Discovery == disc {
			return r.Entries
		}
	}
	return 0
}

// TestMirrorOfflineDelivery: messages written while the recipient is
// offline reach the mirror, and the recipient reads them from it later,
// the writer being offline by then. The mirror's disk holds none of the
// plaintexts.
func TestMirrorOfflineDelivery(t *testing.T) {
	m := newDaemon(t, "mirror", "--mirror", "--public")
	maddr := tcpAddr(t, m)
	alice := newDaemon(t, "alice-figwort", "--bootstrap", maddr)
	bob := newDaemon(t, "bob-pemberly", "--bootstrap", maddr)

	var created struct{ Room, Discovery string }
	alice.json(&created, "room", "create", "quinceharbour")
	room := created.Room
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", room)
	bob.run(0, "", "room", "join", inv.Link)
	bob.run(0, "", "room", "send", room, "bob says marmalade-otter")

	// Alice asks the mirror to keep the room; the room now names it.
	var kept struct {
		Mirror string
		Rooms  []struct{ Discovery string }
	}
	alice.json(&kept, "mirror", "keep", room, "--mirror", maddr)
	if len(kept.Rooms) != 1 || kept.Rooms[0].Discovery != created.Discovery {
		t.Fatalf("keep answered %+v", kept)
	}
	// A mark written after the mirror was named: once bob has it, he
	// knows the mirror too.
	alice.run(0, "", "room", "send", room, "mark")
	converge(t, room, 2, alice, bob)

	bob.kill()
	secrets := []string{"tangerine-lighthouse", "velvet-quarry", "saffron-meadow"}
	var ids []string
	for _, s := range secrets {
		var id struct{ ID string }
		alice.json(&id, "room", "send", room, "while bob is away: "+s)
		ids = append(ids, id.ID)
	}
	alice.run(0, "", "room", "edit", room, ids[0], "edited while away: crimson-walrus")
	alice.run(0, "", "room", "delete", room, ids[1])

	// Wait for the mirror to hold everything alice wrote, then stop her.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var hist struct{ Messages []message }
		alice.json(&hist, "room", "history", room)
		n := mirrorEntries(alice, maddr, created.Discovery)
		// alice: genesis, invite, add, mark, 3 messages, edit, delete,
		// mirror; bob: hello, message. At least 12 entries.
		if n >= 12 && len(hist.Messages) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mirror holds %d entries", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	aliceHist := alice.history(room)
	alice.kill()

	bob.start()
	deadline = time.Now().Add(90 * time.Second)
	for {
		h := bob.history(room)
		if equalMessages(h, aliceHist) {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("alice: %+v", aliceHist)
			t.Fatalf("bob, with alice offline, has %+v", h)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Nothing readable on the mirror's disk.
	m.stop()
	// The members' device names travel inside their (encrypted) hello
	// entries: they must not show either.
	needles := append([]string{"quinceharbour", "marmalade-otter", "crimson-walrus", "while bob is away", alice.name, bob.name}, secrets...)
	filepath.WalkDir(m.home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("reading %s: %v", path, err)
			return nil
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("the mirror's %s contains %q", path, n)
			}
		}
		return nil
	})
}

func equalMessages(a, b []message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBlindPairingThroughMirror: bob joins while every admin is offline.
// He leaves his request with the room's mirror and goes offline; alice
// comes online, admits him through the mailbox and goes offline; bob
// comes back, is a member and reads the history from the mirror.
func TestBlindPairingThroughMirror(t *testing.T) {
	m := newDaemon(t, "mirror", "--mirror", "--public")
	maddr := tcpAddr(t, m)
	alice := newDaemon(t, "alice", "--bootstrap", maddr)
	var created struct{ Room, Discovery string }
	alice.json(&created, "room", "create", "lantern")
	room := created.Room
	alice.run(0, "", "mirror", "keep", room, "--mirror", maddr)
	alice.run(0, "", "room", "send", room, "written before anyone joined")
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", room)
	if strings.Count(inv.Link, ",") != 1 {
		t.Fatalf("the link names no mirror: %s", inv.Link)
	}
	waitMirror(t, alice, maddr, created.Discovery, 4) // genesis, mirror, message, invite
	alice.kill()

	bob := newDaemon(t, "bob", "--bootstrap", maddr)
	var join struct {
		Pending   bool
		Mailboxes []string
	}
	bob.json(&join, "room", "join", inv.Link)
	if !join.Pending || len(join.Mailboxes) != 1 {
		t.Fatalf("join answered %+v, want pending in one mailbox", join)
	}
	var list struct{ Pending []struct{ Invite string } }
	bob.json(&list, "room", "list")
	if len(list.Pending) != 1 {
		t.Fatalf("room list shows %d pending joins", len(list.Pending))
	}
	bob.kill()

	alice.start()
	bobID := bob.identity()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var members struct{ Members []struct{ Identity string } }
		alice.json(&members, "room", "members", room)
		if slices.ContainsFunc(members.Members, func(x struct{ Identity string }) bool { return x.Identity == bobID }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice did not admit bob from the mailbox:\n%s", alice.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitMirror(t, alice, maddr, created.Discovery, 5) // + add-member
	alice.kill()

	bob.start()
	deadline = time.Now().Add(90 * time.Second)
	for {
		var l struct {
			Rooms   []struct{ Room string }
			Pending []struct{ Invite string }
		}
		bob.json(&l, "room", "list")
		if len(l.Rooms) == 1 && len(l.Pending) == 0 && len(bob.history(room)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob has %+v:\n%s", l, bob.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if h := bob.history(room); h[0].Text != "written before anyone joined" {
		t.Fatalf("bob reads %+v", h)
	}
	// He is a member: he writes, and the mirror takes it for alice.
	bob.run(0, "", "room", "send", room, "hello from the mailbox")
	waitMirror(t, m, "", created.Discovery, 7) // + bob's hello and message (the mirror's owner sees every room)
}

// waitMirror waits until the mirror at addr holds at least n entries of
// the room of disc, as d asks it.
func waitMirror(t *testing.T, d *daemon, addr, disc string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for mirrorEntries(d, addr, disc) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the mirror holds %d entries, want %d", mirrorEntries(d, addr, disc), n)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestDeviceLinkThroughMirror: a new device of alice links while her
// first device is offline, through the mirror's mailbox; it then reads the
// whole history from the mirror, the first device still offline, and edits
// and deletes what the first device wrote.
func TestDeviceLinkThroughMirror(t *testing.T) {
	m := newDaemon(t, "mirror", "--mirror", "--public")
	maddr := tcpAddr(t, m)
	a1 := newDaemon(t, "alice1", "--bootstrap", maddr)
	var created struct{ Room, Discovery string }
	a1.json(&created, "room", "create", "attic")
	room := created.Room
	a1.run(0, "", "mirror", "keep", room, "--mirror", maddr)
	var m1, m2 struct{ ID string }
	a1.json(&m1, "room", "send", room, "first, from the first device")
	a1.json(&m2, "room", "send", room, "second, from the first device")
	waitMirror(t, a1, maddr, created.Discovery, 4) // genesis, mirror, two messages
	var link struct{ Link string }
	a1.json(&link, "device", "link")
	if !strings.HasPrefix(link.Link, "hearth://link/") || strings.Count(link.Link, ",") != 1 {
		t.Fatalf("link %q: want a device link naming the mirror", link.Link)
	}
	a1.kill()

	home2 := filepath.Join(t.TempDir(), "alice2")
	join := func(wait string) (res struct {
		Linked, Pending bool
		Identity        string
		Rooms           int
	}) {
		out, stderr, code := hearth(t, "", "device", "join", link.Link, "--home", home2, "--name", "alice2", "--no-mdns",
			"--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", maddr, "--wait", wait, "--json")
		if code != 0 {
			t.Fatalf("device join: exit %d: %s", code, stderr)
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return res
	}
	if res := join("1s"); !res.Pending {
		t.Fatalf("first join: %+v, want pending", res)
	}

	// The first device comes online, answers through the mailbox, and
	// goes offline again.
	a1.start()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var devs struct{ Devices []struct{ Device string } }
		a1.json(&devs, "id", "devices")
		if len(devs.Devices) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first device did not link the new one:\n%s", a1.logs)
		}
		time.Sleep(300 * time.Millisecond)
	}
	a1.kill()

	res := join("30s")
	if !res.Linked || res.Identity != a1.identity() || res.Rooms != 1 {
		t.Fatalf("second join: %+v", res)
	}
	a2 := &daemon{t: t, name: "alice2", home: home2, args: []string{"--bootstrap", maddr}}
	a2.start()
	t.Cleanup(a2.stop)
	deadline = time.Now().Add(90 * time.Second)
	for {
		var l struct{ Rooms []struct{ Room string } }
		a2.json(&l, "room", "list")
		if len(l.Rooms) == 1 && len(a2.history(room)) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new device has %+v:\n%s", l, a2.logs)
		}
		time.Sleep(300 * time.Millisecond)
	}
	a2.run(0, "", "room", "edit", room, m1.ID, "first, edited on the new device")
	a2.run(0, "", "room", "delete", room, m2.ID)
	h := a2.history(room)
	if h[0].Text != "first, edited on the new device" || !h[0].Edited || !h[1].Deleted {
		t.Fatalf("after edit and delete: %+v", h)
	}
}

// TestManualApproval: an invite made with --approve admits nobody by
// itself: requests wait until an admin approves or declines them, and the
// candidates learn the outcome through the mailbox.
func TestManualApproval(t *testing.T) {
	m := newDaemon(t, "mirror", "--mirror", "--public")
	maddr := tcpAddr(t, m)
	alice := newDaemon(t, "alice", "--bootstrap", maddr)
	var created struct{ Room string }
	alice.json(&created, "room", "create", "porch")
	room := created.Room
	alice.run(0, "", "mirror", "keep", room, "--mirror", maddr)
	alice.run(0, "", "room", "send", room, "members only")
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", room, "--approve", "--uses", "2")

	bob := newDaemon(t, "bob", "--bootstrap", maddr)
	carol := newDaemon(t, "carol", "--bootstrap", maddr)
	for _, d := range []*daemon{bob, carol} {
		var join struct{ Pending bool }
		d.json(&join, "room", "join", inv.Link)
		if !join.Pending {
			t.Fatalf("%s joined without approval", d.name)
		}
	}
	var reqs struct {
		Requests []struct{ Request, Name, Identity string }
	}
	alice.json(&reqs, "room", "requests", room)
	if len(reqs.Requests) != 2 {
		t.Fatalf("requests: %+v", reqs)
	}
	for _, q := range reqs.Requests {
		switch q.Identity {
		case bob.identity():
			alice.run(0, "", "room", "approve", room, q.Request)
		case carol.identity():
			alice.run(0, "", "room", "decline", room, q.Request)
		default:
			t.Fatalf("a request from a stranger: %+v", q)
		}
	}
	alice.json(&reqs, "room", "requests", room)
	if len(reqs.Requests) != 0 {
		t.Fatalf("requests left after deciding: %+v", reqs)
	}
	alice.run(1, "", "room", "approve", room, "0123456789abcdef")

	deadline := time.Now().Add(90 * time.Second)
	for {
		var lb, lc struct {
			Rooms   []struct{ Room string }
			Pending []struct{ Invite, State, Reason string }
		}
		bob.json(&lb, "room", "list")
		carol.json(&lc, "room", "list")
		bobIn := len(lb.Rooms) == 1 && len(lb.Pending) == 0 && len(bob.history(room)) == 1
		// Carol sees the refusal until she withdraws it.
		carolOut := len(lc.Rooms) == 0 && len(lc.Pending) == 1 && lc.Pending[0].State == "refused"
		if bobIn && carolOut {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob: %+v, carol: %+v", lb, lc)
		}
		time.Sleep(300 * time.Millisecond)
	}
	carol.run(0, "", "room", "join", "--cancel", inv.Link)
	var lc struct{ Pending []struct{ Invite string } }
	carol.json(&lc, "room", "list")
	if len(lc.Pending) != 0 {
		t.Fatalf("a withdrawn join is still listed: %+v", lc)
	}
}

// TestApprovalJoinOutlivesTheCommand: a candidate joins with an invite an
// admin must approve (no mirror anywhere), and does not wait: 'room join'
// returns at once, and the daemon restarts. The admin approves later; the
// candidate's daemon completes the join by itself.
func TestApprovalJoinOutlivesTheCommand(t *testing.T) {
	alice := newDaemon(t, "alice")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice))
	var created struct{ Room string }
	alice.json(&created, "room", "create", "porch")
	alice.run(0, "", "room", "send", created.Room, "members only")
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", created.Room, "--approve")
	var join struct {
		Pending, Awaiting bool
		Invite            string
	}
	bob.json(&join, "room", "join", inv.Link)
	if !join.Pending || !join.Awaiting || join.Invite == "" {
		t.Fatalf("join with an approval invite: %+v", join)
	}
	var lb struct {
		Rooms   []struct{ Room string }
		Pending []struct{ Invite, State string }
	}
	bob.json(&lb, "room", "list")
	if len(lb.Pending) != 1 || lb.Pending[0].State != "awaiting approval" {
		t.Fatalf("bob's pending joins: %+v", lb)
	}
	// The command is long gone; the daemon restarts too.
	bob.stop()
	bob.start()
	var reqs struct {
		Requests []struct{ Request, Identity string }
	}
	eventually(t, "bob's request on alice's side", func() bool {
		alice.json(&reqs, "room", "requests", created.Room)
		return len(reqs.Requests) == 1
	})
	if reqs.Requests[0].Identity != bob.identity() {
		t.Fatalf("a request from someone else: %+v", reqs)
	}
	alice.run(0, "", "room", "approve", created.Room, reqs.Requests[0].Request)
	deadline := time.Now().Add(90 * time.Second)
	for {
		bob.json(&lb, "room", "list")
		if len(lb.Rooms) == 1 && len(lb.Pending) == 0 && len(bob.history(created.Room)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob never joined after the approval: %+v", lb)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
