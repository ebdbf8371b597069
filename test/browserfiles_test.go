package test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// plant is a file a hostile member sends: its bytes, the type it claims,
// and whether the page may show it inline.
type plant struct {
	name, typ string
	data      []byte
	inline    bool
}

// script is what every planted document tries to run: it leaves a mark in
// the page's origin (its storage, shared by every tab of that origin) and
// in its own tab's title.
const script = `localStorage.setItem('pwned', location.href); document.title = 'PWNED'`

// hostilePlants are files made to run script in the page's origin: SVG,
// HTML, XHTML, an HTML page that calls itself a picture in an odd spelling,
// and a polyglot (a real picture with a page after it).
func hostilePlants(t *testing.T) []plant {
	png := testPNG(t, filepath.Join(t.TempDir(), "p.png"))
	return []plant{
		{name: "cat.svg", typ: "image/svg+xml", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="` + script + `"><script>` + script + `</script><circle r="9"/></svg>`)},
		{name: "card.html", typ: "text/html", data: []byte(`<!doctype html><title>card</title><body onload="` + script + `"><script>` + script + `</script>hello`)},
		{name: "card.xhtml", typ: "application/xhtml+xml", data: []byte(`<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body><script>` + script + `</script></body></html>`)},
		{name: "note.xml", typ: "text/xml", data: []byte(`<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">` + script + `</x:script>`)},
		{name: "photo.jpg", typ: "Text/HTML; charset=utf-8", data: []byte(`<html><script>` + script + `</script></html>`)},
		{name: "poly.png", typ: "image/png", data: append(png, []byte(`<html><script>`+script+`</script></html>`)...), inline: true},
		{name: "fake.png", typ: "image/png", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>` + script + `</script></svg>`), inline: true},
	}
}

// TestBrowserHostileFiles: files a member sends can never run script in
// the page's origin, opened every way a person can (shown inline, its
// object URL opened in a new tab, saved by the download link) and the
// content URL itself opened in a tab: scriptable types are only ever
// saved, never shown; content answers carry their own sandbox; object URLs
// are made with passive types. Each way is tried twice, the second time
// with the browser ignoring every content security policy (as if the
// page's policy were gone), so what holds is the types. And the page
// fetches by itself only small pictures: a large one waits for a click
// that shows its size.
func TestBrowserHostileFiles(t *testing.T) {
	actx := browser(t)
	alice := newDaemon(t, "alice", "--web", "127.0.0.1:0")
	mallory := newDaemon(t, "mallory", "--bootstrap", tcpAddr(t, alice))
	room := shareRoom(t, "family", alice, mallory)

	// Mallory, a member, sends what it likes with the types it likes.
	plants := hostilePlants(t)
	dir := t.TempDir()
	ids := map[string]string{} // name -> message id
	for _, p := range plants {
		path := filepath.Join(dir, p.name)
		if err := os.WriteFile(path, p.data, 0o644); err != nil {
			t.Fatal(err)
		}
		var sent struct{ ID string }
		mallory.json(&sent, "file", "send", room, path, "--type", p.typ)
		ids[p.name] = sent.ID
	}
	// A large picture, sent last so it is in view with the polyglot.
	big := filepath.Join(dir, "big.png")
	bigData := append(testPNG(t, filepath.Join(dir, "b.png")), make([]byte, 9<<20)...)
	if err := os.WriteFile(big, bigData, 0o644); err != nil {
		t.Fatal(err)
	}
	var bigSent struct{ ID string }
	mallory.json(&bigSent, "file", "send", room, big, "--type", "image/png")
	converge(t, room, len(plants)+1, alice, mallory)

	// The content answers: passive types as themselves, inline; the rest
	// as bytes to save; every one sandboxed.
	web := newWebClient(t, alice)
	for _, p := range plants {
		code, body := web.do("POST", "/api/rooms/"+room+"/files/"+ids[p.name]+"/fetch", strings.NewReader("{}"), nil)
		if code != http.StatusAccepted && code != http.StatusOK {
			t.Fatalf("fetch %s: %d %s", p.name, code, body)
		}
	}
	for _, p := range plants {
		var resp *http.Response
		waitUntil(t, "the content of "+p.name, func() bool {
			req, _ := http.NewRequest("GET", web.base+"/api/rooms/"+room+"/files/"+ids[p.name]+"/content", nil)
			req.Header.Set("Authorization", "Bearer "+web.token)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			resp = r
			return r.StatusCode == http.StatusOK
		})
		h := resp.Header
		if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: served with policy %q", p.name, csp)
		}
		typ, disp := h.Get("Content-Type"), h.Get("Content-Disposition")
		switch {
		case p.inline && (typ != "image/png" || !strings.HasPrefix(disp, "inline")):
			t.Errorf("%s: a picture served as %q, %q", p.name, typ, disp)
		case !p.inline && (typ != "application/octet-stream" || !strings.HasPrefix(disp, "attachment")):
			t.Errorf("%s (%s): served as %q, %q", p.name, p.typ, typ, disp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: sniffable", p.name)
		}
	}

	downloads := t.TempDir()
	var st struct{ Web string }
	alice.json(&st, "status")
	if _, err := chromedp.CallBrowser(actx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(actx, chromedp.Navigate(st.Web), chromedp.WaitVisible(chromedp.CSS(`#create-room`))); err != nil {
		t.Fatal(err)
	}
	a := actx
	click(t, a, `#rooms li[data-room="`+room+`"] .name`)

	// Shown inline: only the passive ones (the polyglot and the page that
	// calls itself a PNG, which shows as a broken picture).
	waitPage(t, a, "the polyglot shown inline", func() bool {
		return evalPage[float64](a, `(document.querySelector('#messages li[data-id="`+ids["poly.png"]+`"] img.inline') || {}).naturalWidth || 0`) == 64
	})
	for _, p := range plants {
		n := evalPage[float64](a, `document.querySelectorAll('#messages li[data-id="`+ids[p.name]+`"] .inline').length`)
		if p.inline != (n == 1) {
			t.Errorf("%s: %v inline elements", p.name, n)
		}
	}
	// The large picture was not fetched: it waits for a click that says
	// its size. (The polyglot beside it was fetched by the same render.)
	bigSel := `#messages li[data-id="` + bigSent.ID + `"]`
	fetched := `performance.getEntriesByType('resource').some((e) => e.name.includes('/files/` + bigSent.ID + `/'))`
	if evalPage[bool](a, fetched) {
		t.Fatal("the page fetched a 9 MiB picture by itself")
	}
	var files struct {
		Files []struct {
			ID   string
			Here bool
		}
	}
	alice.json(&files, "file", "list", room)
	for _, f := range files.Files {
		if f.ID == bigSent.ID && f.Here {
			t.Fatal("the large picture was fetched into alice's home without a click")
		}
	}
	label := evalPage[string](a, `(document.querySelector('`+bigSel+` button.show') || {}).textContent || ''`)
	if !strings.Contains(label, "9.0 MiB") {
		t.Fatalf("the large picture's button says %q", label)
	}
	shot(t, a, artifacts(t), "1-files")
	click(t, a, bigSel+` button.show`)
	waitPage(t, a, "the large picture after a click", func() bool {
		return evalPage[float64](a, `(document.querySelector('`+bigSel+` img.inline') || {}).naturalWidth || 0`) == 64
	})

	for _, bypass := range []bool{false, true} {
		// The object URL each file gets in the page, opened in a new tab.
		for _, p := range plants {
			url := evalPage[string](a, `(async () => download(window.hearthHistory.find((m) => m.id === '`+ids[p.name]+`'), true))()`)
			if !strings.HasPrefix(url, "blob:") {
				t.Fatalf("%s: object URL %q (%s)", p.name, url, evalPage[string](a, `document.getElementById('error').textContent`))
			}
			openTab(t, a, url, nil, bypass)
			noScript(t, a, p.name+" in a new tab", bypass)
		}
		// The content URL itself in a tab, the token given as a header.
		for _, p := range plants {
			openTab(t, a, web.base+"/api/rooms/"+room+"/files/"+ids[p.name]+"/content",
				network.Headers{"Authorization": "Bearer " + web.token}, bypass)
			noScript(t, a, p.name+" by its content URL", bypass)
		}
		bypassCSP(t, a, bypass)
		// The download link saves each file, byte for byte.
		for _, p := range plants {
			os.RemoveAll(filepath.Join(downloads, p.name))
			click(t, a, `#messages li[data-id="`+ids[p.name]+`"] button.download`)
			waitUntil(t, "the download of "+p.name, func() bool {
				b, err := os.ReadFile(filepath.Join(downloads, p.name))
				return err == nil && bytes.Equal(b, p.data)
			})
			noScript(t, a, p.name+" by the download link", bypass)
		}
	}
	bypassCSP(t, a, false)

	// A reload: the pictures here already show from here, and no error.
	if err := chromedp.Do(a, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#create-room`))); err != nil {
		t.Fatal(err)
	}
	click(t, a, `#rooms li[data-room="`+room+`"] .name`)
	waitPage(t, a, "the polyglot shown again after a reload", func() bool {
		return evalPage[float64](a, `(document.querySelector('#messages li[data-id="`+ids["poly.png"]+`"] img.inline') || {}).naturalWidth || 0`) == 64
	})
	// A picture whose only source is gone: the error is a sentence where
	// the picture is, never raw JSON.
	late := filepath.Join(dir, "late.png")
	if err := os.WriteFile(late, bigData, 0o644); err != nil {
		t.Fatal(err)
	}
	var lateSent struct{ ID string }
	mallory.json(&lateSent, "file", "send", room, late, "--type", "image/png")
	converge(t, room, len(plants)+2, alice, mallory)
	mallory.kill()
	lateSel := `#messages li[data-id="` + lateSent.ID + `"]`
	click(t, a, lateSel+` button.show`)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		msg := evalPage[string](a, `(() => { const e = document.querySelector('`+lateSel+` .file-error'); return e && !e.hidden ? e.textContent : ''; })()`)
		if msg != "" {
			if strings.Contains(msg, "{") || msg[:1] != strings.ToUpper(msg[:1]) {
				t.Fatalf("the error where the picture is: %q", msg)
			}
			t.Logf("where the picture is: %q", msg)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error where the picture is (the error line: %q)", evalPage[string](a, `document.getElementById('error').textContent`))
		}
		time.Sleep(300 * time.Millisecond)
	}
	shot(t, a, artifacts(t), "2-after-reload")
	if body := evalPage[string](a, `document.body.innerText`); strings.Contains(body, `{"error"`) {
		t.Fatalf("raw JSON on the page: %s", body)
	}
}

// bypassCSP has the tab of ctx ignore every content security policy, or
// not, from its next load on.
func bypassCSP(t *testing.T, ctx context.Context, on bool) {
	t.Helper()
	if _, err := chromedp.Call(ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: on}); err != nil {
		t.Fatal(err)
	}
}

// openTab opens url in a new tab of the browser a runs in (with extra
// request headers, and the page's policies ignored when bypass is set),
// lets it load, and closes it. A file that downloads instead of showing
// ends the navigation early: that is not an error here.
func openTab(t *testing.T, a context.Context, url string, hdr network.Headers, bypass bool) {
	t.Helper()
	tab, cancel := chromedp.NewContext(a)
	defer cancel()
	bypassCSP(t, tab, bypass)
	if hdr != nil {
		if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(tab, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: hdr}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, stop := context.WithTimeout(tab, 15*time.Second)
	defer stop()
	_ = chromedp.Do(ctx, chromedp.Navigate(url))
	title, _ := chromedp.Run(ctx, chromedp.Title())
	if title == "PWNED" {
		t.Errorf("%s ran script in its tab", url)
	}
}

// noScript fails the test if any planted script left its mark in the
// page's origin.
func noScript(t *testing.T, a context.Context, how string, bypass bool) {
	t.Helper()
	if mark := evalPage[string](a, `localStorage.getItem('pwned') || ''`); mark != "" {
		t.Errorf("%s (policies bypassed: %v): a planted script ran in the page's origin (%s)", how, bypass, mark)
		evalPage[bool](a, `localStorage.removeItem('pwned') || true`)
	}
}

// waitUntil polls cond for at most 60 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60 s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrowserQuietConsole: the page of a daemon that is neither a
// doorphone nor a mirror asks nothing it cannot have: no 404 for the door,
// the favicon or anything else, no 409 for a mirror list; the console
// holds no error.
func TestBrowserQuietConsole(t *testing.T) {
	a := browser(t)
	d := newDaemon(t, "alice", "--web", "127.0.0.1:0")
	var st struct{ Web string }
	d.json(&st, "status")
	var mu sync.Mutex
	var errs []string
	if err := chromedp.Listen(a, func(ev any) {
		if e, ok := ev.(*cdplog.EventEntryAdded); ok && e.Entry.Level == cdplog.EntryLevelError {
			mu.Lock()
			errs = append(errs, e.Entry.Text+" "+e.Entry.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(a, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(a, chromedp.Navigate(st.Web), chromedp.WaitVisible(chromedp.CSS(`#create-room`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, a, "the page knowing what this daemon is", func() bool {
		return evalPage[bool](a, `typeof me !== 'undefined' && !!me && document.getElementById('door').hidden && document.getElementById('mirror').hidden`)
	})
	typeIn(t, a, `#new-room`, "kitchen")
	click(t, a, `#create-room`)
	waitPage(t, a, "the room open", func() bool {
		return evalPage[string](a, `document.getElementById('chat-title').textContent`) == "kitchen"
	})
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("the console: %q", errs)
	}
}
