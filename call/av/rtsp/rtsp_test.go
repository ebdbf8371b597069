package rtsp

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/call/av"
)

// testCamera is a camera that is not ours: ffmpeg's test pattern, H.264
// baseline as a Pi's encoder makes it, a key frame every second.
func testCamera(t *testing.T) *av.Tee {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed: run scripts/setup --test")
	}
	return av.NewTee(av.Camera{Command: []string{"ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
		"-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-threads", "1", "-profile:v", "baseline", "-g", "30",
		"-flush_packets", "1", "-f", "h264", "-"}})
}

func start(t *testing.T, cam *av.Tee) *Server {
	t.Helper()
	s, err := Start(Config{Listen: "127.0.0.1:0", User: "recorder", Password: "s3cret pass", Video: cam.Video, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var framesRe = regexp.MustCompile(`frame=\s*(\d+)`)

// decode has ffmpeg (a client that is not ours) read n frames of url and
// decode them; it returns how many it decoded and what it said.
func decode(t *testing.T, url string, n int, extra ...string) (int, string) {
	t.Helper()
	args := append([]string{"-nostdin", "-hide_banner", "-loglevel", "info"}, extra...)
	args = append(args, "-i", url, "-frames:v", strconv.Itoa(n), "-f", "null", "-")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput()
	m := framesRe.FindAllStringSubmatch(string(out), -1)
	if len(m) == 0 {
		return 0, string(out)
	}
	got, _ := strconv.Atoi(m[len(m)-1][1])
	return got, string(out)
}

// TestRTSPFFmpeg: ffmpeg reads the stream over RTSP (TCP interleaved, and
// by its default, which asks for UDP first and is told to use TCP) and
// decodes the camera's frames; wrong credentials or none are refused, as
// is another path; the camera is shared: two clients, one encoder.
func TestRTSPFFmpeg(t *testing.T) {
	cam := testCamera(t)
	s := start(t, cam)
	_, port, _ := net.SplitHostPort(s.Addr())
	good := "rtsp://recorder:s3cret%20pass@127.0.0.1:" + port + "/door"
	if n, out := decode(t, good, 30, "-rtsp_transport", "tcp"); n < 30 {
		t.Fatalf("ffmpeg decoded %d frames over TCP:\n%s", n, out)
	}
	if n, out := decode(t, good, 10); n < 10 {
		t.Fatalf("ffmpeg decoded %d frames with its default transport:\n%s", n, out)
	}
	for _, bad := range []string{
		"rtsp://recorder:wrong@127.0.0.1:" + port + "/door",
		"rtsp://127.0.0.1:" + port + "/door",
		"rtsp://intruder:s3cret%20pass@127.0.0.1:" + port + "/door",
	} {
		if n, out := decode(t, bad, 5, "-rtsp_transport", "tcp"); n != 0 || !strings.Contains(out, "401") {
			t.Errorf("%s: %d frames decoded, or no 401:\n%s", bad, n, out)
		}
	}
	if n, out := decode(t, "rtsp://recorder:s3cret%20pass@127.0.0.1:"+port+"/elsewhere", 5, "-rtsp_transport", "tcp"); n != 0 || !strings.Contains(out, "404") {
		t.Errorf("another path: %d frames:\n%s", n, out)
	}
}

// TestRTSPRequests: what a client that is not well-behaved sends gets an
// answer or a closed connection, never a stream: garbage, a request past
// the size limit, a PLAY without SETUP, UDP transport; and a guesser is
// slowed after five wrong passwords.
func TestRTSPRequests(t *testing.T) {
	s := start(t, av.NewTee(av.Synthetic{}))
	ask := func(c net.Conn, r *bufio.Reader, req string) string {
		t.Helper()
		fmt.Fprint(c, req)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return "closed"
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		return strings.TrimSpace(line)
	}
	conn := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	c, r := conn()
	if got := ask(c, r, "HELLO\r\n\r\n"); !strings.Contains(got, "400") && got != "closed" {
		t.Errorf("garbage: %q", got)
	}
	c, r = conn()
	if got := ask(c, r, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: "+strings.Repeat("a", 20000)+"\r\n\r\n"); !strings.Contains(got, "400") && got != "closed" {
		t.Errorf("a request past the limit: %q", got)
	}
	c, r = conn()
	if got := ask(c, r, "PLAY rtsp://x/door RTSP/1.0\r\nCSeq: 1\r\n\r\n"); !strings.Contains(got, "401") {
		t.Errorf("PLAY with no credentials: %q", got)
	}
	// Five wrong passwords, then the address waits.
	var last string
	for i := range 7 {
		last = ask(c, r, fmt.Sprintf("DESCRIBE rtsp://x/door RTSP/1.0\r\nCSeq: %d\r\nAuthorization: Digest username=\"recorder\", realm=\"Hearth door\", nonce=\"%s\", uri=\"rtsp://x/door\", response=\"%032x\"\r\n\r\n", i+2, s.nonce, i))
		if last == "closed" || strings.Contains(last, "503") {
			break
		}
	}
	if !strings.Contains(last, "503") && last != "closed" {
		t.Errorf("a guesser is not slowed: %q", last)
	}
	// A SETUP over UDP: refused, the client is told.
	c, r = conn()
	auth := digest("recorder", "s3cret pass", s.nonce, "SETUP", "rtsp://x/door/trackID=0")
	if got := ask(c, r, "SETUP rtsp://x/door/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=5000-5001\r\nAuthorization: "+auth+"\r\n\r\n"); !strings.Contains(got, "461") {
		t.Errorf("SETUP over UDP: %q", got)
	}
	auth = digest("recorder", "s3cret pass", s.nonce, "PLAY", "rtsp://x/door")
	if got := ask(c, r, "PLAY rtsp://x/door RTSP/1.0\r\nCSeq: 2\r\nSession: 1234\r\nAuthorization: "+auth+"\r\n\r\n"); !strings.Contains(got, "454") {
		t.Errorf("PLAY without a session: %q", got)
	}
}

// digest is a client's Digest Authorization header (RFC 2617, no qop).
func digest(user, password, nonce, method, uri string) string {
	md := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	resp := md(md(user+":"+realm+":"+password) + ":" + nonce + ":" + md(method+":"+uri))
	return fmt.Sprintf(`Digest username=%q, realm=%q, nonce=%q, uri=%q, response=%q`, user, realm, nonce, uri, resp)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
