package test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

type callJSON struct {
	ID, Room, Direction, State, Media, Reason, Error string
	Peer                                             *struct{ Identity, Name string }
	Stats                                            *struct {
		VideoFrames  uint64  `json:"video_frames"` // stamps read back and checked
		UnreadFrames uint64  `json:"unread_frames"`
		BadStamps    uint64  `json:"bad_stamps"`
		FrameGaps    uint64  `json:"frame_gaps"`
		AudioPackets uint64  `json:"audio_packets"`
		LatencyP50   float64 `json:"latency_p50_ms"`
		Path         string
		Recording    string
	}
}

// frames is every whole video frame the call received, its stamp read
// or not (a browser's or a camera's frames have none).
func (c callJSON) frames() uint64 {
	if c.Stats == nil {
		return 0
	}
	return c.Stats.VideoFrames + c.Stats.UnreadFrames + c.Stats.BadStamps
}

// maxLoopbackGaps bounds the frames a call on loopback may lose between
// stamps read back: none. On loopback a frame is lost only to a receiver
// stalled for seconds (its socket buffer full), and such a loss would
// most likely leave the frames after it unread too (decoded from a
// reference that never came), which fails the checks anyway.
const maxLoopbackGaps = 0

// checkStamped checks a call whose other side sends the stamped pattern:
// every frame that came whole had its stamp read back and checked, and
// none is missing between them.
func checkStamped(t *testing.T, c callJSON) {
	t.Helper()
	s := c.Stats
	if s.UnreadFrames != 0 || s.BadStamps != 0 {
		t.Errorf("%s: of %d frames received, %d were not read and %d had a wrong stamp: %+v", c.Direction, c.frames(), s.UnreadFrames, s.BadStamps, *s)
	}
	if s.FrameGaps > maxLoopbackGaps {
		t.Errorf("%s: %d frames missing between %d read: %+v", c.Direction, s.FrameGaps, s.VideoFrames, *s)
	}
}

func (d *daemon) calls() []callJSON {
	var out struct{ Calls []callJSON }
	d.json(&out, "calls")
	return out.Calls
}

func (d *daemon) waitCall(t *testing.T, what string, cond func(callJSON) bool) callJSON {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range d.calls() {
			if cond(c) {
				return c
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s's log:\n%s", d.name, d.logs)
	t.Fatalf("%s: no call %s: %+v", d.name, what, d.calls())
	return callJSON{}
}

// TestCallBetweenDaemons: alice's daemon rings the room, bob's rings and
// answers from the command line; media flows both ways; bob hangs up.
// Alice's video is the Raspberry Pi camera's path: her camera (--camera)
// is a program writing H.264 of the stamped pattern, which goes out
// unchanged; bob records it as it came (counted, not decoded: he has no
// H.264 decoder), and a real decoder (ffmpeg) reads every frame's stamp
// back from his recording. Bob's video is the synthetic pattern (VP8 with
// the codecs, stamps over the data channel without), every frame's stamp
// read and checked by alice's daemon. The room records the call; a call
// nobody answers is a missed call.
func TestCallBetweenDaemons(t *testing.T) {
	const w, h = 320, 240
	dir := t.TempDir()
	alice := newDaemon(t, "alice", "--ring-timeout", "8s", // long enough for a loaded machine, short enough for the missed call below
		"--camera", h264Camera(t, dir, w, h))
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice), "--record-calls", filepath.Join(dir, "rec"))
	room := shareRoom(t, "home", alice, bob)
	converge(t, room, 0, alice, bob)

	from := time.Now()
	var placed callJSON
	alice.json(&placed, "call", room, "--no-wait")
	if placed.State != "ringing" || placed.Direction != "outgoing" {
		t.Fatalf("placed %+v", placed)
	}
	ringing := bob.waitCall(t, "ringing", func(c callJSON) bool { return c.State == "ringing" })
	if ringing.ID != placed.ID || ringing.Peer == nil || ringing.Peer.Identity != alice.identity() {
		t.Fatalf("bob's ringing call %+v", ringing)
	}
	var answered callJSON
	bob.json(&answered, "answer")
	if answered.ID != placed.ID {
		t.Fatalf("answered %+v", answered)
	}
	a := alice.waitCall(t, "with bob's frames", func(c callJSON) bool { return c.State == "active" && c.Stats != nil && c.Stats.VideoFrames >= 45 })
	b := bob.waitCall(t, "with alice's camera", func(c callJSON) bool { return c.State == "active" && c.frames() >= 45 })
	for _, c := range []callJSON{a, b} {
		t.Logf("%s: %d frames read (%d unread, %d bad stamps), %d gaps, %d audio packets, p50 %.1f ms, path %s", c.Direction, c.Stats.VideoFrames, c.Stats.UnreadFrames, c.Stats.BadStamps, c.Stats.FrameGaps, c.Stats.AudioPackets, c.Stats.LatencyP50, c.Stats.Path)
	}
	checkStamped(t, a)
	if out := bob.run(0, "", "calls"); !strings.Contains(out, "incoming audio+video call") {
		t.Fatalf("bob's calls:\n%s", out)
	}
	bob.run(0, "", "hangup")
	a = alice.waitCall(t, "hung up", func(c callJSON) bool { return c.State == "ended" && c.Reason == "hung up by the other side" })
	checkStamped(t, a) // the whole call, to its end
	b = bob.waitCall(t, "hung up", func(c callJSON) bool { return c.ID == placed.ID && c.State == "ended" })
	if s := b.Stats; s == nil || s.Recording == "" || s.VideoFrames != 0 || s.BadStamps != 0 || s.FrameGaps != 0 || s.UnreadFrames < 45 {
		t.Fatalf("bob's figures of alice's H.264 (counted, not read): %+v", s)
	}
	checkDecoded(t, filepath.Join(b.Stats.Recording, "video.h264"), w, h, b.Stats.UnreadFrames, from, time.Now())

	// Nobody answers: the command says so, and the room has a missed call.
	if msg := alice.run(1, "", "call", room); !strings.Contains(msg, "missed") {
		t.Fatalf("an unanswered call: %s", msg)
	}
	// The room's record, on both sides.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var events []string
		var h struct {
			Messages []struct {
				Call *struct {
					Event      string
					DurationMs uint64 `json:"duration_ms"`
				}
			}
		}
		bob.json(&h, "room", "history", room)
		ended := false
		for _, m := range h.Messages {
			if m.Call != nil {
				events = append(events, m.Call.Event)
				ended = ended || (m.Call.Event == "ended" && m.Call.DurationMs > 0)
			}
		}
		if slices.Equal(events, []string{"started", "ended", "missed"}) && ended {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the room's call entries: %v", events)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := bob.run(0, "", "room", "history", room); !strings.Contains(out, "[call missed]") {
		t.Fatalf("history:\n%s", out)
	}
	// Each side reads what happened to the unanswered call, the caller's
	// with the room it rang.
	calls := bob.calls()
	if last := calls[len(calls)-1]; last.Direction != "incoming" || last.Reason != "missed" {
		t.Fatalf("bob's side of the unanswered call: %+v", last)
	}
	if out := alice.run(0, "", "calls"); !strings.Contains(out, "outgoing audio+video call in room "+room[:8]+": ended (missed)") {
		t.Fatalf("alice's calls:\n%s", out)
	}
	// Bad input: no such call.
	if msg := bob.run(1, "", "answer", "ffff"); !strings.Contains(msg, "no call") {
		t.Fatalf("answer of an unknown call: %s", msg)
	}
}
