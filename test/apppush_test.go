package test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/hearthp2p/hearth/internal/webpush"
)

// pushService is a Web Push service on loopback, as a browser vendor
// runs one (RFC 8030's POST side), for one subscription whose keys the
// test made: it checks the sender's VAPID token (RFC 8292) and decrypts
// each message (RFC 8291) as the browser's push client would.
type pushService struct {
	*httptest.Server
	endpoint string
	ua       *ecdh.PrivateKey
	auth     []byte

	mu   sync.Mutex
	got  chan pushed
	errs []string
}

type pushed struct {
	plain            []byte
	vapid            []byte // the sender's public key
	ttl, urgency, to string
	sub              string // the sender's contact (its VAPID token's sub)
}

// vapidSub is the sub claim of a VAPID Authorization header ("vapid
// t=JWT, k=KEY"): who the sender says it is.
func vapidSub(header string) string {
	_, rest, _ := strings.Cut(header, "t=")
	tok, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct{ Sub string }
	json.Unmarshal(b, &claims)
	return claims.Sub
}

func newPushService(t *testing.T) *pushService {
	t.Helper()
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ps := &pushService{ua: ua, auth: make([]byte, 16), got: make(chan pushed, 8)}
	rand.Read(ps.auth)
	id := make([]byte, 12)
	rand.Read(id)
	path := "/push/" + hex.EncodeToString(id)
	ps.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(code int, why string) {
			ps.mu.Lock()
			ps.errs = append(ps.errs, why)
			ps.mu.Unlock()
			http.Error(w, why, code)
		}
		switch {
		case r.Method != http.MethodPost:
			fail(http.StatusMethodNotAllowed, "not a POST")
			return
		case r.URL.Path != path:
			fail(http.StatusNotFound, "no such subscription")
			return
		case r.Header.Get("Content-Encoding") != "aes128gcm":
			fail(http.StatusUnsupportedMediaType, "content encoding "+r.Header.Get("Content-Encoding"))
			return
		}
		key, err := webpush.VerifyAuthorization(r.Header.Get("Authorization"), ps.endpoint, time.Now())
		if err != nil {
			fail(http.StatusUnauthorized, "vapid: "+err.Error())
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		plain, err := webpush.Decrypt(body, ps.ua, ps.auth)
		if err != nil {
			fail(http.StatusBadRequest, "decrypt: "+err.Error())
			return
		}
		w.WriteHeader(http.StatusCreated)
		ps.got <- pushed{plain: plain, vapid: key, ttl: r.Header.Get("TTL"), urgency: r.Header.Get("Urgency"), to: r.Header.Get("Topic"),
			sub: vapidSub(r.Header.Get("Authorization"))}
	}))
	t.Cleanup(ps.Close)
	ps.endpoint = ps.URL + path
	return ps
}

// subscription is the subscription as PushSubscription.toJSON gives it.
func (ps *pushService) subscription() map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	return map[string]any{"endpoint": ps.endpoint, "keys": map[string]string{"p256dh": b64(ps.ua.PublicKey().Bytes()), "auth": b64(ps.auth)}}
}

// TestAppRingsWhileClosed: the app's page is closed; the door rings, and
// the ring reaches the phone as a push: the door encrypts it to the
// subscription the app gave the household room and signs it with the
// room's VAPID key; a push service on loopback takes it as a vendor's
// would, decrypts it as the browser's push client would, and hands it to
// the app's service worker (DevTools' ServiceWorker.deliverPushMessage:
// Chromium cannot subscribe to its vendor's service here). The service
// worker shows "… is ringing" with Answer and Unlock; Answer opens the
// app, which answers the ring once the door rings it again over the
// connection the app makes, and the door's first frame arrives. (The test
// opens the address the Answer's tap opens: a script cannot tap a
// notification.)
func TestAppRingsWhileClosed(t *testing.T) {
	dir := artifacts(t)
	ps := newPushService(t)
	webrtc := "/ip4/127.0.0.1/udp/0/webrtc-direct"
	door := newDaemon(t, "door", "--role", "doorphone", "--hal", "sim", "--listen", webrtc, "--ring-timeout", "60s", "--push-service", ps.URL)
	// Alice's daemon, rung by the door, pushes the ring too, once.
	alice := newDaemon(t, "alice", "--bootstrap", tcpAddr(t, door), "--listen", webrtc, "--web", "127.0.0.1:0", "--push-service", ps.URL)
	room := joinHousehold(t, door, alice, "")

	var link struct{ Link, App string }
	alice.json(&link, "device", "link")
	ctx := phone(t)
	// Watch the service worker registrations (for deliverPushMessage).
	var regMu sync.Mutex
	var regs []*serviceworker.Registration
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			regMu.Lock()
			regs = append(regs, e.Registrations...)
			regMu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	openApp(t, ctx, link.App, "alice's phone")
	me := appCall[struct{ Device string }](t, ctx, "the app's device", `hearthApp.start()`)
	var key string
	waitPage(t, ctx, "the household room's push key in the app", func() bool {
		key = appCall[string](t, ctx, "the push key", `hearthApp.pushKey()`)
		return key != ""
	})
	// The subscription, made by the test (the stand-in for
	// pushManager.subscribe), given to the rooms as the app gives it.
	if n := appCall[int](t, ctx, "registering the subscription", `hearthApp.registerPush(`+jsArg(ps.subscription())+`)`); n != 1 {
		t.Fatalf("the subscription went to %d rooms, want the household's", n)
	}
	eventually(t, "the door knowing the app's subscription", func() bool { return roomDevices(door, room)[me.Device].Push })
	u, _ := url.Parse(link.App)
	origin := u.Scheme + "://" + u.Host
	// The person allowed the app's notifications when it asked (the
	// stand-in for the permission prompt).
	for _, perm := range []*cdpbrowser.PermissionDescriptor{{Name: "notifications"}, {Name: "push", UserVisibleOnly: true}} {
		if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{Permission: perm, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chromedp.Call(ctx, serviceworker.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	var regID serviceworker.RegistrationID
	waitPage(t, ctx, "the app's service worker registration", func() bool {
		regMu.Lock()
		defer regMu.Unlock()
		for _, r := range regs {
			if strings.HasPrefix(r.ScopeURL, origin+"/app/") && !r.IsDeleted {
				regID = r.RegistrationID
			}
		}
		return regID != ""
	})

	// The app is closed: its page is gone, its service worker stays.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	door.run(0, "", "door", "press")
	var p pushed
	select {
	case p = <-ps.got:
	case <-time.After(30 * time.Second):
		ps.mu.Lock()
		t.Fatalf("no push came to the push service (refused: %q)", ps.errs)
	}
	if base64.RawURLEncoding.EncodeToString(p.vapid) != key {
		t.Fatal("the push is signed with another key than the room's")
	}
	if p.urgency != "high" || p.to != "ring" || p.ttl == "" || p.ttl == "0" {
		t.Fatalf("the push's headers: urgency %q, topic %q, TTL %q", p.urgency, p.to, p.ttl)
	}
	var ring struct{ Type, Call, Room, Door string }
	if err := json.Unmarshal(p.plain, &ring); err != nil || ring.Type != "ring" || ring.Call == "" || ring.Room != room {
		t.Fatalf("the push: %s (%v)", p.plain, err)
	}
	// The same ring, pushed by the door and by alice's daemon, once each.
	var st struct{ Device string }
	senders := map[string]int{}
	for _, d := range []*daemon{door, alice} {
		d.json(&st, "status")
		senders["mailto:hearth@"+st.Device[:16]+".hearth.invalid"] = 0
	}
	senders[p.sub]++
	select {
	case p2 := <-ps.got:
		senders[p2.sub]++
		var ring2 struct{ Call string }
		if json.Unmarshal(p2.plain, &ring2); ring2.Call != ring.Call {
			t.Fatalf("the second push is of another ring: %s", p2.plain)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("one push only: the door and alice's daemon each push a ring")
	}
	if len(senders) != 2 || slices.Contains(slices.Collect(maps.Values(senders)), 0) {
		t.Fatalf("the ring's pushes came from %v, want the door and alice's daemon once each", senders)
	}
	select {
	case p3 := <-ps.got:
		t.Fatalf("a third push for one ring, from %s", p3.sub)
	case <-time.After(3 * time.Second):
	}
	// Attached to first: a worker started for a push while DevTools
	// auto-attaches would wait for its debugger.
	sw := serviceWorker(t, ctx, origin+"/app/")
	if _, err := chromedp.Call(ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{Origin: origin, RegistrationID: regID, Data: string(p.plain)}); err != nil {
		t.Fatal(err)
	}

	// The notification, as the service worker shows it; then a thumb on
	// its Answer.
	type note struct {
		Title   string
		Actions []string
	}
	var notes []note
	waitPage(t, sw, "the ring's notification", func() bool {
		notes = workerEval[[]note](t, sw, "the notifications", `self.registration.getNotifications().then((ns) => ns.map((n) => ({title: n.title, actions: n.actions.map((a) => a.action)})))`)
		return len(notes) == 1
	})
	if !strings.HasSuffix(notes[0].Title, "is ringing") || strings.Join(notes[0].Actions, ",") != "answer,unlock" {
		t.Fatalf("the notification: %+v", notes[0])
	}
	// A tap on Answer: the service worker opens the app at the address
	// its ringURL makes of the ring and the action. A script cannot tap a
	// notification (clients.openWindow needs the person's tap), so the
	// test opens that address in a new tab, as the tap would.
	answerURL := workerEval[string](t, sw, "the Answer's address", `self.registration.getNotifications().then(([n]) => ringURL(n.data, 'answer'))`)
	if !strings.HasPrefix(answerURL, origin+"/app/#") || !strings.Contains(answerURL, "do=answer") || !strings.Contains(answerURL, ring.Call) {
		t.Fatalf("Answer opens %q", answerURL)
	}
	page, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(page, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch), chromedp.Navigate(answerURL)); err != nil {
		t.Fatal(err)
	}
	door.waitCall(t, "the ring answered by the app opened from its notification", func(c callJSON) bool {
		return c.ID == ring.Call && c.State == "active" && c.Peer != nil && c.Peer.Name == "alice's phone"
	})
	var m appMedia
	waitPage(t, page, "the door's first frames on the phone", func() bool {
		m = appCall[appMedia](t, page, "the call's media", `hearthApp.callMedia(`+jsArg(ring.Call)+`)`)
		return m.Frames > 0
	})
	shot(t, page, dir, "8-answered-from-push")
	tap(t, page, "#call-hangup")
	door.waitCall(t, "the call over", func(c callJSON) bool { return c.ID == ring.Call && c.State == "ended" })
}

// serviceWorker attaches to the service worker whose scope is scope.
func serviceWorker(t *testing.T, ctx context.Context, scope string) context.Context {
	t.Helper()
	var id target.ID
	waitPage(t, ctx, "the service worker's target", func() bool {
		ts, err := chromedp.Targets(ctx)
		if err != nil {
			return false
		}
		for _, ti := range ts {
			if ti.Type == "service_worker" && strings.HasPrefix(ti.URL, scope) {
				id = ti.TargetID
				return true
			}
		}
		return false
	})
	sw, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	// A worker attached to may wait for its debugger before it runs its
	// event loop again.
	if _, err := chromedp.Call(sw, cdpruntime.RunIfWaitingForDebugger, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return sw
}

// workerEval evaluates expr in a worker and awaits its promise, as v.
// (chromedp's Evaluate awaits no promise in a worker.)
func workerEval[T any](t *testing.T, ctx context.Context, what, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var v T
	res, err := chromedp.Call(ctx, cdpruntime.Evaluate, cdpruntime.EvaluateParams{Expression: expr, AwaitPromise: new(true), ReturnByValue: new(true)})
	switch {
	case err != nil:
		t.Fatalf("%s: %v", what, err)
	case res.ExceptionDetails != nil:
		t.Fatalf("%s: %s %v", what, res.ExceptionDetails.Text, res.ExceptionDetails.Exception)
	}
	if res.Result != nil && res.Result.Value != nil {
		if err := json.Unmarshal(res.Result.Value, &v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	return v
}
