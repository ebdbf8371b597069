package blobwire

import (
	"bufio"
	"bytes"
	"testing"
)

func FuzzDecodeRequest(f *testing.F) {
	f.Add((&Request{Op: OpChunk, A: 3}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if r2, err := DecodeRequest(r.Encode()); err != nil || *r2 != *r {
			t.Fatal("round trip")
		}
	})
}

// FuzzReadAnswer: whatever a source sends, an answer is read within its
// limit or refused, never a panic nor a buffer past the limit.
func FuzzReadAnswer(f *testing.F) {
	var ok bytes.Buffer
	WriteAnswer(&ok, StatusOK, []byte("chunk"))
	f.Add(ok.Bytes(), 16)
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f}, 16)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		limit = max(limit%MaxAnswer, 0)
		_, payload, err := ReadAnswer(bufio.NewReader(bytes.NewReader(b)), limit)
		if err == nil && len(payload) > limit {
			t.Fatalf("a payload of %d bytes past the limit %d", len(payload), limit)
		}
	})
}

func TestAnswerRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	for _, p := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{7}, 300)} {
		buf.Reset()
		if err := WriteAnswer(&buf, StatusMissing, p); err != nil {
			t.Fatal(err)
		}
		st, got, err := ReadAnswer(bufio.NewReader(&buf), len(p))
		if err != nil || st != StatusMissing || !bytes.Equal(got, p) {
			t.Fatalf("%d bytes: status %d, %d bytes, %v", len(p), st, len(got), err)
		}
	}
	if err := WriteAnswer(&buf, StatusOK, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadAnswer(bufio.NewReader(&buf), 9); err == nil {
		t.Fatal("an answer past the limit was read")
	}
}
