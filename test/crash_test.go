package test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/internal/leakcheck"
)

var daemonKills = flag.Int("crash.daemon-kills", 0, "SIGKILLs of TestDaemonKilled (default 12; 6 with -short); the long run is 300")

// TestDaemonKilled kills a member's daemon with SIGKILL at random points
// while it writes messages (one writer sending as fast as the API answers)
// and receives a file from the other member, and restarts it each time.
// After every restart, every message whose send the API acknowledged is
// in its history, word for word, the daemon opens its store as it left it
// (it starts and answers), and what the other member wrote while it was
// down arrives (sync resumes). At the end both members see the same
// history, with no message lost and none twice, and the file is byte for
// byte the one sent.
func TestDaemonKilled(t *testing.T) {
	kills := *daemonKills
	if kills == 0 {
		kills = 12
		if testing.Short() {
			kills = 6
		}
	}
	size := int64(32 << 20)
	if testing.Short() {
		size = 8 << 20
	}
	seed := time.Now().UnixNano()
	rng := mrand.New(mrand.NewPCG(uint64(seed), 2))
	t.Logf("seed %d, %d kills", seed, kills)

	alice := newDaemon(t, "alice")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice))
	room := shareRoom(t, "kept", alice, bob)
	// Alice must dial Bob after her restarts: she learns his addresses.
	alice.args = append(alice.args, "--bootstrap", tcpAddr(t, bob))

	src := filepath.Join(t.TempDir(), "from-bob.bin")
	want := writeRandomFile(t, src, size)
	var file struct{ ID string }
	bob.json(&file, "file", "send", room, src)
	out := filepath.Join(t.TempDir(), "at-alice.bin")

	var mu sync.Mutex
	acked := map[string]string{} // alice's messages the API acknowledged
	bobs := map[string]string{}  // bob's, written while alice was down
	for k := range kills {
		// Alice writes as fast as her API answers, and fetches the file.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("alice %d.%d", k, i)
				c := exec.Command(hearthBin, "room", "send", room, text, "--home", alice.home, "--json")
				var stderr bytes.Buffer
				c.Stderr = &stderr
				b, err := c.Output()
				checkOutput(t, "room send", stderr.String())
				if err != nil {
					continue // not acknowledged: it may or may not be there
				}
				var m struct{ ID string }
				if json.Unmarshal(b, &m) == nil && m.ID != "" {
					mu.Lock()
					acked[m.ID] = text
					mu.Unlock()
				}
			}
		}()
		get := exec.Command(hearthBin, "file", "get", room, file.ID, "--out", out, "--home", alice.home, "--json")
		var getErr leakcheck.Output
		get.Stderr = &getErr
		if err := get.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rng.IntN(1400)) * time.Millisecond)
		alice.kill()
		close(stop)
		wg.Wait()
		get.Wait()
		checkOutput(t, "file get", getErr.String())

		var m struct{ ID string }
		bob.json(&m, "room", "send", room, fmt.Sprintf("bob while alice is down %d", k))
		bobs[m.ID] = fmt.Sprintf("bob while alice is down %d", k)

		alice.start()
		h := alice.history(room)
		have := map[string]string{}
		for _, m := range h {
			if _, twice := have[m.ID]; twice {
				t.Fatalf("kill %d: message %s twice in alice's history", k, m.ID)
			}
			have[m.ID] = m.Text
		}
		mu.Lock()
		for id, text := range acked {
			if have[id] != text {
				t.Fatalf("kill %d: acknowledged message %s (%q) is %q after the restart", k, id, text, have[id])
			}
		}
		mu.Unlock()
	}

	// Sync resumes: both come to the same history, which holds every
	// acknowledged message and all of bob's, each once. (A send killed
	// before its answer may be there too: it was never acknowledged.)
	deadline := time.Now().Add(90 * time.Second)
	for {
		ha, hb := alice.history(room), bob.history(room)
		same := len(ha) == len(hb)
		for i := 0; same && i < len(ha); i++ {
			same = ha[i].ID == hb[i].ID && ha[i].Text == hb[i].Text
		}
		seen := map[string]string{}
		twice := false
		for _, m := range ha {
			_, twice = seen[m.ID]
			if twice {
				t.Fatalf("message %s twice", m.ID)
			}
			seen[m.ID] = m.Text
		}
		all := true
		for id, text := range acked {
			all = all && seen[id] == text
		}
		for id, text := range bobs {
			all = all && seen[id] == text
		}
		if same && all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no convergence: alice %d, bob %d messages, all there: %v", len(ha), len(hb), all)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The file: finished in one of the rounds, or now.
	if _, err := os.Stat(out); err != nil {
		var res struct{ Path, State string }
		stdout, stderr, code := hearth(t, "", "file", "get", room, file.ID, "--out", out, "--home", alice.home, "--json")
		if code != 0 {
			t.Fatalf("the file after the kills: %s", stderr)
		}
		json.Unmarshal([]byte(stdout), &res)
		if res.State != "done" || res.Path != out {
			t.Fatalf("the file after the kills: %+v", res)
		}
	}
	if sumFile(t, out) != want {
		t.Fatal("the file's bytes differ after the kills")
	}
	if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
		t.Fatalf("a .part file is left: %v", err)
	}
	t.Logf("%d kills: %d acknowledged messages kept, %d of bob's synced, the %d MiB file whole", kills, len(acked), len(bobs), size>>20)
}
