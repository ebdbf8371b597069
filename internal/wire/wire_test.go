package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestUintRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xfc, 0xfd, 0xffff, 0x10000, 0xffffffff, 0x100000000, 1<<64 - 1} {
		var e Encoder
		e.Uint(v)
		d := NewDecoder(e.B)
		if got := d.Uint(); got != v || d.Finish() != nil {
			t.Fatalf("%d: got %d, %v", v, got, d.Finish())
		}
	}
	for _, b := range [][]byte{{0xfd, 1, 0}, {0xfe, 0xff, 0xff, 0, 0}, {0xff, 1, 0, 0, 0, 0, 0, 0, 0}} {
		d := NewDecoder(b)
		d.Uint()
		if !errors.Is(d.Err(), ErrNonMinimal) {
			t.Fatalf("%x: %v", b, d.Err())
		}
	}
}

func TestLimits(t *testing.T) {
	var e Encoder
	e.Bytes(bytes.Repeat([]byte{1}, 10))
	d := NewDecoder(e.B)
	if d.Bytes(5); !errors.Is(d.Err(), ErrTooLong) {
		t.Fatal("over-long field accepted")
	}
	d = NewDecoder([]byte{0xfe, 0xff, 0xff, 0xff, 0x7f})
	if d.Bytes(1 << 20); d.Err() == nil {
		t.Fatal("huge length accepted")
	}
	d = NewDecoder([]byte{3, 1})
	if d.Bytes(10); !errors.Is(d.Err(), ErrShort) {
		t.Fatal("truncated field accepted")
	}
	d = NewDecoder([]byte{1, 2})
	d.U8()
	if !errors.Is(d.Finish(), ErrTrailing) {
		t.Fatal("trailing byte accepted")
	}
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0xfd, 0x00, 0x01, 3, 'a', 'b', 'c', 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(b)
		v := d.Uint()
		s := d.Bytes(1 << 16)
		ok := d.Bool()
		if d.Finish() != nil {
			return
		}
		var e Encoder
		e.Uint(v)
		e.Bytes(s)
		e.Bool(ok)
		if !bytes.Equal(e.B, b) {
			t.Fatalf("re-encoded %x as %x", b, e.B)
		}
	})
}

// TestReadMsgMalformed: a message over its bound, a length prefix over 64
// bits and a body cut short: the first two are the sender's fault
// (Malformed), the last is the stream's (a peer that hung up).
func TestReadMsgMalformed(t *testing.T) {
	over := binary.AppendUvarint(nil, 1<<20)
	overflow := bytes.Repeat([]byte{0xff}, 11)
	cut := append(binary.AppendUvarint(nil, 10), 1, 2, 3)
	for _, c := range []struct {
		in        []byte
		malformed bool
	}{{over, true}, {overflow, true}, {cut, false}, {nil, false}} {
		_, err := ReadMsg(bufio.NewReader(bytes.NewReader(c.in)), 1024)
		if err == nil || Malformed(err) != c.malformed {
			t.Errorf("%x: %v, malformed %v", c.in, err, Malformed(err))
		}
	}
	if b, err := ReadMsg(bufio.NewReader(bytes.NewReader([]byte{2, 'o', 'k'})), 1024); err != nil || string(b) != "ok" {
		t.Fatalf("a good message: %q %v", b, err)
	}
}
