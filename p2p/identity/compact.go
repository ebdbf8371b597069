package identity

import (
	"encoding/binary"
	"errors"
)

// This file is the subset of Holepunch's compact-encoding that Keet's
// proofs use, written from its specification: a uint is one byte up to
// 0xfc, else 0xfd, 0xfe or 0xff followed by 2, 4 or 8 little-endian bytes;
// uint64 is 8 little-endian bytes; fixed-size fields are raw bytes.
//
// The decoder is stricter than the JavaScript one: it rejects non-minimal
// uints, so that every value has exactly one encoding and a decoded value
// re-encodes to the same bytes.

var errShort = errors.New("truncated")
var errNonMinimal = errors.New("non-minimal integer")

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) {
	switch {
	case v <= 0xfc:
		e.b = append(e.b, byte(v))
	case v <= 0xffff:
		e.b = append(e.b, 0xfd)
		e.b = binary.LittleEndian.AppendUint16(e.b, uint16(v))
	case v <= 0xffffffff:
		e.b = append(e.b, 0xfe)
		e.b = binary.LittleEndian.AppendUint32(e.b, uint32(v))
	default:
		e.b = append(e.b, 0xff)
		e.b = binary.LittleEndian.AppendUint64(e.b, v)
	}
}

func (e *encoder) uint8(v byte)    { e.b = append(e.b, v) }
func (e *encoder) uint64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) fixed(b []byte)  { e.b = append(e.b, b...) }
func (e *encoder) buffer(b []byte) { e.uint(uint64(len(b))); e.b = append(e.b, b...) }
func (e *encoder) string(s string) { e.uint(uint64(len(s))); e.b = append(e.b, s...) }

// decoder reads from b; the first error sticks and later reads return zero
// values, so a caller checks err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail(errShort)
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) uint() uint64 {
	p := d.take(1)
	if p == nil {
		return 0
	}
	switch p[0] {
	case 0xfd:
		q := d.take(2)
		if q == nil {
			return 0
		}
		v := uint64(binary.LittleEndian.Uint16(q))
		if v <= 0xfc {
			d.fail(errNonMinimal)
		}
		return v
	case 0xfe:
		q := d.take(4)
		if q == nil {
			return 0
		}
		v := uint64(binary.LittleEndian.Uint32(q))
		if v <= 0xffff {
			d.fail(errNonMinimal)
		}
		return v
	case 0xff:
		q := d.take(8)
		if q == nil {
			return 0
		}
		v := binary.LittleEndian.Uint64(q)
		if v <= 0xffffffff {
			d.fail(errNonMinimal)
		}
		return v
	default:
		return uint64(p[0])
	}
}

func (d *decoder) uint8() byte {
	p := d.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *decoder) uint64() uint64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (d *decoder) fixed(dst []byte) {
	p := d.take(len(dst))
	copy(dst, p)
}

// buffer reads a length-prefixed byte string of at most max bytes; the
// length is checked before anything is sliced or allocated.
func (d *decoder) buffer(max int, tooLong error) []byte {
	n := d.uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) {
		d.fail(tooLong)
		return nil
	}
	return append([]byte(nil), d.take(int(n))...)
}

func (d *decoder) done() bool { return d.err == nil && len(d.b) == 0 }
