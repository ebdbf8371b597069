package test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFileSendGet: a file sent into a room arrives byte for byte at
// another member, through the command line; bad paths get clear errors.
func TestFileSendGet(t *testing.T) {
	alice := newDaemon(t, "alice")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice))
	var created struct{ Room string }
	alice.json(&created, "room", "create", "films")
	room := created.Room
	var inv struct{ Link string }
	alice.json(&inv, "room", "invite", room)
	bob.run(0, "", "room", "join", inv.Link)

	dir := t.TempDir()
	data := make([]byte, 7<<20+4321) // 8 chunks, the last one short
	rand.Read(data)
	src := filepath.Join(dir, "holiday video.mp4")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var sent struct{ ID, Name, Type string }
	alice.json(&sent, "file", "send", room, src)
	if sent.Name != "holiday video.mp4" || sent.Type != "video/mp4" {
		t.Fatalf("sent %+v", sent)
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
	// Never over an existing file.
	if msg := bob.run(1, "", "file", "get", room, sent.ID, "--out", got.Path); !strings.Contains(msg, "exists already") {
		t.Fatalf("overwrite: %s", msg)
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
