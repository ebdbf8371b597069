//go:build codecs && cgo && !nox264

package av

import (
	"fmt"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/x264"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

func withX264(names []string) []string { return append([]string{"h264"}, names...) }

// newX264 is libx264: ultrafast, constrained baseline (what the SDP names
// and browsers take), a key frame every two seconds.
func newX264(r video.Reader, props prop.Media, bitrate, fps int) (codec.ReadCloser, error) {
	params, err := x264.NewParams()
	if err != nil {
		return nil, err
	}
	params.BitRate = bitrate // x264 refuses to start without one
	params.KeyFrameInterval = 2 * fps
	params.Preset = x264.PresetUltrafast
	enc, err := params.BuildVideoEncoder(r, props)
	if err != nil {
		return nil, fmt.Errorf("x264: %w", err)
	}
	return enc, nil
}
