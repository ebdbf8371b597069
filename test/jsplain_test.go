package test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// webTool is a tool of web/node_modules (scripts/setup --test installs
// them with npm ci from the lockfile). The suite run as CI runs it fails
// without it; a developer's plain go test skips.
func webTool(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "web", "node_modules", ".bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" || os.Geteuid() == 0 {
			t.Fatalf("%s is missing: scripts/setup --test installs web/'s npm packages", p)
		}
		t.Skipf("%s is missing: scripts/setup --test installs web/'s npm packages", p)
	}
	return p
}

// bundle builds entry (a file of web/) for the browser with esbuild into
// a temporary folder and returns the bundle's path.
func bundle(t *testing.T, entry string) string {
	t.Helper()
	esbuild := webTool(t, "esbuild")
	out := filepath.Join(t.TempDir(), filepath.Base(entry))
	cmd := exec.Command(esbuild, entry, "--bundle", "--format=esm", "--platform=browser", "--log-level=warning", "--outfile="+out)
	cmd.Dir = filepath.Join("..", "web")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild %s: %v\n%s", entry, err, b)
	}
	return out
}

// TestPlainJSLibp2pDialsDaemon: a js-libp2p node that is not ours (the
// npm packages as anyone uses them, web/plain/plain.js) in Chromium
// dials a daemon over WebRTC-direct, identifies it and pings it.
func TestPlainJSLibp2pDialsDaemon(t *testing.T) {
	js := bundle(t, "plain/plain.js")
	d := newDaemon(t, "door", "--listen", "/ip4/127.0.0.1/udp/0/webrtc-direct")
	var addr string
	for _, a := range d.addrs {
		if strings.Contains(a, "/webrtc-direct/certhash/") {
			addr = a
		}
	}
	if addr == "" {
		t.Fatalf("the daemon gives no WebRTC-direct address: %v", d.addrs)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/plain.js":
			w.Header().Set("Content-Type", "text/javascript")
			http.ServeFile(w, r, js)
		default:
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<!doctype html><title>plain</title><script type="module" src="/plain.js"></script>`))
		}
	}))
	defer srv.Close()
	// Chromium gathers no loopback candidates unless told: the daemon
	// listens on loopback here (the namespaced tests use real links).
	ctx := browser(t, chromedp.Flag("allow-loopback-in-peer-connection", true))
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the bundle", func() bool { return evalPage[bool](ctx, `typeof globalThis.plainDial === 'function'`) })
	type seen struct {
		Peer, Remote, Agent string
		Protocols           []string
		RTT                 float64
	}
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	q, _ := json.Marshal(addr)
	got, err := chromedp.Run(dctx, chromedp.Evaluate[seen](`plainDial(`+string(q)+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("plain js-libp2p dialling %s: %v\n%s", addr, err, d.logs)
	}
	t.Logf("identified %s at %s: agent %q, %d protocols, ping %.1f ms", got.Peer, got.Remote, got.Agent, len(got.Protocols), got.RTT)
	if !strings.HasSuffix(addr, "/p2p/"+got.Peer) {
		t.Errorf("dialled %s, the connection is to %s", addr, got.Peer)
	}
	if !strings.Contains(got.Remote, "/webrtc-direct") {
		t.Errorf("connection over %s, not WebRTC-direct", got.Remote)
	}
	has := func(p string) bool {
		for _, q := range got.Protocols {
			if q == p {
				return true
			}
		}
		return false
	}
	for _, p := range []string{"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/hearth/sync/1.0.0"} {
		if !has(p) {
			t.Errorf("identify does not list %s: %v", p, got.Protocols)
		}
	}
	if got.RTT < 0 {
		t.Errorf("ping %v", got.RTT)
	}
}
