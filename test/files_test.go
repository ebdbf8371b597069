package test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/internal/leakcheck"
)

// TestFileSendGet: a file sent into a room arrives byte for byte at
// another member, through the command line; bad paths get clear errors.
func TestFileSendGet(t *testing.T) {
	alice := newDaemon(t, "alice")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice))
	room := shareRoom(t, "films", alice, bob)

	dir := t.TempDir()
	data := make([]byte, 7<<20+4321) // 8 chunks, the last one short
	rand.Read(data)
	src := filepath.Join(dir, "holiday video.mp4")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var sent struct{ ID, Name, Type string }
	out, stderr, code := hearth(t, "", "file", "send", room, src, "--json", "--home", alice.home)
	if code != 0 {
		t.Fatalf("file send: exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(out), &sent); err != nil {
		t.Fatalf("file send: %v: %s", err, out)
	}
	if sent.Name != "holiday video.mp4" || sent.Type != "video/mp4" || sent.ID == "" {
		t.Fatalf("sent %+v", sent)
	}
	// Progress, as JSON lines on stderr, ending with the file's id.
	var last struct {
		Kind, State, File string
		Done, Size        int64
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("send progress: %v: %s", err, stderr)
	}
	if last.Kind != "send" || last.State != "done" || last.Done != int64(len(data)) || last.Size != int64(len(data)) || last.File != sent.ID {
		t.Fatalf("last progress line %+v", last)
	}
	converge(t, room, 1, alice, bob)
	var list struct{ Files []struct{ ID, Name string } }
	bob.json(&list, "file", "list", room)
	if len(list.Files) != 1 || list.Files[0].ID != sent.ID {
		t.Fatalf("bob lists %+v", list)
	}
	outDir := t.TempDir()
	var got struct{ Path, State string }
	bob.json(&got, "file", "get", room, sent.ID, "--out", outDir)
	if got.State != "done" || got.Path != filepath.Join(outDir, "holiday video.mp4") {
		t.Fatalf("get: %+v", got)
	}
	b, err := os.ReadFile(got.Path)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the received file differs (%v)", err)
	}
	// The same file to the same place: it is there already. Never over
	// another file.
	if msg := bob.run(0, "", "file", "get", room, sent.ID, "--out", got.Path); !strings.Contains(msg, "received already") {
		t.Fatalf("the same get again: %s", msg)
	}
	other := filepath.Join(outDir, "notes.txt")
	os.WriteFile(other, []byte("mine"), 0o644)
	if msg := bob.run(1, "", "file", "get", room, sent.ID, "--out", other); !strings.Contains(msg, "exists already") {
		t.Fatalf("overwrite: %s", msg)
	}
	if b, _ := os.ReadFile(other); string(b) != "mine" {
		t.Fatal("another file was overwritten")
	}
	// Bad paths on the sending side.
	if msg := alice.run(1, "", "file", "send", room, dir); !strings.Contains(msg, "is a folder") {
		t.Fatalf("folder: %s", msg)
	}
	if msg := alice.run(1, "", "file", "send", room, filepath.Join(dir, "nope")); !strings.Contains(msg, "does not exist") {
		t.Fatalf("missing: %s", msg)
	}
}

// TestFileFromMirror: the sender goes offline after sending; the receiver
// gets the file from the room's mirror, which kept its ciphertext chunks.
func TestFileFromMirror(t *testing.T) {
	m := newDaemon(t, "mirror", "--mirror", "--public")
	maddr := tcpAddr(t, m)
	alice := newDaemon(t, "alice", "--bootstrap", maddr)
	bob := newDaemon(t, "bob", "--bootstrap", maddr)
	var created struct{ Room string }
	alice.json(&created, "room", "create", "album")
	room := created.Room
	alice.run(0, "", "mirror", "keep", room, "--mirror", maddr)
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", room)
	bob.run(0, "", "room", "join", inv.Link)

	data := make([]byte, 5<<20+99)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "photos.tar")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var sent struct{ ID string }
	alice.json(&sent, "file", "send", room, src)
	sentAt := time.Now()
	converge(t, room, 1, alice, bob)
	// Give the mirror a moment to fetch the chunks, then stop alice.
	var l struct{ Rooms []struct{ Bytes int64 } }
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		m.json(&l, "mirror", "list")
		if len(l.Rooms) == 1 && l.Rooms[0].Bytes > int64(len(data)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mirror did not take the file: %+v", l)
		}
	}
	t.Logf("the mirror took the file after %v", time.Since(sentAt).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	alice.kill()
	getAt := time.Now()

	out := t.TempDir()
	var got struct{ Path, State string }
	deadline := time.Now().Add(90 * time.Second)
	for {
		stdout, stderr, code := hearth(t, "", "file", "get", room, sent.ID, "--out", out, "--home", bob.home, "--json")
		if code == 0 {
			json.Unmarshal([]byte(stdout), &got)
			break
		}
		t.Logf("attempt at %v: %s", time.Since(getAt).Round(time.Millisecond), stderr)
		if time.Now().After(deadline) {
			t.Fatalf("bob could not get the file from the mirror: %s", stderr)
		}
		time.Sleep(time.Second)
	}
	t.Logf("bob got the file from the mirror in %v", time.Since(getAt).Round(time.Millisecond))
	b, err := os.ReadFile(got.Path)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the file from the mirror differs (%v)", err)
	}
}

// TestFileMultiSourceShaped: four devices on a LAN, each one's uplink
// shaped to 100 Mbit/s with tc. Bob fetches a file from alice alone,
// carol from alice and bob, dave from all three at once: dave uses three
// sources, and the test reports each one's rate (the speed-up is a figure,
// not an assertion: machines here are noisy).
func TestFileMultiSourceShaped(t *testing.T) {
	requireNetns(t)
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("tc is not installed: scripts/setup --test installs iproute2")
	}
	hosts := lan(t, 2, 4)
	for _, ns := range hosts {
		sh(t, "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "100mbit", "burst", "256kb", "latency", "50ms")
	}
	alice := newDaemonIn(t, hosts[0], "alice")
	var created struct{ Room string }
	alice.json(&created, "room", "create", "shaped")
	room := created.Room
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", room, "--uses", "3")
	var others []*daemon
	for i, name := range []string{"bob", "carol", "dave"} {
		d := newDaemonIn(t, hosts[i+1], name)
		d.run(0, "", "room", "join", inv.Link)
		others = append(others, d)
	}
	data := make([]byte, 48<<20)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "film.mkv")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var sent struct{ ID string }
	alice.json(&sent, "file", "send", room, src)
	converge(t, room, 1, append([]*daemon{alice}, others...)...)

	rates := map[string]float64{}
	for _, d := range others {
		out := t.TempDir()
		start := time.Now()
		stdout, stderr, code := hearth(t, "", "file", "get", room, sent.ID, "--out", out, "--home", d.home, "--json")
		el := time.Since(start)
		if code != 0 {
			t.Fatalf("%s: file get: %s", d.name, stderr)
		}
		var got struct{ Path string }
		json.Unmarshal([]byte(stdout), &got)
		b, err := os.ReadFile(got.Path)
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("%s: the file differs (%v)", d.name, err)
		}
		most := 0
		for _, line := range strings.Split(stderr, "\n") {
			var p struct{ Sources int }
			if json.Unmarshal([]byte(line), &p) == nil {
				most = max(most, p.Sources)
			}
		}
		rates[d.name] = float64(len(data)) / el.Seconds() / 1e6
		t.Logf("%s: %.1f MB/s, up to %d source(s) at once", d.name, rates[d.name], most)
		if d.name == "dave" && most != 3 {
			t.Errorf("dave used %d sources at once, want 3", most)
		}
	}
	t.Logf("speed-up of three sources over one: %.2fx", rates["dave"]/rates["bob"])
}

// TestFileReceiverKilled: the receiver's daemon is killed (SIGKILL) at
// random points of a download and restarted; each run resumes from what
// the partial file holds (never less than the last progress seen), and the
// file ends byte for byte the same. 1 GiB; 64 MiB with -short.
func TestFileReceiverKilled(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	alice := newDaemon(t, "alice")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice))
	room := shareRoom(t, "big", alice, bob)

	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	want := writeRandomFile(t, src, size)
	var sent struct{ ID string }
	alice.json(&sent, "file", "send", room, src)
	converge(t, room, 1, alice, bob)

	out := filepath.Join(t.TempDir(), "big.bin")
	get := func() *exec.Cmd {
		c := exec.Command(hearthBin, "file", "get", room, sent.ID, "--out", out, "--home", bob.home, "--json")
		return c
	}
	var lastDone int64
	for kill := 0; kill < 3; kill++ {
		c := get()
		stderr, err := c.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it run until a random share of what is left, then kill.
		target := lastDone + (size-lastDone)*int64(20+mrand.IntN(40))/100
		var seen leakcheck.Output
		tee := io.TeeReader(stderr, &seen)
		dec := json.NewDecoder(tee)
		first := true
		for {
			var p struct{ Done, Resumed int64 }
			if err := dec.Decode(&p); err != nil {
				t.Fatalf("run %d: the download ended before the kill: %v", kill, err)
			}
			// The first report after the partial file was checked.
			if first && p.Done > 0 {
				first = false
				if p.Resumed < lastDone {
					t.Fatalf("run %d resumed from %d bytes, but %d were held before the kill", kill, p.Resumed, lastDone)
				}
				t.Logf("run %d resumed from %d MiB", kill, p.Resumed>>20)
			}
			if p.Done >= target {
				lastDone = p.Done
				break
			}
		}
		bob.kill()
		io.Copy(io.Discard, tee)
		c.Wait()
		checkOutput(t, "file get", seen.String())
		bob.start()
	}
	var res struct {
		Path          string
		Done, Resumed int64
		State         string
	}
	stdout, stderr, code := hearth(t, "", "file", "get", room, sent.ID, "--out", out, "--home", bob.home, "--json")
	if code != 0 {
		t.Fatalf("last run: %s", stderr)
	}
	json.Unmarshal([]byte(stdout), &res)
	if res.State != "done" || res.Resumed < lastDone {
		t.Fatalf("last run: %+v (held %d before)", res, lastDone)
	}
	if got := sumFile(t, res.Path); got != want {
		t.Fatal("the file differs after the kills")
	}
	if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
		t.Fatalf("the .part file is still there: %v", err)
	}
}

// writeRandomFile writes size random bytes to path, a chunk at a time, and
// returns their SHA-256.
func writeRandomFile(t *testing.T, path string, size int64) [32]byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	buf := make([]byte, 4<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		rand.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func sumFile(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// TestFileGetFollowAgain: Ctrl-C on 'file get' leaves the daemon fetching;
// the same command run again follows that job (one job per file and
// destination) and ends with the whole file; run once more, it says the
// file is there, exit 0. While it runs, a get of the same file to another
// place is refused with the place it goes to.
func TestFileGetFollowAgain(t *testing.T) {
	alice := newDaemon(t, "alice")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice))
	room := shareRoom(t, "films", alice, bob)
	src := filepath.Join(t.TempDir(), "film.bin")
	want := writeRandomFile(t, src, 256<<20)
	var sent struct{ ID string }
	alice.json(&sent, "file", "send", room, src)
	converge(t, room, 1, alice, bob)

	out := filepath.Join(t.TempDir(), "film.bin")
	c := exec.Command(hearthBin, "file", "get", room, sent.ID, "--out", out, "--home", bob.home, "--json")
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var seen leakcheck.Output
	tee := io.TeeReader(stderr, &seen)
	dec := json.NewDecoder(tee)
	var job string
	for {
		var p struct {
			Job  string
			Done int64
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("the download ended before the interrupt: %v", err)
		}
		job = p.Job
		if p.Done > 0 {
			break
		}
	}
	c.Process.Signal(os.Interrupt)
	io.Copy(io.Discard, tee)
	if err := c.Wait(); err == nil {
		t.Fatal("an interrupted get exited 0")
	}
	checkOutput(t, "file get", seen.String())
	// Another place, while it runs: refused, naming where it goes.
	if _, errOut, code := hearth(t, "", "file", "get", room, sent.ID, "--out", filepath.Join(t.TempDir(), "copy.bin"), "--home", bob.home); code == 0 {
		// It may have finished already: then a second copy is fine.
		t.Logf("the first download had finished: a copy was made")
	} else if !strings.Contains(errOut, out) {
		t.Fatalf("a get to another place while one runs: %s", errOut)
	}
	// Again: the same job, followed to its end.
	stdout, errOut, code := hearth(t, "", "file", "get", room, sent.ID, "--out", out, "--home", bob.home, "--json")
	if code != 0 {
		t.Fatalf("running the command again: exit %d: %s", code, errOut)
	}
	var res struct{ Job, Path, State string }
	json.Unmarshal([]byte(stdout), &res)
	if res.State != "done" || res.Path != out {
		t.Fatalf("the second run: %s", stdout)
	}
	if strings.Contains(errOut, `"job"`) && !strings.Contains(errOut, job) {
		t.Fatalf("the second run followed another job than %s: %s", job, errOut)
	}
	if sumFile(t, out) != want {
		t.Fatal("the file differs")
	}
	if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
		t.Fatalf("a .part file is left: %v", err)
	}
	// Once more: it is there; exit 0.
	msg := bob.run(0, "", "file", "get", room, sent.ID, "--out", out)
	if !strings.Contains(msg, "received already") {
		t.Fatalf("a third run: %s", msg)
	}
}

// TestFilesSentBeforeKeep: files sent before the room's mirror was asked
// to keep it are kept too, newest first, within what the room may hold
// there; what did not fit is named. With the sender offline, a member gets
// the kept ones from the mirror alone.
func TestFilesSentBeforeKeep(t *testing.T) {
	m := newDaemon(t, "mirror", "--mirror", "--public", "--mirror-quota", "5MiB")
	maddr := tcpAddr(t, m)
	alice := newDaemon(t, "alice", "--bootstrap", maddr)
	bob := newDaemon(t, "bob", "--bootstrap", maddr)
	room := shareRoom(t, "album", alice, bob)
	var ids []string
	for _, name := range []string{"old.bin", "middle.bin", "new.bin"} {
		src := filepath.Join(t.TempDir(), name)
		writeRandomFile(t, src, 2<<20)
		var sent struct{ ID string }
		alice.json(&sent, "file", "send", room, src)
		ids = append(ids, sent.ID)
	}
	converge(t, room, 3, alice, bob)
	var kept struct {
		Files struct {
			Offered   int
			NotFitted []string `json:"not_fitted"`
		}
	}
	alice.json(&kept, "mirror", "keep", room, "--mirror", maddr)
	if kept.Files.Offered != 2 || len(kept.Files.NotFitted) != 1 || !strings.HasPrefix(kept.Files.NotFitted[0], "old.bin") {
		t.Fatalf("keep: %+v", kept.Files)
	}
	var l struct{ Rooms []struct{ Bytes int64 } }
	eventually(t, "the mirror holding the two newest files", func() bool {
		m.json(&l, "mirror", "list")
		return len(l.Rooms) == 1 && l.Rooms[0].Bytes > 4<<20
	})
	alice.kill()
	out := t.TempDir()
	eventually(t, "bob getting the newest file from the mirror alone", func() bool {
		_, _, code := hearth(t, "", "file", "get", room, ids[2], "--out", out, "--home", bob.home)
		return code == 0
	})
	if _, stderr, code := hearth(t, "", "file", "get", room, ids[0], "--out", out, "--home", bob.home); code == 0 || !strings.Contains(stderr, "source") {
		t.Fatalf("the file that did not fit came from somewhere: %d %s", code, stderr)
	}
}
