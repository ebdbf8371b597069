package identity

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode"

	"github.com/tyler-smith/go-bip39"
	"golang.org/x/text/unicode/norm"
)

// PhraseWords is the number of words of a Hearth phrase: 256 bits of
// entropy plus an 8-bit checksum, 11 bits a word.
const PhraseWords = 24

// maxPhraseInput bounds what ParsePhrase reads: 24 of the longest BIP39
// words (8 letters) with generous spacing is far below it.
const maxPhraseInput = 4096

// Errors of phrase parsing; a *PhraseError unwraps to one of them.
var (
	ErrEmptyPhrase = errors.New("no recovery phrase given")
	ErrWordCount   = errors.New("wrong number of words")
	ErrUnknownWord = errors.New("word not in the BIP39 English list")
	ErrChecksum    = errors.New("checksum does not match")
)

// PhraseError tells what is wrong with a phrase, without repeating the
// phrase itself (only an unknown word, which is not part of any valid
// phrase, is quoted).
type PhraseError struct {
	Err      error
	Count    int    // words found, for ErrWordCount
	Position int    // 1-based, for ErrUnknownWord
	Word     string // the unknown word
	Suggest  string // a list word with the same first four letters, if any
}

func (e *PhraseError) Error() string {
	switch e.Err {
	case ErrWordCount:
		return fmt.Sprintf("recovery phrase has %d words, want %d", e.Count, PhraseWords)
	case ErrUnknownWord:
		s := fmt.Sprintf("recovery phrase word %d %q is not in the BIP39 English word list", e.Position, e.Word)
		if e.Suggest != "" {
			s += fmt.Sprintf(" (did you mean %q?)", e.Suggest)
		}
		return s
	case ErrChecksum:
		return "recovery phrase checksum does not match: a word is wrong or two words are swapped"
	default:
		return "recovery phrase: " + e.Err.Error()
	}
}

func (e *PhraseError) Unwrap() error { return e.Err }

// Phrase is a valid 24-word BIP39 mnemonic. It never prints itself: use
// Reveal to show it to its owner, once.
type Phrase struct {
	words []string
}

// NewPhrase makes a phrase from 256 bits of fresh randomness.
func NewPhrase() (Phrase, error) {
	ent, err := bip39.NewEntropy(256)
	if err != nil {
		return Phrase{}, fmt.Errorf("making entropy: %w", err)
	}
	defer wipe(ent)
	m, err := bip39.NewMnemonic(ent)
	if err != nil {
		return Phrase{}, fmt.Errorf("making phrase: %w", err)
	}
	return Phrase{words: strings.Fields(m)}, nil
}

// ParsePhrase reads a phrase as a person types it: any case, any spacing
// and line breaks, any Unicode normal form. It checks the word count, every
// word against the list and the checksum, and says which failed.
func ParsePhrase(s string) (Phrase, error) {
	if len(s) > maxPhraseInput {
		return Phrase{}, &PhraseError{Err: ErrWordCount, Count: len(strings.Fields(s[:maxPhraseInput]))}
	}
	s = norm.NFKD.String(s)
	words := strings.FieldsFunc(s, unicode.IsSpace)
	if len(words) == 0 {
		return Phrase{}, &PhraseError{Err: ErrEmptyPhrase}
	}
	for i, w := range words {
		words[i] = strings.ToLower(w)
	}
	for i, w := range words {
		if _, ok := bip39.GetWordIndex(w); !ok {
			return Phrase{}, &PhraseError{Err: ErrUnknownWord, Position: i + 1, Word: clip(w), Suggest: suggest(w)}
		}
	}
	if len(words) != PhraseWords {
		return Phrase{}, &PhraseError{Err: ErrWordCount, Count: len(words)}
	}
	if !checksumOK(words) {
		return Phrase{}, &PhraseError{Err: ErrChecksum}
	}
	return Phrase{words: words}, nil
}

// checksumOK recomputes the BIP39 checksum of 24 listed words: the 264 bits
// are 256 bits of entropy and the first 8 bits of its SHA-256.
func checksumOK(words []string) bool {
	var bits [33]byte
	pos := 0
	for _, w := range words {
		idx, _ := bip39.GetWordIndex(w)
		for b := 10; b >= 0; b-- {
			if idx>>b&1 == 1 {
				bits[pos/8] |= 0x80 >> (pos % 8)
			}
			pos++
		}
	}
	sum := sha256.Sum256(bits[:32])
	ok := sum[0] == bits[32]
	wipe(bits[:])
	wipe(sum[:])
	return ok
}

// suggest returns the list word sharing the first four letters with w: BIP39
// chose its words so that four letters identify one.
func suggest(w string) string {
	if len(w) < 4 {
		return ""
	}
	for _, cand := range bip39.GetWordList() {
		if strings.HasPrefix(cand, w[:4]) {
			return cand
		}
	}
	return ""
}

// Reveal returns the 24 words separated by single spaces. Show it to the
// owner once; never log it.
func (p Phrase) Reveal() string { return strings.Join(p.words, " ") }

// Valid reports whether p holds a phrase.
func (p Phrase) Valid() bool { return len(p.words) == PhraseWords }

// Seed computes the BIP39 seed: PBKDF2-HMAC-SHA512 over the NFKD phrase,
// salt "mnemonic" plus the NFKD passphrase, 2048 rounds. With an empty
// passphrase it is the seed Keet computes from the same words.
func (p Phrase) Seed(passphrase string) *Seed {
	s := bip39.NewSeed(p.Reveal(), norm.NFKD.String(passphrase))
	var out Seed
	copy(out.b[:], s)
	wipe(s)
	return &out
}

// Wipe forgets the words (Go strings cannot be zeroed; dropping them lets
// the collector reclaim them).
func (p *Phrase) Wipe() { p.words = nil }

// String never shows the words.
func (Phrase) String() string { return "Phrase(redacted)" }

// GoString never shows the words.
func (Phrase) GoString() string { return "Phrase(redacted)" }

// LogValue never shows the words.
func (Phrase) LogValue() slog.Value { return slog.StringValue("redacted") }

// Seed is a 64-byte BIP39 seed, the root of every key of an identity.
type Seed struct{ b [64]byte }

// SeedFromBytes makes a Seed from 64 bytes (test vectors, other tools).
func SeedFromBytes(b []byte) (*Seed, error) {
	var s Seed
	if len(b) != len(s.b) {
		return nil, fmt.Errorf("seed: want %d bytes, got %d", len(s.b), len(b))
	}
	copy(s.b[:], b)
	return &s, nil
}

// Wipe zeroes the seed.
func (s *Seed) Wipe() { wipe(s.b[:]) }

// String never shows the seed.
func (*Seed) String() string { return "Seed(redacted)" }

// GoString never shows the seed.
func (*Seed) GoString() string { return "Seed(redacted)" }

// LogValue never shows the seed.
func (*Seed) LogValue() slog.Value { return slog.StringValue("redacted") }

// Wordlist is the list of phrase words, in order (BIP39, English): a
// word's place in it is its 11-bit value.
func Wordlist() []string { return slices.Clone(bip39.GetWordList()) }
