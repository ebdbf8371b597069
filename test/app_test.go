package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

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

// phone sets a phone's viewport and touch (390×844, as the issue's
// phone), on a fresh profile.
func phone(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	// Chromium gathers no loopback candidates unless told: the daemons
	// listen on loopback here (the namespaced tests use real links).
	opts := append([]chromedp.ExecAllocatorOption{chromedp.Flag("allow-loopback-in-peer-connection", true), chromedp.WindowSize(390, 844)}, extra...)
	ctx := browser(t, opts...)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
		t.Fatal(err)
	}
	// The page's console and its uncaught errors (a Go panic in the
	// app's WebAssembly prints there), shown if the test fails.
	var mu sync.Mutex
	var console []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *cdpruntime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			line = string(ev.Type) + ": " + strings.Join(parts, " ")
		case *cdpruntime.EventExceptionThrown:
			line = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				line += " " + ev.ExceptionDetails.Exception.Description
			}
		default:
			return
		}
		mu.Lock()
		if len(console) < 2000 {
			console = append(console, line)
		}
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			t.Logf("the page's console:\n%s", strings.Join(console, "\n"))
			mu.Unlock()
		}
	})
	return ctx
}

// tap touches the element sel (a CSS selector) at its middle, as a thumb.
func tap(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if err := waitFor(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("%s never showed: %v", sel, err)
	}
	r := evalPage[struct{ X, Y, W, H float64 }](ctx, `(() => { const e = document.querySelector(`+jsArg(sel)+`); e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height} })()`)
	if r.W < 44 || r.H < 44 {
		t.Errorf("%s is %.0f×%.0f px: less than a thumb's 44 px", sel, r.W, r.H)
	}
	pt := []*input.TouchPoint{{X: r.X + r.W/2, Y: r.Y + r.H/2}}
	for _, ev := range []input.DispatchTouchEventParams{
		{Type: input.DispatchTouchEventTypeTouchStart, TouchPoints: pt},
		{Type: input.DispatchTouchEventTypeTouchEnd, TouchPoints: []*input.TouchPoint{}},
	} {
		if _, err := chromedp.Call(ctx, input.DispatchTouchEvent, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// noSideScroll fails the test if the page is wider than the phone.
func noSideScroll(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if w := evalPage[float64](ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("%s scrolls sideways by %.0f px", what, w)
	}
}

// TestAppLinksAsDevice: the phone's app (Go as WebAssembly beside
// js-libp2p, in Chromium with a phone's viewport and touch, a fresh
// profile) is installable and its service worker controls it; it makes
// its own device key and becomes a device of alice's identity by her
// device link, over WebRTC-direct to her daemon: the same pairing
// protocol, from the same Go code, as `hearth device join`. Her daemon
// lists the app's device; the app shows her room's history, synced by the
// same replication code, and what it sends reaches her daemon as hers.
// The app reopens from the browser's storage with the daemon down, and
// catches up once it is back.
func TestAppLinksAsDevice(t *testing.T) {
	dir := artifacts(t)
	// A fixed port, as an appliance has: the address the app stored
	// still names the daemon after it restarts. The app is the one the
	// binary embeds, served at /app/ of the daemon's page.
	alice := newDaemon(t, "alice", "--listen", fmt.Sprintf("/ip4/127.0.0.1/udp/%d/webrtc-direct", freeUDPPort(t)), "--web", "127.0.0.1:0")
	alice.run(0, "", "room", "create", "family")
	alice.run(0, "", "room", "send", "family", "written before the phone came")
	var link struct{ Link, App string }
	alice.json(&link, "device", "link")
	if !strings.HasPrefix(link.App, "http://") || !strings.Contains(link.App, "/app/#") {
		t.Fatalf("device link gives no app link: %+v", link)
	}

	var st struct{ Web string }
	alice.json(&st, "status")
	u, err := url.Parse(st.Web)
	if err != nil || u.Host == "" {
		t.Fatalf("the daemon's page: %q", st.Web)
	}
	appURL := "http://" + u.Host + "/app/"
	ctx := phone(t)
	// A link that is not one is refused with a clear error.
	bad := url.Values{"link": {"hearth:nonsense"}}
	if err := chromedp.Do(ctx, chromedp.Navigate(appURL+"#"+bad.Encode())); err != nil {
		t.Fatal(err)
	}
	tap(t, ctx, "#link-go")
	waitPage(t, ctx, "the error of a bad link", func() bool {
		return strings.Contains(evalPage[string](ctx, `document.getElementById("error").textContent`), "not a hearth")
	})
	shot(t, ctx, dir, "1-bad-link")

	// The app link as the QR code of 'hearth device link' gives it.
	if err := chromedp.Do(ctx, chromedp.Navigate(link.App), chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the link screen, filled", func() bool {
		return evalPage[string](ctx, `document.getElementById("link-text")?.value ?? ""`) == link.Link
	})
	waitPage(t, ctx, "the service worker in control", func() bool {
		return evalPage[bool](ctx, `navigator.serviceWorker.controller !== null`)
	})
	inst, err := chromedp.Call(ctx, page.GetInstallabilityErrors, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inst.InstallabilityErrors {
		t.Errorf("not installable: %s", e.ErrorID)
	}
	noSideScroll(t, ctx, "the link screen")
	shot(t, ctx, dir, "2-link")
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#link-name"), "alice's phone")); err != nil {
		t.Fatal(err)
	}
	tap(t, ctx, "#link-go")
	waitPage(t, ctx, "the rooms after linking", func() bool {
		return evalPage[bool](ctx, `!document.getElementById("rooms").hidden && document.querySelectorAll("#room-list li").length > 0`)
	})
	me := appCall[struct{ Peer, Identity string }](t, ctx, "the app's device", `hearthApp.start()`)
	if me.Identity != alice.identity() {
		t.Fatalf("linked to identity %s, alice is %s", me.Identity, alice.identity())
	}
	noSideScroll(t, ctx, "the rooms")
	shot(t, ctx, dir, "3-rooms")
	var devs struct {
		Devices []struct {
			Device, Name string
		}
	}
	alice.json(&devs, "id", "devices")
	named := false
	for _, d := range devs.Devices {
		named = named || d.Name == "alice's phone"
	}
	if !named {
		t.Fatalf("alice's daemon does not list the app's device: %+v", devs.Devices)
	}

	tap(t, ctx, "#room-list li")
	waitPage(t, ctx, "the room's history in the app", func() bool {
		return strings.Contains(evalPage[string](ctx, `document.getElementById("messages").textContent`), "written before the phone came")
	})
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#text"), "sent from the app")); err != nil {
		t.Fatal(err)
	}
	tap(t, ctx, "#send")
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
	waitPage(t, ctx, "alice's answer on the screen", func() bool {
		return strings.Contains(evalPage[string](ctx, `document.getElementById("messages").textContent`), "answered at home")
	})
	noSideScroll(t, ctx, "the room")
	shot(t, ctx, dir, "4-room")

	// The app reopens from the browser's storage (IndexedDB) and its
	// cache (the service worker): the same device, the same identity,
	// the room as it was, without the network (the daemon is stopped
	// first); then it catches up once it is back.
	alice.stop()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the app's script after a reload", func() bool { return evalPage[bool](ctx, `typeof globalThis.hearthApp === 'object'`) })
	again := appCall[struct{ Peer, Identity string }](t, ctx, "reopening the app", `hearthApp.start()`)
	if again.Peer != me.Peer || again.Identity != alice.identity() {
		t.Fatalf("after a reload the app is %s of %s, was %s of %s", again.Peer, again.Identity, me.Peer, alice.identity())
	}
	if got := appMessages(t, ctx, "family"); !slices.Contains(got, "answered at home") || !slices.Contains(got, "sent from the app") {
		t.Fatalf("after a reload the app holds %q", got)
	}
	tap(t, ctx, "#room-list li")
	alice.start()
	alice.run(0, "", "room", "send", "family", "while the app was closed")
	// The address it was linked at, as stored: the app tried it while
	// the daemon was down, and tries again by itself until it answers.
	waitPage(t, ctx, "what came while the app was closed, on the screen", func() bool {
		return strings.Contains(evalPage[string](ctx, `document.getElementById("messages").textContent`), "while the app was closed")
	})
	// Asked for: a sync with the stored address answers at once.
	appCall[int](t, ctx, "syncing again", `hearthApp.sync()`)
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
