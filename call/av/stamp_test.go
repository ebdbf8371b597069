package av

import (
	"image"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"
)

func TestStampRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2)) // fixed: noise that fakes the check (1 in 65,536) would not come and go
	p := &TestPattern{W: 640, H: 480}
	now := time.Now()
	for i := range 5 {
		img := p.Next(now)
		s, ok := ReadStamp(img)
		if !ok || s.Frame != uint32(i) || s.Clock != ClockMillis(now) {
			t.Fatalf("frame %d: read %+v %v", i, s, ok)
		}
	}
	// Noise on every pixel (what a lossy codec does) does not change it.
	img := p.Next(now)
	for i := range img.Y {
		img.Y[i] = byte(min(max(int(img.Y[i])+rng.IntN(61)-30, 0), 255))
	}
	if s, ok := ReadStamp(img); !ok || s.Frame != 5 {
		t.Fatalf("a noisy picture: %+v %v", s, ok)
	}
	// A picture without a stamp has none.
	blank := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	for i := range blank.Y {
		blank.Y[i] = byte(rng.IntN(256))
	}
	if _, ok := ReadStamp(blank); ok {
		t.Fatal("a stamp read from noise")
	}
	if _, ok := ReadStamp(image.NewYCbCr(image.Rect(0, 0, 40, 4), image.YCbCrSubsampleRatio420)); ok {
		t.Fatal("a stamp read from a tiny picture")
	}
	if d := (Stamp{Clock: ClockMillis(now)}).Age(now.Add(42 * time.Millisecond)); d != 42*time.Millisecond {
		t.Fatalf("age %v", d)
	}
}

// TestStampsChecked: a frame counts as read only when its stamp checks
// out: its number past the last one's, its clock not behind that one's
// and within a minute of the receiver's. Frames skipped are gaps; a
// stamp that fails is counted apart and changes nothing else.
func TestStampsChecked(t *testing.T) {
	now := time.Now()
	r := &receiver{p: &peerEndpoint{log: slog.New(slog.DiscardHandler), start: now}, last: -1}
	c := ClockMillis(now)
	for _, s := range []struct {
		st   Stamp
		good bool
	}{
		{Stamp{Frame: 5, Clock: c}, true},
		{Stamp{Frame: 6, Clock: c + 33}, true},
		{Stamp{Frame: 6, Clock: c + 66}, false},                // the same frame again
		{Stamp{Frame: 4, Clock: c + 66}, false},                // back
		{Stamp{Frame: 7, Clock: c + 10}, false},                // its clock behind frame 6's
		{Stamp{Frame: 7, Clock: c + 61_000}, false},            // a minute ahead of the receiver's
		{Stamp{Frame: 7, Clock: c - 61_000}, false},            // a minute old (and behind)
		{Stamp{Frame: 9, Clock: c + 100}, true},                // two lost
		{Stamp{Frame: 1 << 31, Clock: c + 100 - 1<<31}, false}, // a clock half the range away
	} {
		before := r.stats()
		r.stamp(s.st, now)
		after := r.stats()
		if got := after.VideoFrames == before.VideoFrames+1; got != s.good {
			t.Fatalf("%+v: read %v, want %v (%+v)", s.st, got, s.good, after)
		}
		if !s.good && after.BadStamps != before.BadStamps+1 {
			t.Fatalf("%+v: a wrong stamp not counted: %+v", s.st, after)
		}
	}
	r.unreadFrame(now)
	if s := r.stats(); s.VideoFrames != 3 || s.BadStamps != 6 || s.UnreadFrames != 1 || s.FrameGaps != 2 || s.Frames() != 10 {
		t.Fatalf("%+v", s)
	}
}

// TestReadStampsGray: the stamps of raw luma pictures (ffmpeg's gray)
// read back in order; a picture without one is counted.
func TestReadStampsGray(t *testing.T) {
	p := &TestPattern{W: 320, H: 240}
	now := time.Now()
	var raw []byte
	for range 3 {
		raw = append(raw, p.Next(now).Y...)
	}
	raw = append(raw, make([]byte, 320*240)...)
	stamps, unread, err := ReadStampsGray(raw, 320, 240)
	if err != nil || unread != 1 || len(stamps) != 3 || stamps[2].Frame != 2 || stamps[2].Clock != ClockMillis(now) {
		t.Fatalf("%+v, %d unread, %v", stamps, unread, err)
	}
	if _, _, err := ReadStampsGray(raw[1:], 320, 240); err == nil {
		t.Fatal("a part of a picture read")
	}
}
