//go:build !codecs || !cgo

package av

import (
	"errors"
	"time"

	"github.com/pion/webrtc/v4"
)

// A build without the cgo codecs: calls connect and carry stamps over
// the data channel, but no audio or video.
var codecNames []string

func registerCodecs(me *webrtc.MediaEngine) error { return me.RegisterDefaultCodecs() }

var errNoCodecs = errors.New("built without the media codecs (build tag codecs)")

func newPatternStream(w, h, fps, bitrate int, codecName string) (Stream, error) { return nil, nil }

func newToneStream() (Stream, error) { return nil, nil }

func newPCMStream(command []string) (Stream, error) { return nil, nil }

func newVideoDecoder() (videoDecoder, error) { return nil, errNoCodecs }

// MeasureEncode needs the codecs.
func MeasureEncode(codecName string, w, h, fps, bitrate, n int) (time.Duration, int, error) {
	return 0, 0, errNoCodecs
}
