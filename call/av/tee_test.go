package av

import (
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// counted is a fake camera: H.264 access units numbered in their second
// byte after the start code, an IDR every gop frames, paced by a ticker.
type counted struct {
	mu     sync.Mutex
	starts int
	open   int
	gop    int
	fail   error // Read's error after limit frames, if set
	limit  int
}

type countedStream struct {
	c      *counted
	n      int
	closed chan struct{}
	once   sync.Once
}

func (c *counted) Video() (Stream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.starts++
	c.open++
	return &countedStream{c: c, closed: make(chan struct{})}, nil
}

func (c *counted) Audio() (Stream, error) { return nil, nil }

func (s *countedStream) Codec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264}
}

func (s *countedStream) Read() (media.Sample, error) {
	select {
	case <-s.closed:
		return media.Sample{}, io.EOF
	case <-time.After(time.Millisecond):
	}
	if s.c.fail != nil && s.n >= s.c.limit {
		return media.Sample{}, s.c.fail
	}
	typ := byte(1)
	if s.n%s.c.gop == 0 {
		typ = 5
	}
	b := []byte{0, 0, 0, 1, typ, byte(s.n)}
	s.n++
	return media.Sample{Data: b}, nil
}

func (s *countedStream) Close() error {
	s.once.Do(func() {
		close(s.closed)
		s.c.mu.Lock()
		s.c.open--
		s.c.mu.Unlock()
	})
	return nil
}

func frameNo(s media.Sample) int   { return int(s.Data[5]) }
func frameKey(s media.Sample) bool { return s.Data[4]&0x1f == 5 }

// TestTee: one camera for every reader. The first reader gets every frame
// from the start; one that joins later starts at a key frame; one that
// stops reading loses frames up to a key frame, never one in between, and
// the others lose none; the last reader's close stops the camera, and the
// next reader starts it again; the camera's failure ends every reader
// with its error.
func TestTee(t *testing.T) {
	cam := &counted{gop: 10}
	tee := NewTee(cam)
	a, err := tee.Video()
	if err != nil {
		t.Fatal(err)
	}
	for want := range 5 {
		s, err := a.Read()
		if err != nil || frameNo(s) != want {
			t.Fatalf("the first reader's frame %d: %v, %v", want, s.Data, err)
		}
	}
	b, _ := tee.Video()
	first, err := b.Read()
	if err != nil || !frameKey(first) {
		t.Fatalf("a reader that joined began with %v (%v), not a key frame", first.Data, err)
	}
	// b stops reading for a while; a goes on, losing nothing.
	last := 4
	for range 3 * teeBuffer {
		s, err := a.Read()
		if err != nil || frameNo(s) != (last+1)%256 {
			t.Fatalf("the reading reader lost frames: %d after %d (%v)", frameNo(s), last, err)
		}
		last = frameNo(s)
	}
	// b's frames: whole runs, a gap only before a key frame.
	prev := frameNo(first)
	for range 2 * teeBuffer {
		s, err := b.Read()
		if err != nil {
			t.Fatal(err)
		}
		if n := frameNo(s); n != (prev+1)%256 && !frameKey(s) {
			t.Fatalf("the slow reader went from frame %d to %d, not a key frame", prev, n)
		}
		prev = frameNo(s)
	}
	if cam.starts != 1 {
		t.Fatalf("the camera started %d times for two readers", cam.starts)
	}
	a.Close()
	b.Close()
	waitTee(t, func() bool { cam.mu.Lock(); defer cam.mu.Unlock(); return cam.open == 0 })
	c, _ := tee.Video()
	if s, err := c.Read(); err != nil || frameNo(s) != 0 || cam.starts != 2 {
		t.Fatalf("after the last reader left, a new one: %v %v, %d starts", s.Data, err, cam.starts)
	}
	c.Close()

	broken := errors.New("the camera's cable came off")
	bad := NewTee(&counted{gop: 10, fail: broken, limit: 3})
	x, _ := bad.Video()
	y, _ := bad.Video()
	for _, r := range []Stream{x, y} {
		var err error
		for err == nil {
			_, err = r.Read()
		}
		if !errors.Is(err, broken) {
			t.Fatalf("a reader ended with %v, want the camera's error", err)
		}
	}
}

func waitTee(t *testing.T, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("timed out")
}
