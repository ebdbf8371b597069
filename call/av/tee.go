package av

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Tee shares a source's video among its readers: the camera runs once
// however many watch it (a call, a clip, the house's recorder over RTSP),
// from the first reader to the last. A reader that joins a running camera
// starts at its next key frame; one that falls behind loses frames up to
// the next key frame, never the others' (and never a frame in between, so
// its decoder sees no gap). Audio and stills go to the source as they
// are.
type Tee struct {
	src Source

	mu  sync.Mutex
	run *teeRun
}

var _ Source = (*Tee)(nil)

// NewTee shares src's video.
func NewTee(src Source) *Tee { return &Tee{src: src} }

// teeBuffer is how many frames a reader may be behind before it skips to
// the next key frame: about a second at 30 fps.
const teeBuffer = 32

// teeRun is one run of the source's video, with its readers.
type teeRun struct {
	st      Stream
	codec   webrtc.RTPCodecCapability
	readers map[*teeReader]bool
	err     error // why the source ended, once it did
}

// teeReader is one reader's stream.
type teeReader struct {
	t      *Tee
	run    *teeRun
	frames chan media.Sample
	// needKey: the next frame it gets must be a key frame (it joined late
	// or fell behind). Guarded by t.mu.
	needKey bool
	closed  bool
	done    chan struct{}
	once    sync.Once
}

// Video returns a reader of the shared video; the source's video starts
// with the first. It is nil, nil when the source sends no video.
func (t *Tee) Video() (Stream, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.run == nil {
		st, err := t.src.Video()
		if err != nil || st == nil {
			return nil, err
		}
		t.run = &teeRun{st: st, codec: st.Codec(), readers: map[*teeReader]bool{}}
		go t.pump(t.run)
	}
	r := &teeReader{t: t, run: t.run, frames: make(chan media.Sample, teeBuffer), done: make(chan struct{}),
		needKey: len(t.run.readers) > 0}
	t.run.readers[r] = true
	return r, nil
}

// Audio is the source's own.
func (t *Tee) Audio() (Stream, error) { return t.src.Audio() }

// pump reads the source and hands each frame to every reader.
func (t *Tee) pump(run *teeRun) {
	for {
		s, err := run.st.Read()
		t.mu.Lock()
		if err != nil {
			run.err = err
			for r := range run.readers {
				r.end()
			}
			clear(run.readers)
			if t.run == run {
				t.run = nil
			}
			t.mu.Unlock()
			run.st.Close()
			return
		}
		key := IsKeyFrame(run.codec.MimeType, s.Data)
		for r := range run.readers {
			if r.needKey && !key {
				continue
			}
			select {
			case r.frames <- s:
				r.needKey = false
			default:
				// Behind: what it has is whole; it goes on at the next
				// key frame.
				r.needKey = true
			}
		}
		t.mu.Unlock()
	}
}

// Codec is the source's.
func (r *teeReader) Codec() webrtc.RTPCodecCapability { return r.run.codec }

// Read returns the reader's next frame.
func (r *teeReader) Read() (media.Sample, error) {
	select {
	case s := <-r.frames:
		return s, nil
	case <-r.done:
		// What came before the end is still read.
		select {
		case s := <-r.frames:
			return s, nil
		default:
		}
		r.t.mu.Lock()
		err := r.run.err
		r.t.mu.Unlock()
		if err == nil {
			err = errClosed
		}
		return media.Sample{}, err
	}
}

var errClosed = errors.New("the stream is closed")

// end ends the reader's stream; t.mu is held.
func (r *teeReader) end() { r.once.Do(func() { close(r.done) }) }

// Close leaves the shared video; the last reader stops the source.
func (r *teeReader) Close() error {
	t := r.t
	t.mu.Lock()
	r.end()
	delete(r.run.readers, r)
	var stop Stream
	if len(r.run.readers) == 0 && t.run == r.run {
		t.run = nil
		stop = r.run.st
	}
	t.mu.Unlock()
	if stop != nil {
		return stop.Close()
	}
	return nil
}

// Still is the source's still picture.
func (t *Tee) Still(ctx context.Context) ([]byte, error) { return Still(ctx, t.src) }

// IsKeyFrame reports whether a frame of the codec starts a picture a
// decoder can begin at: an H.264 access unit with an IDR slice, a VP8
// key frame. Other codecs are taken as key frames (nothing is skipped).
func IsKeyFrame(mime string, b []byte) bool {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		for i := 0; i+3 < len(b); i++ {
			if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
				if b[i+3]&0x1f == 5 {
					return true
				}
				i += 2
			}
		}
		return false
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		return len(b) > 0 && b[0]&1 == 0
	}
	return true
}
