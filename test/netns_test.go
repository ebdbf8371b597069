package test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// requireNetns skips a test that builds network namespaces where it cannot
// (not root, no iproute2). scripts/test and CI run as root, so they run it.
func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root: run scripts/test, which runs as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 is not installed: scripts/setup --test installs it")
	}
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// lan builds a switch namespace with a bridge and n host namespaces on it,
// 10.77.X.i/24. Every packet stays inside these namespaces. It returns the
// host namespaces' names.
func lan(t *testing.T, subnet, n int) []string {
	t.Helper()
	prefix := fmt.Sprintf("h%d-%d", os.Getpid()%10000, subnet)
	sw := prefix + "-sw"
	sh(t, "ip", "netns", "add", sw)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", sw).Run() })
	sh(t, "ip", "-n", sw, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", sw, "link", "set", "br0", "up")
	var hosts []string
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("%s-%d", prefix, i)
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh(t, "ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", fmt.Sprintf("p%d", i), "netns", sw)
		sh(t, "ip", "-n", sw, "link", "set", fmt.Sprintf("p%d", i), "master", "br0", "up")
		sh(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("10.77.%d.%d/24", subnet, i), "dev", "eth0")
		sh(t, "ip", "-n", ns, "link", "set", "eth0", "up")
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
		hosts = append(hosts, ns)
	}
	return hosts
}

// TestLANPeersFindEachOtherByMDNS: two daemons on one LAN, no bootstrap, no
// DHT peers: mDNS alone lets the second join the first's room and chat,
// over a direct connection.
func TestLANPeersFindEachOtherByMDNS(t *testing.T) {
	requireNetns(t)
	hosts := lan(t, 1, 2)
	alice := newDaemonIn(t, hosts[0], "alice")
	bob := newDaemonIn(t, hosts[1], "bob")
	var created struct{ Room string }
	alice.json(&created, "room", "create", "lan")
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", "lan")
	start := time.Now()
	bob.run(0, "", "room", "join", inv.Link)
	t.Logf("joined over the LAN in %v", time.Since(start).Round(time.Millisecond))
	alice.run(0, "", "room", "send", "lan", "over the LAN")
	bob.run(0, "", "room", "send", "lan", "back")
	converge(t, created.Room, 2, alice, bob)
	var st struct {
		Connections []struct {
			Addr, Path string
			Device     bool
		}
	}
	bob.json(&st, "status")
	ok := false
	for _, c := range st.Connections {
		if c.Device && c.Path == "direct" && strings.Contains(c.Addr, "/ip4/10.77.1.1/") {
			ok = true
		}
	}
	if !ok {
		t.Fatalf("bob is not directly connected to alice on the LAN: %+v", st.Connections)
	}
}
