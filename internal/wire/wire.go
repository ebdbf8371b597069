package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors of decoding.
var (
	ErrShort      = errors.New("truncated")
	ErrNonMinimal = errors.New("non-minimal integer")
	ErrTooLong    = errors.New("field too long")
	ErrTrailing   = errors.New("trailing bytes")
)

// Encoder appends to B.
type Encoder struct{ B []byte }

// Uint appends a compact uint.
func (e *Encoder) Uint(v uint64) {
	switch {
	case v <= 0xfc:
		e.B = append(e.B, byte(v))
	case v <= 0xffff:
		e.B = append(e.B, 0xfd)
		e.B = binary.LittleEndian.AppendUint16(e.B, uint16(v))
	case v <= 0xffffffff:
		e.B = append(e.B, 0xfe)
		e.B = binary.LittleEndian.AppendUint32(e.B, uint32(v))
	default:
		e.B = append(e.B, 0xff)
		e.B = binary.LittleEndian.AppendUint64(e.B, v)
	}
}

// U8 appends one byte.
func (e *Encoder) U8(v byte) { e.B = append(e.B, v) }

// U64 appends 8 little-endian bytes.
func (e *Encoder) U64(v uint64) { e.B = binary.LittleEndian.AppendUint64(e.B, v) }

// Fixed appends raw bytes.
func (e *Encoder) Fixed(b []byte) { e.B = append(e.B, b...) }

// Bytes appends a length-prefixed byte string.
func (e *Encoder) Bytes(b []byte) { e.Uint(uint64(len(b))); e.B = append(e.B, b...) }

// String appends a length-prefixed string.
func (e *Encoder) String(s string) { e.Uint(uint64(len(s))); e.B = append(e.B, s...) }

// Bool appends 0 or 1.
func (e *Encoder) Bool(v bool) {
	if v {
		e.B = append(e.B, 1)
	} else {
		e.B = append(e.B, 0)
	}
}

// Decoder reads from B; after the first error every read returns zero.
type Decoder struct {
	B   []byte
	err error
}

// NewDecoder reads b.
func NewDecoder(b []byte) *Decoder { return &Decoder{B: b} }

// Err returns the first error.
func (d *Decoder) Err() error { return d.err }

// Fail records err if none was recorded yet.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.B = nil
}

// Finish returns the first error, or ErrTrailing if bytes are left.
func (d *Decoder) Finish() error {
	if d.err != nil {
		return d.err
	}
	if len(d.B) != 0 {
		return fmt.Errorf("%w: %d", ErrTrailing, len(d.B))
	}
	return nil
}

// Take returns the next n bytes (aliasing the input).
func (d *Decoder) Take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.B) < n {
		d.Fail(ErrShort)
		return nil
	}
	out := d.B[:n:n]
	d.B = d.B[n:]
	return out
}

// Uint reads a compact uint.
func (d *Decoder) Uint() uint64 {
	p := d.Take(1)
	if p == nil {
		return 0
	}
	var v, min uint64
	switch p[0] {
	case 0xfd:
		q := d.Take(2)
		if q == nil {
			return 0
		}
		v, min = uint64(binary.LittleEndian.Uint16(q)), 0xfd
	case 0xfe:
		q := d.Take(4)
		if q == nil {
			return 0
		}
		v, min = uint64(binary.LittleEndian.Uint32(q)), 0x10000
	case 0xff:
		q := d.Take(8)
		if q == nil {
			return 0
		}
		v, min = binary.LittleEndian.Uint64(q), 0x100000000
	default:
		return uint64(p[0])
	}
	if v < min {
		d.Fail(ErrNonMinimal)
		return 0
	}
	return v
}

// Count reads a compact uint that counts items and checks it against max.
func (d *Decoder) Count(max int) int {
	n := d.Uint()
	if d.err == nil && n > uint64(max) {
		d.Fail(fmt.Errorf("%w: %d items, at most %d", ErrTooLong, n, max))
		return 0
	}
	return int(n)
}

// U8 reads one byte.
func (d *Decoder) U8() byte {
	p := d.Take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

// U64 reads 8 little-endian bytes.
func (d *Decoder) U64() uint64 {
	p := d.Take(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

// Fixed fills dst.
func (d *Decoder) Fixed(dst []byte) { copy(dst, d.Take(len(dst))) }

// Bytes reads a length-prefixed byte string of at most max bytes, copied.
func (d *Decoder) Bytes(max int) []byte {
	n := d.Count(max)
	p := d.Take(n)
	if p == nil {
		return nil
	}
	return append([]byte{}, p...)
}

// String reads a length-prefixed string of at most max bytes.
func (d *Decoder) String(max int) string {
	n := d.Count(max)
	return string(d.Take(n))
}

// Bool reads 0 or 1; anything else is an error.
func (d *Decoder) Bool() bool {
	v := d.U8()
	if v > 1 {
		d.Fail(errors.New("bad boolean"))
	}
	return v == 1
}

// Malformed reports whether err says that bytes broke their format (too
// long, truncated inside a message, trailing, a varint out of range), as
// opposed to a connection that closed or timed out: the first is the
// sender's fault.
func Malformed(err error) bool {
	return errors.Is(err, ErrShort) || errors.Is(err, ErrNonMinimal) || errors.Is(err, ErrTooLong) ||
		errors.Is(err, ErrTrailing)
}
