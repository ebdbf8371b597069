package test

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// natKind is what sits between one home device and the public segment.
// docs/design.md ("NAT traversal, measured") says how each is built and
// what each pair can reach.
type natKind int

const (
	kindNone      natKind = iota // a host on the public segment itself
	kindFullCone                 // any outside host reaches a mapped port
	kindAddrCone                 // only hosts the device sent to reach it
	kindPortCone                 // only the exact address and port it sent to
	kindSymmetric                // a new port for every destination
	kindDouble                   // a home NAT behind a carrier-grade NAT
	kindNoUDP                    // the router drops all UDP going out
	kindWebOnly                  // only TCP to ports 80 and 443 goes out
)

var natKinds = []natKind{kindNone, kindFullCone, kindAddrCone, kindPortCone, kindSymmetric, kindDouble, kindNoUDP, kindWebOnly}

func (k natKind) String() string {
	return [...]string{"no NAT", "full cone", "address-restricted", "port-restricted", "symmetric", "double NAT", "UDP blocked", "TCP 80/443 only"}[k]
}

// The relay's ports a web-only network lets through: libp2p on TCP 80,
// STUN/TURN on 443 (TURN over TCP there).
const (
	relayWebPort  = "80"
	relayTURNAddr = "192.0.0.100:443"
)

// needsExactPort: the kind lets in only packets from the exact address
// and port the device sent to (a hole punch must guess the other side's
// port), and it keeps the device's port (so its own port can be guessed).
func (k natKind) needsExactPort() bool {
	return k == kindPortCone || k == kindDouble || k == kindNoUDP
}

// expectRoom is how two devices of kinds a and b can reach each other
// over libp2p: "direct" (dialled, or hole punched) or "relay".
func expectRoom(a, b natKind) string {
	switch {
	case a == kindWebOnly || b == kindWebOnly:
		// Nothing of a peer's listens on TCP 80 or 443.
		return "relay"
	case a == kindSymmetric && (b == kindSymmetric || b.needsExactPort()),
		b == kindSymmetric && a.needsExactPort():
		// The symmetric side's port toward the other is unknowable.
		return "relay"
	}
	return "direct"
}

// expectMedia is how a call's media flows between kinds a and b:
// "direct" (ICE, UDP) or "TURN".
func expectMedia(a, b natKind) string {
	switch {
	case a == kindNoUDP || a == kindWebOnly || b == kindNoUDP || b == kindWebOnly:
		// No UDP out: only TURN over TCP carries its media.
		return "TURN"
	case a == kindSymmetric && (b == kindSymmetric || b.needsExactPort()),
		b == kindSymmetric && a.needsExactPort():
		return "TURN"
	}
	return "direct"
}

// natSide is one home: its device's namespace and how it reaches the
// public segment.
type natSide struct {
	kind natKind
	host string // the device's namespace
	d    *daemon
	peer string // its libp2p peer id
}

// natMatrixWorld builds the public segment (192.0.0.0/24, in namespace
// pub, the relay at .100) and n homes of each kind, home i with public
// address 192.0.0.(101+i) and LAN 10.88.(i+1).0/24. 192.0.0.0/24 is
// IANA's protocol-assignment block, never routed on the internet, yet an
// address libp2p counts as public (it hole-punches only between public
// addresses). Every packet stays inside the test's namespaces.
func natMatrixWorld(t *testing.T, kinds []natKind, n int) (pub string, sides []*natSide) {
	t.Helper()
	p := fmt.Sprintf("m%d", os.Getpid()%10000)
	ns := func(name string) string {
		name = p + "-" + name
		sh(t, "ip", "netns", "add", name)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		sh(t, "ip", "-n", name, "link", "set", "lo", "up")
		return name
	}
	// veth joins two namespaces, with addresses (CIDR, "" for none).
	veth := func(nsA, ifA, addrA, nsB, ifB, addrB string) {
		sh(t, "ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
		for _, e := range [][3]string{{nsA, ifA, addrA}, {nsB, ifB, addrB}} {
			if e[2] != "" {
				sh(t, "ip", "-n", e[0], "addr", "add", e[2], "dev", e[1])
			}
			sh(t, "ip", "-n", e[0], "link", "set", e[1], "up")
		}
	}
	pub = ns("pub")
	sh(t, "ip", "-n", pub, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", pub, "addr", "add", "192.0.0.100/24", "dev", "br0")
	sh(t, "ip", "-n", pub, "link", "set", "br0", "up")
	// onPublic gives namespace x a leg "out" on the public segment.
	onPublic := func(i int, x string) {
		veth(x, "out", fmt.Sprintf("192.0.0.%d/24", 101+i), pub, fmt.Sprintf("to%d", i), "")
		sh(t, "ip", "-n", pub, "link", "set", fmt.Sprintf("to%d", i), "master", "br0")
	}
	i := 0
	for _, k := range kinds {
		for range n {
			s := &natSide{kind: k}
			if k == kindNone {
				s.host = ns(fmt.Sprintf("h%d", i))
				onPublic(i, s.host)
				sides = append(sides, s)
				i++
				continue
			}
			r := ns(fmt.Sprintf("r%d", i))
			s.host = ns(fmt.Sprintf("h%d", i))
			lanHost := fmt.Sprintf("10.88.%d.2", i+1)
			veth(r, "in", fmt.Sprintf("10.88.%d.1/24", i+1), s.host, "eth0", lanHost+"/24")
			sh(t, "ip", "-n", s.host, "route", "add", "default", "via", fmt.Sprintf("10.88.%d.1", i+1))
			if k == kindDouble {
				// The home router's outside is the carrier's shared
				// address space (RFC 6598); the carrier-grade NAT, a
				// port-restricted cone itself, is on the public segment.
				cgn := ns(fmt.Sprintf("c%d", i))
				onPublic(i, cgn)
				veth(cgn, "in", fmt.Sprintf("100.64.%d.1/24", i+1), r, "out", fmt.Sprintf("100.64.%d.2/24", i+1))
				sh(t, "ip", "-n", r, "route", "add", "default", "via", fmt.Sprintf("100.64.%d.1", i+1))
				natRouter(t, cgn, kindPortCone, "")
			} else {
				onPublic(i, r)
			}
			natRouter(t, r, k, lanHost)
			sides = append(sides, s)
			i++
		}
	}
	return pub, sides
}

// natRouter sets up namespace r, with legs "in" (home) and "out"
// (outside), as a NAT of kind k for the device at lanHost.
//
// Linux's MASQUERADE keeps the source port when it is free and maps a
// device's port to one outside port whatever the destination
// (endpoint-independent mapping); conntrack lets in only replies from the
// address and port a packet went to. That is a port-restricted cone. The
// other kinds add to it.
func natRouter(t *testing.T, r string, k natKind, lanHost string) {
	t.Helper()
	ipt := func(args ...string) { sh(t, append([]string{"ip", "netns", "exec", r, "iptables"}, args...)...) }
	sh(t, "ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	masq := []string{"-t", "nat", "-A", "POSTROUTING", "-o", "out", "-j", "MASQUERADE"}
	if k == kindSymmetric {
		// A random port for every new mapping: a new port for every
		// destination.
		masq = append(masq, "--random-fully")
	}
	ipt(masq...)
	switch k {
	case kindFullCone:
		// Whatever comes in goes to the device: at its mapped ports
		// (its own, kept) that is a full cone.
		ipt("-t", "nat", "-A", "PREROUTING", "-i", "out", "-j", "DNAT", "--to-destination", lanHost)
	case kindAddrCone:
		// The router remembers every address the device sent to
		// (xt_recent), and lets in what comes from one of them, from
		// any port.
		ipt("-A", "FORWARD", "-i", "in", "-m", "recent", "--set", "--name", "sent", "--rdest")
		ipt("-t", "nat", "-A", "PREROUTING", "-i", "out", "-m", "recent", "--rcheck", "--seconds", "300", "--name", "sent", "--rsource",
			"-j", "DNAT", "--to-destination", lanHost)
	case kindNoUDP:
		ipt("-A", "FORWARD", "-i", "in", "-p", "udp", "-j", "DROP")
	case kindWebOnly:
		ipt("-A", "FORWARD", "-i", "in", "-p", "tcp", "-m", "multiport", "--dports", "80,443", "-j", "ACCEPT")
		ipt("-A", "FORWARD", "-i", "in", "-j", "DROP")
	}
	// Like a home router, it drops what nobody inside asked for rather
	// than answering it with a reset.
	for _, chain := range []string{"INPUT", "FORWARD"} {
		ipt("-A", chain, "-i", "out", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED,DNAT", "-j", "ACCEPT")
		ipt("-A", chain, "-i", "out", "-j", "DROP")
	}
}

// natPairing is one pair of homes of the matrix, with their room.
type natPairing struct {
	a, b     *natSide
	room     string
	roomPath string // as both see it: "direct", "relay", or "A/B" when they differ
	callPath string // "direct" or "TURN", with the ICE pairs
	err      error

	joinTook, convergeTook time.Duration
	joinTries              int
}

// TestNATMatrix: every pair of NAT kinds, two homes of each kind behind
// their own routers and one relay (also the TURN server) on the public
// segment. Each pair shares a room: messages converge both ways, the
// room's connection is direct wherever theory lets it be (else through
// the relay), and a call carries media both ways, directly wherever ICE
// can (else through TURN). The table goes to the log, and as markdown to
// the file HEARTH_NAT_TABLE names. For debugging, HEARTH_NAT_KINDS (e.g.
// "no NAT,UDP blocked") keeps those kinds alone, and HEARTH_NAT_LOGS=DIR
// writes each home's log there (with HEARTH_TEST_GOLOG=p2p-holepunch=debug,
// libp2p's hole punching too).
func TestNATMatrix(t *testing.T) {
	requireNetns(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables is not installed: scripts/setup --test installs it")
	}
	kinds := natKinds
	if only := os.Getenv("HEARTH_NAT_KINDS"); only != "" {
		// e.g. "no NAT,UDP blocked": those kinds alone, for debugging.
		kinds = nil
		for _, k := range natKinds {
			if slices.Contains(strings.Split(only, ","), k.String()) {
				kinds = append(kinds, k)
			}
		}
		if len(kinds) == 0 {
			t.Fatalf("HEARTH_NAT_KINDS=%q names none of %v", only, natKinds)
		}
	}
	start := time.Now()
	pub, sides := natMatrixWorld(t, kinds, 2)
	// each runs f for every home at once (daemons one at a time take a
	// minute to start under -race); a daemon helper's t.Fatalf ends only
	// its own goroutine, so each stops the test after them.
	each := func(f func(s *natSide)) {
		var wg sync.WaitGroup
		for _, s := range sides {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f(s)
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	var mu sync.Mutex
	args := []string{"--public", "--no-mdns", "--listen", "/ip4/0.0.0.0/tcp/" + relayWebPort, "--turn", relayTURNAddr}
	for i, s := range sides {
		s.d = newHomeIn(t, s.host, fmt.Sprintf("home%d", i))
	}
	each(func(s *natSide) {
		id := s.d.identity()
		mu.Lock()
		args = append(args, "--turn-user", id)
		mu.Unlock()
	})
	// The relay is the bootstrap node and every home's STUN/TURN server.
	relay := newDaemonIn(t, pub, "relay", args...)
	boot := []string{"--no-mdns"}
	for _, a := range relay.addrs {
		if strings.Contains(a, "/192.0.0.100/") {
			boot = append(boot, "--bootstrap", a)
		}
	}
	if dir := os.Getenv("HEARTH_NAT_LOGS"); dir != "" {
		// Each home's log, for debugging (with HEARTH_TEST_GOLOG).
		t.Cleanup(func() {
			for i, s := range sides {
				os.WriteFile(fmt.Sprintf("%s/home%d-%s.log", dir, i, strings.ReplaceAll(s.kind.String(), "/", "-")), []byte(s.d.logs.String()), 0o644)
			}
		})
	}
	for _, s := range sides {
		s.d.args = boot
		t.Cleanup(s.d.stop)
	}
	each(func(s *natSide) {
		s.d.start()
		var st struct {
			PeerID string `json:"peer_id"`
		}
		s.d.json(&st, "status")
		s.peer = st.PeerID
	})
	t.Logf("world of %d homes and a relay up in %v", len(sides), time.Since(start).Round(time.Second))

	// The pairs: kinds a and b meet as the first homes of each when
	// a+b is even, the second ones when odd, so each home is in about
	// four pairs; a kind meets itself as its two homes.
	var pairs []*natPairing
	for x := range kinds {
		for y := x; y < len(kinds); y++ {
			a, b := sides[2*x], sides[2*y+1]
			if x != y {
				c := (x + y) % 2
				a, b = sides[2*x+c], sides[2*y+c]
			}
			pairs = append(pairs, &natPairing{a: a, b: b})
		}
	}
	roomStart := time.Now()
	natRooms(t, pairs)
	t.Logf("%d rooms joined, messages converged, paths settled in %v", len(pairs), time.Since(roomStart).Round(time.Second))
	callStart := time.Now()
	natCalls(t, pairs)
	t.Logf("calls in %v", time.Since(callStart).Round(time.Second))

	table := natTable(pairs)
	t.Logf("NAT matrix (%v):\n%s", time.Since(start).Round(time.Second), table)
	if f := os.Getenv("HEARTH_NAT_TABLE"); f != "" {
		if err := os.WriteFile(f, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, p := range pairs {
		if p.err != nil {
			t.Errorf("%v ↔ %v: %v", p.a.kind, p.b.kind, p.err)
			continue
		}
		if want := expectRoom(p.a.kind, p.b.kind); p.roomPath != want {
			t.Errorf("%v ↔ %v: room path %s, want %s", p.a.kind, p.b.kind, p.roomPath, want)
		}
		if want := expectMedia(p.a.kind, p.b.kind); !strings.HasPrefix(p.callPath, want+" ") {
			t.Errorf("%v ↔ %v: call path %s, want %s", p.a.kind, p.b.kind, p.callPath, want)
		}
	}
}

// natRooms gives every pair a room of its own (a creates it, b joins),
// has each side send a message and waits until both have both, then
// waits for each pair's path: until both see it direct where it should
// be, and then reads the others.
func natRooms(t *testing.T, pairs []*natPairing) {
	t.Helper()
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.err = natJoin(t, p, fmt.Sprintf("pair%d", i))
		}()
	}
	wg.Wait()
	slowest := slices.MaxFunc(pairs, func(x, y *natPairing) int { return cmp.Compare(x.joinTook, y.joinTook) })
	t.Logf("rooms joined, messages converged: the slowest %v ↔ %v, joined in %v after %d tries, converged in %v", slowest.a.kind, slowest.b.kind,
		slowest.joinTook.Round(time.Second), slowest.joinTries, slowest.convergeTook.Round(time.Second))
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var waiting []string
		for _, p := range pairs {
			if p.err != nil {
				continue
			}
			p.roomPath = roomPath(t, p)
			if expectRoom(p.a.kind, p.b.kind) == "direct" && p.roomPath != "direct" {
				waiting = append(waiting, fmt.Sprintf("%v ↔ %v", p.a.kind, p.b.kind))
			}
		}
		if len(waiting) == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// natJoin has a create a room and b join it (retrying while a has no
// relay slot yet), each send a message, and waits until both have both.
func natJoin(t *testing.T, p *natPairing, name string) error {
	out, stderr, code := hearth(t, "", "room", "create", name, "--json", "--home", p.a.d.home)
	if code != 0 {
		return fmt.Errorf("create: %s", stderr)
	}
	var created struct{ Room string }
	json.Unmarshal([]byte(out), &created)
	p.room = created.Room
	out, stderr, code = hearth(t, "", "room", "invite", p.room, "--json", "--home", p.a.d.home)
	if code != 0 {
		return fmt.Errorf("invite: %s", stderr)
	}
	var inv struct{ Link string }
	json.Unmarshal([]byte(out), &inv)
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	for {
		p.joinTries++
		_, stderr, code := hearth(t, "", "room", "join", inv.Link, "--home", p.b.d.home)
		if code == 0 {
			p.joinTook = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("join: %s", stderr)
		}
		time.Sleep(2 * time.Second)
	}
	for _, s := range []*natSide{p.a, p.b} {
		if _, stderr, code := hearth(t, "", "room", "send", p.room, "from "+s.kind.String(), "--home", s.d.home); code != 0 {
			return fmt.Errorf("send: %s", stderr)
		}
	}
	sent := time.Now()
	deadline = sent.Add(2 * time.Minute)
	for {
		na, ea := historyLen(t, p.a.d, p.room)
		nb, eb := historyLen(t, p.b.d, p.room)
		if err := errors.Join(ea, eb); err != nil {
			return err
		}
		if na == 2 && nb == 2 {
			p.convergeTook = time.Since(sent)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("messages did not converge: %d and %d of 2", na, nb)
		}
		// Not faster: 36 pairs polling spawn many commands, each a
		// -race binary, on 2 cores.
		time.Sleep(2 * time.Second)
	}
}

func historyLen(t *testing.T, d *daemon, room string) (int, error) {
	out, stderr, code := hearth(t, "", "room", "history", room, "--json", "--home", d.home)
	if code != 0 {
		return 0, fmt.Errorf("history: %s", stderr)
	}
	var h struct{ Messages []message }
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		return 0, err
	}
	return len(h.Messages), nil
}

// roomPath is how p's two devices reach each other, as each says.
func roomPath(t *testing.T, p *natPairing) string {
	a, b := pathToPeer(t, p.a.d, p.b.peer), pathToPeer(t, p.b.d, p.a.peer)
	if a == b {
		return a
	}
	return a + "/" + b
}

// pathToPeer is how d reaches peer now: "direct", "relay" or "none".
func pathToPeer(t *testing.T, d *daemon, peer string) string {
	out, _, code := hearth(t, "", "status", "--json", "--home", d.home)
	if code != 0 {
		return "none"
	}
	var st struct {
		Connections []struct {
			PeerID string `json:"peer_id"`
			Path   string
		}
	}
	json.Unmarshal([]byte(out), &st)
	for _, c := range st.Connections {
		if c.PeerID == peer {
			return c.Path
		}
	}
	return "none"
}

// natCalls places every pair's call, in rounds where each home is in at
// most one call.
func natCalls(t *testing.T, pairs []*natPairing) {
	t.Helper()
	left := append([]*natPairing(nil), pairs...)
	for round := 1; len(left) > 0; round++ {
		busy := map[*natSide]bool{}
		var now, later []*natPairing
		for _, p := range left {
			if p.err != nil {
				continue
			}
			if busy[p.a] || busy[p.b] {
				later = append(later, p)
				continue
			}
			busy[p.a], busy[p.b] = true, true
			now = append(now, p)
		}
		start := time.Now()
		var wg sync.WaitGroup
		for _, p := range now {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.callPath, p.err = natPairCall(t, p)
			}()
		}
		wg.Wait()
		t.Logf("call round %d: %d calls in %v", round, len(now), time.Since(start).Round(time.Second))
		left = later
	}
}

// natPairCall has a call b in their room, b answer, and waits until
// video and sound flow both ways; it returns "direct" or "TURN" with the
// ICE candidate pairs each side chose.
func natPairCall(t *testing.T, p *natPairing) (string, error) {
	if _, stderr, code := hearth(t, "", "call", p.room, "--no-wait", "--home", p.a.d.home); code != 0 {
		return "", fmt.Errorf("call: %s", stderr)
	}
	if _, err := pollCall(t, p.b.d, func(c callJSON) bool { return c.Room == p.room && c.State == "ringing" }); err != nil {
		return "", fmt.Errorf("not ringing: %w", err)
	}
	if _, stderr, code := hearth(t, "", "answer", "--home", p.b.d.home); code != 0 {
		return "", fmt.Errorf("answer: %s", stderr)
	}
	media := func(c callJSON) bool {
		return c.Room == p.room && c.State == "active" && c.Stats != nil && c.Stats.VideoFrames >= 30 && c.Stats.AudioPackets > 0
	}
	ca, errA := pollCall(t, p.a.d, media)
	cb, errB := pollCall(t, p.b.d, media)
	hearth(t, "", "hangup", "--home", p.b.d.home)
	pollCall(t, p.a.d, func(c callJSON) bool { return c.Room == p.room && c.State == "ended" })
	pollCall(t, p.b.d, func(c callJSON) bool { return c.Room == p.room && c.State == "ended" })
	if err := errors.Join(errA, errB); err != nil {
		return "", fmt.Errorf("no media both ways: %w", err)
	}
	path := "direct"
	if strings.Contains(ca.Stats.Path, "relay") || strings.Contains(cb.Stats.Path, "relay") {
		path = "TURN"
	}
	return fmt.Sprintf("%s (%s, %s)", path, ca.Stats.Path, cb.Stats.Path), nil
}

// pollCall waits up to a minute for a call of d's that cond accepts.
func pollCall(t *testing.T, d *daemon, cond func(callJSON) bool) (callJSON, error) {
	deadline := time.Now().Add(time.Minute)
	var last []callJSON
	for time.Now().Before(deadline) {
		out, _, code := hearth(t, "", "calls", "--json", "--home", d.home)
		if code == 0 {
			var cs struct{ Calls []callJSON }
			json.Unmarshal([]byte(out), &cs)
			last = cs.Calls
			for _, c := range cs.Calls {
				if cond(c) {
					return c, nil
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(last) > 0 {
		c := last[len(last)-1]
		return callJSON{}, fmt.Errorf("%s: its last call is %s %s", d.name, c.State, c.Reason)
	}
	return callJSON{}, fmt.Errorf("%s: no call", d.name)
}

// natTable is the matrix as markdown: one row a pair.
func natTable(pairs []*natPairing) string {
	var b strings.Builder
	b.WriteString("| home A | home B | room path | expected | call media | expected |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, p := range pairs {
		call := p.callPath
		if p.err != nil {
			call = "failed: " + strings.ReplaceAll(p.err.Error(), "\n", " ")
		}
		fmt.Fprintf(&b, "| %v | %v | %s | %s | %s | %s |\n", p.a.kind, p.b.kind, p.roomPath, expectRoom(p.a.kind, p.b.kind), call, expectMedia(p.a.kind, p.b.kind))
	}
	return b.String()
}
