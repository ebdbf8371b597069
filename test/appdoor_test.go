package test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// roomDevice is a device as `room members` lists it.
type roomDevice struct {
	Identity      string
	Revoked, Push bool
}

// roomDevices are the devices d's view of room lists, by device key.
func roomDevices(d *daemon, room string) map[string]roomDevice {
	var ms struct {
		Members []struct {
			Identity string
			Devices  []struct {
				Device        string
				Revoked, Push bool
			}
		}
	}
	d.json(&ms, "room", "members", room)
	out := map[string]roomDevice{}
	for _, m := range ms.Members {
		for _, dev := range m.Devices {
			out[dev.Device] = roomDevice{Identity: m.Identity, Revoked: dev.Revoked, Push: dev.Push}
		}
	}
	return out
}

// joinHousehold has member join door's household room by its pairing
// mode (a long press, then another to end it), made role there if role
// is not empty; it returns the room.
func joinHousehold(t *testing.T, door, member *daemon, role string) string {
	t.Helper()
	door.run(0, "", "door", "press", "long")
	var ds struct{ Pairing string }
	eventually(t, "pairing mode", func() bool {
		door.json(&ds, "door", "status")
		return ds.Pairing != ""
	})
	var joined struct{ Room string }
	member.json(&joined, "room", "join", ds.Pairing)
	door.run(0, "", "door", "press", "long")
	if role != "" {
		door.run(0, "", "room", "role", joined.Room, member.identity(), role)
	}
	return joined.Room
}

// appCallInfo is a call as the app's hearthApp.calls() gives it.
type appCallInfo struct {
	ID, Room, Direction, State, Reason string
	Door                               bool
	RoomName                           string `json:"room_name"`
	Peer                               *struct{ Identity, Name, Device string }
}

// appMedia is what the app's page counted of a call's media.
type appMedia struct {
	Frames uint64 `json:"unread_frames"` // decoded by the browser
	Audio  uint64 `json:"audio_packets"`
	Path   string
	Mic    bool
	Camera bool
}

// TestAppAnswersDoor: the phone's app, a device of alice's identity
// linked by her app link, is rung by her household's door (the door's
// signalling reaches the page's Go, the same package call a daemon runs).
// The ring is a full-screen card with the door's name, Answer, Decline and
// Unlock; answered by thumb, video flows both ways (the browser decodes
// the door's camera, the door receives the phone's), the door unlocks from
// the call, mute and camera act on the phone's tracks, and hanging up
// ends the call at the door. Then alice revokes the app's device: the
// door refuses its unlock, as it refuses any revoked device's.
func TestAppAnswersDoor(t *testing.T) {
	dir := artifacts(t)
	webrtc := "/ip4/127.0.0.1/udp/0/webrtc-direct"
	door := newDaemon(t, "door", "--role", "doorphone", "--hal", "sim", "--listen", webrtc, "--ring-timeout", "45s")
	alice := newDaemon(t, "alice", "--bootstrap", tcpAddr(t, door), "--listen", webrtc, "--web", "127.0.0.1:0")
	room := joinHousehold(t, door, alice, "admin")
	eventually(t, "alice an admin at her daemon", func() bool {
		var ms struct {
			Members []struct{ Identity, Role string }
		}
		alice.json(&ms, "room", "members", room)
		for _, m := range ms.Members {
			if m.Identity == alice.identity() {
				return m.Role == "admin"
			}
		}
		return false
	})

	var link struct{ Link, App string }
	alice.json(&link, "device", "link")
	var doorID struct {
		Peer string `json:"peer_id"`
	}
	door.json(&doorID, "status")
	if doorID.Peer == "" || !strings.Contains(link.App, "%2Fp2p%2F"+doorID.Peer) {
		t.Fatalf("the app link names no address of the door: %s", link.App)
	}
	ctx := phone(t)
	openApp(t, ctx, link.App, "alice's phone")
	me := appCall[struct{ Peer, Device, Identity string }](t, ctx, "the app's device", `hearthApp.start()`)
	eventually(t, "the door knowing the app's device", func() bool {
		return roomDevices(door, room)[me.Device].Identity == alice.identity()
	})

	// The app keeps a connection to the door (a browser cannot be
	// dialled): the ring comes over it.
	waitPage(t, ctx, "the app connected to the door", func() bool {
		conns := appCall[[]struct{ Peer string }](t, ctx, "the app's connections", `hearthApp.connections()`)
		return slices.ContainsFunc(conns, func(c struct{ Peer string }) bool { return c.Peer == doorID.Peer })
	})

	// The visitor presses the button.
	door.run(0, "", "door", "press")
	waitPage(t, ctx, "the ring card", func() bool {
		return evalPage[bool](ctx, `!document.getElementById("call").hidden && document.getElementById("call").dataset.state === "ringing"`)
	})
	rings := appCall[[]appCallInfo](t, ctx, "the app's calls", `hearthApp.calls()`)
	i := slices.IndexFunc(rings, func(c appCallInfo) bool { return c.State == "ringing" })
	if i < 0 || !rings[i].Door || rings[i].Direction != "incoming" || rings[i].Peer == nil {
		t.Fatalf("the ring as the app sees it: %+v", rings)
	}
	ring := rings[i]
	if !strings.Contains(evalPage[string](ctx, `document.getElementById("call-state").textContent`), "ringing") {
		t.Error("the ring card does not say the door is ringing")
	}
	// The card shows the door's picture of this ring: its entry comes
	// with the room's sync, its bytes from the door over /hearth/blob,
	// fetched and decrypted by the page's Go.
	waitPage(t, ctx, "the door's picture on the ring card", func() bool {
		return evalPage[bool](ctx, `(() => { const i = document.getElementById("call-picture"); return !i.hidden && i.complete && i.naturalWidth > 0 })()`)
	})
	noSideScroll(t, ctx, "the ring card")
	shot(t, ctx, dir, "5-ring")

	tap(t, ctx, "#call-answer")
	door.waitCall(t, "the door's call answered by the app", func(c callJSON) bool {
		return c.ID == ring.ID && c.State == "active"
	})
	// Video both ways: the browser decodes the door's camera, the door
	// receives the phone's (Chromium's fake camera).
	var m appMedia
	waitPage(t, ctx, "the door's video decoded on the phone", func() bool {
		m = appCall[appMedia](t, ctx, "the call's media", `hearthApp.callMedia(`+jsArg(ring.ID)+`)`)
		return m.Frames >= 30 && m.Audio > 0
	})
	if !m.Mic || !m.Camera {
		t.Fatalf("the phone sends no voice or no picture: %+v", m)
	}
	door.waitCall(t, "the phone's video at the door", func(c callJSON) bool {
		return c.ID == ring.ID && c.frames() >= 30
	})
	waitPage(t, ctx, "the remote video playing", func() bool {
		return evalPage[float64](ctx, `document.getElementById("call-remote").videoWidth`) > 0
	})
	noSideScroll(t, ctx, "the call")
	shot(t, ctx, dir, "6-in-call")

	// Unlock from the call.
	tap(t, ctx, "#call-unlock2")
	waitPage(t, ctx, "the door opened", func() bool {
		return evalPage[bool](ctx, `globalThis.hearthUnlock?.opened === true`)
	})
	var dst struct {
		Unlocks     int `json:"unlocks"`
		RelayPulses int `json:"relay_pulses"`
	}
	door.json(&dst, "door", "status")
	if dst.Unlocks != 1 || dst.RelayPulses != 1 {
		t.Fatalf("the door after the app's unlock: %+v", dst)
	}
	shot(t, ctx, dir, "7-unlocked")

	// Mute and camera act on the phone's own tracks.
	tap(t, ctx, "#call-mute")
	tap(t, ctx, "#call-camera")
	m = appCall[appMedia](t, ctx, "the call's media", `hearthApp.callMedia(`+jsArg(ring.ID)+`)`)
	if m.Mic || m.Camera {
		t.Fatalf("muted and camera off, the phone still sends: %+v", m)
	}
	tap(t, ctx, "#call-hangup")
	door.waitCall(t, "the call over at the door", func(c callJSON) bool {
		return c.ID == ring.ID && c.State == "ended"
	})
	waitPage(t, ctx, "the call card gone", func() bool {
		return evalPage[bool](ctx, `document.getElementById("call").hidden`)
	})

	// Files: alice sends one of three chunks; the room's screen shows it
	// with Get, fetches it with progress from her daemon (the device
	// that linked the app) and offers it to save, byte for byte; the
	// door's ring picture shows in the chat by itself. The room says
	// which mirrors keep it (none here).
	src := filepath.Join(t.TempDir(), "plans.bin")
	data := make([]byte, 2<<20+12345)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var sent struct{ ID string }
	alice.json(&sent, "file", "send", room, src)
	tap(t, ctx, `#room-list li[data-room="`+room+`"]`)
	waitPage(t, ctx, "the file in the room", func() bool {
		return evalPage[bool](ctx, `[...document.querySelectorAll(".file .file-name")].some((e) => e.textContent.includes("plans.bin"))`)
	})
	if info := evalPage[string](ctx, `document.getElementById("room-info").textContent`); !strings.Contains(info, "No mirror") {
		t.Errorf("the room's mirrors: %q", info)
	}
	waitPage(t, ctx, "the door's ring picture in the chat", func() bool {
		return evalPage[bool](ctx, `[...document.querySelectorAll(".file img")].some((i) => i.complete && i.naturalWidth > 0)`)
	})
	get := `li[data-id="` + sent.ID + `"] .file button.get`
	tap(t, ctx, get)
	waitPage(t, ctx, "the file fetched", func() bool {
		return evalPage[bool](ctx, `!!document.querySelector('li[data-id="`+sent.ID+`"] .file a.save')`)
	})
	sum := appCall[string](t, ctx, "the file's digest in the page", `(async () => {
		const f = (await hearthApp.files(`+jsArg(room)+`)).find((f) => f.id === `+jsArg(sent.ID)+`)
		const b = await (await hearthApp.fileBlob(f)).arrayBuffer()
		return [...new Uint8Array(await crypto.subtle.digest("SHA-256", b))].map((x) => x.toString(16).padStart(2, "0")).join("")
	})()`)
	if want := fmt.Sprintf("%x", sha256.Sum256(data)); sum != want {
		t.Fatalf("the file in the page: sha256 %s, sent %s", sum, want)
	}
	// A download reports its progress as chunks arrive, up to the size.
	big := filepath.Join(t.TempDir(), "video.bin")
	if err := os.WriteFile(big, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	var bigSent struct{ ID string }
	alice.json(&bigSent, "file", "send", room, big)
	eventually(t, "the second file in the app", func() bool {
		return appCall[bool](t, ctx, "the app's files", `hearthApp.files(`+jsArg(room)+`).then((fs) => fs.some((f) => f.id === `+jsArg(bigSent.ID)+`))`)
	})
	steps := appCall[[]struct{ Done, Total int64 }](t, ctx, "a download's progress", `(async () => {
		const steps = []
		await hearthApp.fetchFile(`+jsArg(room)+`, `+jsArg(bigSent.ID)+`, (p) => steps.push(p))
		return steps
	})()`)
	if len(steps) < 2 || steps[len(steps)-1].Done != 3<<20 || steps[len(steps)-1].Total != 3<<20 {
		t.Fatalf("a download of 3 chunks reported %+v", steps)
	}
	noSideScroll(t, ctx, "the room with files")
	shot(t, ctx, dir, "10-files")

	// Revoked, the app's device opens nothing: the door refuses it, as
	// it refuses every revoked device (its own check, not the app's).
	alice.run(0, alice.phrase, "id", "revoke", me.Device)
	eventually(t, "the revocation at the door", func() bool {
		return roomDevices(door, room)[me.Device].Revoked
	})
	ctx2, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r := appCall[struct {
		Opened bool
		Reason string
	}](t, ctx2, "a revoked device's unlock", `hearthApp.unlock(`+jsArg(room)+`).catch((e) => ({opened: false, reason: String(e)}))`)
	if r.Opened {
		t.Fatal("the door opened for a revoked device")
	}
	door.json(&dst, "door", "status")
	if dst.RelayPulses != 1 {
		t.Fatalf("the relay pulsed for a revoked device: %+v", dst)
	}
}

// openApp opens the app by its link and links it, named name, by taps.
func openApp(t *testing.T, ctx context.Context, appLink, name string) {
	t.Helper()
	if err := waitFor(ctx, chromedp.Navigate(appLink)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the link screen, filled", func() bool {
		return evalPage[string](ctx, `document.getElementById("link-text")?.value ?? ""`) != ""
	})
	typeIn(t, ctx, "#link-name", name)
	tap(t, ctx, "#link-go")
	waitPage(t, ctx, "the rooms after linking", func() bool {
		return evalPage[bool](ctx, `!document.getElementById("rooms").hidden && document.querySelectorAll("#room-list li").length > 0`)
	})
}
