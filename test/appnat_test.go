package test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"
)

// serveDir is a static web server's program (HEARTH_TEST_SERVE=DIR): it
// serves DIR on a free port of loopback and prints its address. Run in
// the phone's namespace, it is where that namespace's browser loads the
// app from (loopback is a secure context: a service worker may run).
func serveDir(dir string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().String())
	http.Serve(l, http.FileServer(http.Dir(dir)))
}

// serveIn serves dir in namespace ns and returns its URL there.
func serveIn(t *testing.T, ns, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, self)
	cmd.Env = append(os.Environ(), "HEARTH_TEST_SERVE="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the app's server in %s: %v", ns, err)
	}
	return "http://" + strings.TrimSpace(addr) + "/"
}

// phoneIn is phone's browser run in namespace ns: DevTools over a pipe,
// which the namespace does not cut (a port of its loopback would be out
// of the test's reach).
func phoneIn(t *testing.T, ns string) context.Context {
	t.Helper()
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatal(err)
	}
	return phone(t, chromedp.Flag("remote-debugging-pipe", true), chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
		cmd.Args = append([]string{"ip", "netns", "exec", ns, cmd.Path}, cmd.Args[1:]...)
		cmd.Path = ip
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	}))
}

// TestAppThroughNATs: the household at home behind one symmetric NAT (the
// doorphone and alice's daemon), the phone behind another, the always-on
// node on the public segment: no direct path exists, by libp2p nor by
// ICE. The app (served in the phone's own namespace, as an exported copy)
// links by alice's app link through the always-on node's relay, reads
// and sends, is rung by the door over the relayed connection, answers
// with video decoded both ways over TURN (the app's credentials come from
// the always-on node, asked over libp2p with its device proof), and
// unlocks.
func TestAppThroughNATs(t *testing.T) {
	requireNetns(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables is not installed: scripts/setup --test installs it")
	}
	dir := artifacts(t)
	pub, sides := natMatrixWorld(t, []natKind{kindSymmetric}, 2)
	home, away := sides[0].host, sides[1].host
	door := newHomeIn(t, home, "door")
	alice := newHomeIn(t, home, "alice")
	relay := newDaemonIn(t, pub, "relay", "--public", "--no-mdns", "--listen", "/ip4/0.0.0.0/udp/4002/webrtc-direct",
		"--turn", "192.0.0.100:3478", "--turn-user", alice.identity(), "--turn-user", door.identity())
	boot := []string{"--no-mdns"}
	for _, a := range relay.addrs {
		if strings.Contains(a, "/192.0.0.100/") && strings.Contains(a, "/tcp/") {
			boot = append(boot, "--bootstrap", a)
		}
	}
	door.args = append(slices.Clone(boot), "--role", "doorphone", "--hal", "sim", "--ring-timeout", "60s")
	alice.args = append(slices.Clone(boot), "--web", "127.0.0.1:0")
	for _, d := range []*daemon{door, alice} {
		d.start()
		t.Cleanup(d.stop)
	}
	room := joinHousehold(t, door, alice, "admin")
	alice.run(0, "", "room", "send", room, "written at home")

	// The app link, once alice holds a slot on the relay and knows the
	// door's way through it.
	var link struct{ Link, App string }
	var doorID struct {
		Peer string `json:"peer_id"`
	}
	door.json(&doorID, "status")
	eventually(t, "an app link through the relay, to alice and to the door", func() bool {
		alice.json(&link, "device", "link")
		return strings.Contains(link.App, "p2p-circuit") && strings.Contains(link.App, "%2Fp2p%2F"+doorID.Peer)
	})
	u, err := url.Parse(link.App)
	if err != nil {
		t.Fatal(err)
	}
	appDir := filepath.Join(t.TempDir(), "app")
	if _, stderr, code := hearth(t, "", "web", "export", appDir); code != 0 {
		t.Fatalf("web export: %s", stderr)
	}
	ctx := phoneIn(t, away)
	openApp(t, ctx, serveIn(t, away, appDir)+"#"+u.Fragment, "alice's phone")
	tap(t, ctx, "#room-list li")
	waitPage(t, ctx, "the room's history through the relay", func() bool {
		return strings.Contains(evalPage[string](ctx, `document.getElementById("messages").textContent`), "written at home")
	})
	conns := appCall[[]struct {
		Peer, Addr string
		Limited    bool
	}](t, ctx, "the app's connections", `hearthApp.connections()`)
	for _, c := range conns {
		if c.Peer != doorID.Peer && !strings.Contains(c.Addr, "192.0.0.100") {
			t.Errorf("the app reached %s at %s: not through the relay", c.Peer, c.Addr)
		}
	}
	waitPage(t, ctx, "the app connected to the door through the relay", func() bool {
		cs := appCall[[]struct{ Peer, Addr string }](t, ctx, "the app's connections", `hearthApp.connections()`)
		return slices.ContainsFunc(cs, func(c struct{ Peer, Addr string }) bool {
			return c.Peer == doorID.Peer && strings.Contains(c.Addr, "/p2p-circuit")
		})
	})

	door.run(0, "", "door", "press")
	waitPage(t, ctx, "the ring card", func() bool {
		return evalPage[bool](ctx, `document.getElementById("call").dataset.state === "ringing"`)
	})
	rings := appCall[[]appCallInfo](t, ctx, "the app's calls", `hearthApp.calls()`)
	i := slices.IndexFunc(rings, func(c appCallInfo) bool { return c.State == "ringing" && c.Door })
	if i < 0 {
		t.Fatalf("no ring of the door in the app: %+v", rings)
	}
	ring := rings[i]
	tap(t, ctx, "#call-answer")
	var m appMedia
	waitPage(t, ctx, "the door's video decoded on the phone, over TURN", func() bool {
		m = appCall[appMedia](t, ctx, "the call's media", `hearthApp.callMedia(`+jsArg(ring.ID)+`)`)
		return m.Frames >= 30
	})
	if !strings.Contains(m.Path, "relay") {
		t.Errorf("the call's media went %q, not through TURN", m.Path)
	}
	c := door.waitCall(t, "the phone's video at the door", func(c callJSON) bool {
		return c.ID == ring.ID && c.frames() >= 30
	})
	if !strings.Contains(c.Stats.Path, "relay") {
		t.Errorf("the door's side of the call went %q, not through TURN", c.Stats.Path)
	}
	shot(t, ctx, dir, "9-call-through-nats")
	tap(t, ctx, "#call-unlock2")
	waitPage(t, ctx, "the door opened from away", func() bool {
		return evalPage[bool](ctx, `globalThis.hearthUnlock?.opened === true`)
	})
	tap(t, ctx, "#call-hangup")
	door.waitCall(t, "the call over", func(c callJSON) bool { return c.ID == ring.ID && c.State == "ended" })
}
