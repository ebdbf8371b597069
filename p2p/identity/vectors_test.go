package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tyler-smith/go-bip39"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestBIP39Vectors checks the seeds of the published BIP39 vectors, and that
// every 24-word vector parses (checksum included).
func TestBIP39Vectors(t *testing.T) {
	var v struct {
		Passphrase string
		English    []struct{ Entropy, Mnemonic, Seed string }
	}
	readJSON(t, "testdata/bip39_vectors.json", &v)
	if len(v.English) != 24 {
		t.Fatalf("%d vectors, want 24", len(v.English))
	}
	for _, tc := range v.English {
		words := strings.Fields(tc.Mnemonic)
		p := Phrase{words: words}
		seed := p.Seed(v.Passphrase)
		if got := hex.EncodeToString(seed.b[:]); got != tc.Seed {
			t.Errorf("%s...: seed %s, want %s", words[0], got, tc.Seed)
		}
		ent, err := bip39.EntropyFromMnemonic(tc.Mnemonic)
		if err != nil || hex.EncodeToString(ent) != tc.Entropy {
			t.Errorf("%s...: entropy %x, %v", words[0], ent, err)
		}
		if len(words) != PhraseWords {
			continue
		}
		parsed, err := ParsePhrase(tc.Mnemonic)
		if err != nil {
			t.Errorf("ParsePhrase(%s...): %v", words[0], err)
			continue
		}
		if parsed.Reveal() != tc.Mnemonic {
			t.Errorf("ParsePhrase changed the words")
		}
	}
}

// TestSLIP10Vectors checks derivation against SLIP-0010's ed25519 vectors.
func TestSLIP10Vectors(t *testing.T) {
	var v struct {
		Vectors []struct {
			Seed   string
			Chains []struct {
				Path      string
				Indices   []uint32
				ChainCode string `json:"chain_code"`
				Private   string
				Public    string
			}
		}
	}
	readJSON(t, "testdata/slip10_ed25519.json", &v)
	n := 0
	for _, vec := range v.Vectors {
		seed := mustHex(t, vec.Seed)
		for _, c := range vec.Chains {
			key, chain, err := slip10(seed, c.Indices)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(key[:]); got != c.Private {
				t.Errorf("%s: private %s, want %s", c.Path, got, c.Private)
			}
			if got := hex.EncodeToString(chain[:]); got != c.ChainCode {
				t.Errorf("%s: chain code %s, want %s", c.Path, got, c.ChainCode)
			}
			pub := ed25519.NewKeyFromSeed(key[:]).Public().(ed25519.PublicKey)
			if got := "00" + hex.EncodeToString(pub); got != c.Public {
				t.Errorf("%s: public %s, want %s", c.Path, got, c.Public)
			}
			n++
		}
	}
	if n != 12 {
		t.Fatalf("checked %d chains, want 12", n)
	}
	if _, _, err := slip10([]byte{1}, []uint32{hardened}); err == nil {
		t.Fatal("an index with the hardened bit was accepted")
	}
}

type keetVectors struct {
	Identities []struct {
		Mnemonic, Identity string
		IdentitySeed       string `json:"identity_seed"`
	}
	Epoch       uint64
	Device1Seed string `json:"device1_seed"`
	Device1     string
	Device2Seed string `json:"device2_seed"`
	Device2     string
	Proof1      string
	Proof2      string
	Proof3      string
	Proof3Data  string `json:"proof3_data"`
}

// TestKeetIdentity checks that a phrase gives the identity key Keet derives.
func TestKeetIdentity(t *testing.T) {
	var v keetVectors
	readJSON(t, "testdata/keet_vectors.json", &v)
	for _, tc := range v.Identities {
		p := Phrase{words: strings.Fields(tc.Mnemonic)}
		k := DeriveIdentity(p.Seed(""))
		if got := k.Public().String(); got != tc.Identity {
			t.Errorf("identity %s, Keet says %s", got, tc.Identity)
		}
		if tc.IdentitySeed != "" && hex.EncodeToString(k.Seed()) != tc.IdentitySeed {
			t.Errorf("identity seed differs from Keet's")
		}
	}
	// The 24-word one goes through the same path a user takes.
	p, err := ParsePhrase(v.Identities[1].Mnemonic)
	if err != nil {
		t.Fatal(err)
	}
	if got := DeriveIdentity(p.Seed("")).Public().String(); got != v.Identities[1].Identity {
		t.Errorf("parsed phrase: identity %s, want %s", got, v.Identities[1].Identity)
	}
}

// TestKeetProofs makes the proofs Keet made from the same keys and compares
// the bytes, then verifies Keet's bytes.
func TestKeetProofs(t *testing.T) {
	var v keetVectors
	readJSON(t, "testdata/keet_vectors.json", &v)
	idKey := DeriveIdentity((&Phrase{words: strings.Fields(v.Identities[0].Mnemonic)}).Seed(""))
	d1, _ := NewSigningKey(mustHex(t, v.Device1Seed))
	d2, _ := NewSigningKey(mustHex(t, v.Device2Seed))
	if d1.Public().String() != v.Device1 || d2.Public().String() != v.Device2 {
		t.Fatal("device keys differ from the vectors")
	}
	p1 := NewProof(idKey, d1.Public(), v.Epoch)
	p2, err := p1.Attest(d2, d2.Public())
	if err == nil {
		t.Fatal("a key that is not the proof's device attested")
	}
	p2, err = p1.Attest(d1, d2.Public())
	if err != nil {
		t.Fatal(err)
	}
	p3, err := p2.AttestData(d2, []byte(v.Proof3Data))
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		p    *Proof
		want string
		dev  PublicKey
	}{{p1, v.Proof1, d1.Public()}, {p2, v.Proof2, d2.Public()}, {p3, v.Proof3, d2.Public()}} {
		got, _ := tc.p.MarshalBinary()
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("proof %d:\n got %x\nwant %s", i+1, got, tc.want)
		}
		parsed, err := ParseProof(mustHex(t, tc.want))
		if err != nil {
			t.Fatalf("proof %d: %v", i+1, err)
		}
		opts := VerifyOptions{Identity: idKey.Public(), Device: tc.dev}
		if parsed.DataSignature != nil {
			opts.Data = []byte(v.Proof3Data)
		}
		dev, err := parsed.Verify(opts)
		if err != nil || dev != tc.dev {
			t.Errorf("proof %d: Verify = %s, %v", i+1, dev.Short(), err)
		}
	}
	golden, err := os.ReadFile("testdata/proof_v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(golden, mustHex(t, v.Proof1)) {
		t.Fatal("testdata/proof_v1.bin differs from keet_vectors.json proof1")
	}
}
