package device

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/device/control"
)

// startLog records the messages a daemon logs, in order, and holds the
// daemon's start-up goroutine for a while at one message: a window in
// which the daemon listens but has not finished starting.
type startLog struct {
	holdAt  string
	hold    time.Duration
	entered chan struct{}

	mu   sync.Mutex
	msgs []string
	held bool
}

func (h *startLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *startLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *startLog) WithGroup(string) slog.Handler            { return h }

func (h *startLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	hold := r.Message == h.holdAt && !h.held
	h.held = h.held || hold
	h.mu.Unlock()
	if hold {
		close(h.entered)
		// A plain sleep on purpose: waiting on anything the call's
		// goroutines touch would order their accesses before ours and
		// hide the race this window is for.
		time.Sleep(h.hold)
	}
	return nil
}

func (h *startLog) index(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Index(h.msgs, msg)
}

// TestCallWhileStarting rings a daemon while it is still starting (it
// listens, its call service answers, its web page is not yet wired): the
// call must find every part it reaches ready, with no data race (run
// under -race, as the suite does).
func TestCallWhileStarting(t *testing.T) {
	ctx := context.Background()
	alice, bob := newMember(t, "alice"), newMember(t, "bob")
	port := freePort(t)
	listen := []string{"/ip4/127.0.0.1/tcp/" + strconv.Itoa(port)}

	// alice and bob share a room; alice stops.
	actx, stopAlice := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(actx, Config{Home: alice.home, NoMDNS: true, Listen: listen, Ready: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	bob.start(t, Config{Bootstrap: []string{alice.addr(t)}})
	rm, err := alice.c.Rooms.Create(ctx, "Home")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := alice.c.Rooms.Invite(ctx, rm.Room, control.InviteCreate{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.c.Rooms.Join(ctx, inv.Link); err != nil {
		t.Fatal(err)
	}
	stopAlice()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// alice starts again, with her web page; bob rings her while she
	// is held at "web page on".
	logs := &startLog{holdAt: "web page on", hold: 5 * time.Second, entered: make(chan struct{})}
	actx, stopAlice = context.WithCancel(ctx)
	ready = make(chan struct{})
	go func() {
		done <- Run(actx, Config{Home: alice.home, NoMDNS: true, Listen: listen, Web: "127.0.0.1:0", Logger: slog.New(logs),
			Ready: func() { close(ready) }})
	}()
	defer func() {
		stopAlice()
		if err := <-done; err != nil {
			t.Errorf("alice: Run: %v", err)
		}
	}()
	select {
	case <-logs.entered:
	case err := <-done:
		t.Fatal(err)
	}
	placed, err := bob.c.Calls.Place(ctx, rm.Room, control.CallPlace{AudioOnly: true})
	if err != nil {
		t.Fatalf("bob calls alice while she starts: %v", err)
	}
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	// The test proves something only if the ring came in the window.
	rang, started := logs.index("ringing"), logs.index("daemon started")
	if rang < 0 || rang > started {
		t.Fatalf("bob's call rang alice at message %d, after her start (message %d): the window missed it", rang, started)
	}
	eventually(t, "alice sees bob's call", 10*time.Second, func() bool {
		cs, err := alice.c.Calls.List(ctx)
		return err == nil && slices.ContainsFunc(cs.Calls, func(c control.Call) bool { return c.ID == placed.ID })
	})
	if _, err := bob.c.Calls.Hangup(ctx, placed.ID); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
