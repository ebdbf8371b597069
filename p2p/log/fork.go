package log

import (
	"errors"
	"fmt"
)

// ErrNotFork means a ForkProof does not prove a fork.
var ErrNotFork = errors.New("not a fork proof")

// ForkProof shows that a writer signed two histories of one log. A is the
// shorter (or equal) head, B the longer. PrefixRoot is the root of B's
// first A.Length blocks and Path the consistency proof that B's tree
// extends it; since PrefixRoot differs from A.Root, the writer signed two
// trees that disagree about their first A.Length blocks. Anyone can check
// it with the two heads alone.
type ForkProof struct {
	A, B       Head
	PrefixRoot Hash
	Path       []Hash
}

// Verify checks the proof. It returns nil only for a real fork.
func (f *ForkProof) Verify() error {
	if f.A.Discovery != f.B.Discovery || f.A.Writer != f.B.Writer {
		return fmt.Errorf("%w: heads of two logs", ErrNotFork)
	}
	if f.A.Length > f.B.Length {
		return fmt.Errorf("%w: first head longer than second", ErrNotFork)
	}
	if err := f.A.Verify(); err != nil {
		return fmt.Errorf("%w: first head: %v", ErrNotFork, err)
	}
	if err := f.B.Verify(); err != nil {
		return fmt.Errorf("%w: second head: %v", ErrNotFork, err)
	}
	if f.PrefixRoot == f.A.Root {
		return fmt.Errorf("%w: the heads agree", ErrNotFork)
	}
	if err := VerifyConsistency(f.A.Length, f.B.Length, f.PrefixRoot, f.B.Root, f.Path); err != nil {
		return fmt.Errorf("%w: %v", ErrNotFork, err)
	}
	return nil
}

// MarshalBinary encodes the proof: head A, head B, prefix root, path
// count (one byte) and path.
func (f *ForkProof) MarshalBinary() ([]byte, error) {
	if len(f.Path) > MaxProofPath {
		return nil, fmt.Errorf("fork proof path of %d hashes", len(f.Path))
	}
	a, _ := f.A.MarshalBinary()
	b, _ := f.B.MarshalBinary()
	out := append(a, b...)
	out = append(out, f.PrefixRoot[:]...)
	out = append(out, byte(len(f.Path)))
	for _, h := range f.Path {
		out = append(out, h[:]...)
	}
	return out, nil
}

// MaxForkProofLen bounds an encoded fork proof.
const MaxForkProofLen = 2*HeadLen + 32 + 1 + MaxProofPath*32

// ParseForkProof decodes a fork proof; call Verify before acting on it.
func ParseForkProof(b []byte) (*ForkProof, error) {
	if len(b) < 2*HeadLen+33 || len(b) > MaxForkProofLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotFork, len(b))
	}
	var f ForkProof
	var err error
	if f.A, err = ParseHead(b[:HeadLen]); err != nil {
		return nil, err
	}
	if f.B, err = ParseHead(b[HeadLen : 2*HeadLen]); err != nil {
		return nil, err
	}
	copy(f.PrefixRoot[:], b[2*HeadLen:])
	n := int(b[2*HeadLen+32])
	rest := b[2*HeadLen+33:]
	if n > MaxProofPath || len(rest) != 32*n {
		return nil, fmt.Errorf("%w: path of %d hashes in %d bytes", ErrNotFork, n, len(rest))
	}
	f.Path = make([]Hash, n)
	for i := range f.Path {
		copy(f.Path[i][:], rest[32*i:])
	}
	return &f, nil
}
