package call

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCameraSplitsFrames: a camera's H.264 (a file standing in for
// rpicam-vid, which writes no access unit delimiters) comes out as whole
// frames: 90 pictures, the first with its parameter sets.
func TestCameraSplitsFrames(t *testing.T) {
	st, err := Camera{Command: []string{"cat", "testdata/camera.h264"}, FPS: 1000}.Video()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	frames, keys := 0, 0
	for {
		s, err := st.Read()
		if err != nil {
			break
		}
		nals := 0
		for n := range splitAnnexB(s.Data) {
			nals++
			if n[0]&0x1f == 5 {
				keys++
			}
			if frames == 0 && nals == 1 && n[0]&0x1f != 7 {
				t.Fatalf("the first frame starts with NAL type %d, not its SPS", n[0]&0x1f)
			}
		}
		frames++
	}
	if frames != 90 || keys != 3 {
		t.Fatalf("%d frames, %d key frames; want 90 and 3", frames, keys)
	}
	// A program that is not there, or that fails, says so.
	if _, err := (Camera{Command: []string{"/nonexistent/rpicam-vid"}}).Video(); err == nil {
		t.Fatal("a missing camera program started")
	}
	st, err = Camera{Command: []string{"sh", "-c", "echo 'ERROR: no cameras available' >&2; exit 1"}}.Video()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(); err == nil || !strings.Contains(err.Error(), "no cameras available") {
		t.Fatalf("a failing camera: %v", err)
	}
	st.Close()
}

// splitAnnexB yields the NAL units of an access unit.
func splitAnnexB(b []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for {
			at, l := startCode(b, 0)
			if at < 0 {
				return
			}
			b = b[at+l:]
			end, _ := startCode(b, 0)
			if end < 0 {
				end = len(b)
			}
			if !yield(b[:end]) {
				return
			}
			b = b[end:]
		}
	}
}

// TestCallFromCamera: a device whose camera writes hardware H.264 (the
// file again, paced at 30 fps) calls; the other side receives the frames
// as they were, with no codec needed on the sending side.
func TestCallFromCamera(t *testing.T) {
	if _, err := os.Stat("testdata/camera.h264"); err != nil {
		t.Fatal(err)
	}
	door := newDeviceSrc(t, "door", 10*time.Second, "", Camera{Command: []string{"cat", "testdata/camera.h264"}})
	bob := newDevice(t, "bob", 10*time.Second, "")
	c, err := door.m.Place(context.Background(), testRoom, door.connect(bob), Audio|Video)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.incoming().Answer(Audio); err != nil {
		t.Fatal(err)
	}
	s := bob.wait("with the camera's frames", func(s Status) bool { return s.Stats != nil && s.Stats.VideoFrames >= 60 })
	t.Logf("bob got %d frames from the camera, %d bytes", s.Stats.VideoFrames, s.Stats.BytesIn)
	c.Hangup("")
	bob.wait("ended", state(StateEnded))
}
