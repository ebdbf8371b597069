package av

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Camera is a source whose video comes from a program that writes H.264
// (Annex B) on its standard output: rpicam-vid on a Raspberry Pi, whose
// hardware encoder makes it. The frames go out as they come, never
// decoded or re-encoded, so this needs no codec in the build (the cgo-free
// Pi binaries have it). Audio is the synthetic tone where the codecs are
// built in.
type Camera struct {
	// Command is the program and its arguments (RPiCamCommand makes
	// rpicam-vid's).
	Command []string
	// FPS paces the frames if the program writes faster (a file);
	// zero means 30.
	FPS int
	// StillCommand, if set, writes one JPEG on stdout (RPiStillCommand):
	// the doorphone's snapshot.
	StillCommand []string
}

// RPiCamCommand is rpicam-vid streaming the camera's hardware H.264:
// constrained baseline (what browsers take), SPS and PPS before every key
// frame, a key frame every two seconds, to stdout, no preview.
func RPiCamCommand(width, height, fps, bitrate int) []string {
	return []string{"rpicam-vid", "-t", "0", "-n", "--codec", "h264", "--profile", "baseline", "--level", "4.1",
		"--inline", "--flush", "--intra", strconv.Itoa(2 * fps),
		"--width", strconv.Itoa(width), "--height", strconv.Itoa(height),
		"--framerate", strconv.Itoa(fps), "--bitrate", strconv.Itoa(bitrate), "-o", "-"}
}

// Video starts the program.
func (c Camera) Video() (Stream, error) {
	if len(c.Command) == 0 {
		return nil, errors.New("no camera command")
	}
	fps := c.FPS
	if fps <= 0 {
		fps = 30
	}
	cmd := exec.Command(c.Command[0], c.Command[1:]...)
	cmd.WaitDelay = programWaitDelay
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr := &limitedBuffer{max: 4096}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("the camera (%s): %w", c.Command[0], err)
	}
	s := &annexBStream{cmd: cmd, nals: newNALReader(out), period: time.Second / time.Duration(fps), next: time.Now(), stderr: stderr}
	return s, nil
}

// Audio is the synthetic tone (nil without the codecs).
func (c Camera) Audio() (Stream, error) { return newToneStream() }

// programWaitDelay is how long a source program's stop waits for what
// it started to let go of its output: a script's pipeline (a camera
// command piped to an encoder) outlives the killed shell, holding the
// pipes open; they are closed after this, which ends it.
const programWaitDelay = time.Second

// limitedBuffer keeps the start of what a program says on stderr.
type limitedBuffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(bytes.TrimSpace(l.b.Bytes()))
}

// annexBStream turns a program's H.264 into frames (access units).
type annexBStream struct {
	cmd    *exec.Cmd
	nals   *nalReader
	period time.Duration
	next   time.Time
	stderr *limitedBuffer

	au      [][]byte // the access unit being put together
	hasVCL  bool
	pending []byte // a NAL that starts the next access unit
	once    sync.Once
}

// Limits on what the program writes.
const (
	maxNAL         = 4 << 20
	maxAccessUnits = 8 << 20
)

func (s *annexBStream) Codec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264Fmtp}
}

// startsAU reports whether NAL n begins a new access unit after one that
// already has a picture: parameter sets, delimiters and SEI do, and so
// does the first slice of a picture (first_mb_in_slice is 0: the first bit
// of the slice header is 1).
func startsAU(n []byte) bool {
	switch n[0] & 0x1f {
	case 6, 7, 8, 9, 14, 15, 16, 17, 18:
		return true
	case 1, 5:
		return len(n) > 1 && n[1]&0x80 != 0
	}
	return false
}

func (s *annexBStream) Read() (media.Sample, error) {
	for {
		var n []byte
		if s.pending != nil {
			n, s.pending = s.pending, nil
		} else {
			var err error
			n, err = s.nals.next()
			if err != nil {
				if len(s.au) > 0 && s.hasVCL && errors.Is(err, io.EOF) {
					return s.emit(), nil
				}
				if errors.Is(err, io.EOF) {
					s.Close() // the program is done: wait for what it said
					if msg := s.stderr.String(); msg != "" {
						return media.Sample{}, fmt.Errorf("the camera stopped: %s", msg)
					}
				}
				return media.Sample{}, err
			}
		}
		if len(n) == 0 {
			continue
		}
		if s.hasVCL && startsAU(n) {
			s.pending = n
			return s.emit(), nil
		}
		s.au = append(s.au, n)
		if t := n[0] & 0x1f; t == 1 || t == 5 {
			s.hasVCL = true
		}
		if size(s.au) > maxAccessUnits {
			return media.Sample{}, errors.New("the camera wrote a frame over 8 MiB")
		}
	}
}

func size(au [][]byte) (n int) {
	for _, x := range au {
		n += len(x) + 4
	}
	return n
}

// emit returns the access unit put together, in Annex B, paced.
func (s *annexBStream) emit() media.Sample {
	var b bytes.Buffer
	for _, n := range s.au {
		b.Write([]byte{0, 0, 0, 1})
		b.Write(n)
	}
	s.au, s.hasVCL = nil, false
	if d := time.Until(s.next); d > 0 {
		time.Sleep(d)
	}
	s.next = s.next.Add(s.period)
	if time.Since(s.next) > time.Second {
		s.next = time.Now()
	}
	return media.Sample{Data: b.Bytes(), Duration: s.period}
}

func (s *annexBStream) Close() error {
	s.once.Do(func() {
		if s.cmd.Process != nil {
			s.cmd.Process.Kill()
		}
		s.cmd.Wait()
	})
	return nil
}

// nalReader splits an Annex B byte stream into NAL units.
type nalReader struct {
	r   *bufio.Reader
	buf []byte
	eof bool
}

func newNALReader(r io.Reader) *nalReader { return &nalReader{r: bufio.NewReaderSize(r, 64<<10)} }

// startCode finds the next 00 00 01 in b from i: its index and length
// (4 when a zero precedes it).
func startCode(b []byte, from int) (int, int) {
	for i := from; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if i > from && b[i-1] == 0 {
				return i - 1, 4
			}
			return i, 3
		}
	}
	return -1, 0
}

// next returns the next NAL unit (without its start code).
func (n *nalReader) next() ([]byte, error) {
	for {
		// Skip to the first start code.
		if at, l := startCode(n.buf, 0); at >= 0 {
			if at2, _ := startCode(n.buf, at+l); at2 >= 0 {
				nal := bytes.Clone(n.buf[at+l : at2])
				n.buf = n.buf[at2:]
				return nal, nil
			}
			if n.eof {
				nal := bytes.Clone(n.buf[at+l:])
				n.buf = nil
				if len(nal) == 0 {
					return nil, io.EOF
				}
				return nal, nil
			}
		} else if n.eof {
			return nil, io.EOF
		}
		if len(n.buf) > maxNAL {
			return nil, errors.New("the camera wrote a NAL unit over 4 MiB")
		}
		chunk := make([]byte, 32<<10)
		k, err := n.r.Read(chunk)
		n.buf = append(n.buf, chunk[:k]...)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return nil, err
			}
			n.eof = true
		}
	}
}
