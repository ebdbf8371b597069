package test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// artifacts is where the browser tests keep their screenshots.
func artifacts(t *testing.T) string {
	dir := os.Getenv("HEARTH_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("artifacts", t.Name())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium with a fake camera and microphone.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" || os.Geteuid() == 0 {
			t.Fatal("chromium is not installed: scripts/setup --test installs it")
		}
		t.Skip("chromium is not installed: scripts/setup --test installs it")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1100, 900),
	}
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

// waitFor runs an action for at most 30 s.
func waitFor(ctx context.Context, a chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, a)
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// pageStats reads what the page's RTCPeerConnection received.
func pageStats(ctx context.Context) (frames, audio float64, path string) {
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`window.hearthStats || {}`))
	f, _ := s["video_frames"].(float64)
	a, _ := s["audio_packets"].(float64)
	p, _ := s["path"].(string)
	return f, a, p
}

func waitPage(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			shown := evalPage[string](ctx, `(document.getElementById('error') || {}).textContent || ''`)
			t.Fatalf("the page: no %s (its error line: %q)", what, shown)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrowserCalls: Chromium (fake camera and microphone) on bob's page
// answers a call from alice's daemon, then places one to it; both sides
// receive decodable media, judged by the page's WebRTC stats and alice's
// receiver. Requests from another origin or host, or without the token,
// are refused.
func TestBrowserCalls(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	alice := newDaemon(t, "alice")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice), "--web", "127.0.0.1:0")
	room := shareRoom(t, "family", alice, bob)
	converge(t, room, 0, alice, bob)
	var st struct{ Web string }
	bob.json(&st, "status")
	if !strings.HasPrefix(st.Web, "http://127.0.0.1:") || !strings.Contains(st.Web, "#token=") {
		t.Fatalf("the web link: %q", st.Web)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(st.Web), chromedp.WaitVisible(chromedp.CSS(`#rooms button.call`))); err != nil {
		t.Fatalf("the page: %v", err)
	}
	href, _ := chromedp.Run(ctx, chromedp.Location())
	if strings.Contains(href, "token") {
		t.Fatalf("the token stays in the address bar: %s", href)
	}
	shot(t, ctx, dir, "1-rooms")

	// Alice's daemon calls; the page rings and answers.
	alice.run(0, "", "call", room, "--no-wait")
	if err := waitFor(ctx, chromedp.WaitVisible(chromedp.CSS(`#answer`))); err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('error').textContent + ' | ' + document.getElementById('call').outerHTML`))
		t.Fatalf("the page never rang: %v; page: %s; bob's calls: %+v", err, msg, bob.calls())
	}
	shot(t, ctx, dir, "2-ringing")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#answer`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "video from alice", func() bool { f, a, _ := pageStats(ctx); return f >= 30 && a >= 20 })
	a := alice.waitCall(t, "with the browser's media", func(c callJSON) bool {
		return c.State == "active" && c.frames() >= 30 && c.Stats.AudioPackets >= 20
	})
	f, ap, path := pageStats(ctx)
	t.Logf("browser answered: page decoded %.0f frames, %.0f audio packets, path %s; alice got %d frames, %d audio packets", f, ap, path, a.frames(), a.Stats.AudioPackets)
	// Mute and camera off stop the page's own tracks, and back on.
	for _, b := range []struct{ button, kind string }{{"#mute", "audio"}, {"#camera", "video"}} {
		click(t, ctx, b.button)
		if on := evalPage[bool](ctx, `localTracks('`+b.kind+`').some(t => t.enabled)`); on {
			t.Errorf("%s left the %s on", b.button, b.kind)
		}
	}
	shot(t, ctx, dir, "3-in-call")
	click(t, ctx, "#mute")
	if !evalPage[bool](ctx, `localTracks('audio').every(t => t.enabled)`) {
		t.Error("unmute left the microphone off")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#hangup`))); err != nil {
		t.Fatal(err)
	}
	alice.waitCall(t, "hung up by the page", func(c callJSON) bool { return c.State == "ended" && c.Reason == "hung up by the other side" })

	// The page calls; alice's daemon answers.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rooms button.call[data-room="`+room+`"]`))); err != nil {
		t.Fatal(err)
	}
	alice.waitCall(t, "ringing from the page", func(c callJSON) bool { return c.State == "ringing" && c.Direction == "incoming" })
	alice.run(0, "", "answer")
	alice.waitCall(t, "with the page's media", func(c callJSON) bool {
		return c.State == "active" && c.Direction == "incoming" && c.frames() >= 30
	})
	chromedp.Run(ctx, chromedp.Evaluate[any](`window.hearthStats = null`))
	waitPage(t, ctx, "video from alice on the call it placed", func() bool { f, _, _ := pageStats(ctx); return f >= 30 })
	shot(t, ctx, dir, "4-page-called")
	var bc []callJSON
	waitPage(t, ctx, "the page's stats at bob's daemon", func() bool {
		bc = bob.calls()
		last := bc[len(bc)-1]
		return last.frames() >= 30
	})
	alice.run(0, "", "hangup")
	if err := waitFor(ctx, chromedp.WaitNotVisible(chromedp.CSS(`#call`))); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, dir, "5-ended")

	// No other origin, host or tokenless request gets in.
	u, _ := url.Parse(st.Web)
	token := strings.TrimPrefix(u.Fragment, "token=")
	api := "http://" + u.Host + "/api/rooms"
	for name, c := range map[string]struct {
		host, origin, auth string
		want               int
	}{
		"token":          {"", "", "Bearer " + token, 200},
		"no token":       {"", "", "", 401},
		"wrong token":    {"", "", "Bearer 00", 401},
		"foreign origin": {"", "http://evil.example", "Bearer " + token, 403},
		"foreign host":   {"evil.example", "", "Bearer " + token, 403},
	} {
		req, _ := http.NewRequest("GET", api, nil)
		if c.host != "" {
			req.Host = c.host
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.want)
		}
	}
}

// TestBrowserGroupCall: the page places a group call in a room of three;
// both other daemons answer, join each other, and the page shows both
// streams, each decoded.
func TestBrowserGroupCall(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	alice := newDaemon(t, "alice", "--public") // the DHT and relay through which bob finds carol
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice), "--web", "127.0.0.1:0")
	carol := newDaemon(t, "carol", "--bootstrap", tcpAddr(t, alice))
	var created struct{ Room string }
	alice.json(&created, "room", "create", "three")
	room := created.Room
	for _, d := range []*daemon{bob, carol} {
		var inv struct{ Link string }
		alice.json(&inv, "room", "invite", room)
		d.run(0, "", "room", "join", inv.Link)
	}
	converge(t, room, 0, alice, bob, carol)
	// Bob's view has every member's device (the devices it will ring).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var m struct {
			Members []struct{ Devices []struct{ Device string } }
		}
		bob.json(&m, "room", "members", room)
		n := 0
		for _, x := range m.Members {
			if len(x.Devices) > 0 {
				n++
			}
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's room has %d members with devices", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var st struct{ Web string }
	bob.json(&st, "status")
	if err := chromedp.Do(ctx, chromedp.Navigate(st.Web), chromedp.WaitVisible(chromedp.CSS(`#rooms button.group`))); err != nil {
		t.Fatalf("the page: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rooms button.group[data-room="`+room+`"]`))); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*daemon{alice, carol} {
		d.waitCall(t, "ringing", func(c callJSON) bool { return c.State == "ringing" })
		d.run(0, "", "answer")
	}
	// Each of alice and carol: a call with bob's page and one with the
	// other, media on both.
	for _, d := range []*daemon{alice, carol} {
		deadline := time.Now().Add(45 * time.Second)
		for {
			n := 0
			for _, c := range d.calls() {
				if c.State == "active" && c.frames() >= 20 {
					n++
				}
			}
			if n == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d calls with media, want 2: %+v", d.name, n, d.calls())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitPage(t, ctx, "two streams decoded", func() bool {
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`Object.values(window.hearthCallStats || {}).filter((s) => s.video_frames >= 20).length`))
		tiles, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelectorAll('#tiles video').length`))
		return n == 2 && tiles == 2
	})
	shot(t, ctx, dir, "group-call")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#hangup`))); err != nil {
		t.Fatal(err)
	}
	// The page left; alice and carol go on between themselves.
	alice.waitCall(t, "with carol still", func(c callJSON) bool { return c.State == "active" })
	alice.run(0, "", "hangup")
	carol.waitCall(t, "all ended", func(c callJSON) bool {
		for _, x := range carol.calls() {
			if x.State != "ended" {
				return false
			}
		}
		return true
	})
}

// TestBrowserDoor: the doorphone's page on the simulated board shows the
// door, its LED and its buttons; a long press on the page opens pairing
// mode and shows the invite, which a phone joins with; a press on the page
// rings the phone; the phone's page unlocks the door.
func TestBrowserDoor(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	door := newDaemon(t, "door", "--role", "doorphone", "--hal", "sim", "--web", "127.0.0.1:0", "--ring-timeout", "20s")
	var st struct{ Web string }
	door.json(&st, "status")
	if err := chromedp.Do(ctx, chromedp.Navigate(st.Web), chromedp.WaitVisible(chromedp.CSS(`#door-press`))); err != nil {
		t.Fatalf("the door's page: %v", err)
	}
	doorState := func() map[string]any {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`window.hearthDoor || {}`))
		return s
	}
	waitPage(t, ctx, "door state", func() bool { return doorState()["state"] == "idle" })
	shot(t, ctx, dir, "1-door-idle")

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#door-long`))); err != nil {
		t.Fatal(err)
	}
	var link string
	waitPage(t, ctx, "pairing mode", func() bool {
		link, _ = doorState()["pairing"].(string)
		return link != "" && doorState()["led"] == "pairing"
	})
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#door-link`))); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, dir, "2-door-pairing")

	phone := newDaemon(t, "phone", "--bootstrap", tcpAddr(t, door), "--web", "127.0.0.1:0")
	var joined struct{ Room string }
	phone.json(&joined, "room", "join", link)
	var me struct{ Identity string }
	phone.json(&me, "id", "show")
	door.run(0, "", "room", "role", joined.Room, me.Identity, "admin")

	// A press on the page rings the phone.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#door-press`))); err != nil {
		t.Fatal(err)
	}
	phone.waitCall(t, "the door's ring", func(c callJSON) bool { return c.State == "ringing" && c.Direction == "incoming" })
	waitPage(t, ctx, "ringing", func() bool { return doorState()["state"] == "ringing" })
	shot(t, ctx, dir, "3-door-ringing")

	// The phone's page, while it rings: the ring's picture and an Unlock
	// button on the call's card; it unlocks the door from there.
	var pst struct{ Web string }
	phone.json(&pst, "status")
	if err := chromedp.Do(ctx, chromedp.Navigate(pst.Web), chromedp.WaitVisible(chromedp.CSS(`#call-unlock`))); err != nil {
		t.Fatalf("the phone's page: %v", err)
	}
	waitPage(t, ctx, "the ring's picture on the ringing card", func() bool {
		return evalPage[float64](ctx, `(() => { const i = document.getElementById('call-snapshot'); return i.hidden ? 0 : i.naturalWidth; })()`) > 0
	})
	shot(t, ctx, dir, "3-phone-ringing")
	click(t, ctx, `#call-unlock`)
	waitPage(t, ctx, "the door opened", func() bool {
		u, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`window.hearthUnlock || {}`))
		return u["opened"] == true
	})
	shot(t, ctx, dir, "4-phone-unlocked")
	click(t, ctx, `#hangup`) // declines the ring
	var ds struct {
		Unlocks     int `json:"unlocks"`
		RelayPulses int `json:"relay_pulses"`
	}
	door.json(&ds, "door", "status")
	if ds.Unlocks != 1 || ds.RelayPulses != 1 {
		t.Fatalf("door after the unlock: %+v", ds)
	}

	// The phone's page asks for the live view once the ring is over: the
	// door calls it back, the page answers by itself (muted) and shows
	// the door's camera; hanging up ends it.
	waitFor := func(what string, cond func(map[string]any) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var d map[string]any
			door.json(&d, "door", "status")
			if cond(d) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %v", what, d)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("the door idle", func(d map[string]any) bool { return d["state"] == "idle" })
	click(t, ctx, `#rooms button.view`)
	waitPage(t, ctx, "the door's camera on the phone's page", func() bool {
		frames, _, _ := pageStats(ctx)
		return frames >= 15
	})
	if muted := evalPage[bool](ctx, `!!document.querySelector('#call[data-view=true]') && localTracks('audio').every((t) => !t.enabled)`); !muted {
		t.Fatal("the live view is not marked, or the page's microphone is not muted")
	}
	waitFor("the door showing who watches", func(d map[string]any) bool { return d["viewing"] == me.Identity })
	shot(t, ctx, dir, "5-phone-live-view")
	click(t, ctx, `#hangup`)
	waitFor("the live view over", func(d map[string]any) bool { return d["viewing"] == nil })
}

// evalPage evaluates a JavaScript expression on the page.
func evalPage[T any](ctx context.Context, expr string) T {
	v, _ := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	return v
}

// click clicks the first element a CSS selector finds, failing the test
// after 30 s.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	// The page re-renders lists as news comes in: a node found by the
	// selector may be replaced before the click lands. Such a click is
	// tried again on the new node.
	for try := 0; ; try++ {
		err := waitFor(ctx, chromedp.Click(chromedp.CSS(sel)))
		if err == nil {
			return
		}
		if try < 5 && (strings.Contains(err.Error(), "Could not find node with given id") || strings.Contains(err.Error(), "detached")) {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		t.Fatalf("click %s: %v", sel, err)
	}
}

func typeIn(t *testing.T, ctx context.Context, sel, text string) {
	t.Helper()
	if err := waitFor(ctx, chromedp.SetValue(chromedp.CSS(sel), text)); err != nil {
		t.Fatalf("type into %s: %v", sel, err)
	}
}

// TestBrowserRooms drives two homes' pages through everything a person
// does in rooms without the CLI: create a room, invite (link and QR code,
// with approval), join by link, approve the request, chat live, reply,
// edit, react, delete, unread counts, roles, send a picture by the file
// picker (it shows inline on the other page, byte for byte), leave.
func TestBrowserRooms(t *testing.T) {
	actx := browser(t)
	dir := artifacts(t)
	alice := newDaemon(t, "alice", "--web", "127.0.0.1:0")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice), "--web", "127.0.0.1:0")
	var ast, bst struct{ Web string }
	alice.json(&ast, "status")
	bob.json(&bst, "status")
	// Two tabs of one browser: alice's page, then bob's.
	a := actx
	if err := chromedp.Do(a, chromedp.Navigate(ast.Web), chromedp.WaitVisible(chromedp.CSS(`#create-room`))); err != nil {
		t.Fatal(err)
	}
	b, cancelB := chromedp.NewContext(a)
	defer cancelB()
	if err := chromedp.Do(b, chromedp.Navigate(bst.Web), chromedp.WaitVisible(chromedp.CSS(`#create-room`))); err != nil {
		t.Fatal(err)
	}

	// Alice creates a room and invites with approval.
	typeIn(t, a, `#new-room`, "family")
	click(t, a, `#create-room`)
	if err := waitFor(a, chromedp.WaitVisible(chromedp.CSS(`#show-invite`))); err != nil {
		t.Fatal(err)
	}
	click(t, a, `#show-invite`)
	if err := chromedp.Do(a, chromedp.SetValue(chromedp.CSS(`#invite-uses`), "2")); err != nil {
		t.Fatal(err)
	}
	click(t, a, `#invite-approve`)
	click(t, a, `#invite-make`)
	var link string
	waitPage(t, a, "the invite and its QR code", func() bool {
		link = evalPage[string](a, `(document.getElementById('invite-link') || {}).textContent || ''`)
		return strings.HasPrefix(link, "hearth://join/") && evalPage[float64](a, `(document.querySelector('#invite-out img.qr') || {}).naturalWidth || 0`) > 0
	})
	shot(t, a, dir, "1-alice-invite")

	// Bob joins by the link; it waits for Alice's approval.
	typeIn(t, b, `#join-link`, link)
	click(t, b, `#join`)
	click(t, a, `#show-requests`)
	deadline := time.Now().Add(90 * time.Second)
	asked := time.Now()
	for !evalPage[bool](a, `!!document.querySelector('#requests button.approve')`) {
		if time.Now().After(deadline) {
			t.Fatalf("no request on alice's page (%q, %q); bob's page says %q / %q; alice's requests: %s", evalPage[string](a, `document.getElementById('error').textContent`),
				evalPage[string](a, `document.getElementById('panel').innerHTML`), evalPage[string](b, `document.getElementById('error').textContent`),
				evalPage[string](b, `document.getElementById('notice').textContent`), alice.run(0, "", "room", "requests", "family", "--json"))
		}
		time.Sleep(500 * time.Millisecond)
		if time.Since(asked) > 10*time.Second && evalPage[bool](a, `!!document.querySelector('#requests')`) {
			click(t, a, `#show-requests`) // the list was made before the request came
			asked = time.Now()
		}
	}
	shot(t, a, dir, "2-alice-requests")
	waitPage(t, b, "bob's page waiting", func() bool { return evalPage[bool](b, `!!window.hearthJoinWaiting`) })
	if !strings.Contains(evalPage[string](b, `document.getElementById('notice').textContent`), "approve") {
		t.Errorf("bob's page does not say it waits for approval: %q", evalPage[string](b, `document.getElementById('notice').textContent`))
	}
	shot(t, b, dir, "2-bob-waiting")
	click(t, a, `#requests button.approve`)
	var roomID string
	deadline = time.Now().Add(2 * time.Minute)
	for roomID == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the room never showed on bob's page: %q", evalPage[string](b, `document.getElementById('error').textContent`))
		}
		time.Sleep(300 * time.Millisecond)
		roomID = evalPage[string](b, `(document.querySelector('#rooms li[data-room]') || {dataset: {}}).dataset.room || ''`)
	}
	click(t, b, `#rooms li[data-room] .name`)

	// Chat, live both ways.
	typeIn(t, b, `#text`, "hello alice")
	click(t, b, `#send`)
	waitPage(t, a, "bob's message on alice's page", func() bool {
		return evalPage[bool](a, `[...document.querySelectorAll('#messages .msg .text')].some(e => e.textContent === 'hello alice')`)
	})
	// Alice replies to it, then edits her reply.
	click(t, a, `#messages .msg:last-child button.reply`)
	typeIn(t, a, `#text`, "hi bob")
	click(t, a, `#send`)
	waitPage(t, b, "the reply", func() bool {
		return evalPage[bool](b, `[...document.querySelectorAll('#messages .msg')].some(e => e.querySelector('.quote') && e.querySelector('.text').textContent === 'hi bob')`)
	})
	click(t, a, `#messages .msg.mine:last-child button.edit`)
	typeIn(t, a, `#text`, "hi bob, welcome")
	click(t, a, `#send`)
	waitPage(t, b, "the edit", func() bool {
		return evalPage[bool](b, `[...document.querySelectorAll('#messages .msg .text')].some(e => e.textContent === 'hi bob, welcome (edited)')`)
	})
	// Bob likes it.
	click(t, b, `#messages .msg:last-child button.like`)
	waitPage(t, a, "the reaction", func() bool {
		return evalPage[bool](a, `[...document.querySelectorAll('#messages .reaction')].some(e => e.textContent === '👍 1')`)
	})
	// Who wrote from which device.
	// Who wrote: the author's name once (the device is named too when its
	// name is another).
	if head := evalPage[string](a, `document.querySelector('#messages .msg:not(.mine) .head').textContent`); !strings.HasPrefix(head, "bob · ") || strings.Count(head, "bob") != 1 {
		t.Errorf("bob's message's header: %q", head)
	}
	shot(t, b, dir, "3-bob-chat")

	// Bob deletes his first message (two clicks: it cannot be undone).
	click(t, b, `#messages .msg.mine button.delete`)
	click(t, b, `#messages .msg.mine button.delete`)
	waitPage(t, a, "the deletion", func() bool {
		return evalPage[bool](a, `[...document.querySelectorAll('#messages .msg .text')].some(e => e.textContent === '(deleted)')`)
	})

	// Unread: bob looks at another room while alice writes.
	typeIn(t, b, `#new-room`, "other")
	click(t, b, `#create-room`)
	waitPage(t, b, "the other room open", func() bool {
		return evalPage[string](b, `document.getElementById('chat-title').textContent`) == "other"
	})
	typeIn(t, a, `#text`, "are you there?")
	click(t, a, `#send`)
	sel := `#rooms li[data-room="` + roomID + `"] .unread`
	waitPage(t, b, "an unread count", func() bool {
		return evalPage[string](b, `(document.querySelector('`+sel+`') || {}).textContent || ''`) == "1"
	})
	shot(t, b, dir, "4-bob-unread")
	click(t, b, `#rooms li[data-room="`+roomID+`"] .name`)
	waitPage(t, b, "the count cleared", func() bool { return evalPage[bool](b, `document.querySelector('`+sel+`').hidden`) })

	// A picture by the file picker: it shows inline on bob's page, and
	// its bytes are the file's.
	img := filepath.Join(t.TempDir(), "garden.png")
	pic := testPNG(t, img)
	if err := chromedp.Do(a, chromedp.SetUploadFiles(chromedp.CSS(`#file`), []string{img})); err != nil {
		t.Fatal(err)
	}
	waitPage(t, b, "the picture inline", func() bool {
		return evalPage[float64](b, `(document.querySelector('#messages img.inline') || {}).naturalWidth || 0`) == 64
	})
	got := evalPage[string](b, `(async () => { const u = document.querySelector('#messages img.inline').src;
		const buf = await (await fetch(u)).arrayBuffer();
		return [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))].map(x => x.toString(16).padStart(2, '0')).join(''); })()`)
	if want := fmt.Sprintf("%x", sha256.Sum256(pic)); got != want {
		t.Fatalf("the picture on bob's page: sha256 %s, want %s", got, want)
	}
	shot(t, b, dir, "5-bob-picture")
	// Nothing of the page's own needs an emoji font: its icons are drawn,
	// with words (a reaction's emoji stays its text, beside its drawing).
	if bad := evalPage[string](b, `(() => {
		const out = [];
		for (const e of document.querySelectorAll('button, .file > span, .door-event, .msg .text')) {
			const c = e.cloneNode(true);
			c.querySelectorAll('.sr').forEach((x) => x.remove());
			if (/\p{Extended_Pictographic}/u.test(c.textContent)) out.push(c.textContent.trim());
		}
		return out.join(' | ');
	})()`); bad != "" {
		t.Errorf("the page relies on an emoji font: %s", bad)
	}

	// Roles: alice makes bob a moderator.
	click(t, a, `#show-members`)
	if err := waitFor(a, chromedp.SetValue(chromedp.CSS(`#members select.role`), "moderator")); err != nil {
		t.Fatal(err)
	}
	evalPage[bool](a, `document.querySelector('#members select.role').dispatchEvent(new Event('change')) || true`)
	waitPage(t, a, "bob a moderator", func() bool {
		var ms struct {
			Members []struct{ Identity, Role string }
		}
		alice.json(&ms, "room", "members", roomID)
		for _, m := range ms.Members {
			if m.Identity == bob.identity() {
				return m.Role == "moderator"
			}
		}
		return false
	})
	shot(t, a, dir, "6-alice-members")

	// Bob leaves the other room.
	click(t, b, `#rooms li[data-room]:not([data-room="`+roomID+`"]) .name`)
	click(t, b, `#leave`)
	click(t, b, `#leave`)
	waitPage(t, b, "the room gone", func() bool {
		return evalPage[float64](b, `document.querySelectorAll('#rooms li[data-room]').length`) == 1
	})
}

// testPNG writes a 64x64 picture and returns its bytes.
func testPNG(t *testing.T, path string) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			m.Set(x, y, color.RGBA{uint8(4 * x), uint8(4 * y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestBrowserMirror: a mirror's page shows what it keeps (ciphertext
// only) against its budget, pinned rooms marked.
func TestBrowserMirror(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	m := newDaemon(t, "mirror", "--mirror", "--mirror-budget", "100MiB", "--web", "127.0.0.1:0")
	var created struct{ Room string }
	m.json(&created, "room", "create", "attic")
	m.run(0, "", "room", "send", created.Room, "kept while everyone is away")
	m.run(0, "", "mirror", "keep", created.Room, "--pin")
	var st struct{ Web string }
	m.json(&st, "status")
	if err := chromedp.Do(ctx, chromedp.Navigate(st.Web), chromedp.WaitVisible(chromedp.CSS(`#mirror-rooms li`))); err != nil {
		t.Fatalf("the mirror's page: %v", err)
	}
	waitPage(t, ctx, "the kept room", func() bool {
		return strings.Contains(evalPage[string](ctx, `document.getElementById('mirror-rooms').textContent`), "attic · pinned")
	})
	if !evalPage[bool](ctx, `document.querySelector('#mirror-rooms li').dataset.own === 'true'`) {
		t.Fatal("the mirror's own room at 0 bytes without its note")
	}
	use := evalPage[string](ctx, `document.getElementById('mirror-use').textContent`)
	if !strings.Contains(use, "of a budget of 100.0 MiB") {
		t.Fatalf("the mirror's use: %q", use)
	}
	shot(t, ctx, dir, "mirror")

	// You: the identity, its devices, a link for a new device with its
	// QR code.
	click(t, ctx, "#show-identity")
	waitPage(t, ctx, "this device", func() bool {
		return strings.Contains(evalPage[string](ctx, `document.getElementById('devices').textContent`), "mirror (this device)")
	})
	click(t, ctx, "#link-device")
	waitPage(t, ctx, "the device link and its QR code", func() bool {
		return strings.HasPrefix(evalPage[string](ctx, `(document.getElementById('device-link') || {}).textContent || ''`), "hearth://link/") &&
			evalPage[float64](ctx, `(document.querySelector('#link-out img.qr') || {}).naturalWidth || 0`) > 0
	})
	shot(t, ctx, dir, "identity")

	// A second device joins with the page's link; the page revokes it
	// with the 24 words, which only the browser sees.
	link := evalPage[string](ctx, `document.getElementById('device-link').textContent`)
	out, stderr, code := hearth(t, "", "device", "join", link, "--home", filepath.Join(t.TempDir(), "laptop"), "--name", "laptop", "--no-mdns",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", tcpAddr(t, m), "--wait", "30s", "--json")
	if code != 0 || !strings.Contains(out, `"linked":true`) {
		t.Fatalf("device join: exit %d: %s %s", code, out, stderr)
	}
	click(t, ctx, "#show-identity") // closes
	click(t, ctx, "#show-identity") // and reads the devices again
	sel := `#devices li:not(.muted) button.revoke`
	waitPage(t, ctx, "the laptop with its Revoke button", func() bool {
		return evalPage[float64](ctx, `document.querySelectorAll('`+sel+`').length`) == 1
	})
	click(t, ctx, sel)
	tryWords := func(words, want string) {
		t.Helper()
		evalPage[any](ctx, `document.getElementById('error').textContent = ''`)
		typeIn(t, ctx, "#revoke-phrase", words)
		click(t, ctx, "#revoke-go")
		waitPage(t, ctx, "the error: "+want, func() bool {
			return strings.Contains(evalPage[string](ctx, `document.getElementById('error').textContent`), want)
		})
		if left := evalPage[string](ctx, `document.getElementById('revoke-phrase').value`); left != "" {
			t.Fatalf("the words stay in the form after a try: %q", left)
		}
	}
	words := strings.Fields(m.phrase)
	tryWords(strings.Join(words[:23], " "), "23 words")
	swapped := append([]string{words[1], words[0]}, words[2:]...)
	if words[0] != words[1] {
		tryWords(strings.Join(swapped, " "), "do not check out")
	}
	tryWords(strings.Repeat("abandon ", 23)+"art", "another identity")
	typeIn(t, ctx, "#revoke-phrase", strings.ToUpper(m.phrase)) // as a person might type it
	click(t, ctx, "#revoke-go")
	waitPage(t, ctx, "the revocation", func() bool {
		return evalPage[bool](ctx, `!!(window.hearthRevoked && window.hearthRevoked.revoked)`)
	})
	var devs struct {
		Devices []struct {
			Name    string
			Revoked bool
		}
	}
	m.json(&devs, "id", "devices")
	if len(devs.Devices) != 2 || devs.Devices[0].Revoked == devs.Devices[1].Revoked {
		t.Fatalf("devices after the page's revocation: %+v", devs.Devices)
	}
	for _, d := range devs.Devices {
		if d.Name == "mirror" && d.Revoked {
			t.Fatalf("the page revoked its own device: %+v", devs.Devices)
		}
	}
	waitPage(t, ctx, "the laptop shown revoked", func() bool {
		return strings.Contains(evalPage[string](ctx, `document.getElementById('devices').textContent`), "revoked")
	})
	shot(t, ctx, dir, "revoked")
	m.stop() // and its log is checked for its secrets (ended)
}
