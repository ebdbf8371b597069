package test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// natWorld is a "public" segment with a relay/bootstrap node, and two home
// LANs behind NAT routers. The public segment uses 192.0.0.100, .102 and .103: IANA's
// protocol-assignment block, never routed on the internet, yet an address
// libp2p counts as public (it hole-punches only between public addresses).
// Every packet stays inside the test's namespaces.
type natWorld struct {
	pub          string // the public namespace
	lanA, lanB   string // one host on each home LAN
	natA, natB   string
	relayAddress string
}

// buildNAT makes the namespaces. symmetric picks a fresh port for every
// connection (MASQUERADE --random-fully) instead of keeping the source port.
func buildNAT(t *testing.T, symmetric bool) *natWorld {
	t.Helper()
	p := fmt.Sprintf("n%d", os.Getpid()%10000)
	w := &natWorld{pub: p + "-pub", natA: p + "-natA", natB: p + "-natB", lanA: p + "-lanA", lanB: p + "-lanB"}
	for _, ns := range []string{w.pub, w.natA, w.natB, w.lanA, w.lanB} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "-n", w.pub, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", w.pub, "addr", "add", "192.0.0.100/24", "dev", "br0")
	sh(t, "ip", "-n", w.pub, "link", "set", "br0", "up")
	for i, side := range []struct{ nat, lan string }{{w.natA, w.lanA}, {w.natB, w.lanB}} {
		n := i + 2
		// The router's outside leg on the public segment.
		sh(t, "ip", "link", "add", "out", "netns", side.nat, "type", "veth", "peer", "name", fmt.Sprintf("to%d", n), "netns", w.pub)
		sh(t, "ip", "-n", w.pub, "link", "set", fmt.Sprintf("to%d", n), "master", "br0", "up")
		sh(t, "ip", "-n", side.nat, "addr", "add", fmt.Sprintf("192.0.0.%d/24", 100+n), "dev", "out")
		sh(t, "ip", "-n", side.nat, "link", "set", "out", "up")
		// Its inside leg on the home LAN.
		sh(t, "ip", "link", "add", "in", "netns", side.nat, "type", "veth", "peer", "name", "eth0", "netns", side.lan)
		sh(t, "ip", "-n", side.nat, "addr", "add", fmt.Sprintf("10.88.%d.1/24", n), "dev", "in")
		sh(t, "ip", "-n", side.nat, "link", "set", "in", "up")
		sh(t, "ip", "-n", side.lan, "addr", "add", fmt.Sprintf("10.88.%d.2/24", n), "dev", "eth0")
		sh(t, "ip", "-n", side.lan, "link", "set", "eth0", "up")
		sh(t, "ip", "-n", side.lan, "route", "add", "default", "via", fmt.Sprintf("10.88.%d.1", n))
		sh(t, "ip", "netns", "exec", side.nat, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		rule := []string{"ip", "netns", "exec", side.nat, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "out", "-j", "MASQUERADE"}
		if symmetric {
			rule = append(rule, "--random-fully")
		}
		sh(t, rule...)
		// Like a home router, it drops what nobody inside asked for
		// rather than answering it with a reset.
		for _, chain := range []string{"INPUT", "FORWARD"} {
			sh(t, "ip", "netns", "exec", side.nat, "iptables", "-A", chain, "-i", "out", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
			sh(t, "ip", "netns", "exec", side.nat, "iptables", "-A", chain, "-i", "out", "-j", "DROP")
		}
	}
	return w
}

// natPair builds the world, a relay on the public segment and a device
// on each home LAN, and has bob join alice's room. It returns the two
// daemons and the room id.
func natPair(t *testing.T, symmetric bool) (alice, bob *daemon, roomID string) {
	t.Helper()
	requireNetns(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables is not installed: scripts/setup --test installs it")
	}
	w := buildNAT(t, symmetric)
	alice, bob = newHomeIn(t, w.lanA, "alice"), newHomeIn(t, w.lanB, "bob")
	// The relay is also the STUN/TURN server of calls, for alice and bob.
	relay := newDaemonIn(t, w.pub, "relay", "--public", "--no-mdns", "--turn", "192.0.0.100:3478",
		"--turn-user", alice.identity(), "--turn-user", bob.identity())
	// The relay's TCP and QUIC addresses on the public segment: a home
	// device learns its public address for each from the relay.
	args := []string{"--no-mdns"}
	for _, a := range relay.addrs {
		if strings.Contains(a, "/192.0.0.100/") {
			args = append(args, "--bootstrap", a)
		}
	}
	for _, d := range []*daemon{alice, bob} {
		d.args = args
		d.start()
		t.Cleanup(d.stop)
	}
	var created struct{ Room string }
	alice.json(&created, "room", "create", "far")
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", "far")
	start := time.Now()
	var err string
	for time.Since(start) < 2*time.Minute {
		_, stderr, code := hearth(t, "", "room", "join", inv.Link, "--home", bob.home)
		if code == 0 {
			err = ""
			break
		}
		err = stderr
		time.Sleep(2 * time.Second) // alice takes her relay slot in her first seconds
	}
	if err != "" {
		t.Fatalf("join across NATs: %s", err)
	}
	t.Logf("joined across NATs after %v", time.Since(start).Round(time.Second))
	alice.run(0, "", "room", "send", "far", "hello from behind a NAT")
	bob.run(0, "", "room", "send", "far", "hello back")
	converge(t, created.Room, 2, alice, bob)
	return alice, bob, created.Room
}

// pathTo returns how d reaches the device peer it is connected to.
func pathTo(d *daemon) string {
	p, _ := pathAddr(d)
	return p
}

// pathAddr returns how d reaches the device peer it is connected to, and
// at which address.
func pathAddr(d *daemon) (path, addr string) {
	var st struct {
		Connections []struct {
			Path   string
			Addr   string
			Device bool
		}
	}
	d.json(&st, "status")
	for _, c := range st.Connections {
		if c.Device {
			return c.Path, c.Addr
		}
	}
	return "none", ""
}

// TestNATRelayFallback: behind symmetric NATs (a new port per connection)
// hole punching cannot work; the peers talk through the relay.
func TestNATRelayFallback(t *testing.T) {
	alice, bob, room := natPair(t, true)
	if p := pathTo(bob); p != "relay" {
		t.Fatalf("path %q, want relay", p)
	}
	t.Logf("symmetric NATs: path relay")
	// A call's media cannot go direct either: it goes through TURN.
	if path := natCall(t, alice, bob, room); !strings.HasPrefix(path, "relay/") && !strings.HasSuffix(path, "/relay") {
		t.Fatalf("call path %q behind symmetric NATs, want TURN", path)
	}
}

// natCall has alice call bob and returns the media path bob sees once
// frames flow.
func natCall(t *testing.T, alice, bob *daemon, room string) string {
	t.Helper()
	alice.run(0, "", "call", room, "--no-wait")
	bob.waitCall(t, "ringing", func(c callJSON) bool { return c.State == "ringing" })
	bob.run(0, "", "answer")
	c := bob.waitCall(t, "with media", func(c callJSON) bool { return c.State == "active" && c.Stats != nil && c.Stats.VideoFrames >= 30 })
	t.Logf("call across NATs: %d frames, %d gaps, p50 %.1f ms, path %s", c.Stats.VideoFrames, c.Stats.FrameGaps, c.Stats.LatencyP50, c.Stats.Path)
	bob.run(0, "", "hangup")
	alice.waitCall(t, "ended", func(c callJSON) bool { return c.State == "ended" })
	return c.Stats.Path
}

// TestNATHolePunch: behind port-preserving NATs the two devices meet
// through the relay, then punch through to a direct connection.
func TestNATHolePunch(t *testing.T) {
	alice, bob, room := natPair(t, false)
	deadline := time.Now().Add(90 * time.Second)
	for pathTo(bob) != "direct" || pathTo(alice) != "direct" {
		if time.Now().After(deadline) {
			t.Logf("alice:\n%s", alice.logs)
			t.Logf("bob:\n%s", bob.logs)
			t.Fatalf("no direct path after hole punching: alice %s, bob %s", pathTo(alice), pathTo(bob))
		}
		time.Sleep(time.Second)
	}
	_, addr := pathAddr(bob)
	t.Logf("port-preserving NATs: path direct, bob reaches alice at %s", addr)
	// A call's media goes direct too (ICE through the NATs, addresses
	// learnt from the relay's STUN), not through TURN.
	if path := natCall(t, alice, bob, room); strings.Contains(path, "relay") || path == "" {
		t.Fatalf("call path %q behind port-preserving NATs, want direct", path)
	}
}
