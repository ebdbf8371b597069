package test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
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
