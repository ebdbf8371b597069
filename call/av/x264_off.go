//go:build codecs && cgo && nox264

package av

import (
	"errors"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// The ARMv6 build leaves libx264 out: its start-up probe for NEON raises
// SIGILL on a CPU without it, which a Go program cannot take. H.264 still
// comes from the camera's hardware encoder (Camera), which needs no codec.
func withX264(names []string) []string { return names }

func newX264(video.Reader, prop.Media, int, int) (codec.ReadCloser, error) {
	return nil, errors.New("this build has no H.264 encoder (nox264): use vp8, or a camera that encodes H.264 itself (rpicam)")
}
