package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/internal/leakcheck"
)

// daemon is one hearth daemon in its own home, on loopback only.
type daemon struct {
	t      *testing.T
	name   string
	home   string
	args   []string
	cmd    *exec.Cmd
	logs   *leakcheck.Output // this run's stderr
	done   chan error
	addrs  []string
	phrase string
	ns     string   // network namespace to run in; "" for the test's own
	env    []string // added to the daemon's environment
	// secrets are those the test gave the daemon (a password) that its
	// home does not hold in the clear; its log must hold none of them.
	secrets map[string]leakcheck.Secret
}

// holds tells the daemon's checks that it knows secret s.
func (d *daemon) holds(what, s string) {
	if d.secrets == nil {
		d.secrets = map[string]leakcheck.Secret{}
	}
	d.secrets[what] = leakcheck.Text(s)
}

func newDaemon(t *testing.T, name string, args ...string) *daemon {
	return newDaemonPhrase(t, name, "", args...)
}

// newDaemonIn starts a daemon inside network namespace ns, listening on
// every interface of that namespace.
func newDaemonIn(t *testing.T, ns, name string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, name: name, home: filepath.Join(t.TempDir(), name), args: args, ns: ns}
	d.create()
	d.start()
	t.Cleanup(d.stop)
	return d
}

// newHomeIn makes a home with an identity for a daemon in network
// namespace ns, without starting it (set args, then start).
func newHomeIn(t *testing.T, ns, name string) *daemon {
	t.Helper()
	d := &daemon{t: t, name: name, home: filepath.Join(t.TempDir(), name), ns: ns}
	d.create()
	return d
}

// create makes the daemon's identity and keeps its phrase, so that its
// log can be checked for it.
func (d *daemon) create() {
	d.t.Helper()
	out, stderr, code := hearth(d.t, "", "id", "create", "--home", d.home, "--name", d.name, "--json")
	if code != 0 {
		d.t.Fatalf("%s: id create: %s", d.name, stderr)
	}
	var id struct{ Phrase string }
	if err := json.Unmarshal([]byte(out), &id); err != nil || id.Phrase == "" {
		d.t.Fatalf("%s: id create gave no phrase: %v", d.name, err)
	}
	d.phrase = id.Phrase
}

// newDaemonPhrase makes a home, with an identity restored from phrase (a
// new one if empty), and starts its daemon.
func newDaemonPhrase(t *testing.T, name, phrase string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, name: name, home: filepath.Join(t.TempDir(), name), args: args}
	cmd := []string{"id", "create"}
	if phrase != "" {
		cmd = []string{"id", "restore"}
	}
	out, stderr, code := hearth(t, phrase, append(cmd, "--home", d.home, "--name", name, "--json")...)
	if code != 0 {
		t.Fatalf("%s: %s: %s", name, strings.Join(cmd, " "), stderr)
	}
	var id struct{ Phrase string }
	json.Unmarshal([]byte(out), &id)
	d.phrase = id.Phrase
	if phrase != "" {
		d.phrase = phrase // restore does not repeat it
	}
	d.start()
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	// At debug level: every log line a user could turn on is checked for
	// secrets when the daemon ends.
	args := append([]string{"daemon", "--home", d.home, "--no-mdns", "--log-level", "debug",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1"}, d.args...)
	if d.ns != "" {
		// In its own namespace a daemon listens on every interface there
		// (only the test's namespaces) and uses mDNS unless told not to.
		args = append([]string{"netns", "exec", d.ns, hearthBin, "daemon", "--home", d.home, "--log-level", "debug",
			"--listen", "/ip4/0.0.0.0/tcp/0", "--listen", "/ip4/0.0.0.0/udp/0/quic-v1"}, d.args...)
		d.cmd = exec.Command("ip", args...)
		if lvl := os.Getenv("HEARTH_TEST_GOLOG"); lvl != "" {
			// e.g. p2p-holepunch=debug: libp2p's own logs, for debugging.
			d.cmd.Env = append(os.Environ(), "GOLOG_LOG_LEVEL="+lvl)
		}
	} else {
		d.cmd = exec.Command(hearthBin, args...)
	}
	if len(d.env) > 0 {
		if d.cmd.Env == nil {
			d.cmd.Env = os.Environ()
		}
		d.cmd.Env = append(d.cmd.Env, d.env...)
	}
	d.logs = &leakcheck.Output{}
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(d.cmd, d.done)
	for i := 0; ; i++ {
		out, _, code := hearth(d.t, "", "status", "--json", "--home", d.home)
		if code == 0 {
			var st struct{ Addrs []string }
			json.Unmarshal([]byte(out), &st)
			d.addrs = st.Addrs
			return
		}
		if i > 400 {
			d.t.Fatalf("%s did not start: %s", d.name, d.logs)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGCONT)
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Errorf("%s exited with %v:\n%s", d.name, err, d.logs)
		}
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Errorf("%s ignored SIGTERM", d.name)
	}
	d.ended()
}

func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.done
	d.ended()
}

// ended checks what the daemon's run left, however it ended: its whole
// output for a data race, a panic or a fatal error, and for every secret
// it holds.
func (d *daemon) ended() {
	d.t.Helper()
	d.cmd = nil
	logs := d.logs.String()
	checkOutput(d.t, d.name, logs)
	secrets := homeSecrets(d.t, d.home, d.phrase)
	for what, s := range d.secrets {
		secrets[what] = s
	}
	checkLeaks(d.t, d.name, logs, secrets)
}

// run runs a hearth command against this daemon's home and returns its
// stdout; it fails the test unless the exit code is want.
func (d *daemon) run(want int, stdin string, args ...string) string {
	d.t.Helper()
	out, stderr, code := hearth(d.t, stdin, append(args, "--home", d.home)...)
	if code != want {
		d.t.Fatalf("%s: hearth %s: exit %d, want %d: %s", d.name, strings.Join(args, " "), code, want, stderr)
	}
	if want != 0 {
		return stderr
	}
	return out
}

func (d *daemon) json(v any, args ...string) {
	d.t.Helper()
	out := d.run(0, "", append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		d.t.Fatalf("%s: %v: %s", d.name, err, out)
	}
}

type message struct {
	ID, Author, Text string
	Edited, Deleted  bool
}

// shareRoom has owner create a room named name, and every other daemon
// join it with an invite; it returns the room's id.
func shareRoom(t *testing.T, name string, owner *daemon, others ...*daemon) string {
	t.Helper()
	var created struct{ Room string }
	owner.json(&created, "room", "create", name)
	var inv struct{ Link string }
	owner.json(&inv, "room", "invite", created.Room, "--uses", strconv.Itoa(max(len(others), 1)))
	for _, d := range others {
		d.run(0, "", "room", "join", inv.Link)
	}
	return created.Room
}

func (d *daemon) history(room string) []message {
	var h struct{ Messages []message }
	d.json(&h, "room", "history", room)
	return h.Messages
}

func (d *daemon) identity() string {
	var id struct{ Identity string }
	d.json(&id, "id", "show")
	return id.Identity
}

// converge waits until every daemon shows the same history with want
// messages, and returns it.
func converge(t *testing.T, room string, want int, ds ...*daemon) []message {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		first := ds[0].history(room)
		same := len(first) == want
		for _, d := range ds[1:] {
			if !same {
				break
			}
			h := d.history(room)
			same = slices.Equal(h, first)
		}
		if same {
			return first
		}
		if time.Now().After(deadline) {
			for _, d := range ds {
				t.Logf("%s: %d messages", d.name, len(d.history(room)))
			}
			t.Fatalf("no convergence on %d messages", want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestFiveDaemonsConverge(t *testing.T) {
	alice := newDaemon(t, "alice", "--public")
	boot := alice.addrs[0]
	others := []*daemon{
		newDaemon(t, "bob", "--bootstrap", boot),
		newDaemon(t, "carol", "--bootstrap", boot),
		newDaemon(t, "dave", "--bootstrap", boot),
		newDaemon(t, "erin", "--bootstrap", boot),
	}
	all := append([]*daemon{alice}, others...)

	var created struct{ Room string }
	alice.json(&created, "room", "create", "house")
	room := created.Room
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", "house", "--uses", "4", "--expires", "10m")
	for _, d := range others {
		var joined struct{ Room string }
		d.json(&joined, "room", "join", inv.Link)
		if joined.Room != room {
			t.Fatalf("%s joined %s, not %s", d.name, joined.Room, room)
		}
	}
	// The invite is used up: a fifth join is refused by the room's view.
	frank := newDaemon(t, "frank", "--bootstrap", boot)
	if msg := frank.run(1, "", "room", "join", inv.Link); !strings.Contains(msg, "used up") {
		t.Fatalf("fifth join: %s", msg)
	}

	// Everyone sends at once.
	var wg sync.WaitGroup
	ids := make([][]string, len(all))
	for i, d := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 6 {
				var m struct{ ID string }
				out, stderr, code := hearth(t, "", "room", "send", room, fmt.Sprintf("%s %d", d.name, k), "--json", "--home", d.home)
				if code != 0 {
					t.Errorf("%s send: %s", d.name, stderr)
					return
				}
				json.Unmarshal([]byte(out), &m)
				ids[i] = append(ids[i], m.ID)
			}
		}()
	}
	wg.Wait()
	sent := 6 * len(all)

	// Dave is killed and misses messages; carol is frozen (a partition).
	dave, carol := others[2], others[1]
	dave.kill()
	carol.cmd.Process.Signal(syscall.SIGSTOP)
	alice.run(0, "", "room", "send", room, "while dave is down")
	others[0].run(0, "", "room", "send", room, "bob, while carol is frozen")
	sent += 2
	// Edits and deletes racing: bob edits his message while alice (admin)
	// deletes another of his, erin deletes her own.
	bob, erin := others[0], others[3]
	bob.run(0, "", "room", "edit", room, ids[1][0], "bob 0, edited")
	alice.run(0, "", "room", "delete", room, ids[1][1])
	erin.run(0, "", "room", "delete", room, ids[4][0])
	// Refused: erin edits bob's message; erin deletes alice's for everyone.
	if msg := erin.run(1, "", "room", "edit", room, ids[1][2], "not mine"); !strings.Contains(msg, "author") {
		t.Fatalf("non-author edit: %s", msg)
	}
	if msg := erin.run(1, "", "room", "delete", room, ids[0][0]); !strings.Contains(msg, "moderators") {
		t.Fatalf("member delete-for-all: %s", msg)
	}
	time.Sleep(500 * time.Millisecond) // the others go on a while with carol frozen
	carol.cmd.Process.Signal(syscall.SIGCONT)
	dave.start()

	hist := converge(t, room, sent, all...)
	byID := map[string]message{}
	for _, m := range hist {
		byID[m.ID] = m
	}
	if m := byID[ids[1][0]]; m.Text != "bob 0, edited" || !m.Edited {
		t.Fatalf("edit lost: %+v", m)
	}
	if m := byID[ids[1][1]]; !m.Deleted || m.Text != "" {
		t.Fatalf("admin delete lost: %+v", m)
	}
	if m := byID[ids[4][0]]; !m.Deleted {
		t.Fatalf("own delete lost: %+v", m)
	}
	if m := byID[ids[1][2]]; m.Text != "bob 2" {
		t.Fatalf("a refused edit got through: %+v", m)
	}

	// A second device of alice's identity joins and edits and deletes what
	// her first device wrote.
	phone := newDaemonPhrase(t, "alice-phone", alice.phrase, "--bootstrap", boot)
	if phone.identity() != alice.identity() {
		t.Fatal("the phone is another identity")
	}
	var inv2 struct{ Link string }
	alice.json(&inv2, "room", "invite", room)
	phone.run(0, "", "room", "join", inv2.Link)
	converge(t, room, sent, alice, phone)
	phone.run(0, "", "room", "edit", room, ids[0][0], "alice 0, from the phone")
	phone.run(0, "", "room", "delete", room, ids[0][1])
	all = append(all, phone)
	hist = converge(t, room, sent, all...)
	for _, m := range hist {
		if m.ID == ids[0][0] && (m.Text != "alice 0, from the phone" || !m.Edited) {
			t.Fatalf("second device's edit: %+v", m)
		}
		if m.ID == ids[0][1] && !m.Deleted {
			t.Fatalf("second device's delete: %+v", m)
		}
	}

	// Erin is removed: she keeps what she had and cannot read what follows,
	// although her daemon still receives the ciphertext.
	alice.run(0, "", "room", "remove", room, erin.identity())
	alice.run(0, "", "room", "send", room, "after erin left")
	rest := []*daemon{alice, bob, carol, dave, phone}
	converge(t, room, sent+1, rest...)
	// The ciphertext reaches her: she holds alice's log as far as alice
	// does, the new message included.
	waitHeld(t, erin, room, alice.device(), alice.held(room)[alice.device()])
	eh := erin.history(room)
	if len(eh) != sent {
		t.Fatalf("erin has %d messages, want the %d from before", len(eh), sent)
	}
	for _, m := range eh {
		if strings.Contains(m.Text, "after erin") {
			t.Fatal("a removed member read a message of the new epoch")
		}
	}
	if msg := erin.run(1, "", "room", "send", room, "am I still here?"); !strings.Contains(msg, "not a member") {
		t.Fatalf("removed member's send: %s", msg)
	}
}

// TestCommandsReadLikePeople: history names authors, marks replies and
// gives sizes as elsewhere; an empty message is a usage error; a damaged
// invite says the room's device was reached and did not know it.
func TestCommandsReadLikePeople(t *testing.T) {
	alice := newDaemon(t, "alice")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice))
	room := shareRoom(t, "kitchen", alice, bob)
	var hi struct{ ID string }
	bob.json(&hi, "room", "send", room, "hi")
	alice.run(0, "", "room", "send", room, "hello bob", "--reply-to", hi.ID)
	src := filepath.Join(t.TempDir(), "menu.pdf")
	writeRandomFile(t, src, 3<<20)
	alice.run(0, "", "file", "send", room, src)
	converge(t, room, 3, alice, bob)
	out := bob.run(0, "", "room", "history", room)
	for _, want := range []string{"bob: hi", "alice: (reply to " + hi.ID + ") hello bob", "menu.pdf, 3.0 MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	historyPages(t, bob, room)
	if _, stderr, code := hearth(t, "", "room", "send", room, "  ", "--home", bob.home); code != 2 || !strings.Contains(stderr, "empty message") {
		t.Errorf("an empty message: exit %d: %s", code, stderr)
	}
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", room)
	// Damaged: a letter of the secret changed (the invite's id with it).
	i := strings.Index(inv.Link, "join/") + len("join/") + 3
	flip := "a"
	if inv.Link[i] == 'a' {
		flip = "b"
	}
	damaged := inv.Link[:i] + flip + inv.Link[i+1:]
	carol := newDaemon(t, "carol", "--bootstrap", tcpAddr(t, alice))
	if _, stderr, code := hearth(t, "", "room", "join", damaged, "--home", carol.home); code != 1 || !strings.Contains(stderr, "does not know this invite") {
		t.Errorf("a damaged invite: exit %d: %s", code, stderr)
	}
}

// historyPages reads a room of three messages a page at a time, as a user
// would: the latest two (and the hint that one is older), then the one
// before them; a message nobody wrote is refused with its name.
func historyPages(t *testing.T, d *daemon, room string) {
	t.Helper()
	all := d.history(room)
	if len(all) != 3 {
		t.Fatalf("history: %d messages, want 3", len(all))
	}
	var page struct {
		Messages []message
		More     bool
	}
	d.json(&page, "room", "history", room, "--limit", "2")
	if len(page.Messages) != 2 || page.Messages[0].ID != all[1].ID || page.Messages[1].ID != all[2].ID || !page.More {
		t.Errorf("--limit 2: %+v, want the last two of %+v and more", page, all)
	}
	out, stderr, code := hearth(t, "", "room", "history", room, "--limit", "2", "--home", d.home)
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(stderr, "--before "+all[1].ID) {
		t.Errorf("--limit 2 as text: exit %d, %q, stderr %q", code, out, stderr)
	}
	page.More = false
	d.json(&page, "room", "history", room, "--limit", "5", "--before", all[1].ID)
	if len(page.Messages) != 1 || page.Messages[0].ID != all[0].ID || page.More {
		t.Errorf("--before the second: %+v, want the first alone", page)
	}
	d.json(&page, "room", "history", room, "--before", all[0].ID)
	if len(page.Messages) != 0 {
		t.Errorf("--before the first: %+v, want none", page)
	}
	if _, stderr, code := hearth(t, "", "room", "history", room, "--before", "0123456789abcdef-9", "--home", d.home); code != 1 || !strings.Contains(stderr, "no message") {
		t.Errorf("--before a message nobody wrote: exit %d: %s", code, stderr)
	}
}
