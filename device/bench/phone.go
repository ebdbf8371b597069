package bench

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/web/phone"
	"github.com/hearthp2p/hearth/internal/webpush"
)

// appSize is the phone's app as the daemon serves it (the WebAssembly and
// the bundle compressed with brotli), in bytes.
func appSize() (int64, error) {
	var n int64
	err := fs.WalkDir(phone.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}

// phoneFigures measures the phone's app in headless Chromium against a
// doorphone daemon and alice's daemon on loopback: the app's size and
// first load, a catch-up of n messages into it, answer to the door's
// first frame, and a ring to the notification its service worker shows
// with the page closed (through a Web Push service on loopback, as a
// browser vendor's would take and deliver it).
func phoneFigures(ctx context.Context, bin string, n int) (_ []Figure, err error) {
	size, err := appSize()
	if err != nil {
		return nil, err
	}
	out := []Figure{{Name: "phone app size", Value: float64(size) / (1 << 20), Unit: "MiB",
		Note: "as served and embedded: the WebAssembly and the bundle as brotli"}}
	if !phone.Built() {
		return out, errors.New("the binary embeds no app (scripts/web-build --embed)")
	}
	b, err := startBrowser(ctx)
	if err != nil {
		return out, err
	}
	defer b.close()

	// The push service: a vendor's, on loopback. It decrypts what the door
	// sends as the browser's push client would and hands it on.
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return out, err
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	pushed := make(chan []byte, 4)
	var endpoint string
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := webpush.VerifyAuthorization(r.Header.Get("Authorization"), endpoint, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8192))
		plain, err := webpush.Decrypt(body, ua, auth)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		select {
		case pushed <- plain:
		default:
		}
	}))
	defer ps.Close()
	endpoint = ps.URL + "/push/bench"

	// The doorphone, and alice's daemon with a room of n messages.
	bin, doorHome, doneDoor, err := newHome(ctx, bin, "door")
	if err != nil {
		return out, err
	}
	defer doneDoor()
	_, aliceHome, doneAlice, err := newHome(ctx, bin, "alice")
	if err != nil {
		return out, err
	}
	defer doneAlice()
	built, err := buildHistory(aliceHome, 1, n)
	if err != nil {
		return out, err
	}
	loop := []string{"--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/webrtc-direct"}
	door, err := startProcess(ctx, "the doorphone daemon", append([]string{bin, "daemon", "--home", doorHome, "--role", "doorphone", "--hal", "sim",
		"--ring-timeout", "60s", "--push-service", ps.URL, "--microphone", "synthetic", "--speaker", "none"}, loop...)...)
	if err != nil {
		return out, err
	}
	defer stopped(door, &err)
	doorC := control.NewClient(filepath.Join(doorHome, "hearth.sock"))
	var doorSt *control.Status
	if err := waitFor(ctx, time.Minute, func() bool {
		var err error
		doorSt, err = doorC.Status(ctx)
		return err == nil
	}); err != nil {
		return out, fmt.Errorf("the doorphone daemon: %w", err)
	}
	var boot string
	for _, a := range doorSt.Addrs {
		if strings.Contains(a, "/tcp/") {
			boot = a
		}
	}
	alice, err := startProcess(ctx, "alice's daemon", append([]string{bin, "daemon", "--home", aliceHome, "--web", "127.0.0.1:0", "--bootstrap", boot}, loop...)...)
	if err != nil {
		return out, err
	}
	defer stopped(alice, &err)
	aliceC := control.NewClient(filepath.Join(aliceHome, "hearth.sock"))
	var aliceSt *control.Status
	if err := waitFor(ctx, time.Minute, func() bool {
		var err error
		aliceSt, err = aliceC.Status(ctx)
		return err == nil
	}); err != nil {
		return out, fmt.Errorf("alice's daemon: %w", err)
	}
	household, err := pairWith(ctx, doorC, aliceC)
	if err != nil {
		return out, err
	}
	if err := doorC.Rooms.SetRole(ctx, household, aliceSt.Identity, "admin"); err != nil {
		return out, err
	}
	link, err := aliceC.DeviceLink(ctx, control.DeviceLinkRequest{})
	if err != nil {
		return out, err
	}
	if link.App == "" {
		return out, errors.New("alice's daemon gives no app link")
	}
	u, err := url.Parse(link.App)
	if err != nil {
		return out, err
	}
	origin := u.Scheme + "://" + u.Host
	for _, perm := range []map[string]any{{"name": "notifications"}, {"name": "push", "userVisibleOnly": true}} {
		if err := b.call(ctx, "", "Browser.setPermission", map[string]any{"permission": perm, "setting": "granted", "origin": origin}, nil); err != nil {
			return out, err
		}
	}

	// First load: a fresh profile opens the app until its core runs.
	appURL := origin + "/app/"
	t0 := time.Now()
	page, err := b.page(ctx, appURL)
	if err != nil {
		return out, err
	}
	if err := b.until(ctx, page, "the app's script", `typeof globalThis.hearthApp === 'object'`, time.Minute); err != nil {
		return out, err
	}
	if err := b.eval(ctx, page, `hearthApp.start().then(() => true)`, nil); err != nil {
		return out, fmt.Errorf("the app's start: %w", err)
	}
	out = append(out, Figure{Name: "phone app first load", Value: ms(time.Since(t0)), Unit: "ms",
		Note: "a fresh profile on loopback: the page, the WebAssembly compiled, the core and its node started"})

	// Catch-up: linked by alice's link, until the app shows her room whole.
	q, _ := url.ParseQuery(u.Fragment)
	want, err := roomCount(ctx, aliceC, built[0].room)
	if err != nil {
		return out, err
	}
	t0 = time.Now()
	if err := b.eval(ctx, page, fmt.Sprintf(`hearthApp.link(%s, %s, "bench phone").then(() => true)`, jsString(q.Get("link")), jsList(q["at"])), nil); err != nil {
		return out, fmt.Errorf("linking the app: %w", err)
	}
	if err := b.until(ctx, page, "the room whole in the app", fmt.Sprintf(`hearthApp.rooms().then((rs) => rs.some((r) => r.id === %s && r.messages >= %d))`, jsString(built[0].room), want), 10*time.Minute); err != nil {
		return out, err
	}
	took := time.Since(t0)
	out = append(out, Figure{Name: "phone catch-up", Value: float64(want) / took.Seconds(), Unit: "entries/s",
		Note: fmt.Sprintf("a room of %d messages into the app and the browser's storage (IndexedDB), from linking, in %.1f s", want, took.Seconds())})

	// Answer → first frame: the door rings the open app.
	sub := map[string]any{"endpoint": endpoint, "keys": map[string]string{
		"p256dh": base64.RawURLEncoding.EncodeToString(ua.PublicKey().Bytes()), "auth": base64.RawURLEncoding.EncodeToString(auth)}}
	subJSON, _ := json.Marshal(sub)
	if err := b.until(ctx, page, "the household's push key in the app", `hearthApp.pushKey().then((k) => k !== '')`, time.Minute); err != nil {
		return out, err
	}
	if err := b.eval(ctx, page, `hearthApp.registerPush(`+string(subJSON)+`).then(() => true)`, nil); err != nil {
		return out, fmt.Errorf("the app's push subscription: %w", err)
	}
	if err := b.until(ctx, page, "the app connected to the door", fmt.Sprintf(`hearthApp.connections().then((cs) => cs.some((c) => c.peer === %s))`, jsString(doorSt.PeerID)), time.Minute); err != nil {
		return out, err
	}
	if err := waitFor(ctx, time.Minute, func() bool { return pushKnown(ctx, doorC, household) }); err != nil {
		return out, fmt.Errorf("the door knowing the app's subscription: %w", err)
	}
	if _, err := doorC.Door.Press(ctx, control.DoorPress{}); err != nil {
		return out, err
	}
	if err := b.until(ctx, page, "the ring in the app", `hearthApp.calls().then((cs) => cs.some((c) => c.state === 'ringing' && c.door))`, time.Minute); err != nil {
		return out, err
	}
	var callID string
	if err := b.eval(ctx, page, `hearthApp.calls().then((cs) => cs.find((c) => c.state === 'ringing' && c.door).id)`, &callID); err != nil {
		return out, err
	}
	// The ring's push came too (the app was rung while open): drop it.
	select {
	case <-pushed:
	case <-time.After(10 * time.Second):
		return out, errors.New("the ring was not pushed")
	}
	if err := b.eval(ctx, page, `hearthApp.answer(`+jsString(callID)+`).then(() => true)`, nil); err != nil {
		return out, err
	}
	if err := b.until(ctx, page, "the door's first frame in the app", `hearthApp.callMedia(`+jsString(callID)+`).then((m) => m.first_frame_ms != null)`, time.Minute); err != nil {
		return out, err
	}
	var firstMS float64
	if err := b.eval(ctx, page, `hearthApp.callMedia(`+jsString(callID)+`).then((m) => m.first_frame_ms)`, &firstMS); err != nil {
		return out, err
	}
	out = append(out, Figure{Name: "phone answer → first frame", Value: firstMS, Unit: "ms",
		Note: "timed in the page: from the app's answer to the door's first video frame decoded in the browser (looked for every 5 ms)"})
	b.eval(ctx, page, `hearthApp.hangup(`+jsString(callID)+`).then(() => true)`, nil)
	if err := waitFor(ctx, time.Minute, func() bool {
		st, _ := doorC.Door.Status(ctx)
		return st != nil && st.State == "idle"
	}); err != nil {
		return out, fmt.Errorf("the door idle again: %w", err)
	}

	// Ring → notification, the app's page closed: the door's push, through
	// the push service, to the service worker, until it shows.
	regID := make(chan string, 1)
	b.on(func(m cdpMsg) {
		if m.Method != "ServiceWorker.workerRegistrationUpdated" {
			return
		}
		var p struct {
			Registrations []struct {
				ID      string `json:"registrationId"`
				Scope   string `json:"scopeURL"`
				Deleted bool   `json:"isDeleted"`
			} `json:"registrations"`
		}
		json.Unmarshal(m.Params, &p)
		for _, r := range p.Registrations {
			if r.Scope == appURL && !r.Deleted {
				select {
				case regID <- r.ID:
				default:
				}
			}
		}
	})
	if err := b.call(ctx, page, "Page.navigate", map[string]any{"url": "about:blank"}, nil); err != nil {
		return out, err
	}
	if err := b.call(ctx, page, "ServiceWorker.enable", map[string]any{}, nil); err != nil {
		return out, err
	}
	var reg string
	select {
	case reg = <-regID:
	case <-time.After(time.Minute):
		return out, errors.New("the app's service worker registration")
	}
	// Attached to first: a worker started while DevTools auto-attaches
	// may wait for its debugger.
	var sw string
	if err := waitFor(ctx, time.Minute, func() bool {
		ts, _ := b.targets(ctx)
		for _, ti := range ts {
			if ti.Type == "service_worker" && strings.HasPrefix(ti.URL, appURL) {
				sw, _ = b.attach(ctx, ti.ID)
			}
		}
		return sw != ""
	}); err != nil {
		return out, errors.New("the app's service worker")
	}
	t0 = time.Now()
	if _, err := doorC.Door.Press(ctx, control.DoorPress{}); err != nil {
		return out, err
	}
	var plain []byte
	select {
	case plain = <-pushed:
	case <-time.After(time.Minute):
		return out, errors.New("no push came for the ring")
	}
	if err := b.call(ctx, page, "ServiceWorker.deliverPushMessage", map[string]any{"origin": origin, "registrationId": reg, "data": string(plain)}, nil); err != nil {
		return out, err
	}
	if err := b.until(ctx, sw, "the ring's notification", `self.registration.getNotifications().then((ns) => ns.some((n) => n.tag === 'ring'))`, time.Minute); err != nil {
		return out, err
	}
	out = append(out, Figure{Name: "phone ring → notification", Value: ms(time.Since(t0)), Unit: "ms",
		Note: "the page closed: the press, the door's push encrypted and signed, a push service on loopback, the service worker's notification (counted at 5 ms)"})
	return out, nil
}

// roomCount is how many messages the daemon shows in room.
func roomCount(ctx context.Context, c *control.Client, room string) (int, error) {
	l, err := c.Rooms.List(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range l.Rooms {
		if r.Room == room {
			return r.Messages, nil
		}
	}
	return 0, fmt.Errorf("no room %s at the daemon", room)
}

// pushKnown says whether the door's household room holds a subscription.
func pushKnown(ctx context.Context, c *control.Client, room string) bool {
	ms, err := c.Rooms.Members(ctx, room)
	if err != nil {
		return false
	}
	for _, m := range ms.Members {
		for _, d := range m.Devices {
			if d.Push {
				return true
			}
		}
	}
	return false
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsList(s []string) string {
	if s == nil {
		s = []string{}
	}
	b, _ := json.Marshal(s)
	return string(b)
}
