package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// buildApp builds the phone's app with scripts/web-build into a temporary
// folder.
func buildApp(t *testing.T) string {
	t.Helper()
	webTool(t, "esbuild")
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join("..", "scripts", "web-build"), dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/web-build: %v\n%s", err, b)
	}
	return dir
}

// webrtcAddr is d's WebRTC-direct address.
func webrtcAddr(t *testing.T, d *daemon) string {
	t.Helper()
	for _, a := range d.addrs {
		if strings.Contains(a, "/webrtc-direct/certhash/") {
			return a
		}
	}
	t.Fatalf("%s gives no WebRTC-direct address: %v", d.name, d.addrs)
	return ""
}

// appCall awaits a promise the page returns, as v.
func appCall[T any](t *testing.T, ctx context.Context, what, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// freeUDPPort is a UDP port of loopback that nothing listens on now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func jsArg(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAppLinksAsDevice: the phone's app (Go as WebAssembly beside
// js-libp2p, in Chromium) makes its own device key and becomes a device
// of alice's identity with a device link, over WebRTC-direct to her
// daemon: the same pairing protocol, from the same Go code, as `hearth
// device join`. Her daemon then lists the app's device; the app holds
// her room's history, synced over the same connection by the same
// replication code, and what it writes reaches her daemon as hers.
func TestAppLinksAsDevice(t *testing.T) {
	dist := buildApp(t)
	// A fixed port, as an appliance has: the address the app stored
	// still names the daemon after it restarts.
	alice := newDaemon(t, "alice", "--listen", fmt.Sprintf("/ip4/127.0.0.1/udp/%d/webrtc-direct", freeUDPPort(t)))
	alice.run(0, "", "room", "create", "family")
	alice.run(0, "", "room", "send", "family", "written before the phone came")
	var link struct{ Link string }
	alice.json(&link, "device", "link")

	srv := httptest.NewServer(http.FileServer(http.Dir(dist)))
	defer srv.Close()
	ctx := browser(t, chromedp.Flag("allow-loopback-in-peer-connection", true))
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the app's script", func() bool { return evalPage[bool](ctx, `typeof globalThis.hearthApp === 'object'`) })
	me := appCall[struct{ Peer string }](t, ctx, "starting the app", `hearthApp.start("phone")`)
	if !strings.HasPrefix(me.Peer, "12D3KooW") {
		t.Fatalf("the app's peer id %q is not an Ed25519 device key's", me.Peer)
	}

	// A link that is not one is refused with a clear error.
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[string](`hearthApp.link("hearth:nonsense", []).then(() => "linked", (e) => e.message)`, chromedp.EvalAwaitPromise))
	if err != nil || bad == "linked" || bad == "" {
		t.Fatalf("a bad link: %q, %v", bad, err)
	}
	t.Logf("a bad link: %s", bad)

	got := appCall[struct {
		Identity, Device string
		Rooms            []string
	}](t, ctx, "linking", `hearthApp.link(`+jsArg(link.Link)+`, [`+jsArg(webrtcAddr(t, alice))+`])`)
	if got.Identity != alice.identity() {
		t.Fatalf("linked to identity %s, alice is %s", got.Identity, alice.identity())
	}
	if !slices.Contains(got.Rooms, "family") {
		t.Fatalf("the link brought rooms %v, not alice's family", got.Rooms)
	}
	waitPage(t, ctx, "the room's history in the app", func() bool {
		return slices.Contains(appMessages(t, ctx, "family"), "written before the phone came")
	})
	appCall[string](t, ctx, "sending from the app", `hearthApp.send("family", "sent from the app")`)
	eventually(t, "the app's message at alice's daemon", func() bool {
		for _, m := range alice.history("family") {
			if m.Text == "sent from the app" {
				if m.Author != alice.identity() {
					t.Fatalf("the app's message is by %s, not alice (%s)", m.Author, alice.identity())
				}
				return true
			}
		}
		return false
	})
	alice.run(0, "", "room", "send", "family", "answered at home")
	waitPage(t, ctx, "alice's answer in the app", func() bool {
		return slices.Contains(appMessages(t, ctx, "family"), "answered at home")
	})
	// The app reopens from the browser's storage (IndexedDB): the same
	// device, the same identity, the room as it was, without the network
	// (the daemon is stopped first); then it catches up once it is back.
	alice.stop()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the app's script after a reload", func() bool { return evalPage[bool](ctx, `typeof globalThis.hearthApp === 'object'`) })
	again := appCall[struct{ Peer, Identity string }](t, ctx, "reopening the app", `hearthApp.start("ignored")`)
	if again.Peer != me.Peer || again.Identity != alice.identity() {
		t.Fatalf("after a reload the app is %s of %s, was %s of %s", again.Peer, again.Identity, me.Peer, alice.identity())
	}
	if got := appMessages(t, ctx, "family"); !slices.Contains(got, "answered at home") || !slices.Contains(got, "sent from the app") {
		t.Fatalf("after a reload the app holds %q", got)
	}
	alice.start()
	alice.run(0, "", "room", "send", "family", "while the app was closed")
	// The address it was linked at, as stored: the app's own start
	// tried it while the daemon was down.
	appCall[int](t, ctx, "syncing again", `hearthApp.sync()`)
	waitPage(t, ctx, "what came while the app was closed", func() bool {
		return slices.Contains(appMessages(t, ctx, "family"), "while the app was closed")
	})
	var devs struct {
		Devices []struct {
			Device, Name string
		}
	}
	eventually(t, "alice's daemon lists the app's device", func() bool {
		alice.json(&devs, "id", "devices")
		for _, d := range devs.Devices {
			if d.Device == got.Device {
				return d.Name == "phone"
			}
		}
		return false
	})
}

func appMessages(t *testing.T, ctx context.Context, room string) []string {
	t.Helper()
	ms := appCall[[]struct{ Text string }](t, ctx, "the app's history", `hearthApp.history(`+jsArg(room)+`, 50)`)
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}
