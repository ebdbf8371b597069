package av

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"time"
)

// A synthetic frame carries a stamp: its number and the sender's clock,
// drawn as two rows of 40 black or white squares across the top of the
// picture, big enough to survive lossy compression. The receiver reads
// them back from the decoded picture to count lost frames and measure
// glass-to-glass latency.

// stampBits is the stamp's size: frame number (32), milliseconds of the
// sender's clock (32), a check (16).
const (
	stampBits    = 80
	stampPerRow  = 40
	stampRows    = stampBits / stampPerRow
	lumaBlack    = 16
	lumaWhite    = 235
	lumaMidpoint = (lumaBlack + lumaWhite) / 2
)

// Stamp is what a synthetic frame says about itself.
type Stamp struct {
	Frame uint32
	Clock uint32 // the sender's unix milliseconds, modulo 2^32
}

// ClockMillis is the clock stamps use.
func ClockMillis(t time.Time) uint32 { return uint32(t.UnixMilli()) }

// Age is how long ago (by now) a stamp's clock was, on the same clock.
func (s Stamp) Age(now time.Time) time.Duration {
	return time.Duration(int32(ClockMillis(now)-s.Clock)) * time.Millisecond
}

func (s Stamp) bits() [stampBits]bool {
	var b [10]byte
	binary.BigEndian.PutUint32(b[0:], s.Frame)
	binary.BigEndian.PutUint32(b[4:], s.Clock)
	binary.BigEndian.PutUint16(b[8:], uint16(crc32.ChecksumIEEE(b[:8])))
	var out [stampBits]bool
	for i := range out {
		out[i] = b[i/8]&(0x80>>(i%8)) != 0
	}
	return out
}

// stampBlock is the side of one square for a picture width.
func stampBlock(width int) int { return max(width/stampPerRow, 1) }

// DrawStamp draws s into the luma plane of img.
func DrawStamp(img *image.YCbCr, s Stamp) {
	bits := s.bits()
	w := img.Rect.Dx()
	side := stampBlock(w)
	for i, one := range bits {
		v := byte(lumaBlack)
		if one {
			v = lumaWhite
		}
		x0, y0 := (i%stampPerRow)*side, (i/stampPerRow)*side
		for y := y0; y < y0+side && y < img.Rect.Dy(); y++ {
			row := img.Y[y*img.YStride:]
			for x := x0; x < x0+side && x < w; x++ {
				row[x] = v
			}
		}
	}
}

// ReadStamp reads a stamp back from a decoded picture; false if there is
// none (or it did not survive).
func ReadStamp(img *image.YCbCr) (Stamp, bool) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	side := stampBlock(w)
	if side*stampRows > h || side < 4 {
		return Stamp{}, false
	}
	var b [10]byte
	for i := range stampBits {
		// The middle of the square: the edges blur.
		x0, y0 := (i%stampPerRow)*side+side/4, (i/stampPerRow)*side+side/4
		sum, n := 0, 0
		for y := y0; y < y0+side/2; y++ {
			row := img.Y[(y)*img.YStride:]
			for x := x0; x < x0+side/2; x++ {
				sum += int(row[x])
				n++
			}
		}
		if sum/n > lumaMidpoint {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	if uint16(crc32.ChecksumIEEE(b[:8])) != binary.BigEndian.Uint16(b[8:]) {
		return Stamp{}, false
	}
	return Stamp{Frame: binary.BigEndian.Uint32(b[0:]), Clock: binary.BigEndian.Uint32(b[4:])}, true
}

// TestPattern makes synthetic pictures: moving colour bars (so that an
// encoder has motion to code) under the stamp.
type TestPattern struct {
	W, H  int
	frame uint32
	img   *image.YCbCr
}

// Next returns the next picture, stamped with its number and the time
// now. The picture is reused by the following call.
func (p *TestPattern) Next(now time.Time) *image.YCbCr {
	if p.img == nil {
		p.img = image.NewYCbCr(image.Rect(0, 0, p.W, p.H), image.YCbCrSubsampleRatio420)
	}
	img := p.img
	shift := int(p.frame*4) % max(p.W, 1)
	for y := range p.H {
		row := img.Y[y*img.YStride:]
		for x := range p.W {
			row[x] = byte(40 + ((x+shift)*8/max(p.W, 1))*24)
		}
	}
	for y := range p.H / 2 {
		cb, cr := img.Cb[y*img.CStride:], img.Cr[y*img.CStride:]
		for x := range p.W / 2 {
			cb[x] = byte(64 + ((2*x+shift)*4/max(p.W, 1))*40)
			cr[x] = byte(200 - (y*2*4/max(p.H, 1))*40)
		}
	}
	DrawStamp(img, Stamp{Frame: p.frame, Clock: ClockMillis(now)})
	p.frame++
	return img
}

// ReadStampsGray reads back the stamps of raw 8-bit luma pictures of w×h,
// one after another (what `ffmpeg -f rawvideo -pix_fmt gray` writes of a
// recording): the stamps read, in order, and how many pictures had none
// that read.
func ReadStampsGray(raw []byte, w, h int) (stamps []Stamp, unread int, err error) {
	size := w * h
	if size <= 0 || len(raw)%size != 0 {
		return nil, 0, fmt.Errorf("%d bytes are not whole %dx%d pictures", len(raw), w, h)
	}
	for ; len(raw) > 0; raw = raw[size:] {
		img := &image.YCbCr{Y: raw[:size], YStride: w, Rect: image.Rect(0, 0, w, h), SubsampleRatio: image.YCbCrSubsampleRatio420}
		if s, ok := ReadStamp(img); ok {
			stamps = append(stamps, s)
		} else {
			unread++
		}
	}
	return stamps, unread, nil
}

// StampRun checks stamps read back in order from a recording of the
// stamped pattern made between from and to on this machine: every clock
// within that time, frame numbers and clocks going up. It returns the
// frames missing between them.
func StampRun(stamps []Stamp, from, to time.Time) (gaps int, err error) {
	for i, s := range stamps {
		if int32(s.Clock-ClockMillis(from)) < 0 || int32(ClockMillis(to)-s.Clock) < 0 {
			return gaps, fmt.Errorf("picture %d (frame %d): its clock %d is not within the call (%d to %d)", i, s.Frame, s.Clock, ClockMillis(from), ClockMillis(to))
		}
		if i == 0 {
			continue
		}
		p := stamps[i-1]
		if s.Frame <= p.Frame || int32(s.Clock-p.Clock) < 0 {
			return gaps, fmt.Errorf("picture %d: frame %d at %d after frame %d at %d", i, s.Frame, s.Clock, p.Frame, p.Clock)
		}
		gaps += int(s.Frame - p.Frame - 1)
	}
	return gaps, nil
}
