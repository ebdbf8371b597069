package identity

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/blake2b"

	"github.com/hearthp2p/hearth/internal/wire"
)

// ProofVersion is the only proof version Keet and Hearth define.
const ProofVersion = 1

// MaxProofChain bounds the links of a proof. A household needs an identity
// attesting a phone and the phone a laptop, perhaps one more; eight leaves
// room and keeps a hostile proof from costing more than eight signature
// checks.
const MaxProofChain = 8

// MaxProofLen is the size of the largest proof Hearth accepts: version,
// epoch, identity, count, MaxProofChain links of key and signature, flags
// and one data signature.
const MaxProofLen = 1 + 8 + 32 + 1 + MaxProofChain*(32+64) + 1 + 64

// Attestation types, the first byte of every signed message (Keet's values).
const (
	attestedDevice = 0
	attestedData   = 1
)

// Errors of proof decoding and verification; a *ProofError unwraps to one
// of them.
var (
	ErrProofMalformed  = errors.New("malformed proof")
	ErrProofTooLarge   = errors.New("proof too large")
	ErrProofVersion    = errors.New("unsupported proof version")
	ErrProofEmpty      = errors.New("proof attests no device")
	ErrBadSignature    = errors.New("bad signature")
	ErrForeignIdentity = errors.New("proof is for another identity")
	ErrWrongDevice     = errors.New("proof is for another device")
	ErrOldEpoch        = errors.New("proof is from an older epoch")
	ErrRevoked         = errors.New("device is revoked")
	ErrNoData          = errors.New("proof carries no data signature")
)

// ProofError is a proof that failed: which check, and at which link
// (0-based; -1 when no link is concerned).
type ProofError struct {
	Err    error
	Link   int
	Detail string
}

func (e *ProofError) Error() string {
	s := "device proof: " + e.Err.Error()
	if e.Link >= 0 {
		s += fmt.Sprintf(" at link %d", e.Link+1)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *ProofError) Unwrap() error { return e.Err }

func proofErr(err error, link int, detail string) error {
	return &ProofError{Err: err, Link: link, Detail: detail}
}

// Link is one step of a proof: the key attested and the signature of the
// previous key (the identity for the first link) over it.
type Link struct {
	Device    PublicKey
	Signature [64]byte
}

// Proof is a chain of attestations from an identity to a device, encoded
// as Keet encodes identity-key proofs (version 1):
//
//	uint version | uint64le epoch seconds | identity[32] |
//	uint n | n × (publicKey[32] signature[64]) | uint flags | [signature[64] if flags&1]
//
// Each link signs {0, epoch, identity, device} with the key before it. The
// epoch is the identity's epoch in seconds since 1970: restoring a phrase
// starts a new one, and verifiers that have seen it reject older proofs.
type Proof struct {
	Epoch    uint64
	Identity PublicKey
	Chain    []Link
	// DataSignature, when set, is the last device's signature of
	// {1, epoch, identity, BLAKE2b-256(data)}: Keet's attested data.
	DataSignature *[64]byte
}

// NewProof starts a proof: identity attests device at epoch.
func NewProof(identity SigningKey, device PublicKey, epoch uint64) *Proof {
	p := &Proof{Epoch: epoch, Identity: identity.Public()}
	p.Chain = append(p.Chain, Link{Device: device, Signature: identity.Sign(deviceMessage(epoch, p.Identity, device))})
	return p
}

// Device returns the key the proof attests: the last link's key.
func (p *Proof) Device() PublicKey {
	if len(p.Chain) == 0 {
		return p.Identity
	}
	return p.Chain[len(p.Chain)-1].Device
}

// Attest returns a new proof in which parent, the device p attests, attests
// device in turn. p is not changed.
func (p *Proof) Attest(parent SigningKey, device PublicKey) (*Proof, error) {
	if parent.Public() != p.Device() {
		return nil, fmt.Errorf("attesting %s: signer %s is not the proof's device %s", device.Short(), parent.Public().Short(), p.Device().Short())
	}
	if len(p.Chain) >= MaxProofChain {
		return nil, proofErr(ErrProofTooLarge, -1, fmt.Sprintf("already %d links", len(p.Chain)))
	}
	q := &Proof{Epoch: p.Epoch, Identity: p.Identity, Chain: append([]Link(nil), p.Chain...)}
	q.Chain = append(q.Chain, Link{Device: device, Signature: parent.Sign(deviceMessage(p.Epoch, p.Identity, device))})
	return q, nil
}

// AttestData returns a copy of p in which its device, signer, signs data.
func (p *Proof) AttestData(signer SigningKey, data []byte) (*Proof, error) {
	if signer.Public() != p.Device() {
		return nil, fmt.Errorf("attesting data: signer %s is not the proof's device %s", signer.Public().Short(), p.Device().Short())
	}
	q := &Proof{Epoch: p.Epoch, Identity: p.Identity, Chain: append([]Link(nil), p.Chain...)}
	sig := signer.Sign(dataMessage(p.Epoch, p.Identity, data))
	q.DataSignature = &sig
	return q, nil
}

func deviceMessage(epoch uint64, identity, device PublicKey) []byte {
	e := wire.Encoder{B: make([]byte, 0, 73)}
	e.U8(attestedDevice)
	e.U64(epoch)
	e.Fixed(identity[:])
	e.Fixed(device[:])
	return e.B
}

func dataMessage(epoch uint64, identity PublicKey, data []byte) []byte {
	h := blake2b.Sum256(data)
	e := wire.Encoder{B: make([]byte, 0, 73)}
	e.U8(attestedData)
	e.U64(epoch)
	e.Fixed(identity[:])
	e.Fixed(h[:])
	return e.B
}

// MarshalBinary encodes the proof in Keet's format.
func (p *Proof) MarshalBinary() ([]byte, error) {
	if len(p.Chain) > MaxProofChain {
		return nil, proofErr(ErrProofTooLarge, -1, fmt.Sprintf("%d links, at most %d", len(p.Chain), MaxProofChain))
	}
	e := wire.Encoder{B: make([]byte, 0, MaxProofLen)}
	e.Uint(ProofVersion)
	e.U64(p.Epoch)
	e.Fixed(p.Identity[:])
	e.Uint(uint64(len(p.Chain)))
	for _, l := range p.Chain {
		e.Fixed(l.Device[:])
		e.Fixed(l.Signature[:])
	}
	if p.DataSignature != nil {
		e.Uint(1)
		e.Fixed(p.DataSignature[:])
	} else {
		e.Uint(0)
	}
	return e.B, nil
}

// ParseProof decodes a proof. It checks the structure only (version, sizes,
// no trailing bytes, no unknown flags); Verify checks the signatures.
func ParseProof(b []byte) (*Proof, error) {
	if len(b) > MaxProofLen {
		return nil, proofErr(ErrProofTooLarge, -1, fmt.Sprintf("%d bytes, at most %d", len(b), MaxProofLen))
	}
	d := wire.NewDecoder(b)
	v := d.Uint()
	if d.Err() != nil {
		return nil, proofErr(ErrProofMalformed, -1, d.Err().Error())
	}
	if v != ProofVersion {
		return nil, proofErr(ErrProofVersion, -1, fmt.Sprintf("version %d", v))
	}
	p := &Proof{Epoch: d.U64()}
	d.Fixed(p.Identity[:])
	n := d.Uint()
	if d.Err() == nil && n > MaxProofChain {
		return nil, proofErr(ErrProofTooLarge, -1, fmt.Sprintf("%d links, at most %d", n, MaxProofChain))
	}
	if d.Err() == nil && n > 0 {
		p.Chain = make([]Link, n)
		for i := range p.Chain {
			d.Fixed(p.Chain[i].Device[:])
			d.Fixed(p.Chain[i].Signature[:])
		}
	}
	flags := d.Uint()
	if d.Err() == nil && flags&^1 != 0 {
		return nil, proofErr(ErrProofMalformed, -1, fmt.Sprintf("unknown flags %#x", flags))
	}
	if flags&1 != 0 {
		var sig [64]byte
		d.Fixed(sig[:])
		p.DataSignature = &sig
	}
	if d.Err() != nil {
		return nil, proofErr(ErrProofMalformed, -1, d.Err().Error())
	}
	if len(d.B) != 0 {
		return nil, proofErr(ErrProofMalformed, -1, fmt.Sprintf("%d trailing bytes", len(d.B)))
	}
	return p, nil
}

// VerifyOptions says what a proof must show. The zero value checks only
// the signatures.
type VerifyOptions struct {
	// Identity, if not zero, is the identity the proof must be for.
	Identity PublicKey
	// Device, if not zero, is the device the proof must attest.
	Device PublicKey
	// MinEpoch rejects proofs of an older epoch: the newest epoch the
	// verifier has seen for this identity. Zero accepts any.
	MinEpoch uint64
	// Revoked reports whether a device key is revoked; every key of the
	// chain is checked, since a revoked device cannot attest either. Nil
	// means none is.
	Revoked func(PublicKey) bool
	// Data, if not nil, must be signed by the proof's device (Keet's
	// attested data).
	Data []byte
}

// Verify checks every signature of the chain and the options, and returns
// the device the proof attests. Its errors match the sentinels above.
func (p *Proof) Verify(opts VerifyOptions) (PublicKey, error) {
	if len(p.Chain) == 0 {
		return PublicKey{}, proofErr(ErrProofEmpty, -1, "")
	}
	if len(p.Chain) > MaxProofChain {
		return PublicKey{}, proofErr(ErrProofTooLarge, -1, fmt.Sprintf("%d links, at most %d", len(p.Chain), MaxProofChain))
	}
	if !opts.Identity.IsZero() && opts.Identity != p.Identity {
		return PublicKey{}, proofErr(ErrForeignIdentity, -1, fmt.Sprintf("want %s, got %s", opts.Identity.Short(), p.Identity.Short()))
	}
	if p.Epoch < opts.MinEpoch {
		return PublicKey{}, proofErr(ErrOldEpoch, -1, fmt.Sprintf("epoch %d, current %d", p.Epoch, opts.MinEpoch))
	}
	parent := p.Identity
	for i, l := range p.Chain {
		if l.Device == p.Identity {
			return PublicKey{}, proofErr(ErrProofMalformed, i, "the identity key attests itself")
		}
		if !parent.Verify(deviceMessage(p.Epoch, p.Identity, l.Device), l.Signature[:]) {
			return PublicKey{}, proofErr(ErrBadSignature, i, "")
		}
		if opts.Revoked != nil && opts.Revoked(l.Device) {
			return PublicKey{}, proofErr(ErrRevoked, i, "device "+l.Device.Short())
		}
		parent = l.Device
	}
	if !opts.Device.IsZero() && opts.Device != parent {
		return PublicKey{}, proofErr(ErrWrongDevice, -1, fmt.Sprintf("want %s, got %s", opts.Device.Short(), parent.Short()))
	}
	if opts.Data != nil {
		if p.DataSignature == nil {
			return PublicKey{}, proofErr(ErrNoData, -1, "")
		}
		if !parent.Verify(dataMessage(p.Epoch, p.Identity, opts.Data), p.DataSignature[:]) {
			return PublicKey{}, proofErr(ErrBadSignature, len(p.Chain)-1, "data signature")
		}
	}
	return parent, nil
}
