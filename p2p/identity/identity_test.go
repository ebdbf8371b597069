package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hearthp2p/hearth/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

const artPhrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art"

func TestParsePhraseErrors(t *testing.T) {
	words := strings.Fields(artPhrase)
	tests := []struct {
		name  string
		in    string
		want  error
		check func(*PhraseError) string
	}{
		{"empty", "", ErrEmptyPhrase, nil},
		{"blank", " \n\t ", ErrEmptyPhrase, nil},
		{"23 words", strings.Join(words[:23], " "), ErrWordCount, func(e *PhraseError) string {
			if e.Count != 23 || !strings.Contains(e.Error(), "23 words, want 24") {
				return e.Error()
			}
			return ""
		}},
		{"25 words", artPhrase + " art", ErrWordCount, nil},
		{"12 words", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", ErrWordCount, nil},
		{"unknown word", strings.Replace(artPhrase, "abandon", "abandn", 1), ErrUnknownWord, func(e *PhraseError) string {
			if e.Position != 1 || e.Word != "abandn" || e.Suggest != "abandon" {
				return fmt.Sprintf("%+v", *e)
			}
			return ""
		}},
		{"unknown word late", strings.Join(append(append([]string{}, words[:5]...), append([]string{"zzzz"}, words[6:]...)...), " "), ErrUnknownWord, func(e *PhraseError) string {
			if e.Position != 6 || e.Suggest != "" {
				return fmt.Sprintf("%+v", *e)
			}
			return ""
		}},
		{"bad checksum", strings.Replace(artPhrase, " art", " zoo", 1), ErrChecksum, nil},
		{"huge input", strings.Repeat("abandon ", 1000), ErrWordCount, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePhrase(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var pe *PhraseError
			if !errors.As(err, &pe) {
				t.Fatalf("%T is not a *PhraseError", err)
			}
			if tc.check != nil {
				if msg := tc.check(pe); msg != "" {
					t.Fatal(msg)
				}
			}
		})
	}
}

func TestParsePhraseNormalises(t *testing.T) {
	in := "  ABANDON\tabandon\nAbandon " + strings.Repeat("abandon ", 20) + "\r\n ＡＲＴ \n"
	p, err := ParsePhrase(in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Reveal() != artPhrase {
		t.Fatalf("normalised to %q", p.Reveal())
	}
}

func TestNewPhraseRoundTrip(t *testing.T) {
	p, err := NewPhrase()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParsePhrase(p.Reveal())
	if err != nil {
		t.Fatalf("fresh phrase does not parse: %v", err)
	}
	if q.Reveal() != p.Reveal() {
		t.Fatal("round trip changed the phrase")
	}
	if len(strings.Fields(p.Reveal())) != 24 {
		t.Fatal("not 24 words")
	}
}

func TestPassphraseChangesIdentity(t *testing.T) {
	p, _ := ParsePhrase(artPhrase)
	a := DeriveIdentity(p.Seed(""))
	b := DeriveIdentity(p.Seed("door"))
	// NFKD: a composed and a decomposed "é" are the same passphrase.
	c := DeriveIdentity(p.Seed("caf\u00e9"))
	d := DeriveIdentity(p.Seed("cafe\u0301"))
	if a.Public() == b.Public() {
		t.Fatal("passphrase ignored")
	}
	if c.Public() != d.Public() {
		t.Fatal("passphrase not NFKD-normalised")
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	p, _ := ParsePhrase(artPhrase)
	seed := p.Seed("")
	k := DeriveIdentity(seed)
	sk, _ := GenerateSealingKey()
	var sb strings.Builder
	log := slog.New(slog.NewTextHandler(&sb, nil))
	log.Info("keys", "phrase", p, "seed", seed, "key", k, "sealing", sk)
	out := fmt.Sprintf("%v %+v %#v %s %v %#v %v %#v", p, p, p, k, k, k, seed, sk) + sb.String()
	for _, secret := range []string{"abandon", fmt.Sprintf("%x", k.Seed()), fmt.Sprintf("%x", seed.b[:8])} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret %q printed in %q", secret, out)
		}
	}
}

func newTestProof(t *testing.T) (SigningKey, SigningKey, *Proof) {
	t.Helper()
	p, _ := ParsePhrase(artPhrase)
	id := DeriveIdentity(p.Seed(""))
	dev, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return id, dev, NewProof(id, dev.Public(), 1_700_000_000)
}

func TestProofRejects(t *testing.T) {
	id, dev, proof := newTestProof(t)
	good, _ := proof.MarshalBinary()
	other, _ := GenerateSigningKey()
	foreign := NewProof(other, dev.Public(), proof.Epoch)
	foreignBytes, _ := foreign.MarshalBinary()

	long := proof
	last := dev
	for range MaxProofChain - 1 {
		next, _ := GenerateSigningKey()
		var err error
		long, err = long.Attest(last, next.Public())
		if err != nil {
			t.Fatal(err)
		}
		last = next
	}
	longBytes, _ := long.MarshalBinary()
	if _, err := long.Attest(last, other.Public()); !errors.Is(err, ErrProofTooLarge) {
		t.Fatalf("attest past the limit: %v", err)
	}
	oversized := append([]byte(nil), longBytes...)
	oversized[1+8+32] = MaxProofChain + 1

	flip := func(i int) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name string
		b    []byte
		opts VerifyOptions
		want error
	}{
		{"good", good, VerifyOptions{Identity: id.Public(), Device: dev.Public(), MinEpoch: proof.Epoch}, nil},
		{"long chain", longBytes, VerifyOptions{Identity: id.Public(), Device: last.Public()}, nil},
		{"bit flipped in signature", flip(len(good) - 10), VerifyOptions{}, ErrBadSignature},
		{"bit flipped in device", flip(1 + 8 + 32 + 1 + 3), VerifyOptions{}, ErrBadSignature},
		{"bit flipped in epoch", flip(2), VerifyOptions{}, ErrBadSignature},
		{"bit flipped in identity", flip(12), VerifyOptions{}, ErrBadSignature},
		{"foreign identity", foreignBytes, VerifyOptions{Identity: id.Public()}, ErrForeignIdentity},
		{"other device", good, VerifyOptions{Device: other.Public()}, ErrWrongDevice},
		{"older epoch", good, VerifyOptions{MinEpoch: proof.Epoch + 1}, ErrOldEpoch},
		{"revoked device", good, VerifyOptions{Revoked: func(k PublicKey) bool { return k == dev.Public() }}, ErrRevoked},
		{"revoked middle link", longBytes, VerifyOptions{Revoked: func(k PublicKey) bool { return k == dev.Public() }}, ErrRevoked},
		{"truncated", good[:len(good)-1], VerifyOptions{}, ErrProofMalformed},
		{"truncated in header", good[:5], VerifyOptions{}, ErrProofMalformed},
		{"empty input", nil, VerifyOptions{}, ErrProofMalformed},
		{"trailing byte", append(append([]byte(nil), good...), 0), VerifyOptions{}, ErrProofMalformed},
		{"unknown flag", append(append([]byte(nil), good[:len(good)-1]...), 2), VerifyOptions{}, ErrProofMalformed},
		{"version 2", append([]byte{2}, good[1:]...), VerifyOptions{}, ErrProofVersion},
		{"version 0", append([]byte{0}, good[1:]...), VerifyOptions{}, ErrProofVersion},
		{"oversized chain count", oversized, VerifyOptions{}, ErrProofTooLarge},
		{"oversized input", make([]byte, MaxProofLen+1), VerifyOptions{}, ErrProofTooLarge},
		{"empty chain", append(append([]byte(nil), good[:1+8+32]...), 0, 0), VerifyOptions{}, ErrProofEmpty},
		{"non-minimal count", append(append(append([]byte(nil), good[:1+8+32]...), 0xfd, 1, 0), good[1+8+32+1:]...), VerifyOptions{}, ErrProofMalformed},
		{"data required", good, VerifyOptions{Data: []byte("x")}, ErrNoData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseProof(tc.b)
			if err == nil {
				_, err = p.Verify(tc.opts)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "device proof: ") {
				t.Fatalf("error %q does not say what failed", err)
			}
		})
	}
}

func TestProofIdentityAttestsItself(t *testing.T) {
	id, _, _ := newTestProof(t)
	p := NewProof(id, id.Public(), 1)
	if _, err := p.Verify(VerifyOptions{}); !errors.Is(err, ErrProofMalformed) {
		t.Fatalf("self-attestation: %v", err)
	}
}

func TestSealing(t *testing.T) {
	k, err := GenerateSealingKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Bytes()
	k2, err := ParseSealingKey(b)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParseSealingPublicKey(k2.Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := pub.Seal([]byte("room 1 epoch 2"), []byte("room key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len("room key")+SealOverhead {
		t.Fatalf("sealed %d bytes, want %d", len(sealed), len("room key")+SealOverhead)
	}
	pt, err := k.Open([]byte("room 1 epoch 2"), sealed)
	if err != nil || string(pt) != "room key" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := k.Open([]byte("room 1 epoch 3"), sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("other info: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k.Open([]byte("room 1 epoch 2"), sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := k.Open(nil, sealed[:10]); !errors.Is(err, ErrOpen) {
		t.Fatalf("short: %v", err)
	}
	other, _ := GenerateSealingKey()
	sealed[len(sealed)-1] ^= 1
	if _, err := other.Open([]byte("room 1 epoch 2"), sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("other key: %v", err)
	}
	if _, err := ParseSealingPublicKey(make([]byte, 10)); err == nil {
		t.Fatal("short public key accepted")
	}
}

func TestRecords(t *testing.T) {
	id, dev, _ := newTestProof(t)
	sk, _ := GenerateSealingKey()
	now := time.Unix(1_700_000_123, 0).UTC()
	rec, err := NewDeviceRecord(id.Public(), dev, sk.Public(), "Front door", now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rec.MarshalBinary()
	got, err := ParseDeviceRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(); err != nil {
		t.Fatal(err)
	}
	if got.Name != "Front door" || !got.Created.Equal(now) || got.Device != dev.Public() {
		t.Fatalf("round trip: %+v", got)
	}
	b[len(b)-70] ^= 1
	if r, err := ParseDeviceRecord(b); err == nil && r.Verify() == nil {
		t.Fatal("tampered record verified")
	}
	if _, err := NewDeviceRecord(id.Public(), dev, sk.Public(), "bad\x00name", now); err == nil {
		t.Fatal("control character in name accepted")
	}
	if _, err := NewDeviceRecord(id.Public(), dev, sk.Public(), strings.Repeat("x", MaxDeviceName+1), now); err == nil {
		t.Fatal("long name accepted")
	}

	rev, err := NewRevocation(id, dev.Public(), 5, now)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := rev.MarshalBinary()
	r2, err := ParseRevocation(rb)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Verify(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rev, r2); diff != "" {
		t.Fatalf("revocation round trip (-want +got):\n%s", diff)
	}
	if _, err := NewRevocation(id, id.Public(), 5, now); err == nil {
		t.Fatal("revoking the identity key itself was allowed")
	}
	// A device key cannot forge a revocation for the identity.
	fake := *r2
	fake.Sig = dev.Sign(r2.signed())
	if err := fake.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("revocation signed by a device: %v", err)
	}
	if _, err := ParseRevocation(rb[:len(rb)-1]); !errors.Is(err, ErrRecordMalformed) {
		t.Fatalf("truncated revocation: %v", err)
	}
}

func TestLocalSetupLoad(t *testing.T) {
	p, _ := ParsePhrase(artPhrase)
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	homeA := filepath.Join(t.TempDir(), "a")
	homeB := filepath.Join(t.TempDir(), "b")
	a, err := Setup(homeA, p, "", SetupOptions{Name: "laptop", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Setup(homeB, p, "", SetupOptions{Name: "pi", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if a.Identity != b.Identity || a.Identity.String() != "b2f747352c376aa668f06631a475462a23647e32715b8b33da05bf9cf442fa1c" {
		t.Fatalf("identities %s and %s", a.Identity, b.Identity)
	}
	if a.Device.Public() == b.Device.Public() {
		t.Fatal("two devices share a device key")
	}
	la, err := Load(homeA)
	if err != nil {
		t.Fatal(err)
	}
	if la.Identity != a.Identity || la.Device.Public() != a.Device.Public() || la.Epoch != 1_800_000_000 || la.Record.Name != "laptop" {
		t.Fatalf("loaded %+v", la)
	}
	fi, _ := os.Stat(filepath.Join(homeA, FileName))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %o", fi.Mode().Perm())
	}
	di, _ := os.Stat(homeA)
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("home mode %o", di.Mode().Perm())
	}
	// The proof of one device verifies for the identity; B's proof for A's
	// device does not.
	if _, err := la.Proof.Verify(VerifyOptions{Identity: b.Identity, Device: a.Device.Public()}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Proof.Verify(VerifyOptions{Device: a.Device.Public()}); !errors.Is(err, ErrWrongDevice) {
		t.Fatalf("b's proof as a's: %v", err)
	}

	// No overwrite without Force; the file is untouched.
	before, _ := os.ReadFile(filepath.Join(homeA, FileName))
	if _, err := Setup(homeA, p, "", SetupOptions{}); !errors.Is(err, ErrIdentityExists) {
		t.Fatalf("second Setup: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(homeA, FileName))
	if string(before) != string(after) {
		t.Fatal("refused Setup changed the file")
	}
	later := func() time.Time { return time.Unix(1_800_000_100, 0) }
	c, err := Setup(homeA, p, "", SetupOptions{Force: true, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	// The restored device starts a new epoch: proofs of the old one fail
	// for a verifier that has seen it.
	if _, err := la.Proof.Verify(VerifyOptions{Identity: c.Identity, MinEpoch: c.Epoch}); !errors.Is(err, ErrOldEpoch) {
		t.Fatalf("old epoch proof: %v", err)
	}
}

func TestLocalRevoke(t *testing.T) {
	p, _ := ParsePhrase(artPhrase)
	home := filepath.Join(t.TempDir(), "h")
	l, err := Setup(home, p, "", SetupOptions{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	idKey, err := l.CheckPhrase(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CheckPhrase(p, "wrong passphrase"); !errors.Is(err, ErrWrongPhrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := l.Revoke(idKey, l.Device.Public(), time.Now()); err == nil {
		t.Fatal("revoked itself")
	}
	stolen, _ := GenerateSigningKey()
	stolenProof, err := NewProof(idKey, stolen.Public(), l.Epoch).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Revoke(idKey, stolen.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r2, _ := l.Revoke(idKey, stolen.Public(), time.Now()); r2 != r {
		t.Fatal("second revocation not idempotent")
	}
	l2, err := Load(home)
	if err != nil {
		t.Fatal(err)
	}
	if !l2.IsRevoked(stolen.Public()) || len(l2.Revocations) != 1 {
		t.Fatal("revocation not persisted")
	}
	sp, _ := ParseProof(stolenProof)
	if _, err := sp.Verify(VerifyOptions{Identity: l2.Identity, Revoked: l2.IsRevoked}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked device's proof: %v", err)
	}
}

func TestLoadRefuses(t *testing.T) {
	p, _ := ParsePhrase(artPhrase)
	t.Run("missing", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrNoIdentity) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("key file readable by others", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "h")
		if _, err := Setup(home, p, "", SetupOptions{}); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(home, FileName), 0o644)
		if _, err := Load(home); !errors.Is(err, fs.ErrPermission) && !strings.Contains(fmt.Sprint(err), "permissions too open") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("home readable by others", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "h")
		if _, err := Setup(home, p, "", SetupOptions{}); err != nil {
			t.Fatal(err)
		}
		os.Chmod(home, 0o755)
		if _, err := Load(home); err == nil {
			t.Fatal("loaded from a 0755 home")
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "h")
		if _, err := Setup(home, p, "", SetupOptions{}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(home, FileName)
		b, _ := os.ReadFile(path)
		// Swap in another device secret: the proof no longer matches.
		var f map[string]any
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		f["device_secret"] = strings.Repeat("11", 32)
		b, _ = json.Marshal(f)
		os.WriteFile(path, b, 0o600)
		if _, err := Load(home); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v", err)
		}
		os.WriteFile(path, []byte("{not json"), 0o600)
		if _, err := Load(home); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v", err)
		}
	})
}
