package identity

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParsePhrase: any input either parses to a phrase that re-parses to
// itself, or fails with a *PhraseError; never a panic.
func FuzzParsePhrase(f *testing.F) {
	f.Add(artPhrase)
	f.Add(strings.ToUpper(artPhrase))
	f.Add("abandon abandon")
	f.Add("")
	f.Add("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote")
	f.Add("ＡＲＴ\u00a0art\u3000art")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePhrase(s)
		if err != nil {
			var pe *PhraseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PhraseError", err)
			}
			return
		}
		q, err := ParsePhrase(p.Reveal())
		if err != nil || q.Reveal() != p.Reveal() {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseProof: decode, encode, decode gives the same bytes; Verify never
// panics.
func FuzzParseProof(f *testing.F) {
	var v keetVectors
	readJSON(f, "testdata/keet_vectors.json", &v)
	for _, s := range []string{v.Proof1, v.Proof2, v.Proof3} {
		f.Add(mustHex(f, s))
	}
	golden, err := os.ReadFile("testdata/proof_v1.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte{1})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProof(b)
		if err != nil {
			if !errors.Is(err, ErrProofMalformed) && !errors.Is(err, ErrProofTooLarge) && !errors.Is(err, ErrProofVersion) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded\n%x\nfrom\n%x", out, b)
		}
		_, _ = p.Verify(VerifyOptions{Data: []byte("attested data")})
	})
}

// FuzzParseRecords: device records and revocations decode, re-encode to the
// same bytes, and verify without panicking.
func FuzzParseRecords(f *testing.F) {
	_, dev, _ := newTestProofF(f)
	sk, _ := GenerateSealingKey()
	rec, _ := NewDeviceRecord(dev.Public(), dev, sk.Public(), "door", time.Unix(1, 0))
	rb, _ := rec.MarshalBinary()
	rev, _ := NewRevocation(dev, PublicKey{1}, 3, time.Unix(2, 0))
	vb, _ := rev.MarshalBinary()
	f.Add(rb)
	f.Add(vb)
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseDeviceRecord(b); err == nil {
			out, _ := r.MarshalBinary()
			if !bytes.Equal(out, b) {
				t.Fatalf("device record re-encoded differently")
			}
			_ = r.Verify()
		}
		if r, err := ParseRevocation(b); err == nil {
			out, _ := r.MarshalBinary()
			if !bytes.Equal(out, b) {
				t.Fatalf("revocation re-encoded differently")
			}
			_ = r.Verify()
		}
	})
}

func newTestProofF(f *testing.F) (SigningKey, SigningKey, *Proof) {
	p, _ := ParsePhrase(artPhrase)
	id := DeriveIdentity(p.Seed(""))
	seed, _ := hex.DecodeString(strings.Repeat("07", 32))
	dev, _ := NewSigningKey(seed)
	return id, dev, NewProof(id, dev.Public(), 1_700_000_000)
}

// FuzzDecodeLocal: the identity file (read from the home, which a user,
// a backup tool or a failing disk may have damaged) decodes to a
// consistent identity or fails with an error; never a panic.
func FuzzDecodeLocal(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "home")
	if err := os.Mkdir(dir, 0o700); err != nil {
		f.Fatal(err)
	}
	p, err := NewPhrase()
	if err != nil {
		f.Fatal(err)
	}
	l, err := Setup(dir, p, "", SetupOptions{Name: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	other, _ := GenerateSigningKey()
	rv, err := NewRevocation(DeriveIdentity(p.Seed("")), other.Public(), l.Epoch, time.Unix(5, 0))
	if err != nil {
		f.Fatal(err)
	}
	l.Revocations = append(l.Revocations, rv)
	if err := l.save(false); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(l.path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLocal(b)
		if err != nil {
			return
		}
		if l.Record.Device != l.Device.Public() || l.Proof.Identity != l.Identity {
			t.Fatal("a decoded identity whose parts disagree")
		}
	})
}
