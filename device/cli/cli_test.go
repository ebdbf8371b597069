package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/leaktest"
	"github.com/hearthp2p/hearth/p2p/identity"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

const artPhrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art"

// keetArtIdentity is the identity Keet derives from artPhrase.
const keetArtIdentity = "b2f747352c376aa668f06631a475462a23647e32715b8b33da05bf9cf442fa1c"

type result struct {
	code   int
	stdout string
	stderr string
}

func hearth(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := Env{
		Args:   args,
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return "" },
		Now:    time.Now,
	}
	if ctx == nil {
		ctx = context.Background()
	}
	code := Main(ctx, env)
	return result{code, out.String(), errb.String()}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, s)
	}
	return m
}

func TestVersion(t *testing.T) {
	r := hearth(t, nil, "", "version", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	m := decode(t, r.stdout)
	for _, k := range []string{"version", "commit", "go", "codecs"} {
		if _, ok := m[k]; !ok {
			t.Errorf("version --json has no %q: %s", k, r.stdout)
		}
	}
	if r := hearth(t, nil, "", "version"); !strings.Contains(r.stdout, "codecs:") {
		t.Errorf("human version: %q", r.stdout)
	}
}

func TestCreateRestoreSameIdentity(t *testing.T) {
	a := filepath.Join(t.TempDir(), "a")
	b := filepath.Join(t.TempDir(), "b")
	r := hearth(t, nil, "", "id", "create", "--home", a, "--json")
	if r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.stderr)
	}
	created := decode(t, r.stdout)
	phrase, _ := created["phrase"].(string)
	if len(strings.Fields(phrase)) != 24 {
		t.Fatalf("phrase %q", phrase)
	}
	// Human mode prints the words once, numbered, and warns on stderr.
	c := filepath.Join(t.TempDir(), "c")
	h := hearth(t, nil, "", "--home", c, "id", "create")
	if h.code != 0 || !strings.Contains(h.stdout, " 24 ") || !strings.Contains(h.stderr, "only way to restore") {
		t.Fatalf("human create: %+v", h)
	}

	r = hearth(t, nil, "  "+strings.ToUpper(phrase)+"\n", "--json", "id", "restore", "--home", b)
	if r.code != 0 {
		t.Fatalf("restore: %d %s", r.code, r.stderr)
	}
	restored := decode(t, r.stdout)
	if restored["identity"] != created["identity"] {
		t.Fatalf("restored %v, created %v", restored["identity"], created["identity"])
	}
	if restored["device"] == created["device"] {
		t.Fatal("restore reused the device key")
	}
	if _, ok := restored["phrase"]; ok {
		t.Fatal("restore printed the phrase")
	}

	r = hearth(t, nil, "", "id", "show", "--json", "--home", b)
	if r.code != 0 {
		t.Fatalf("show: %s", r.stderr)
	}
	shown := decode(t, r.stdout)
	for _, k := range []string{"identity", "device", "peer_id", "epoch", "proof"} {
		if _, ok := shown[k]; !ok {
			t.Errorf("id show --json lacks %q", k)
		}
	}
	if shown["identity"] != created["identity"] || !strings.HasPrefix(shown["peer_id"].(string), "12D3KooW") {
		t.Fatalf("show: %v", shown)
	}
	if strings.Contains(r.stdout, "secret") {
		t.Fatal("id show printed a secret")
	}

	// The phrase Keet knows gives Keet's identity.
	k := filepath.Join(t.TempDir(), "k")
	r = hearth(t, nil, artPhrase, "id", "restore", "--home", k, "--json")
	if r.code != 0 || decode(t, r.stdout)["identity"] != keetArtIdentity {
		t.Fatalf("Keet phrase: %+v", r)
	}
}

func TestRestoreBadInput(t *testing.T) {
	words := strings.Fields(artPhrase)
	tests := []struct {
		name, stdin, want string
	}{
		{"wrong word", strings.Replace(artPhrase, "abandon", "abandom", 1), `word 1 "abandom" is not in the BIP39 English word list (did you mean "abandon"?)`},
		{"23 words", strings.Join(words[:23], " "), "has 23 words, want 24"},
		{"bad checksum", strings.Replace(artPhrase, " art", " zoo", 1), "checksum does not match"},
		{"empty stdin", "", "no recovery phrase on standard input"},
		{"blank stdin", "\n  \n", "no recovery phrase on standard input"},
		{"huge stdin", strings.Repeat("a", 10000), "not a recovery phrase"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "h")
			r := hearth(t, nil, tc.stdin, "id", "restore", "--home", home)
			if r.code != ExitFailure || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", r.code, r.stderr, tc.want)
			}
			if _, err := os.Stat(home); !os.IsNotExist(err) {
				t.Fatal("a refused restore wrote the home")
			}
			if strings.Contains(r.stderr, "abandon abandon") {
				t.Fatal("the phrase was echoed in an error")
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	if r := hearth(t, nil, artPhrase, "id", "restore", "--home", home); r.code != 0 {
		t.Fatal(r.stderr)
	}
	idFile := filepath.Join(home, "identity.json")
	before, _ := os.ReadFile(idFile)

	t.Run("existing identity", func(t *testing.T) {
		for _, args := range [][]string{{"id", "create"}, {"id", "restore"}} {
			r := hearth(t, nil, artPhrase, append(args, "--home", home)...)
			if r.code != ExitFailure || !strings.Contains(r.stderr, "already exists") || !strings.Contains(r.stderr, "--force") {
				t.Fatalf("%v: %d %q", args, r.code, r.stderr)
			}
		}
		if after, _ := os.ReadFile(idFile); !bytes.Equal(before, after) {
			t.Fatal("identity changed without --force")
		}
	})
	t.Run("key file mode 0644", func(t *testing.T) {
		os.Chmod(idFile, 0o644)
		defer os.Chmod(idFile, 0o600)
		r := hearth(t, nil, "", "id", "show", "--home", home)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "permissions too open") || !strings.Contains(r.stderr, "0644") {
			t.Fatalf("%d %q", r.code, r.stderr)
		}
	})
	t.Run("home open to others", func(t *testing.T) {
		os.Chmod(home, 0o755)
		defer os.Chmod(home, 0o700)
		r := hearth(t, nil, "", "id", "show", "--home", home)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "permissions too open") {
			t.Fatalf("%d %q", r.code, r.stderr)
		}
	})
	t.Run("unreadable home", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "locked")
		os.Mkdir(dir, 0o700)
		os.Chmod(dir, 0o000)
		defer os.Chmod(dir, 0o700)
		for _, args := range [][]string{{"id", "show"}, {"id", "create"}, {"id", "restore"}} {
			r := hearth(t, nil, artPhrase, append(args, "--home", dir)...)
			if r.code != ExitFailure || !strings.Contains(r.stderr, "not accessible") {
				t.Fatalf("%v: %d %q", args, r.code, r.stderr)
			}
		}
		os.Chmod(dir, 0o700)
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatal("something was written into the unreadable home")
		}
	})
	t.Run("home is a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, []byte("x"), 0o600)
		r := hearth(t, nil, artPhrase, "id", "restore", "--home", f)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "not a folder") {
			t.Fatalf("%d %q", r.code, r.stderr)
		}
	})
	t.Run("no identity", func(t *testing.T) {
		r := hearth(t, nil, "", "id", "show", "--home", filepath.Join(t.TempDir(), "none"))
		if r.code != ExitFailure || !strings.Contains(r.stderr, "hearth id create") {
			t.Fatalf("%d %q", r.code, r.stderr)
		}
	})
	t.Run("empty passphrase file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "pass")
		os.WriteFile(p, nil, 0o600)
		r := hearth(t, nil, artPhrase, "id", "restore", "--passphrase-file", p, "--home", filepath.Join(t.TempDir(), "x"))
		if r.code != ExitFailure || !strings.Contains(r.stderr, "is empty") {
			t.Fatalf("%d %q", r.code, r.stderr)
		}
	})
}

func TestPassphraseFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(p, []byte("front door\n"), 0o600)
	r := hearth(t, nil, artPhrase, "id", "restore", "--json", "--passphrase-file", p, "--home", filepath.Join(t.TempDir(), "x"))
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	if id := decode(t, r.stdout)["identity"]; id == keetArtIdentity {
		t.Fatal("the passphrase was ignored")
	}
}

func TestUsageErrors(t *testing.T) {
	tests := [][]string{
		{"frobnicate"},
		{"id", "frobnicate"},
		{"id", "create", "--bogus"},
		{"id", "show", "extra"},
		{"id", "revoke"},
		{"id", "revoke", "nothex", "--home", "/tmp/none"},
		{"--home"},
		{"--json=maybe", "version"},
		{"daemon", "--log-level", "loud", "--home", "/tmp/none"},
		{},
		{"id"},
	}
	for _, args := range tests {
		r := hearth(t, nil, "", args...)
		if r.code != ExitUsage || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%v: wrote to stdout: %q", args, r.stdout)
		}
	}
}

func TestHelpForEveryCommand(t *testing.T) {
	var walk func(c *command)
	n := 0
	walk = func(c *command) {
		words := strings.Fields(strings.TrimPrefix(c.path(), "hearth"))
		for _, args := range [][]string{append([]string{"help"}, words...), append(append([]string{}, words...), "--help")} {
			r := hearth(t, nil, "", args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: "+c.path()) || !strings.Contains(r.stdout, "--home DIR") {
				t.Errorf("%v: exit %d, %q", args, r.code, r.stdout)
			}
		}
		n++
		for _, s := range c.subs {
			walk(s)
		}
	}
	walk(tree())
	if n < 9 {
		t.Fatalf("walked %d commands", n)
	}
}

func TestNoDaemon(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	hearth(t, nil, artPhrase, "id", "restore", "--home", home)
	for _, args := range [][]string{{"status"}, {"id", "devices"}} {
		r := hearth(t, nil, "", append(args, "--home", home)...)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "no hearth daemon is running") {
			t.Errorf("%v: %d %q", args, r.code, r.stderr)
		}
	}
	r := hearth(t, nil, "", "daemon", "--no-mdns", "--home", filepath.Join(t.TempDir(), "none"))
	if r.code != ExitFailure || !strings.Contains(r.stderr, "hearth id create") {
		t.Errorf("daemon without identity: %d %q", r.code, r.stderr)
	}
}

func startDaemon(t *testing.T, home string) (stop func() result) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		done <- hearth(t, ctx, "", "daemon", "--home", home, "--log-format", "json", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0")
	}()
	sock := filepath.Join(home, "hearth.sock")
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			if r := hearth(t, nil, "", "status", "--home", home); r.code == 0 {
				break
			}
		}
		select {
		case r := <-done:
			cancel()
			t.Fatalf("daemon exited: %d %s", r.code, r.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if i > 500 {
			cancel()
			t.Fatal("daemon did not start in 10 s")
		}
	}
	var once bool
	var res result
	stop = func() result {
		if !once {
			once = true
			cancel()
			res = <-done
		}
		return res
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestDaemon(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	if r := hearth(t, nil, artPhrase, "id", "restore", "--home", home, "--name", "pi"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	stop := startDaemon(t, home)

	r := hearth(t, nil, "", "--json", "status", "--home", home)
	st := decode(t, r.stdout)
	if st["identity"] != keetArtIdentity || !strings.HasPrefix(st["peer_id"].(string), "12D3KooW") {
		t.Fatalf("status %v", st)
	}
	if _, ok := st["addrs"].([]any); !ok {
		t.Fatalf("addrs is not a list: %v", st["addrs"])
	}
	fi, err := os.Stat(filepath.Join(home, "hearth.sock"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}

	second := hearth(t, nil, "", "daemon", "--home", home, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0")
	if second.code != ExitFailure || !strings.Contains(second.stderr, "already running") {
		t.Fatalf("second daemon: %d %q", second.code, second.stderr)
	}
	if r := hearth(t, nil, artPhrase, "id", "restore", "--force", "--home", home); r.code != ExitFailure || !strings.Contains(r.stderr, "stop it") {
		t.Fatalf("restore under a running daemon: %d %q", r.code, r.stderr)
	}

	// Revoke another device of the identity (made in another home).
	other := filepath.Join(t.TempDir(), "o")
	r = hearth(t, nil, artPhrase, "id", "restore", "--home", other, "--json")
	otherDev := decode(t, r.stdout)["device"].(string)
	self := st["device"].(string)

	if r := hearth(t, nil, strings.Replace(artPhrase, "art", "zoo", 1), "id", "revoke", otherDev, "--home", home); r.code != ExitFailure || !strings.Contains(r.stderr, "checksum") {
		t.Fatalf("revoke with a bad phrase: %d %q", r.code, r.stderr)
	}
	p, _ := os.CreateTemp(t.TempDir(), "pass")
	p.WriteString("x")
	p.Close()
	if r := hearth(t, nil, artPhrase, "id", "revoke", otherDev, "--passphrase-file", p.Name(), "--home", home); r.code != ExitFailure || !strings.Contains(r.stderr, "another identity") {
		t.Fatalf("revoke with the wrong passphrase: %d %q", r.code, r.stderr)
	}
	if r := hearth(t, nil, artPhrase, "id", "revoke", self, "--home", home); r.code != ExitFailure || !strings.Contains(r.stderr, "itself") {
		t.Fatalf("revoke self: %d %q", r.code, r.stderr)
	}
	r = hearth(t, nil, artPhrase, "id", "revoke", otherDev, "--home", home, "--json")
	if r.code != 0 || decode(t, r.stdout)["revoked"] != true {
		t.Fatalf("revoke: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = hearth(t, nil, "", "id", "devices", "--home", home, "--json")
	var devs struct {
		Devices []struct {
			Device           string
			Current, Revoked bool
		}
	}
	json.Unmarshal([]byte(r.stdout), &devs)
	if len(devs.Devices) != 2 || !devs.Devices[0].Current || devs.Devices[1].Device != otherDev || !devs.Devices[1].Revoked {
		t.Fatalf("devices: %s", r.stdout)
	}

	res := stop()
	if res.code != 0 {
		t.Fatalf("daemon exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, `"msg":"daemon stopped"`) || !strings.Contains(res.stderr, `"msg":"device revoked"`) {
		t.Fatalf("daemon logs: %s", res.stderr)
	}
	if strings.Contains(res.stderr, "abandon") || strings.Contains(res.stderr, "secret") {
		t.Fatal("a secret reached the daemon's log")
	}
	if _, err := os.Stat(filepath.Join(home, "hearth.sock")); !os.IsNotExist(err) {
		t.Fatal("socket left behind")
	}
	// The revocation survives a restart.
	startDaemon(t, home)
	r = hearth(t, nil, "", "id", "devices", "--home", home)
	if !strings.Contains(r.stdout, "revoked") {
		t.Fatalf("after restart: %s", r.stdout)
	}
}

// TestRoomCommands drives every room command of one daemon: create, list,
// members, send, history, react, role, leave, and their refusals.
func TestRoomCommands(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	if r := hearth(t, nil, artPhrase, "id", "restore", "--home", home, "--name", "pi"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	startDaemon(t, home)
	run := func(want int, args ...string) result {
		t.Helper()
		r := hearth(t, nil, "", append(args, "--home", home)...)
		if r.code != want {
			t.Fatalf("%v: exit %d, want %d: %s", args, r.code, want, r.stderr)
		}
		return r
	}
	created := decode(t, run(0, "room", "create", "Kitchen", "--json").stdout)
	id := created["room"].(string)
	if len(id) != 32 || len(created["discovery"].(string)) != 64 {
		t.Fatalf("create: %v", created)
	}
	if r := run(0, "room", "list"); !strings.Contains(r.stdout, "Kitchen") || !strings.Contains(r.stdout, "admin") {
		t.Fatalf("list: %s", r.stdout)
	}
	msg := decode(t, run(0, "room", "send", "kitchen", "hello", "--json").stdout)["id"].(string)
	run(0, "room", "send", id[:8], "reply", "--reply-to", msg)
	run(0, "room", "react", "Kitchen", msg, "👍")
	hist := run(0, "room", "history", "Kitchen", "--json").stdout
	if !strings.Contains(hist, `"reply_to":"`+msg+`"`) || !strings.Contains(hist, "👍") {
		t.Fatalf("history: %s", hist)
	}
	run(0, "room", "react", "Kitchen", msg, "👍", "--remove")
	if strings.Contains(run(0, "room", "history", "Kitchen", "--json").stdout, "👍") {
		t.Fatal("reaction not removed")
	}
	members := run(0, "room", "members", "Kitchen", "--json").stdout
	if !strings.Contains(members, keetArtIdentity) || !strings.Contains(members, `"role":"admin"`) {
		t.Fatalf("members: %s", members)
	}
	// Refusals with the room's reason, and lookups that fail.
	if r := run(1, "room", "role", "Kitchen", keetArtIdentity, "member"); !strings.Contains(r.stderr, "last admin") {
		t.Fatalf("last admin stepping down: %s", r.stderr)
	}
	if r := run(1, "room", "send", "nope", "x"); !strings.Contains(r.stderr, "no such room") {
		t.Fatalf("unknown room: %s", r.stderr)
	}
	if r := run(1, "room", "edit", "Kitchen", "0123456789abcdef-99", "x"); !strings.Contains(r.stderr, "no such message") {
		t.Fatalf("unknown message: %s", r.stderr)
	}
	run(1, "room", "edit", "Kitchen", "not-an-id", "x")
	run(1, "room", "join", "https://example.com/not-a-link")
	run(2, "room", "role", "Kitchen", keetArtIdentity, "king")
	run(1, "room", "create", strings.Repeat("x", 200))
	run(0, "room", "create", "kitchen")
	if r := run(1, "room", "send", "kitchen", "which one?"); !strings.Contains(r.stderr, "several rooms match") {
		t.Fatalf("ambiguous name: %s", r.stderr)
	}
	run(0, "room", "leave", id)
	if strings.Contains(run(0, "room", "list").stdout, id) {
		t.Fatal("room still listed after leave")
	}
}

// TestDaemonBadConfig: a bad setting in hearth.toml, or a bad flag over
// it, stops the daemon before it starts, with the line or the flag.
func TestDaemonBadConfig(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	hearth(t, nil, artPhrase, "id", "restore", "--home", home)
	cfg := filepath.Join(home, "hearth.toml")
	if err := os.WriteFile(cfg, []byte("role = \"doorphone\"\n\n[calls]\nring_timeout = \"forever\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := hearth(t, nil, "", "daemon", "--home", home, "--no-mdns")
	if r.code != ExitFailure || !strings.Contains(r.stderr, cfg+" line 4: calls.ring_timeout") {
		t.Fatalf("bad duration: %d %q", r.code, r.stderr)
	}
	os.WriteFile(cfg, []byte("role = \"doorphone\"\n[hal]\ndriver = \"sim\"\n"), 0o600)
	r = hearth(t, nil, "", "daemon", "--home", home, "--no-mdns", "--video-codec", "av1")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "--video-codec: \"av1\"") {
		t.Fatalf("bad flag: %d %q", r.code, r.stderr)
	}
	r = hearth(t, nil, "", "daemon", "--home", home, "--no-mdns", "--config", filepath.Join(home, "missing.toml"))
	if r.code != ExitFailure || !strings.Contains(r.stderr, "missing.toml") {
		t.Fatalf("missing --config: %d %q", r.code, r.stderr)
	}
	// Nothing was started: no socket, no lock held.
	if _, err := os.Stat(filepath.Join(home, "hearth.sock")); err == nil {
		t.Fatal("a control socket was left")
	}
}

// TestIDCreateForAppliance: --if-missing keeps an existing identity, and
// --phrase-out writes the words to a private file, never to stdout.
func TestIDCreateForAppliance(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	out := filepath.Join(t.TempDir(), "phrase.txt")
	r := hearth(t, nil, "", "id", "create", "--if-missing", "--phrase-out", out, "--home", home, "--json")
	if r.code != 0 {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil || len(strings.Fields(string(b))) != 24 {
		t.Fatalf("phrase file: %q %v", b, err)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Fatalf("phrase file mode %v", fi.Mode())
	}
	words := strings.Fields(string(b))
	if strings.Contains(r.stdout, words[0]+" "+words[1]) || strings.Contains(r.stderr, words[1]+" "+words[2]) {
		t.Fatal("the phrase reached stdout or stderr")
	}
	var first struct{ Identity string }
	json.Unmarshal([]byte(r.stdout), &first)
	// Again: nothing changes, the file is not touched.
	r = hearth(t, nil, "", "id", "create", "--if-missing", "--phrase-out", out, "--home", home, "--json")
	var second struct{ Identity string }
	json.Unmarshal([]byte(r.stdout), &second)
	if r.code != 0 || second.Identity != first.Identity || first.Identity == "" {
		t.Fatalf("second run: %d %q %q %s", r.code, first.Identity, second.Identity, r.stderr)
	}
	// The restored phrase gives the same identity.
	other := filepath.Join(t.TempDir(), "o")
	r = hearth(t, nil, string(b), "id", "restore", "--home", other, "--json")
	var restored struct{ Identity string }
	json.Unmarshal([]byte(r.stdout), &restored)
	if restored.Identity != first.Identity {
		t.Fatalf("restored %q, want %q", restored.Identity, first.Identity)
	}
	// An existing phrase file is never overwritten, and no identity is
	// made without its words.
	fresh := filepath.Join(t.TempDir(), "f")
	r = hearth(t, nil, "", "id", "create", "--phrase-out", out, "--home", fresh)
	if r.code == 0 {
		t.Fatal("an existing phrase file was overwritten")
	}
	if identity.Exists(fresh) {
		t.Fatal("an identity without its phrase")
	}
}

func TestClockSkew(t *testing.T) {
	at := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Time{
		"":    at,
		"-7h": at.Add(-7 * time.Hour),
		"90m": at.Add(90 * time.Minute),
	} {
		env := Env{Getenv: func(string) string { return v }, Now: func() time.Time { return at }}
		if err := skewClock(&env); err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if got := env.Now(); !got.Equal(want) {
			t.Errorf("HEARTH_CLOCK_SKEW=%q: now is %v, want %v", v, got, want)
		}
	}
	var errb bytes.Buffer
	code := Main(context.Background(), Env{Args: []string{"version"}, Stdout: io.Discard, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "HEARTH_CLOCK_SKEW" {
				return "three hours"
			}
			return ""
		}})
	if code != ExitUsage || !strings.Contains(errb.String(), "HEARTH_CLOCK_SKEW") {
		t.Errorf("a malformed skew: exit %d, %q", code, errb.String())
	}
}

// TestProgressLine: the bar is full only when the transfer is, and a
// finished download says so rather than counting sources.
func TestProgressLine(t *testing.T) {
	at96 := progressLine(&control.Download{Kind: "get", Size: 100, Done: 96, Sources: 2, State: "running"})
	if strings.Contains(at96, "[########################]") {
		t.Errorf("full at 96%%: %s", at96)
	}
	done := progressLine(&control.Download{Kind: "get", Size: 100, Done: 100, State: "done"})
	if !strings.Contains(done, "[########################]") || !strings.Contains(done, "done") || strings.Contains(done, "source") {
		t.Errorf("done: %s", done)
	}
}

// TestCommandsTakeOnlyTheirFlags: every command parses only the flags it
// declares itself; a flag of any other command is a usage error naming
// the flag and the command's help, before the command does anything.
func TestCommandsTakeOnlyTheirFlags(t *testing.T) {
	own := map[*command]map[string]bool{}
	all := map[string]bool{}
	var walk func(c *command)
	walk = func(c *command) {
		if c.runs() {
			names := map[string]bool{}
			if c.flags != nil {
				fs := flag.NewFlagSet("", flag.ContinueOnError)
				c.flags(fs)
				fs.VisitAll(func(f *flag.Flag) { names[f.Name], all[f.Name] = true, true })
			}
			own[c] = names
		}
		for _, s := range c.subs {
			walk(s)
		}
	}
	walk(tree())
	home := filepath.Join(t.TempDir(), "none")
	n := 0
	for c, names := range own {
		words := strings.Fields(strings.TrimPrefix(c.path(), "hearth"))
		for name := range all {
			if names[name] {
				continue
			}
			// More arguments than any command takes: were the flag taken,
			// the command would still stop before doing anything.
			args := append(append([]string{"--home", home}, words...), "--"+name+"=1", "a", "b", "c", "d", "e")
			r := hearth(t, nil, "", args...)
			want := "hearth: flag provided but not defined: -" + name + " (run '" + helpFor(c) + "')\n"
			if r.code != ExitUsage || r.stderr != want || r.stdout != "" {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and %q", strings.Join(args, " "), r.code, r.stdout, r.stderr, want)
			}
			n++
		}
	}
	if len(own) < 40 || len(all) < 40 || n < 1000 {
		t.Fatalf("walked %d commands, %d flags, %d refusals", len(own), len(all), n)
	}
	t.Logf("%d commands refused %d flags of others", len(own), n)
	if _, err := os.Stat(home); err == nil {
		t.Error("a refused command made the home")
	}
}

var update = flag.Bool("update", false, "rewrite testdata/help.golden from the command tree")

// TestHelpGolden: the help of every command (usage line, text, flags with
// their defaults) is the contract of docs/cli.md, kept byte for byte in
// testdata/help.golden; go test -run TestHelpGolden -update rewrites it
// after a change that is meant.
func TestHelpGolden(t *testing.T) {
	var got strings.Builder
	var walk func(c *command)
	walk = func(c *command) {
		args := append([]string{"help"}, strings.Fields(strings.TrimPrefix(c.path(), "hearth"))...)
		r := hearth(t, nil, "", args...)
		fmt.Fprintf(&got, "$ hearth %s\n[exit %d]\n%s\n", strings.Join(args, " "), r.code, r.stdout+r.stderr)
		for _, s := range c.subs {
			walk(s)
		}
	}
	walk(tree())
	golden := filepath.Join("testdata", "help.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		w, g := strings.Split(string(want), "\n"), strings.Split(got.String(), "\n")
		for i := 0; i < len(w) || i < len(g); i++ {
			if i >= len(w) || i >= len(g) || w[i] != g[i] {
				t.Fatalf("help differs from %s at line %d:\nwant %q\ngot  %q", golden, i+1, at(w, i), at(g, i))
			}
		}
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end)"
}
