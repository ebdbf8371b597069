package av

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"os/exec"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
)

// MaxStill bounds a still picture a program may write.
const MaxStill = 16 << 20

// Stiller is a source that also takes still pictures (JPEG): the
// doorphone's snapshot of who is at the door.
type Stiller interface {
	Still(ctx context.Context) ([]byte, error)
}

// ErrNoStill means a source cannot take a still picture.
var ErrNoStill = errors.New("this camera takes no still pictures (set a still command)")

// Still takes a still picture from src, if it can.
func Still(ctx context.Context, src Source) ([]byte, error) {
	if s, ok := src.(Stiller); ok {
		return s.Still(ctx)
	}
	return nil, ErrNoStill
}

// Still is a JPEG of the test pattern as it is now. It needs no codec.
func (s Synthetic) Still(ctx context.Context) ([]byte, error) {
	w, h, _, _ := s.size()
	p := &TestPattern{W: w, H: h}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, p.Next(time.Now()), &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// RPiStillCommand is rpicam-still writing one JPEG to stdout, no preview.
func RPiStillCommand(width, height int) []string {
	return []string{"rpicam-still", "-n", "-t", "1", "--width", strconv.Itoa(width), "--height", strconv.Itoa(height), "-e", "jpg", "-o", "-"}
}

// Still runs the camera's still command (StillCommand), which must write
// one JPEG on stdout.
func (c Camera) Still(ctx context.Context) ([]byte, error) {
	if len(c.StillCommand) == 0 {
		return nil, ErrNoStill
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.StillCommand[0], c.StillCommand[1:]...)
	out := &limitedBuffer{max: MaxStill + 1}
	stderr := &limitedBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = out, stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("the still command (%s): %w: %s", c.StillCommand[0], err, stderr.String())
	}
	b := out.b.Bytes()
	switch {
	case len(b) > MaxStill:
		return nil, fmt.Errorf("the still command wrote more than %d bytes", MaxStill)
	case len(b) < 4 || b[0] != 0xff || b[1] != 0xd8:
		return nil, fmt.Errorf("the still command (%s) wrote no JPEG", c.StillCommand[0])
	}
	return bytes.Clone(b), nil
}

// Still is VideoFrom's.
func (m Mix) Still(ctx context.Context) ([]byte, error) { return Still(ctx, m.VideoFrom) }

// Clip records the first d of src's video into w, as it is encoded (never
// re-encoded): VP8 in an IVF file (extension "ivf") or H.264 Annex B
// ("h264"). It stops early when ctx is done, keeping what it has. A source
// without video (a build without codecs and no camera) records nothing
// and says so with ErrNoStill's sibling, ErrNoVideo.
func Clip(ctx context.Context, src Source, d time.Duration, w io.Writer) (ext string, frames int, err error) {
	st, err := src.Video()
	if err != nil {
		return "", 0, err
	}
	if st == nil {
		return "", 0, ErrNoVideo
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		case <-stop:
		}
		st.Close()
	}()
	defer st.Close()
	var ivf *ivfWriter
	switch st.Codec().MimeType {
	case webrtc.MimeTypeVP8:
		ext, ivf = "ivf", &ivfWriter{w: w}
	case webrtc.MimeTypeH264:
		ext = "h264"
	default:
		return "", 0, fmt.Errorf("a clip of %s", st.Codec().MimeType)
	}
	start := time.Now()
	for time.Since(start) < d {
		smp, err := st.Read()
		if err != nil {
			break // closed at the end, or the source stopped
		}
		if ivf != nil {
			err = ivf.frame(smp.Data, uint64(time.Since(start).Milliseconds()))
		} else {
			_, err = w.Write(smp.Data)
		}
		if err != nil {
			return ext, frames, err
		}
		frames++
	}
	return ext, frames, nil
}

// ErrNoVideo means a source sends no video in this build.
var ErrNoVideo = errors.New("no video source (a build without codecs and no camera)")

// ivfWriter writes VP8 frames in the IVF container (what ffmpeg and
// browsers' tools read), with a millisecond time base. The header's frame
// count and size are left zero: readers do not need them.
type ivfWriter struct {
	w      io.Writer
	header bool
}

func (v *ivfWriter) frame(f []byte, ms uint64) error {
	if !v.header {
		h := make([]byte, 32)
		copy(h, "DKIF")
		binary.LittleEndian.PutUint16(h[6:], 32)
		copy(h[8:], "VP80")
		w, ht := vp8Size(f)
		binary.LittleEndian.PutUint16(h[12:], w)
		binary.LittleEndian.PutUint16(h[14:], ht)
		binary.LittleEndian.PutUint32(h[16:], 1000) // time base 1/1000
		binary.LittleEndian.PutUint32(h[20:], 1)
		if _, err := v.w.Write(h); err != nil {
			return err
		}
		v.header = true
	}
	fh := make([]byte, 12)
	binary.LittleEndian.PutUint32(fh, uint32(len(f)))
	binary.LittleEndian.PutUint64(fh[4:], ms)
	if _, err := v.w.Write(fh); err != nil {
		return err
	}
	_, err := v.w.Write(f)
	return err
}

// vp8Size reads the size of a VP8 key frame (RFC 6386 9.1); zero for an
// inter frame.
func vp8Size(f []byte) (uint16, uint16) {
	if len(f) < 10 || f[0]&1 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0
	}
	return binary.LittleEndian.Uint16(f[6:]) & 0x3fff, binary.LittleEndian.Uint16(f[8:]) & 0x3fff
}
