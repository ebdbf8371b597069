package test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/internal/leakcheck"
)

// maxExposure is the highest systemd-analyze security score the unit may
// have (0 is the best, 10 the worst; "OK" is below 4).
const maxExposure = 2.0

// TestSystemdUnit checks the unit file as systemd reads it: verify finds
// nothing wrong, and the security analysis scores it at most maxExposure.
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is not installed: run scripts/setup --test")
	}
	dir := t.TempDir()
	unit, err := os.ReadFile("../systemd/hearth.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart's program exists: point it at the
	// binary of the suite.
	text := strings.ReplaceAll(string(unit), "/usr/bin/hearth", hearthBin)
	path := filepath.Join(dir, "hearth.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for hearth.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score > maxExposure {
		t.Fatalf("exposure %.1f, want at most %.1f:\n%s", score, maxExposure, out)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "StateDirectory=hearth", "ProtectSystem=strict", "PrivateTmp=yes",
		"NoNewPrivileges=yes", "DevicePolicy=closed", "DeviceAllow=char-video4linux rw", "DeviceAllow=char-alsa rw", "DeviceAllow=char-gpiochip rw", "Restart=on-failure"} {
		if !strings.Contains(string(unit), want+"\n") && !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
}

// TestSystemdNotify runs the daemon as systemd would: NOTIFY_SOCKET and
// WATCHDOG_USEC set. It must say READY=1 once its API answers, pet the
// watchdog, refuse a reload (SIGHUP) with bad settings and go on, take one
// with good settings (RELOADING=1, then READY=1), and say STOPPING=1 on
// SIGTERM.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if _, _, code := hearth(t, "", "id", "create", "--home", home, "--phrase-out", filepath.Join(dir, "phrase")); code != 0 {
		t.Fatal("id create failed")
	}
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	var notes []string
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			mu.Lock()
			notes = append(notes, string(buf[:n]))
			mu.Unlock()
		}
	}()
	count := func(prefix string) int {
		mu.Lock()
		defer mu.Unlock()
		c := 0
		for _, s := range notes {
			if strings.HasPrefix(s, prefix) {
				c++
			}
		}
		return c
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("timed out waiting for %s; notes %q", what, notes)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cfg := filepath.Join(dir, "hearth.toml")
	os.WriteFile(cfg, []byte("[network]\nmdns = false\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n"), 0o600)
	cmd := exec.Command(hearthBin, "daemon", "--home", home, "--config", cfg, "--log-format", "json")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	var stderr leakcheck.Output
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor("READY=1", func() bool { return count("READY=1") == 1 })
	waitFor("the watchdog", func() bool { return count("WATCHDOG=1") >= 2 })

	os.WriteFile(cfg, []byte("[network]\nmdns = false\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n[calls]\nring_timeout = \"1 hour\"\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor("the bad reload refused", func() bool { return count("STATUS=reload refused: "+cfg+" line 5") == 1 })
	if out, _, code := hearth(t, "", "status", "--home", home); code != 0 {
		t.Fatalf("the daemon stopped after a bad reload: %s", out)
	}
	os.WriteFile(cfg, []byte("[network]\nmdns = false\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n[calls]\nring_timeout = \"45s\"\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor("READY=1 after the reload", func() bool { return count("RELOADING=1") == 1 && count("READY=1") == 2 })
	if _, _, code := hearth(t, "", "status", "--home", home); code != 0 {
		t.Fatal("no daemon after the reload")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, stderr.String())
	}
	checkOutput(t, "the daemon", stderr.String())
	phrase, _ := os.ReadFile(filepath.Join(dir, "phrase"))
	checkLeaks(t, "the daemon", stderr.String(), homeSecrets(t, home, strings.TrimSpace(string(phrase))))
	if count("STOPPING=1") != 1 {
		t.Fatalf("notes %q", notes)
	}
	if !strings.Contains(stderr.String(), `"msg":"reload refused`) {
		t.Fatalf("the refused reload is not in the log:\n%s", stderr.String())
	}
}
