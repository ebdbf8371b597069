package av

import (
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/internal/logattr"
)

// Stream is encoded media, one frame (or audio packet) at a time.
type Stream interface {
	// Codec is what the frames are.
	Codec() webrtc.RTPCodecCapability
	// Read blocks until the next frame, paced in real time.
	Read() (media.Sample, error)
	Close() error
}

// Source makes the streams a device sends in a call. Either may be nil:
// nothing of that kind is sent.
type Source interface {
	Video() (Stream, error)
	Audio() (Stream, error)
}

// Synthetic is the source of a device without a camera or microphone: a
// moving test pattern whose frames carry their number and the time
// (Stamp), and a tone. It needs the codecs (build tag "codecs"); without
// them it sends nothing over RTP, and stamps go over the data channel
// alone.
type Synthetic struct {
	Width, Height, FPS int    // zero: 640x480 at 30
	Bitrate            int    // video bits per second; zero: 1.5 Mbit/s
	Codec              string // vp8 (the default) or h264
}

// h264Fmtp is the H.264 this build sends: constrained baseline, level 3.1,
// packetization mode 1 (what browsers take).
const h264Fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"

func (s Synthetic) size() (int, int, int, int) {
	w, h, fps, br := s.Width, s.Height, s.FPS, s.Bitrate
	if w <= 0 || h <= 0 {
		w, h = 640, 480
	}
	if fps <= 0 {
		fps = 30
	}
	if br <= 0 {
		br = 1_500_000
	}
	return w, h, fps, br
}

// Video returns the stamped test pattern, encoded, or nil without codecs.
func (s Synthetic) Video() (Stream, error) {
	w, h, fps, br := s.size()
	return newPatternStream(w, h, fps, br, s.Codec)
}

// Audio returns a tone, encoded, or nil without codecs.
func (s Synthetic) Audio() (Stream, error) { return newToneStream() }

// Codecs names the media codecs compiled into this build.
func Codecs() []string { return slices.Clone(codecNames) }

// sender pumps the local streams into the connection's tracks.
type sender struct {
	p       *peerEndpoint
	streams []Stream
	tracks  []*webrtc.TrackLocalStaticSample
	quit    chan struct{}

	needProbes bool // video is wanted and this build has no codecs
	wg         sync.WaitGroup
	once       sync.Once
}

// probeInterval is how often a call without video sends a stamp over the
// data channel.
const probeInterval = time.Second / 30

func newSender(p *peerEndpoint, src Source, send call.Media) (*sender, error) {
	s := &sender{p: p, quit: make(chan struct{})}
	var video, audio Stream
	var err error
	if send&call.Video != 0 {
		if video, err = src.Video(); err != nil {
			return nil, fmt.Errorf("the video source: %w", err)
		}
	}
	if send&call.Audio != 0 {
		if audio, err = src.Audio(); err != nil {
			if video != nil {
				video.Close()
			}
			return nil, fmt.Errorf("the audio source: %w", err)
		}
	}
	for _, k := range []struct {
		st   Stream
		kind webrtc.RTPCodecType
		id   string
	}{{video, webrtc.RTPCodecTypeVideo, "video"}, {audio, webrtc.RTPCodecTypeAudio, "audio"}} {
		if k.st == nil {
			// Receive what the other side sends anyway.
			if _, err := p.pc.AddTransceiverFromKind(k.kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				s.closeStreams()
				return nil, err
			}
			continue
		}
		tr, err := webrtc.NewTrackLocalStaticSample(k.st.Codec(), k.id, "hearth")
		if err != nil {
			k.st.Close()
			s.closeStreams()
			return nil, err
		}
		rs, err := p.pc.AddTrack(tr)
		if err != nil {
			k.st.Close()
			s.closeStreams()
			return nil, err
		}
		s.streams = append(s.streams, k.st)
		s.tracks = append(s.tracks, tr)
		// RTCP must be read for NACKs and keyframe requests to work.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				if _, _, err := rs.ReadRTCP(); err != nil {
					return
				}
			}
		}()
	}
	// The data channel: stamps when there is no video (a build without
	// codecs), so that a call is still measured.
	s.needProbes = send&call.Video != 0 && video == nil
	if p.call.Direction == call.Outgoing {
		dc, err := p.pc.CreateDataChannel("hearth", nil)
		if err != nil {
			s.closeStreams()
			return nil, err
		}
		s.attach(dc)
	}
	return s, nil
}

// attach uses the call's data channel (made by the caller, taken by the
// callee) both ways.
func (s *sender) attach(dc *webrtc.DataChannel) {
	dc.OnOpen(func() { s.probes(dc, s.needProbes) })
	s.p.recv.dataChannel(dc)
}

// start begins pumping once the connection is up (samples written
// before are dropped by pion).
func (s *sender) start() {
	for i, st := range s.streams {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.pump(st, s.tracks[i])
		}()
	}
}

func (s *sender) pump(st Stream, tr *webrtc.TrackLocalStaticSample) {
	for {
		select {
		case <-s.quit:
			return
		default:
		}
		smp, err := st.Read()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.p.log.Info("a call source stopped", logattr.Err(err))
			}
			return
		}
		if err := tr.WriteSample(smp); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return
		}
	}
}

// probes sends stamps over the data channel while the call lasts, when
// video should be sent and cannot be (no codecs).
func (s *sender) probes(dc *webrtc.DataChannel, needed bool) {
	if !needed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(probeInterval)
		defer t.Stop()
		var n uint32
		for {
			select {
			case <-s.quit:
				return
			case now := <-t.C:
				if dc.SendText(fmt.Sprintf("stamp %d %d", n, ClockMillis(now))) != nil {
					return
				}
				n++
			}
		}
	}()
}

func (s *sender) closeStreams() {
	for _, st := range s.streams {
		st.Close()
	}
}

func (s *sender) stop() {
	s.once.Do(func() {
		close(s.quit)
		s.closeStreams()
	})
}

func (s *sender) wait() { s.wg.Wait() }

// receiver takes the other side's media: it counts, measures and
// records it.
type receiver struct {
	p   *peerEndpoint
	dir string // recording folder, if any
	wg  sync.WaitGroup

	mu        sync.Mutex
	frames    uint64 // stamps read and checked
	unread    uint64 // whole frames whose stamp was not read
	bad       uint64 // stamps read that failed the check
	gaps      uint64
	audio     uint64
	bytes     uint64
	last      int64  // the last checked stamp's frame number, -1: none
	lastClock uint32 // and its clock
	latencies []float64
	first     time.Duration
	files     []io.Closer
	closed    bool
	played    uint64 // audio samples sent to the speaker
}

// maxLatencies bounds the latency samples kept per call.
const maxLatencies = 1 << 16

func newReceiver(p *peerEndpoint, recordRoot string) *receiver {
	r := &receiver{p: p, last: -1}
	if recordRoot != "" {
		r.dir = filepath.Join(recordRoot, time.Now().UTC().Format("20060102-150405")+"-"+p.call.ID.String()[:8])
	}
	return r
}

// maxStampSkew is how far a stamp's clock may be from this device's: a
// live frame is not a minute old, and the clocks of two devices (NTP) are
// not a minute apart. A stamp further off is not believed.
const maxStampSkew = time.Minute

// checkStamp says why a stamp that read back (its check bits right) is
// not believed after the last one believed: its frame number must be past
// that one's, its clock not behind that one's, and near this device's.
func checkStamp(s Stamp, last int64, lastClock uint32, now time.Time) error {
	if int64(s.Frame) <= last {
		return fmt.Errorf("frame %d after frame %d", s.Frame, last)
	}
	if last >= 0 && int32(s.Clock-lastClock) < 0 {
		return fmt.Errorf("frame %d's clock is %d ms behind frame %d's", s.Frame, lastClock-s.Clock, last)
	}
	if age := s.Age(now); age > maxStampSkew || age < -maxStampSkew {
		return fmt.Errorf("frame %d's clock is %s off this device's", s.Frame, age)
	}
	return nil
}

// stamp takes one frame's stamp, read back: a frame counted once checked.
func (r *receiver) stamp(s Stamp, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.firstFrame(now)
	if err := checkStamp(s, r.last, r.lastClock, now); err != nil {
		if r.bad == 0 {
			r.p.log.Info("a frame's stamp is wrong", logattr.Err(err))
		}
		r.bad++
		return
	}
	r.frames++
	if r.last >= 0 {
		r.gaps += uint64(int64(s.Frame) - r.last - 1)
	}
	r.last, r.lastClock = int64(s.Frame), s.Clock
	if len(r.latencies) < maxLatencies {
		r.latencies = append(r.latencies, float64(s.Age(now).Microseconds())/1000)
	}
}

// unreadFrame counts a whole frame whose stamp was not read.
func (r *receiver) unreadFrame(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.firstFrame(now)
	r.unread++
}

// firstFrame notes when the first frame came (r.mu held).
func (r *receiver) firstFrame(now time.Time) {
	if r.frames+r.unread+r.bad == 0 {
		r.first = now.Sub(r.p.start)
	}
}

func (r *receiver) dataChannel(dc *webrtc.DataChannel) {
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		var s Stamp
		if _, err := fmt.Sscanf(string(m.Data), "stamp %d %d", &s.Frame, &s.Clock); err == nil {
			r.stamp(s, time.Now())
		} else {
			r.unreadFrame(time.Now())
		}
	})
}

// record opens a recording file of the call, if it records.
func (r *receiver) record(name string) (*os.File, error) {
	if r.dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, err
	}
	return os.Create(filepath.Join(r.dir, name))
}

func (r *receiver) track(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	defer r.wg.Done()
	codec := tr.Codec()
	r.p.log.Debug("receiving", slog.String("codec", codec.MimeType))
	switch {
	case tr.Kind() == webrtc.RTPCodecTypeAudio:
		r.audioTrack(tr)
	case codec.MimeType == webrtc.MimeTypeVP8:
		r.videoTrack(tr)
	case codec.MimeType == webrtc.MimeTypeH264:
		r.h264Track(tr)
	default:
		r.countOnly(tr)
	}
}

func (r *receiver) countOnly(tr *webrtc.TrackRemote) {
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.bytes += uint64(len(pkt.Payload))
		r.mu.Unlock()
	}
}

func (r *receiver) audioTrack(tr *webrtc.TrackRemote) {
	og := r.recorder("audio.ogg", func(w io.Writer) (rtpWriter, error) { return oggwriter.NewWith(w, 48000, tr.Codec().Channels) })
	sp := r.p.speaker()
	if sp != nil {
		defer sp.close()
	}
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.audio++
		r.bytes += uint64(len(pkt.Payload))
		r.mu.Unlock()
		if og != nil {
			og.WriteRTP(pkt)
		}
		if sp != nil && tr.Codec().MimeType == webrtc.MimeTypeOpus {
			if n := sp.play(pkt.Payload); n > 0 {
				r.mu.Lock()
				r.played += uint64(n)
				r.mu.Unlock()
			}
		}
	}
}

// rtpWriter writes received packets to a recording file.
type rtpWriter interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

// recorder opens recording file name of the call, wrapped; nil when the
// call is not recorded or the file cannot be made (said in the log).
func (r *receiver) recorder(name string, wrap func(io.Writer) (rtpWriter, error)) rtpWriter {
	f, err := r.record(name)
	if err != nil {
		r.p.log.Info("cannot record the call", slog.String("file", name), logattr.Err(err))
		return nil
	}
	if f == nil {
		return nil
	}
	w, err := wrap(f)
	if err != nil {
		f.Close()
		r.p.log.Info("cannot record the call", slog.String("file", name), logattr.Err(err))
		return nil
	}
	r.mu.Lock()
	r.files = append(r.files, w)
	r.mu.Unlock()
	return w
}

func (r *receiver) videoTrack(tr *webrtc.TrackRemote) {
	ivf := r.recorder("video.ivf", func(w io.Writer) (rtpWriter, error) {
		return ivfwriter.NewWith(w, ivfwriter.WithFrameRate(1, 90000), ivfwriter.WithDirectPTS())
	})
	dec, err := newVideoDecoder()
	if err != nil {
		r.p.log.Info("no video decoder: frames are counted, not read", logattr.Err(err))
	}
	if dec != nil {
		defer dec.Close()
	}
	// Ask for a key frame now and then: a decoder that lost one waits for
	// the next.
	pli := time.NewTicker(2 * time.Second)
	defer pli.Stop()
	var asm vp8Frames
	var sawKey bool
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.bytes += uint64(len(pkt.Payload))
		r.mu.Unlock()
		if ivf != nil {
			ivf.WriteRTP(pkt)
		}
		select {
		case <-pli.C:
			if !sawKey {
				r.p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
			}
		default:
		}
		if frame, ok := asm.push(pkt); ok && len(frame) > 0 {
			key := frame[0]&1 == 0
			sawKey = sawKey || key
			// A frame is read when it decodes and its stamp reads back;
			// else (no decoder, no key frame yet, no stamp: a camera, a
			// browser) it is counted unread.
			if dec == nil || !sawKey {
				r.unreadFrame(time.Now())
				continue
			}
			img, err := dec.Decode(frame)
			if err != nil {
				sawKey = false
				r.unreadFrame(time.Now())
				continue
			}
			if y, ok := img.(*image.YCbCr); ok {
				if s, ok := ReadStamp(y); ok {
					r.stamp(s, time.Now())
					continue
				}
			}
			r.unreadFrame(time.Now())
		}
	}
}

func (r *receiver) stats() call.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := call.Stats{VideoFrames: r.frames, UnreadFrames: r.unread, BadStamps: r.bad, FrameGaps: r.gaps, AudioPackets: r.audio, BytesIn: r.bytes, Recording: r.dir,
		AudioPlayedMs: r.played * 1000 / 48000}
	if r.frames+r.unread+r.bad > 0 {
		s.FirstFrameMs = float64(r.first.Microseconds()) / 1000
	}
	if n := len(r.latencies); n > 0 {
		l := slices.Clone(r.latencies)
		slices.Sort(l)
		s.LatencyP50 = l[n/2]
		s.LatencyP99 = l[min(n-1, int(math.Ceil(float64(n)*0.99))-1)]
	}
	return s
}

// wait waits for the tracks to stop (the connection is closed) and closes
// the recordings.
func (r *receiver) wait() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	r.mu.Lock()
	files := r.files
	r.files = nil
	r.mu.Unlock()
	for _, f := range files {
		f.Close()
	}
}

// h264Track counts H.264 frames (their last packet has the marker) and
// records them as an Annex B stream. This build has no H.264 decoder:
// the frames are counted unread (the tests decode the recording).
func (r *receiver) h264Track(tr *webrtc.TrackRemote) {
	rec := r.recorder("video.h264", func(w io.Writer) (rtpWriter, error) { return h264writer.NewWith(w), nil })
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if rec != nil {
			rec.WriteRTP(pkt)
		}
		r.mu.Lock()
		r.bytes += uint64(len(pkt.Payload))
		r.mu.Unlock()
		if pkt.Marker {
			r.unreadFrame(time.Now())
		}
	}
}

// vp8Frames puts VP8 frames together from their packets, handing each
// over with its last packet (the marker): a frame is not held back until
// the next one starts, as pion's sample builder does, which would add a
// frame interval to every latency. A frame missing a packet is dropped.
type vp8Frames struct {
	buf     []byte
	ts      uint32
	nextSeq uint16
	ok      bool // collecting a frame from its first packet, none missing
}

func (a *vp8Frames) push(pkt *rtp.Packet) ([]byte, bool) {
	var vp codecs.VP8Packet
	payload, err := vp.Unmarshal(pkt.Payload)
	if err != nil {
		a.ok = false
		return nil, false
	}
	switch {
	case vp.S == 1 && vp.PID == 0:
		a.buf, a.ts, a.ok = a.buf[:0], pkt.Timestamp, true
	case !a.ok || pkt.Timestamp != a.ts || pkt.SequenceNumber != a.nextSeq:
		a.ok = false
		return nil, false
	}
	a.buf = append(a.buf, payload...)
	a.nextSeq = pkt.SequenceNumber + 1
	if !pkt.Marker {
		return nil, false
	}
	a.ok = false
	return a.buf, true
}

// videoDecoder decodes one encoded frame at a time.
type videoDecoder interface {
	Decode(frame []byte) (image.Image, error)
	Close() error
}
