package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hearthp2p/hearth/device/bench"
	"github.com/hearthp2p/hearth/internal/leakcheck"
)

var hearthBin string

func TestMain(m *testing.M) {
	if target := os.Getenv("HEARTH_TEST_HOLD"); target != "" {
		hold(target) // a stranger's program in a namespace (doorslots_test.go)
		return
	}
	if dir := os.Getenv("HEARTH_TEST_SERVE"); dir != "" {
		serveDir(dir) // the app's web server in a namespace (appnat_test.go)
		return
	}
	if size := os.Getenv("HEARTH_TEST_CAMERA"); size != "" {
		stampedCamera(size) // a camera's pictures (camera_test.go)
		return
	}
	dir, err := os.MkdirTemp("", "hearth-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hearthBin = filepath.Join(dir, "hearth")
	build := exec.Command("go", append(append([]string{"build"}, raceFlags...), "-o", hearthBin, "../cmd/hearth")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hearth:", err)
		os.Exit(1)
	}
	code := 0
	func() {
		defer os.RemoveAll(dir)
		defer func() {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
				code = 1
			}
		}()
		code = m.Run()
	}()
	os.Exit(code)
}

func hearth(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(hearthBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	checkOutput(t, "hearth "+strings.Join(args, " "), errb.String())
	return out.String(), errb.String(), code
}

func TestDaemonStopsCleanlyOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			created, stderr, code := hearth(t, "", "id", "create", "--home", home, "--json")
			if code != 0 {
				t.Fatal(stderr)
			}
			var id struct{ Phrase string }
			json.Unmarshal([]byte(created), &id)
			d := exec.Command(hearthBin, "daemon", "--home", home, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0")
			var logs leakcheck.Output
			d.Stderr = &logs
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { waited <- d.Wait() }()
			var status map[string]any
			for i := 0; ; i++ {
				out, _, code := hearth(t, "", "status", "--json", "--home", home)
				if code == 0 {
					json.Unmarshal([]byte(out), &status)
					break
				}
				if i > 200 {
					d.Process.Kill()
					<-waited
					t.Fatalf("daemon did not answer: %s", logs.String())
				}
				time.Sleep(25 * time.Millisecond)
			}
			if _, stderr, code := hearth(t, "", "daemon", "--home", home, "--no-mdns"); code != 1 || !strings.Contains(stderr, "already running") {
				t.Errorf("second daemon: exit %d %q", code, stderr)
			}
			d.Process.Signal(sig)
			select {
			case err := <-waited:
				if err != nil {
					t.Fatalf("daemon exit after %v: %v\n%s", sig, err, logs.String())
				}
			case <-time.After(20 * time.Second):
				d.Process.Kill()
				<-waited
				t.Fatalf("daemon ignored %v", sig)
			}
			checkOutput(t, "the daemon", logs.String())
			checkLeaks(t, "the daemon", logs.String(), homeSecrets(t, home, id.Phrase))
			// Logs are JSON when stderr is not a terminal, one object a line.
			sc := bufio.NewScanner(strings.NewReader(logs.String()))
			var msgs []string
			for sc.Scan() {
				var line map[string]any
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("log line is not JSON: %q", sc.Text())
				}
				msgs = append(msgs, fmt.Sprint(line["msg"]))
			}
			if strings.Join(msgs, ",") != "daemon started,daemon stopping,daemon stopped" {
				t.Errorf("log messages %v", msgs)
			}
			if _, err := os.Stat(filepath.Join(home, "hearth.sock")); !os.IsNotExist(err) {
				t.Error("socket left behind")
			}
			if _, stderr, code := hearth(t, "", "status", "--home", home); code != 1 || !strings.Contains(stderr, "no hearth daemon") {
				t.Errorf("status after stop: %d %q", code, stderr)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	if _, _, code := hearth(t, "", "version"); code != 0 {
		t.Errorf("version: exit %d", code)
	}
	if _, stderr, code := hearth(t, "", "nonsense"); code != 2 || stderr == "" {
		t.Errorf("unknown command: exit %d %q", code, stderr)
	}
	if _, stderr, code := hearth(t, "not a phrase", "id", "restore", "--home", filepath.Join(t.TempDir(), "h")); code != 1 || stderr == "" {
		t.Errorf("bad phrase: exit %d %q", code, stderr)
	}
}

// TestBench runs `hearth bench --quick` for real and checks that it
// measures every figure (the numbers themselves are quoted in notes, never
// asserted: this machine is noisy).
func TestBench(t *testing.T) {
	out, stderr, code := hearth(t, "", "bench", "--quick", "--json")
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, stderr)
	}
	var res struct {
		Figures []struct {
			Name  string
			Value float64
			Unit  string
			Goal  *struct{ Value float64 }
			Met   *bool
		}
		Machine string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(res.Machine, "cores") {
		t.Errorf("no machine in the bench's output: %q", res.Machine)
	}
	// Every goal of the README's table is some figure's, and each such
	// figure says whether it met it; those that missed are named.
	for _, g := range bench.GoalNames() {
		found := false
		for _, f := range res.Figures {
			if f.Name == g || (strings.HasSuffix(g, " ") && strings.HasPrefix(f.Name, g)) {
				found = true
				if f.Goal == nil || f.Met == nil {
					t.Errorf("%s: no goal in the output", f.Name)
				} else if !*f.Met && !strings.Contains(stderr, f.Name+": ") {
					t.Errorf("%s missed its goal and stderr does not say so:\n%s", f.Name, stderr)
				}
			}
		}
		if !found {
			t.Errorf("the goal of %q is no figure's", g)
		}
	}
	want := []string{"catch-up", "rotation", "rotation bytes", "rotation at a member", "message latency p50", "message latency p99", "relayed message latency p50", "daemon RSS idle",
		"mirror catch-up", "mirror RSS with 100 rooms", "mirror database on disk", "mirror disk overhead",
		"file transfer", "file transfer / plain stream", "multi-source speed-up"}
	for _, w := range want {
		found := false
		for _, f := range res.Figures {
			if f.Name == w && f.Value > 0 {
				found = true
				t.Logf("%s: %.2f %s", f.Name, f.Value, f.Unit)
			}
		}
		if !found {
			t.Errorf("no figure %q in %s", w, out)
		}
	}
}

// TestDemo runs 'hearth demo' through its story, as a new user would.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo's story takes about 30 s")
	}
	dir := t.TempDir()
	out, errOut, code := hearth(t, "", "demo", "--once", "--json", "--dir", dir, "--web", "127.0.0.1:0", "--log-level", "debug")
	if code != 0 {
		t.Fatalf("demo: %d\n%s\n%s", code, out, errOut)
	}
	var fig struct {
		PressToRing   float64 `json:"press_to_ring_ms"`
		AnswerToFrame float64 `json:"answer_to_frame_ms"`
		ViewToFrame   float64 `json:"view_to_frame_ms"`
		Frames        int     `json:"frames"`
		Unlocked      bool    `json:"unlocked"`
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &fig); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if fig.PressToRing <= 0 || fig.Frames == 0 || !fig.Unlocked || fig.ViewToFrame <= 0 {
		t.Fatalf("demo figures %+v\n%s", fig, out)
	}
	for _, want := range []string{"pairing mode", "The phone rings", "missed ring", "Opened", "Live view"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the story lacks %q:\n%s", want, errOut)
		}
	}
	t.Logf("press → ring %.0f ms, answer → first frame %.0f ms, live view → first frame %.0f ms", fig.PressToRing, fig.AnswerToFrame, fig.ViewToFrame)
	// The demo's daemons run in its process: its output is theirs. The
	// story tells the person the pages' links (with their tokens, as
	// it should); the daemons' log lines (slog's text) must hold no
	// secret.
	checkOutput(t, "the demo", out+errOut)
	var logLines strings.Builder
	for _, l := range strings.Split(errOut, "\n") {
		if strings.HasPrefix(l, "time=") {
			logLines.WriteString(l + "\n")
		}
	}
	if logLines.Len() == 0 {
		t.Fatalf("the demo's daemons logged nothing at debug level:\n%s", errOut)
	}
	homes, _ := filepath.Glob(filepath.Join(dir, "*", "identity.json"))
	if len(homes) < 2 {
		t.Fatalf("the demo's homes are not in %s: %v", dir, homes)
	}
	for _, h := range homes {
		checkLeaks(t, "the demo's daemons", logLines.String(), homeSecrets(t, filepath.Dir(h), ""))
	}
}

// TestEmptiedDatabaseRefused: a home whose hearth.db was truncated to
// nothing (a full disk, a bad copy) is not started over: the daemon says
// what happened and what to do, exits 1, and leaves the file as it was.
func TestEmptiedDatabaseRefused(t *testing.T) {
	d := newDaemon(t, "alice")
	d.run(0, "", "room", "create", "family")
	d.stop()
	db := filepath.Join(d.home, "hearth.db")
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, hearthBin, "daemon", "--home", d.home, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0").CombinedOutput()
	if ctx.Err() != nil {
		t.Fatal("the daemon started on an emptied database")
	}
	checkOutput(t, "the daemon on an emptied database", string(out))
	if err == nil || !strings.Contains(string(out), "empty") || !strings.Contains(string(out), "will not start over") || !strings.Contains(string(out), "mv ") {
		t.Fatalf("the daemon on an emptied database: %v\n%s", err, out)
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Fatalf("the emptied database was replaced: %v", err)
	}
}
