package av

import (
	"context"
	"encoding/binary"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/call"
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

// TestCameraScriptStops: a camera command that is a script whose
// pipeline outlives it (killed, the shell leaves its children holding the
// pipes) still stops when the call ends, within a few seconds.
func TestCameraScriptStops(t *testing.T) {
	st, err := Camera{Command: []string{"sh", "-c", "sleep 8 & cat testdata/camera.h264; wait"}}.Video()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		st.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the camera script did not stop 5 s after the call let it go")
	}
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
	c, err := door.m.Place(context.Background(), testRoom, door.connect(bob), call.Audio|call.Video)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.incoming().Answer(call.Audio); err != nil {
		t.Fatal(err)
	}
	s := bob.wait("with the camera's frames", func(s call.Status) bool { return s.Stats != nil && s.Stats.Frames() >= 60 })
	t.Logf("bob got %d frames from the camera, %d bytes", s.Stats.Frames(), s.Stats.BytesIn)
	c.Hangup("")
	bob.wait("ended", state(call.StateEnded))
}

// TestCallFromCameraAndMicrophone: the doorphone's real sources, played
// by files: hardware H.264 from the camera program and PCM from the
// microphone program (arecord's format). The other side receives the
// frames and plays the voice: a 660 Hz tone here. Without the codecs the
// voice cannot be encoded, and none is played.
func TestCallFromCameraAndMicrophone(t *testing.T) {
	dir := t.TempDir()
	pcm := make([]byte, 2*48000*3)
	for i := range len(pcm) / 2 {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(9000*math.Sin(2*math.Pi*660*float64(i)/48000))))
	}
	mic := filepath.Join(dir, "mic.raw")
	if err := os.WriteFile(mic, pcm, 0o644); err != nil {
		t.Fatal(err)
	}
	played := filepath.Join(dir, "played.raw")
	door := newDeviceSrc(t, "door", 10*time.Second, "", Mix{
		VideoFrom: Camera{Command: []string{"cat", "testdata/camera.h264"}},
		AudioFrom: Microphone{Command: []string{"cat", mic}},
	})
	bob := newDeviceCfg(t, "bob", 10*time.Second, PeerConfig{Loopback: true, IPFilter: func(ip net.IP) bool { return ip.IsLoopback() },
		Source: Synthetic{Width: 320, Height: 240}, Speaker: []string{"sh", "-c", "cat > " + played}})
	c, err := door.m.Place(context.Background(), testRoom, door.connect(bob), call.Audio|call.Video)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.incoming().Answer(call.Audio); err != nil {
		t.Fatal(err)
	}
	want := func(s call.Status) bool {
		return s.Stats != nil && s.Stats.Frames() >= 45 && (len(Codecs()) == 0 || s.Stats.AudioPlayedMs >= 1000)
	}
	s := bob.wait("with the door's picture and voice", want)
	c.Hangup("")
	bob.wait("ended", state(call.StateEnded))
	b, _ := os.ReadFile(played)
	if len(Codecs()) == 0 {
		if len(b) != 0 {
			t.Fatalf("%d bytes played, and no voice could be sent", len(b))
		}
		return
	}
	if hz := toneHz(b[len(b)-2*48000:]); hz < 620 || hz > 700 {
		t.Fatalf("played %d Hz, want the microphone's 660", hz)
	}
	t.Logf("bob: %d camera frames, %d ms of the door's microphone played", s.Stats.Frames(), s.Stats.AudioPlayedMs)
}

// toneHz counts the zero crossings of one second of 48 kHz PCM.
func toneHz(pcm []byte) int {
	crossings := 0
	prev := int16(binary.LittleEndian.Uint16(pcm))
	for i := 2; i+1 < len(pcm); i += 2 {
		v := int16(binary.LittleEndian.Uint16(pcm[i:]))
		if (prev < 0) != (v < 0) {
			crossings++
		}
		prev = v
	}
	return crossings / 2
}
