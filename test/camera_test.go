package test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/call/av"
)

// stampedCamera is the picture side of a camera for the tests
// (HEARTH_TEST_CAMERA=WxH): the stamped test pattern as raw I420
// pictures on stdout, 30 a second, for a minute at most or until nobody
// reads them.
func stampedCamera(size string) {
	var w, h int
	if _, err := fmt.Sscanf(size, "%dx%d", &w, &h); err != nil || w <= 0 || h <= 0 || w%2 != 0 || h%2 != 0 {
		fmt.Fprintf(os.Stderr, "HEARTH_TEST_CAMERA=%q: WxH, even\n", size)
		os.Exit(2)
	}
	p := &av.TestPattern{W: w, H: h}
	out := bufio.NewWriterSize(os.Stdout, w*h*3/2)
	next := time.Now()
	for range 30 * 60 {
		img := p.Next(time.Now())
		out.Write(img.Y[:w*h])
		out.Write(img.Cb[:w*h/4])
		out.Write(img.Cr[:w*h/4])
		if out.Flush() != nil {
			return
		}
		next = next.Add(time.Second / 30)
		time.Sleep(time.Until(next))
	}
}

// requireFFmpeg fails a test that needs Debian's ffmpeg where it is not.
func requireFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed (it encodes the camera's H.264 and decodes what a call received): run scripts/setup --test")
	}
}

// decodeStamps decodes an H.264 recording with a real decoder (ffmpeg) to
// raw luma pictures of w×h and reads back their stamps.
func decodeStamps(t *testing.T, path string, w, h int) (stamps []av.Stamp, unread int) {
	t.Helper()
	var out, stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "h264", "-i", path,
		"-f", "rawvideo", "-pix_fmt", "gray", "-s", fmt.Sprintf("%dx%d", w, h), "-")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg decoding %s: %v: %s", path, err, stderr.String())
	}
	stamps, unread, err := av.ReadStampsGray(out.Bytes(), w, h)
	if err != nil {
		t.Fatal(err)
	}
	return stamps, unread
}

// h264Camera writes a camera command into dir for --camera: H.264 (Annex
// B) on stdout, as rpicam-vid writes it, here ffmpeg's libx264 encoding
// the stamped pattern this test binary draws live at w×h (baseline, one
// slice a picture, a key frame every two seconds, nothing held back).
func h264Camera(t *testing.T, dir string, w, h int) string {
	t.Helper()
	requireFFmpeg(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	camera := filepath.Join(dir, "camera")
	script := fmt.Sprintf("#!/bin/sh\nHEARTH_TEST_CAMERA=%dx%d '%s' | ffmpeg -nostdin -loglevel error -f rawvideo -pix_fmt yuv420p -s %dx%d -r 30 -i - "+
		"-c:v libx264 -preset ultrafast -tune zerolatency -threads 1 -profile:v baseline -g 60 -b:v 500k -flush_packets 1 -f h264 -\n", w, h, self, w, h)
	if err := os.WriteFile(camera, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return camera
}

// checkDecoded decodes a call's H.264 recording of the stamped pattern,
// made between from and to, with a real decoder (ffmpeg) and checks it:
// every picture's stamp reads back, frame numbers go up with none
// missing, clocks go up within the call, and there are as many pictures
// as the receiver counted.
func checkDecoded(t *testing.T, path string, w, h int, counted uint64, from, to time.Time) {
	t.Helper()
	stamps, unread := decodeStamps(t, path, w, h)
	if unread != 0 {
		t.Errorf("%d of %d pictures decoded from the recording have no stamp that reads", unread, unread+len(stamps))
	}
	if n := uint64(len(stamps) + unread); n != counted {
		t.Errorf("%d pictures decoded from the recording, %d frames counted by the receiver", n, counted)
	}
	if len(stamps) == 0 {
		t.Fatal("no picture in the recording")
	}
	gaps, err := av.StampRun(stamps, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if gaps > maxLoopbackGaps {
		t.Errorf("%d frames missing between the %d decoded", gaps, len(stamps))
	}
	t.Logf("the H.264 recording decodes to %d pictures, frames %d to %d, %d missing; the receiver counted %d", len(stamps)+unread, stamps[0].Frame, stamps[len(stamps)-1].Frame, gaps, counted)
}
