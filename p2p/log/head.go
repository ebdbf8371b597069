package log

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hearthp2p/hearth/p2p/identity"
)

const (
	headVersion = 1
	headDomain  = "hearth/log-head/v1\x00"
	// HeadLen is the size of an encoded head.
	HeadLen = 1 + 32 + 32 + 8 + 32 + 64
)

// Errors of heads.
var (
	ErrHeadMalformed = errors.New("malformed head")
	ErrHeadSignature = errors.New("head signature does not verify")
)

// Head is a writer's signed statement that its log in a room has Length
// blocks whose tree head is Root.
type Head struct {
	Discovery Discovery
	Writer    identity.PublicKey
	Length    uint64
	Root      Hash
	Sig       [64]byte
}

// ID returns the id of the log the head is of.
func (h *Head) ID() ID { return LogID(h.Discovery, h.Writer) }

func headMessage(id ID, length uint64, root Hash) []byte {
	m := make([]byte, 0, len(headDomain)+32+8+32)
	m = append(m, headDomain...)
	m = append(m, id[:]...)
	m = binary.BigEndian.AppendUint64(m, length)
	return append(m, root[:]...)
}

// SignHead signs (log id, length, root) with the writer's device key.
func SignHead(writer identity.SigningKey, disc Discovery, length uint64, root Hash) Head {
	h := Head{Discovery: disc, Writer: writer.Public(), Length: length, Root: root}
	h.Sig = writer.Sign(headMessage(h.ID(), length, root))
	return h
}

// ErrEmptyHead means a head of no blocks: nothing signs one (an empty
// log has no head), and a fork proof against one would accept any prefix.
var ErrEmptyHead = errors.New("a head of an empty log")

// Verify checks the writer's signature, and that the head covers at
// least one block.
func (h *Head) Verify() error {
	if h.Length == 0 {
		return ErrEmptyHead
	}
	if !h.Writer.Verify(headMessage(h.ID(), h.Length, h.Root), h.Sig[:]) {
		return ErrHeadSignature
	}
	return nil
}

// MarshalBinary encodes the head in HeadLen bytes.
func (h *Head) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, HeadLen)
	b = append(b, headVersion)
	b = append(b, h.Discovery[:]...)
	b = append(b, h.Writer[:]...)
	b = binary.LittleEndian.AppendUint64(b, h.Length)
	b = append(b, h.Root[:]...)
	return append(b, h.Sig[:]...), nil
}

// ParseHead decodes a head; call Verify before trusting it.
func ParseHead(b []byte) (Head, error) {
	var h Head
	if len(b) != HeadLen {
		return h, fmt.Errorf("%w: %d bytes, want %d", ErrHeadMalformed, len(b), HeadLen)
	}
	if b[0] != headVersion {
		return h, fmt.Errorf("%w: version %d", ErrHeadMalformed, b[0])
	}
	b = b[1:]
	copy(h.Discovery[:], b[:32])
	copy(h.Writer[:], b[32:64])
	h.Length = binary.LittleEndian.Uint64(b[64:72])
	copy(h.Root[:], b[72:104])
	copy(h.Sig[:], b[104:168])
	if h.Length > MaxLogLen {
		return h, fmt.Errorf("%w: length %d over %d", ErrHeadMalformed, h.Length, MaxLogLen)
	}
	return h, nil
}
