package log

import (
	"bytes"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
)

func FuzzParseHead(f *testing.F) {
	w, _ := identity.GenerateSigningKey()
	h := SignHead(w, Discovery{1}, 3, Hash{2})
	b, _ := h.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHead(b)
		if err != nil {
			return
		}
		out, _ := h.MarshalBinary()
		if !bytes.Equal(out, b) {
			t.Fatal("head re-encoded differently")
		}
		_ = h.Verify()
	})
}

func FuzzParseForkProof(f *testing.F) {
	w, _ := identity.GenerateSigningKey()
	a := SignHead(w, Discovery{1}, 3, Hash{2})
	b := SignHead(w, Discovery{1}, 5, Hash{3})
	fp := ForkProof{A: a, B: b, PrefixRoot: Hash{4}, Path: []Hash{{5}, {6}}}
	enc, _ := fp.MarshalBinary()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseForkProof(b)
		if err != nil {
			return
		}
		out, _ := p.MarshalBinary()
		if !bytes.Equal(out, b) {
			t.Fatal("fork proof re-encoded differently")
		}
		_ = p.Verify()
	})
}

func FuzzOpenBlock(f *testing.F) {
	key := NewKey([32]byte{1})
	blk, _ := Seal(key, Discovery{}, ID{}, 0, 1, []byte("hello"))
	f.Add(blk)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = BlockEpoch(b)
		if pt, err := Open(key, Discovery{}, ID{}, 0, b); err == nil && !bytes.Equal(pt, []byte("hello")) && len(b) == len(blk) {
			t.Fatal("a forged block opened")
		}
	})
}

func FuzzParseFrontier(f *testing.F) {
	var fr Frontier
	for i := range 77 {
		fr.Push(LeafHash([]byte{byte(i)}), nil)
	}
	b, _ := fr.MarshalBinary()
	f.Add(b)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrontier(b)
		if err != nil {
			return
		}
		out, _ := fr.MarshalBinary()
		if !bytes.Equal(out, b) {
			t.Fatal("frontier re-encoded differently")
		}
		fr.Push(Hash{1}, nil)
		_ = fr.Root()
	})
}
