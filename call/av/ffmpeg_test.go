package av

import (
	"bytes"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// decodeH264 decodes an H.264 recording with a real decoder (Debian's
// ffmpeg) to raw luma pictures of w×h and reads back their stamps.
func decodeH264(t *testing.T, path string, w, h int) (stamps []Stamp, unread int) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed, and it decodes the H.264 a call received: run scripts/setup --test")
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "h264", "-i", path,
		"-f", "rawvideo", "-pix_fmt", "gray", "-s", fmt.Sprintf("%dx%d", w, h), "-")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg decoding %s: %v: %s", path, err, stderr.String())
	}
	stamps, unread, err := ReadStampsGray(out.Bytes(), w, h)
	if err != nil {
		t.Fatal(err)
	}
	return stamps, unread
}

// checkDecoded checks the stamps read back from a decoded recording of the
// stamped pattern, made between from and to on this machine: every
// picture's stamp read, frame numbers going up with none missing,
// clocks going up within the call, and as many pictures as the receiver
// counted.
func checkDecoded(t *testing.T, stamps []Stamp, unread int, counted uint64, from, to time.Time) {
	t.Helper()
	if unread != 0 {
		t.Errorf("%d of %d decoded pictures have no stamp that reads", unread, unread+len(stamps))
	}
	if uint64(len(stamps)+unread) != counted {
		t.Errorf("%d pictures decoded from the recording, %d frames counted by the receiver", len(stamps)+unread, counted)
	}
	gaps, err := StampRun(stamps, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if gaps > maxLoopbackGaps {
		t.Errorf("%d frames missing between the %d decoded", gaps, len(stamps))
	}
}
