//go:build codecs

package rtsp

import (
	"net"
	"testing"

	"github.com/hearthp2p/hearth/call/av"
)

// TestRTSPSynthetic: the daemon's own synthetic camera, in H.264 (what a
// doorphone without a camera sends), read and decoded by ffmpeg over
// RTSP.
func TestRTSPSynthetic(t *testing.T) {
	s := start(t, av.NewTee(av.Synthetic{Codec: "h264", Width: 320, Height: 240}))
	_, port, _ := net.SplitHostPort(s.Addr())
	if n, out := decode(t, "rtsp://recorder:s3cret%20pass@127.0.0.1:"+port+"/door", 30, "-rtsp_transport", "tcp"); n < 30 {
		t.Fatalf("ffmpeg decoded %d frames of the synthetic camera:\n%s", n, out)
	}
}
