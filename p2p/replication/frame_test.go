package replication

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

func sampleFrames() []*frame {
	w, _ := identity.GenerateSigningKey()
	h := log.SignHead(w, log.Discovery{1}, 2, log.Hash{3})
	return []*frame{
		{typ: frameHello, disc: log.Discovery{1}},
		{typ: frameHeads, heads: []log.Head{h, h}},
		{typ: frameWant, writer: w.Public(), from: 7},
		{typ: frameBlocks, head: h, start: 0, blocks: [][]byte{make([]byte, 50), make([]byte, 60)}},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	samples := sampleFrames()
	for _, f := range samples {
		if err := writeFrame(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&buf)
	for _, want := range samples {
		got, err := readFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := got.encode()
		b, _ := want.encode()
		if !bytes.Equal(a, b) {
			t.Fatalf("frame %d differs", want.typ)
		}
	}
}

func TestFrameRejects(t *testing.T) {
	w, _ := identity.GenerateSigningKey()
	h := log.SignHead(w, log.Discovery{1}, 5, log.Hash{3})
	mismatch, _ := (&frame{typ: frameBlocks, head: h, start: 0, blocks: [][]byte{{1}}}).encode()
	for name, raw := range map[string][]byte{
		"empty":           {},
		"unknown type":    {77},
		"truncated hello": {frameHello, 1, 2},
		"trailing":        {frameWant, 1},
		"count mismatch":  mismatch,
		"too many heads":  {frameHeads, 0xfd, 0xff, 0xff},
	} {
		if _, err := decodeFrame(raw); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := readFrame(bufio.NewReader(bytes.NewReader([]byte{0x80, 0x80, 0x80, 0x10}))); !errors.Is(err, ErrFrame) {
		t.Errorf("oversized length: %v", err)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		b, _ := fr.encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			return
		}
		out, err := fr.encode()
		if err != nil {
			t.Fatalf("decoded frame does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("frame re-encoded differently")
		}
	})
}
