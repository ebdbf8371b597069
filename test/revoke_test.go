package test

import (
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// eventually polls cond until it holds or a minute passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func texts(ms []message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}

// linkDevice links a new device to d's identity with a device link and
// starts its daemon.
func linkDevice(t *testing.T, d *daemon, name, boot string) *daemon {
	t.Helper()
	var link struct{ Link string }
	d.json(&link, "device", "link")
	home := filepath.Join(t.TempDir(), name)
	out, stderr, code := hearth(t, "", "device", "join", link.Link, "--home", home, "--name", name, "--no-mdns",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", boot, "--wait", "30s", "--json")
	if code != 0 || !strings.Contains(out, `"linked":true`) {
		t.Fatalf("device join: exit %d: %s %s", code, out, stderr)
	}
	nd := &daemon{t: t, name: name, home: home, args: []string{"--bootstrap", boot}}
	nd.start()
	t.Cleanup(nd.stop)
	return nd
}

// TestRevokedDeviceShutOut: alice revokes her phone with `hearth id
// revoke`. The revocation reaches the household room, the room's key
// rotates, the phone's daemon can neither get a message accepted nor
// read what follows, and the door refuses its unlock.
func TestRevokedDeviceShutOut(t *testing.T) {
	door := newDaemon(t, "door", "--role", "doorphone", "--hal", "sim", "--public")
	boot := tcpAddr(t, door)
	alice := newDaemon(t, "alice", "--bootstrap", boot)
	// The door's own household room, joined in pairing mode.
	room := joinHousehold(t, door, alice, "admin")

	phone := linkDevice(t, alice, "phone", boot)
	var pid struct{ Device string }
	phone.json(&pid, "id", "show")

	phone.run(0, "", "room", "send", room, "from the phone")
	eventually(t, "the phone's message everywhere", func() bool {
		for _, d := range []*daemon{alice, door, phone} {
			if !slices.Contains(texts(d.history(room)), "from the phone") {
				return false
			}
		}
		return true
	})
	phone.run(0, "", "door", "unlock", room)

	// The phone is away while alice revokes it (so that it can still
	// write, not knowing).
	phone.stop()
	alice.run(0, alice.phrase, "id", "revoke", pid.Device)
	epoch := func(d *daemon) uint64 {
		var l struct {
			Rooms []struct {
				Room  string
				Epoch uint64
			}
		}
		d.json(&l, "room", "list")
		for _, r := range l.Rooms {
			if r.Room == room {
				return r.Epoch
			}
		}
		return 0
	}
	revokedAt := func(d *daemon) bool { return roomDevices(d, room)[pid.Device].Revoked }
	eventually(t, "the revocation in the door's room, and a new epoch", func() bool {
		return revokedAt(door) && epoch(door) >= 1 && epoch(alice) >= 1
	})

	// What the phone writes now counts nowhere. It comes back while
	// alice and the door are frozen, so it writes before it can learn of
	// the revocation; then its entry reaches them.
	offline := func(d *daemon, write string) {
		t.Helper()
		for _, o := range []*daemon{alice, door} {
			o.cmd.Process.Signal(syscall.SIGSTOP)
		}
		d.start()
		d.run(0, "", "room", "send", room, write)
		for _, o := range []*daemon{alice, door} {
			o.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	offline(phone, "from the revoked phone")
	phoneHas := phone.held(room)[pid.Device]
	alice.run(0, "", "room", "send", room, "after the revocation")
	aliceHas := alice.held(room)[alice.device()]
	eventually(t, "alice's message at the door", func() bool {
		return slices.Contains(texts(door.history(room)), "after the revocation")
	})
	// The bytes arrived: alice and the door hold the phone's entry, the
	// phone holds alice's.
	waitHeld(t, alice, room, pid.Device, phoneHas)
	waitHeld(t, door, room, pid.Device, phoneHas)
	waitHeld(t, phone, room, alice.device(), aliceHas)
	for _, d := range []*daemon{alice, door} {
		if slices.Contains(texts(d.history(room)), "from the revoked phone") {
			t.Fatalf("%s shows a message of the revoked phone", d.name)
		}
	}
	if slices.Contains(texts(phone.history(room)), "after the revocation") {
		t.Fatal("the revoked phone read a message of the new epoch")
	}
	msg := phone.run(1, "", "door", "unlock", room)
	t.Logf("the door to the revoked phone: %s", strings.TrimSpace(msg))

	// A device revoked while offline: the same when it comes back.
	tablet := linkDevice(t, alice, "tablet", boot)
	var tid struct{ Device string }
	tablet.json(&tid, "id", "show")
	// Another device of alice's shows the phone revoked: it learnt it
	// from the room, not from the home that revoked it.
	eventually(t, "the phone revoked in the tablet's device list", func() bool {
		var devs struct {
			Devices []struct {
				Device  string
				Revoked bool
			}
		}
		tablet.json(&devs, "id", "devices")
		for _, d := range devs.Devices {
			if d.Device == pid.Device {
				return d.Revoked
			}
		}
		return false
	})
	tablet.run(0, "", "room", "send", room, "from the tablet")
	eventually(t, "the tablet's message at the door", func() bool {
		return slices.Contains(texts(door.history(room)), "from the tablet")
	})
	tablet.stop()
	before := epoch(door)
	alice.run(0, alice.phrase, "id", "revoke", tid.Device)
	eventually(t, "a new epoch at the door", func() bool { return epoch(door) > before })
	alice.run(0, "", "room", "send", room, "while the tablet was away")
	offline(tablet, "from the tablet, back")
	tabletHas := tablet.held(room)[tid.Device]
	alice.run(0, "", "room", "send", room, "barrier")
	aliceHas = alice.held(room)[alice.device()]
	eventually(t, "the barrier at the door", func() bool {
		return slices.Contains(texts(door.history(room)), "barrier")
	})
	waitHeld(t, door, room, tid.Device, tabletHas)
	waitHeld(t, tablet, room, alice.device(), aliceHas)
	if slices.Contains(texts(door.history(room)), "from the tablet, back") {
		t.Fatal("the door shows a message of the tablet revoked while away")
	}
	if h := texts(tablet.history(room)); slices.Contains(h, "while the tablet was away") || slices.Contains(h, "barrier") {
		t.Fatalf("the tablet revoked while away reads the new epoch: %q", h)
	}
	tablet.run(1, "", "door", "unlock", room)
}
