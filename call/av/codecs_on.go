//go:build codecs && cgo

package av

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os/exec"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/hearthp2p/hearth/internal/version"
)

// The codecs of this build: libvpx (VP8), libopus and, unless the build
// has the tag nox264, libx264 (H.264), through cgo.
var codecNames = withX264([]string{"opus", "vp8"})

func init() {
	for _, c := range codecNames {
		version.RegisterCodec(c)
	}
}

func registerCodecs(me *webrtc.MediaEngine) error { return me.RegisterDefaultCodecs() }

// encoded paces an encoder that pulls its input, one frame per period.
type encoded struct {
	enc    codec.ReadCloser
	cap    webrtc.RTPCodecCapability
	period time.Duration
	next   time.Time
}

func (e *encoded) Codec() webrtc.RTPCodecCapability { return e.cap }

func (e *encoded) Read() (media.Sample, error) {
	if d := time.Until(e.next); d > 0 {
		time.Sleep(d)
	}
	e.next = e.next.Add(e.period)
	if behind := time.Since(e.next); behind > time.Second {
		e.next = time.Now() // a stall: do not burst to catch up
	}
	b, release, err := e.enc.Read()
	if err != nil {
		return media.Sample{}, err
	}
	data := bytes.Clone(b)
	release()
	return media.Sample{Data: data, Duration: e.period}, nil
}

func (e *encoded) Close() error { return e.enc.Close() }

func newPatternStream(w, h, fps, bitrate int, codecName string) (Stream, error) {
	pattern := &TestPattern{W: w, H: h}
	r := video.ReaderFunc(func() (image.Image, func(), error) {
		return pattern.Next(time.Now()), func() {}, nil
	})
	props := prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: float32(fps), FrameFormat: "I420"}}
	var enc codec.ReadCloser
	var capability webrtc.RTPCodecCapability
	switch codecName {
	case "h264":
		var err error
		if enc, err = newX264(r, props, bitrate, fps); err != nil {
			return nil, err
		}
		capability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264Fmtp}
	case "vp8", "":
		params, err := vpx.NewVP8Params()
		if err != nil {
			return nil, err
		}
		params.BitRate = bitrate
		params.KeyFrameInterval = 2 * fps
		params.Deadline = time.Millisecond // real time
		params.RateControlEndUsage = vpx.RateControlCBR
		if enc, err = params.BuildVideoEncoder(r, props); err != nil {
			return nil, fmt.Errorf("libvpx: %w", err)
		}
		capability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	default:
		return nil, fmt.Errorf("no video codec %q (vp8 or h264)", codecName)
	}
	return &encoded{enc: enc, cap: capability, period: time.Second / time.Duration(fps), next: time.Now()}, nil
}

const toneRate, toneChunk = 48000, 960 // 20 ms

func newToneStream() (Stream, error) {
	var phase float64
	r := audio.ReaderFunc(func() (wave.Audio, func(), error) {
		a := wave.NewInt16Interleaved(wave.ChunkInfo{Len: toneChunk, Channels: 1, SamplingRate: toneRate})
		for i := range toneChunk {
			a.SetInt16(i, 0, wave.Int16Sample(8000*math.Sin(phase)))
			phase += 2 * math.Pi * 440 / toneRate
		}
		return a, func() {}, nil
	})
	params, err := opus.NewParams()
	if err != nil {
		return nil, err
	}
	params.BitRate = 32000
	enc, err := params.BuildAudioEncoder(r, prop.Media{Audio: prop.Audio{SampleRate: toneRate, ChannelCount: 1, Latency: 20 * time.Millisecond}})
	if err != nil {
		return nil, err
	}
	return &encoded{enc: enc, cap: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		period: 20 * time.Millisecond, next: time.Now()}, nil
}

// newPCMStream encodes to Opus what a program writes: 48 kHz mono S16LE.
func newPCMStream(command []string) (Stream, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.WaitDelay = programWaitDelay
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr := &limitedBuffer{max: 4096}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("the microphone (%s): %w", command[0], err)
	}
	buf := make([]byte, 2*toneChunk)
	r := audio.ReaderFunc(func() (wave.Audio, func(), error) {
		if _, err := io.ReadFull(out, buf); err != nil {
			cmd.Wait()
			if msg := stderr.String(); msg != "" {
				return nil, func() {}, fmt.Errorf("the microphone stopped: %s", msg)
			}
			return nil, func() {}, io.EOF
		}
		a := wave.NewInt16Interleaved(wave.ChunkInfo{Len: toneChunk, Channels: 1, SamplingRate: toneRate})
		for i := range toneChunk {
			a.SetInt16(i, 0, wave.Int16Sample(int16(binary.LittleEndian.Uint16(buf[2*i:]))))
		}
		return a, func() {}, nil
	})
	params, err := opus.NewParams()
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	params.BitRate = 32000
	enc, err := params.BuildAudioEncoder(r, prop.Media{Audio: prop.Audio{SampleRate: toneRate, ChannelCount: 1, Latency: 20 * time.Millisecond}})
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	return &programStream{encoded: encoded{enc: enc, cap: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		period: 20 * time.Millisecond, next: time.Now()}, cmd: cmd}, nil
}

// programStream is an encoder fed by a program, stopped with it.
type programStream struct {
	encoded
	cmd  *exec.Cmd
	once sync.Once
}

func (p *programStream) Close() error {
	p.once.Do(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	return p.encoded.Close()
}

// vp8Decoder feeds libvpx one frame per Read.
type vp8Decoder struct {
	dec codec.VideoDecoder
	in  frameFeed
}

type frameFeed struct{ frame []byte }

func (f *frameFeed) Read(b []byte) (int, error) {
	if f.frame == nil {
		return 0, io.EOF
	}
	if len(f.frame) > len(b) {
		return 0, errors.New("a frame over the decoder's buffer")
	}
	n := copy(b, f.frame)
	f.frame = nil
	return n, nil
}

func newVideoDecoder() (videoDecoder, error) {
	d := &vp8Decoder{}
	dec, err := vpx.NewDecoder(&d.in, prop.Media{})
	if err != nil {
		return nil, err
	}
	d.dec = dec
	return d, nil
}

func (d *vp8Decoder) Decode(frame []byte) (image.Image, error) {
	d.in.frame = frame
	img, release, err := d.dec.Read()
	if err != nil {
		return nil, err
	}
	release()
	return img, nil
}

func (d *vp8Decoder) Close() error { return d.dec.Close() }

// MeasureEncode encodes n synthetic frames of w×h with a video codec
// (vp8, h264) as fast as it can and returns the processor time one
// frame's encoding took (the drawing of the pattern left out) and the
// bytes of a frame, on average, at bitrate for fps.
func MeasureEncode(codecName string, w, h, fps, bitrate, n int) (perFrame time.Duration, frameBytes int, err error) {
	st, err := newPatternStream(w, h, fps, bitrate, codecName)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	e := st.(*encoded)
	e.period = 0 // unpaced
	// The pattern alone, to take it out.
	p := &TestPattern{W: w, H: h}
	c0 := cpuTime()
	for range n {
		p.Next(time.Now())
	}
	draw := cpuTime() - c0
	total := 0
	c0 = cpuTime()
	for range n {
		smp, err := e.Read()
		if err != nil {
			return 0, 0, err
		}
		total += len(smp.Data)
	}
	enc := cpuTime() - c0 - draw
	return enc / time.Duration(n), total / n, nil
}
