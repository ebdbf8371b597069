package log

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// MaxEntryLen bounds the plaintext of one entry: a chat message with its
// metadata, a file manifest or a membership operation. Files travel as
// blobs, never as entries.
const MaxEntryLen = 64 << 10

const (
	blockVersion  = 1
	blockHeader   = 1 + 8 + chacha20poly1305.NonceSizeX
	blockOverhead = blockHeader + chacha20poly1305.Overhead
	// MaxBlockLen bounds one sealed block.
	MaxBlockLen = MaxEntryLen + blockOverhead
	adDomain    = "hearth/entry/v1\x00"
)

// Errors of blocks.
var (
	ErrBlockMalformed = errors.New("malformed block")
	// ErrOpen means a block could not be opened: wrong key, moved to
	// another place or tampered with.
	ErrOpen = errors.New("cannot open block")
)

func associatedData(disc Discovery, id ID, seq, epoch uint64) []byte {
	return appendAssociatedData(make([]byte, 0, len(adDomain)+32+32+8+8), disc, id, seq, epoch)
}

func appendAssociatedData(ad []byte, disc Discovery, id ID, seq, epoch uint64) []byte {
	ad = append(ad, adDomain...)
	ad = append(ad, disc[:]...)
	ad = append(ad, id[:]...)
	ad = binary.BigEndian.AppendUint64(ad, seq)
	ad = binary.BigEndian.AppendUint64(ad, epoch)
	return ad
}

// Seal seals one entry as block number seq of log id, under the key of
// epoch.
func Seal(key Key, disc Discovery, id ID, seq, epoch uint64, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxEntryLen {
		return nil, fmt.Errorf("entry of %d bytes, at most %d", len(plaintext), MaxEntryLen)
	}
	aead, err := chacha20poly1305.NewX(key.k[:])
	if err != nil {
		return nil, err
	}
	b := make([]byte, blockHeader, blockHeader+len(plaintext)+chacha20poly1305.Overhead)
	b[0] = blockVersion
	binary.LittleEndian.PutUint64(b[1:9], epoch)
	nonce := b[9:blockHeader]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(b, nonce, plaintext, associatedData(disc, id, seq, epoch)), nil
}

// BlockEpoch returns the epoch a block was sealed in, without opening it.
func BlockEpoch(block []byte) (uint64, error) {
	if err := checkBlock(block); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(block[1:9]), nil
}

func checkBlock(block []byte) error {
	switch {
	case len(block) < blockOverhead:
		return fmt.Errorf("%w: %d bytes", ErrBlockMalformed, len(block))
	case len(block) > MaxBlockLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBlockMalformed, len(block), MaxBlockLen)
	case block[0] != blockVersion:
		return fmt.Errorf("%w: version %d", ErrBlockMalformed, block[0])
	}
	return nil
}

// Open opens block number seq of log id with the key of its epoch.
func Open(key Key, disc Discovery, id ID, seq uint64, block []byte) ([]byte, error) {
	var o Opener
	return o.Open(key, disc, id, seq, block)
}

// Opener is Open for many blocks in turn: it keeps its buffers and the
// cipher of the last key it used, so opening a block allocates nothing.
// The plaintext it returns is valid until its next Open. One goroutine
// at a time may use it.
type Opener struct {
	key    Key
	aead   cipher.AEAD
	ad, pt []byte
}

// Open is Open's.
func (o *Opener) Open(key Key, disc Discovery, id ID, seq uint64, block []byte) ([]byte, error) {
	if err := checkBlock(block); err != nil {
		return nil, err
	}
	epoch := binary.LittleEndian.Uint64(block[1:9])
	if o.aead == nil || o.key != key {
		aead, err := chacha20poly1305.NewX(key.k[:])
		if err != nil {
			return nil, err
		}
		o.key, o.aead = key, aead
	}
	o.ad = appendAssociatedData(o.ad[:0], disc, id, seq, epoch)
	pt, err := o.aead.Open(o.pt[:0], block[9:blockHeader], block[blockHeader:], o.ad)
	if err != nil {
		return nil, ErrOpen
	}
	o.pt = pt
	return pt, nil
}
