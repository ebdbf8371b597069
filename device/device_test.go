package device

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/leaktest"
	"github.com/hearthp2p/hearth/p2p/identity"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

// Tests listen on loopback only and never use mDNS: no packet leaves the
// machine.
var loopback = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

func TestResolveHome(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name, flag string
		env        map[string]string
		want       string
	}{
		{"flag wins", "/a", map[string]string{"HEARTH_HOME": "/b"}, "/a"},
		{"HEARTH_HOME", "", map[string]string{"HEARTH_HOME": "/b", "STATE_DIRECTORY": "/c"}, "/b"},
		{"systemd", "", map[string]string{"STATE_DIRECTORY": "/var/lib/hearth:/var/lib/other", "XDG_DATA_HOME": "/x"}, "/var/lib/hearth"},
		{"xdg", "", map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/h"}, "/x/hearth"},
		{"home", "", map[string]string{"HOME": "/h"}, "/h/.local/share/hearth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveHome(tc.flag, env(tc.env))
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := ResolveHome("", env(nil)); err == nil {
		t.Fatal("no home and no HOME gave no error")
	}
	rel, _ := ResolveHome("rel", env(nil))
	if !filepath.IsAbs(rel) {
		t.Fatalf("relative home not made absolute: %s", rel)
	}
}

const artPhrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art"

func runDaemon(t *testing.T) (home string, c *control.Client) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "h")
	p, _ := identity.ParsePhrase(artPhrase)
	if _, err := identity.Setup(home, p, "", identity.SetupOptions{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Home: home, NoMDNS: true, Listen: loopback, Ready: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return home, control.NewClient(SocketPath(home))
}

func rawRequest(t *testing.T, home, method, path, body string) (int, string) {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", SocketPath(home))
	}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(method, "http://hearth"+path, strings.NewReader(body))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestControlAPIRejectsBadInput(t *testing.T) {
	home, c := runDaemon(t)
	ctx := context.Background()
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	other, _ := identity.GenerateSigningKey()
	foreign, _ := identity.NewRevocation(other, identity.PublicKey{9}, 1, time.Now())
	fb, _ := foreign.MarshalBinary()
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"unknown route", "GET", "/v1/nothing", "", 404},
		{"wrong method", "DELETE", control.RouteStatus, "", 405},
		{"not json", "POST", control.RouteRevocations, "{", 400},
		{"unknown field", "POST", control.RouteRevocations, `{"revocation":"00","x":1}`, 400},
		{"not hex", "POST", control.RouteRevocations, `{"revocation":"zz"}`, 400},
		{"garbage record", "POST", control.RouteRevocations, `{"revocation":"0102"}`, 400},
		{"huge body", "POST", control.RouteRevocations, `{"revocation":"` + strings.Repeat("0", control.MaxBody+10) + `"}`, 400},
		{"foreign identity", "POST", control.RouteRevocations, `{"revocation":"` + hex.EncodeToString(fb) + `"}`, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawRequest(t, home, tc.method, tc.path, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
		})
	}
	// Still serving after all that.
	if _, err := c.Devices(ctx); err != nil {
		t.Fatal(err)
	}

	// History pages: ?limit, ?before, and their bad values.
	rm, err := c.Rooms.Create(ctx, "paged")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 5 {
		m, err := c.Rooms.Send(ctx, rm.Room, control.MessageSend{Text: fmt.Sprint("m", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	page := func(q string) control.History {
		t.Helper()
		status, body := rawRequest(t, home, "GET", "/v1/rooms/"+rm.Room+"/messages?"+q, "")
		var h control.History
		if status != 200 || json.Unmarshal([]byte(body), &h) != nil {
			t.Fatalf("%s: %d %s", q, status, body)
		}
		return h
	}
	if h := page("limit=2"); len(h.Messages) != 2 || h.Messages[1].ID != ids[4] || !h.More {
		t.Fatalf("the last page: %+v", h)
	}
	if h := page("limit=2&before=" + ids[1]); len(h.Messages) != 1 || h.Messages[0].ID != ids[0] || h.More {
		t.Fatalf("the first page: %+v", h)
	}
	for q, want := range map[string]int{"limit=0": 400, "limit=x": 400, "before=" + strings.Repeat("0", 32): 404} {
		if status, body := rawRequest(t, home, "GET", "/v1/rooms/"+rm.Room+"/messages?"+q, ""); status != want {
			t.Fatalf("%s: %d, want %d: %s", q, status, want, body)
		}
	}
	if h, err := c.Rooms.History(ctx, rm.Room); err != nil || len(h.Messages) != 5 || h.Messages[0].ID != ids[0] {
		t.Fatalf("the whole history: %+v %v", h, err)
	}
}

func TestSecondDaemonRefused(t *testing.T) {
	home, _ := runDaemon(t)
	err := Run(context.Background(), Config{Home: home, NoMDNS: true, Listen: loopback})
	var re *RunningError
	if !errors.Is(err, ErrDaemonRunning) || !errors.As(err, &re) || re.PID == 0 {
		t.Fatalf("second Run: %v", err)
	}
	if err := CheckNotRunning(home); !errors.Is(err, ErrDaemonRunning) {
		t.Fatalf("CheckNotRunning: %v", err)
	}
}

func TestLongSocketPath(t *testing.T) {
	home := filepath.Join(t.TempDir(), strings.Repeat("x", 120))
	p, _ := identity.ParsePhrase(artPhrase)
	if _, err := identity.Setup(home, p, "", identity.SetupOptions{}); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Config{Home: home, NoMDNS: true, Listen: loopback})
	if err == nil || !strings.Contains(err.Error(), "shorter --home") {
		t.Fatalf("long socket path: %v", err)
	}
}
