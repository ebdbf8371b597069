package call

import (
	"image"
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
