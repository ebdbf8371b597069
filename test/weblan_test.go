package test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserLAN: the page on the LAN is served over HTTPS with the
// device's own certificate (the one 'hearth web cert' prints) and lets
// nobody in until the owner sets a password from the CLI; then the
// password opens a session whose token the page keeps (never a cookie,
// never in a URL), the page is a secure context (the camera works) and
// does what the loopback page does; logging out ends the token; foreign
// Host and Origin are refused; password guessing is rate-limited.
func TestBrowserLAN(t *testing.T) {
	d := newDaemon(t, "appliance", "--web-lan", "127.0.0.1:0")
	var st struct {
		Web     string `json:"web"`
		WebLAN  string `json:"web_lan"`
		WebCert string `json:"web_cert"`
	}
	d.json(&st, "status")
	if st.Web != "" || !strings.HasPrefix(st.WebLAN, "https://127.0.0.1:") || len(st.WebCert) != 95 {
		t.Fatalf("status: %+v", st)
	}
	var cert struct{ SHA256 string }
	d.json(&cert, "web", "cert")
	if cert.SHA256 != st.WebCert {
		t.Fatalf("web cert %q, the daemon serves %q", cert.SHA256, st.WebCert)
	}

	base, do, spki := lanClient(t, st.WebLAN, st.WebCert)
	login := func(pw string) (int, string) {
		b, _ := json.Marshal(map[string]string{"password": pw})
		return do("POST", "/api/login", "", string(b), nil)
	}

	// No password yet: nobody gets in.
	if code, body := login("anything at all"); code != http.StatusServiceUnavailable || !strings.Contains(body, "hearth web login") {
		t.Fatalf("login before a password is set: %d %s", code, body)
	}
	if code, _ := do("GET", "/api/rooms", "", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("the API without a session: %d", code)
	}
	// The loopback page's routes need its token, which the LAN page does
	// not take either.
	if code, _ := do("GET", "/api/v1/status", "0123", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("a made-up token: %d", code)
	}
	if _, stderr, code := hearth(t, "short", "web", "login", "--home", d.home); code == 0 || !strings.Contains(stderr, "too short") {
		t.Fatalf("a short password: %d %s", code, stderr)
	}
	const password = "correct horse battery"
	d.holds("the page's password", password)
	if _, stderr, code := hearth(t, password+"\n", "web", "login", "--home", d.home); code != 0 {
		t.Fatalf("web login: %s", stderr)
	}
	if code, body := login("wrong horse battery"); code != http.StatusUnauthorized || !strings.Contains(body, "wrong password") {
		t.Fatalf("a wrong password: %d %s", code, body)
	}
	// Foreign names (DNS rebinding) and origins are refused; plain HTTP
	// gets no page.
	port := base[strings.LastIndex(base, ":")+1:]
	if code, _ := do("GET", "/", "", "", map[string]string{"Host": "evil.example:" + port}); code != http.StatusForbidden {
		t.Fatalf("a foreign host: %d", code)
	}
	if code, _ := do("POST", "/api/login", "", `{"password":"x"}`, map[string]string{"Origin": "https://evil.example"}); code != http.StatusForbidden {
		t.Fatalf("a foreign origin: %d", code)
	}
	if resp, err := http.Get("http://127.0.0.1:" + port + "/"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(b), "<html") {
			t.Fatalf("plain HTTP: %d %s", resp.StatusCode, b)
		}
	}

	// Chromium, trusting exactly this certificate's key.
	ctx := browser(t, chromedp.Flag("ignore-certificate-errors-spki-list", spki()))
	dir := artifacts(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(st.WebLAN), chromedp.WaitVisible(chromedp.CSS(`#login-password`))); err != nil {
		t.Fatalf("the login page: %v", err)
	}
	shot(t, ctx, dir, "1-login")
	typeIn(t, ctx, "#login-password", "not the password")
	click(t, ctx, "#login-go")
	waitPage(t, ctx, "the wrong password refused", func() bool {
		return strings.Contains(strings.ToLower(evalPage[string](ctx, `document.getElementById('error').textContent`)), "wrong password")
	})
	typeIn(t, ctx, "#login-password", password)
	click(t, ctx, "#login-go")
	if err := waitFor(ctx, chromedp.WaitVisible(chromedp.CSS(`#create-room`))); err != nil {
		t.Fatalf("after the login: %v", err)
	}
	waitPage(t, ctx, "the page's session", func() bool {
		return evalPage[bool](ctx, `!!session && !document.body.classList.contains('logged-out')`)
	})
	if !evalPage[bool](ctx, `window.isSecureContext && !!navigator.mediaDevices && location.href.indexOf('token') < 0 && document.cookie === ''`) {
		t.Fatal("the LAN page is not a secure context, or its token is in the URL or a cookie")
	}
	typeIn(t, ctx, "#new-room", "kitchen")
	click(t, ctx, "#create-room")
	waitPage(t, ctx, "the room made from the LAN page", func() bool {
		return strings.Contains(evalPage[string](ctx, `document.getElementById('rooms').textContent`), "kitchen")
	})
	var rooms struct{ Rooms []struct{ Name string } }
	d.json(&rooms, "room", "list")
	if len(rooms.Rooms) != 1 || rooms.Rooms[0].Name != "kitchen" {
		t.Fatalf("rooms: %+v", rooms)
	}
	// The page's own camera and microphone work here (a secure page).
	if got := evalPage[string](ctx, `navigator.mediaDevices.getUserMedia({audio: true, video: true}).then((s) => { const n = s.getTracks().length; s.getTracks().forEach((t) => t.stop()); return 'tracks ' + n; }, (e) => e.name)`); got != "tracks 2" {
		t.Fatalf("getUserMedia on the LAN page: %s", got)
	}
	shot(t, ctx, dir, "2-logged-in")
	token := evalPage[string](ctx, `sessionStorage.getItem('hearth-token')`)
	d.holds("a LAN session's token", token)
	if code, _ := do("GET", "/api/rooms", token, "", nil); code != http.StatusOK {
		t.Fatalf("the session's token: %d", code)
	}
	click(t, ctx, "#logout")
	if err := waitFor(ctx, chromedp.WaitVisible(chromedp.CSS(`#login-password`))); err != nil {
		t.Fatalf("after logging out: %v", err)
	}
	if code, _ := do("GET", "/api/rooms", token, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("the token after logging out: %d", code)
	}

	// Guessing: after a handful of tries, the address must wait.
	limited := false
	for range 10 {
		if code, _ := login("guess"); code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("ten wrong passwords in a row were all checked")
	}
	d.stop() // its log is checked for its secrets, the password and the session's token among them
}

// lanDo sends a request to the LAN page: method, path, the session's
// token, a body and headers; it returns the status and the body.
type lanDo func(method, path, token, body string, hdr map[string]string) (int, string)

// lanClient returns a client of a daemon's LAN page that takes exactly the
// certificate whose fingerprint the daemon printed (cert), the page's base
// URL, and a function giving the certificate key's hash for Chromium
// (known after the first request).
func lanClient(t *testing.T, webLAN, cert string) (string, lanDo, func() string) {
	var spki string
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // checked below against the fingerprint, as a person would
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			sum := sha256.Sum256(raw[0])
			got := strings.ToUpper(fmt.Sprintf("%x", sum[:]))
			if got != strings.ReplaceAll(cert, ":", "") {
				return fmt.Errorf("certificate %s, want %s", got, cert)
			}
			c, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			k := sha256.Sum256(c.RawSubjectPublicKeyInfo)
			spki = base64.StdEncoding.EncodeToString(k[:])
			return nil
		}}}}
	base := strings.TrimSuffix(webLAN, "/")
	do := func(method, path, token, body string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	return base, do, func() string { return spki }
}

// TestBrowserLANSessionsEnd: a LAN session lives no longer than its
// password (changed or removed from the CLI, every session ends at once),
// and a session alone never makes a device of the identity: the page asks
// for the password again, and the API refuses a link without it.
func TestBrowserLANSessionsEnd(t *testing.T) {
	d := newDaemon(t, "appliance", "--web-lan", "127.0.0.1:0")
	var st struct {
		WebLAN  string `json:"web_lan"`
		WebCert string `json:"web_cert"`
	}
	d.json(&st, "status")
	_, do, spki := lanClient(t, st.WebLAN, st.WebCert)
	const first, second = "correct horse battery", "staple under the mat"
	d.holds("the first password", first)
	d.holds("the second password", second)
	if _, stderr, code := hearth(t, first+"\n", "web", "login", "--home", d.home); code != 0 {
		t.Fatalf("web login: %s", stderr)
	}
	var s struct{ Token string }
	code, body := do("POST", "/api/login", "", `{"password":"`+first+`"}`, nil)
	if code != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil || s.Token == "" {
		t.Fatalf("login: %d %s", code, body)
	}
	d.holds("a LAN session's token", s.Token)
	// A device link from a session: the password again, or nothing.
	link := `{"expires_seconds":600}`
	if code, body := do("POST", "/api/v1/device/link", s.Token, link, nil); code != http.StatusForbidden || !strings.Contains(body, "password") {
		t.Fatalf("a device link on a session alone: %d %s", code, body)
	}
	if code, body := do("POST", "/api/v1/device/link", s.Token, link, map[string]string{"X-Hearth-Password": "not it at all"}); code != http.StatusForbidden || !strings.Contains(body, "wrong password") {
		t.Fatalf("a device link with a wrong password: %d %s", code, body)
	}

	// The page asks for it: a person types it into the prompt.
	ctx := browser(t, chromedp.Flag("ignore-certificate-errors-spki-list", spki()))
	if err := chromedp.Do(ctx, chromedp.Navigate(st.WebLAN), chromedp.WaitVisible(chromedp.CSS(`#login-password`))); err != nil {
		t.Fatalf("the login page: %v", err)
	}
	typeIn(t, ctx, "#login-password", first)
	click(t, ctx, "#login-go")
	if err := waitFor(ctx, chromedp.WaitVisible(chromedp.CSS(`#create-room`))); err != nil {
		t.Fatalf("after the login: %v", err)
	}
	// The person types the password into the page's prompt (the prompt
	// is answered in the page itself: a dialog of the browser's own would
	// hang the click that opens it).
	evalPage[bool](ctx, `(window.prompt = (m) => { window.hearthAsked = m; return `+"`"+first+"`"+`; }, true)`)
	click(t, ctx, "#show-identity")
	// The devices are listed above the button once they are read: a
	// click before that lands where the button was.
	waitPage(t, ctx, "this device", func() bool {
		return strings.Contains(evalPage[string](ctx, `document.getElementById('devices').textContent`), "(this device)")
	})
	click(t, ctx, "#link-device")
	waitPage(t, ctx, "the page asking for the password", func() bool {
		return strings.Contains(evalPage[string](ctx, `window.hearthAsked || ''`), "password")
	})
	waitPage(t, ctx, "the device link", func() bool {
		return strings.HasPrefix(evalPage[string](ctx, `(document.getElementById('device-link') || {}).textContent || ''`), "hearth://")
	})
	pageToken := evalPage[string](ctx, `sessionStorage.getItem('hearth-token')`)

	// A new password ends both sessions, the page's and the client's.
	if _, stderr, code := hearth(t, second+"\n", "web", "login", "--home", d.home); code != 0 {
		t.Fatalf("web login (a new password): %s", stderr)
	}
	for _, tok := range []string{s.Token, pageToken} {
		if code, _ := do("GET", "/api/rooms", tok, "", nil); code != http.StatusUnauthorized {
			t.Fatalf("a session after its password changed: %d", code)
		}
		if code, _ := do("POST", "/api/v1/device/link", tok, link, map[string]string{"X-Hearth-Password": second}); code != http.StatusUnauthorized {
			t.Fatalf("a device link on a session whose password changed: %d", code)
		}
	}
	code, body = do("POST", "/api/login", "", `{"password":"`+second+`"}`, nil)
	if code != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("login with the new password: %d %s", code, body)
	}
	if code, _ := do("GET", "/api/rooms", s.Token, "", nil); code != http.StatusOK {
		t.Fatalf("the new session: %d", code)
	}
	// Removing the password ends it too.
	if _, stderr, code := hearth(t, "", "web", "login", "--remove", "--home", d.home); code != 0 {
		t.Fatalf("web login --remove: %s", stderr)
	}
	if code, _ := do("GET", "/api/rooms", s.Token, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("a session after the password was removed: %d", code)
	}
}
