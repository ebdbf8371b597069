package device

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/identity"
)

type notes struct {
	mu sync.Mutex
	s  []string
}

func (n *notes) notify(s string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.s = append(n.s, s)
	return nil
}

func (n *notes) count(prefix string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, s := range n.s {
		if strings.HasPrefix(s, prefix) {
			c++
		}
	}
	return c
}

func TestServeReloadAndWatchdog(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	p, _ := identity.ParsePhrase(artPhrase)
	if _, err := identity.Setup(home, p, "", identity.SetupOptions{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	bad := false
	loads := 0
	load := func() (Config, error) {
		mu.Lock()
		defer mu.Unlock()
		loads++
		if bad {
			return Config{}, errors.New("hearth.toml line 3: role: \"toaster\": want device, doorphone, mirror or both")
		}
		return Config{Home: home, NoMDNS: true, Listen: loopback}, nil
	}
	var n notes
	reload := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServiceConfig{Load: load, Reload: reload, Notify: n.notify, Watchdog: 200 * time.Millisecond})
	}()
	c := control.NewClient(SocketPath(home))
	eventually(t, "ready", 20*time.Second, func() bool { return n.count("READY=1") == 1 })
	eventually(t, "the watchdog petted", 10*time.Second, func() bool { return n.count("WATCHDOG=1") >= 2 })
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pid0 := st.Started

	// Bad settings: refused, the daemon goes on.
	mu.Lock()
	bad = true
	mu.Unlock()
	reload <- struct{}{}
	eventually(t, "the reload refused", 10*time.Second, func() bool { return n.count("STATUS=reload refused: hearth.toml line 3") == 1 })
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("the daemon stopped on a bad reload: %v", err)
	}

	// Good settings: a restart in the process.
	mu.Lock()
	bad = false
	mu.Unlock()
	reload <- struct{}{}
	eventually(t, "ready again", 20*time.Second, func() bool { return n.count("READY=1") == 2 })
	if n.count("RELOADING=1") != 1 {
		t.Fatalf("notes %v", n.s)
	}
	st, err = c.Status(context.Background())
	if err != nil || st.Started == pid0 && loads != 3 {
		t.Fatalf("after reload: %v %v", st, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n.count("STOPPING=1") != 1 {
		t.Fatalf("notes %v", n.s)
	}
	// READY comes before any WATCHDOG.
	n.mu.Lock()
	first := slices.IndexFunc(n.s, func(s string) bool { return strings.HasPrefix(s, "WATCHDOG") })
	ready := slices.IndexFunc(n.s, func(s string) bool { return strings.HasPrefix(s, "READY") })
	n.mu.Unlock()
	if first < ready {
		t.Fatalf("a watchdog note before ready: %v", n.s)
	}
}
