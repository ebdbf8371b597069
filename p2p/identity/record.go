package identity

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hearthp2p/hearth/internal/wire"
)

// Record formats. Every signed record starts its signed bytes with a
// domain string, so a signature made for one kind of message can never be
// taken for another (Keet's attestations start with 0 or 1; these start
// with 'h').
const (
	deviceRecordVersion = 1
	revocationVersion   = 1
	deviceRecordDomain  = "hearth/device-record/v1\x00"
	revocationDomain    = "hearth/revocation/v1\x00"
)

// MaxDeviceName bounds a device name in bytes: enough for "Kitchen door
// (Raspberry Pi 4)" in any script, small enough for a list on a phone.
const MaxDeviceName = 64

// MaxDeviceRecordLen bounds an encoded device record.
const MaxDeviceRecordLen = 1 + 32 + 32 + 3 + SealingPublicKeyLen + 1 + MaxDeviceName + 8 + 64

// MaxRevocationLen bounds an encoded revocation.
const MaxRevocationLen = 1 + 32 + 32 + 8 + 8 + 64

// ErrRecordMalformed means a record could not be decoded.
var ErrRecordMalformed = errors.New("malformed record")

// DeviceRecord publishes a device's sealing key and name, signed by the
// device key. Anyone holding the device's proof can seal secrets to it.
type DeviceRecord struct {
	Identity PublicKey
	Device   PublicKey
	Sealing  SealingPublicKey
	Name     string
	Created  time.Time // second precision
	Sig      [64]byte
}

// NewDeviceRecord signs a record for device.
func NewDeviceRecord(identity PublicKey, device SigningKey, sealing SealingPublicKey, name string, created time.Time) (*DeviceRecord, error) {
	if err := CheckDeviceName(name); err != nil {
		return nil, err
	}
	r := &DeviceRecord{Identity: identity, Device: device.Public(), Sealing: sealing, Name: name, Created: time.Unix(created.Unix(), 0).UTC()}
	r.Sig = device.Sign(r.signed())
	return r, nil
}

// CheckDeviceName reports whether name may name a device: at most
// MaxDeviceName bytes of UTF-8, no control character.
func CheckDeviceName(name string) error {
	if len(name) > MaxDeviceName {
		return fmt.Errorf("device name is %d bytes, at most %d", len(name), MaxDeviceName)
	}
	if !utf8.ValidString(name) {
		return errors.New("device name is not valid UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errors.New("device name has a control character")
		}
	}
	return nil
}

func (r *DeviceRecord) body(e *wire.Encoder) {
	e.Uint(deviceRecordVersion)
	e.Fixed(r.Identity[:])
	e.Fixed(r.Device[:])
	e.Bytes(r.Sealing.b)
	e.String(r.Name)
	e.U64(uint64(r.Created.Unix()))
}

func (r *DeviceRecord) signed() []byte {
	e := wire.Encoder{B: []byte(deviceRecordDomain)}
	r.body(&e)
	return e.B
}

// MarshalBinary encodes the record with its signature.
func (r *DeviceRecord) MarshalBinary() ([]byte, error) {
	e := wire.Encoder{B: make([]byte, 0, MaxDeviceRecordLen)}
	r.body(&e)
	e.Fixed(r.Sig[:])
	return e.B, nil
}

// Verify checks the device's signature and that the sealing key is valid.
func (r *DeviceRecord) Verify() error {
	if _, err := ParseSealingPublicKey(r.Sealing.b); err != nil {
		return fmt.Errorf("device record: %w", err)
	}
	if !r.Device.Verify(r.signed(), r.Sig[:]) {
		return fmt.Errorf("device record: %w", ErrBadSignature)
	}
	return nil
}

// ParseDeviceRecord decodes a record; call Verify before trusting it.
func ParseDeviceRecord(b []byte) (*DeviceRecord, error) {
	if len(b) > MaxDeviceRecordLen {
		return nil, fmt.Errorf("device record: %w: %d bytes, at most %d", ErrRecordMalformed, len(b), MaxDeviceRecordLen)
	}
	d := wire.NewDecoder(b)
	if v := d.Uint(); d.Err() == nil && v != deviceRecordVersion {
		return nil, fmt.Errorf("device record: %w: version %d", ErrRecordMalformed, v)
	}
	r := &DeviceRecord{}
	d.Fixed(r.Identity[:])
	d.Fixed(r.Device[:])
	r.Sealing.b = d.Bytes(SealingPublicKeyLen)
	name := d.Bytes(MaxDeviceName)
	created := d.U64()
	d.Fixed(r.Sig[:])
	if d.Err() != nil {
		return nil, fmt.Errorf("device record: %w: %v", ErrRecordMalformed, d.Err())
	}
	if len(d.B) != 0 {
		return nil, fmt.Errorf("device record: %w: %d trailing bytes", ErrRecordMalformed, len(d.B))
	}
	if len(r.Sealing.b) != SealingPublicKeyLen {
		return nil, fmt.Errorf("device record: %w: sealing key of %d bytes", ErrRecordMalformed, len(r.Sealing.b))
	}
	if created > 1<<62 {
		return nil, fmt.Errorf("device record: %w: creation time out of range", ErrRecordMalformed)
	}
	r.Name = string(name)
	if err := CheckDeviceName(r.Name); err != nil {
		return nil, fmt.Errorf("device record: %w: %v", ErrRecordMalformed, err)
	}
	r.Created = time.Unix(int64(created), 0).UTC()
	return r, nil
}

// Revocation retires one device of an identity. It is signed by the
// identity key, so a stolen device cannot revoke its siblings.
type Revocation struct {
	Identity PublicKey
	Device   PublicKey
	Epoch    uint64    // the identity's epoch when it was made
	Time     time.Time // second precision
	Sig      [64]byte
}

// NewRevocation signs a revocation of device with the identity key.
func NewRevocation(identity SigningKey, device PublicKey, epoch uint64, now time.Time) (*Revocation, error) {
	if device == identity.Public() {
		return nil, errors.New("the identity key is not a device and cannot be revoked; restore the phrase to start a new epoch")
	}
	r := &Revocation{Identity: identity.Public(), Device: device, Epoch: epoch, Time: time.Unix(now.Unix(), 0).UTC()}
	r.Sig = identity.Sign(r.signed())
	return r, nil
}

func (r *Revocation) body(e *wire.Encoder) {
	e.Uint(revocationVersion)
	e.Fixed(r.Identity[:])
	e.Fixed(r.Device[:])
	e.U64(r.Epoch)
	e.U64(uint64(r.Time.Unix()))
}

func (r *Revocation) signed() []byte {
	e := wire.Encoder{B: []byte(revocationDomain)}
	r.body(&e)
	return e.B
}

// MarshalBinary encodes the revocation with its signature.
func (r *Revocation) MarshalBinary() ([]byte, error) {
	e := wire.Encoder{B: make([]byte, 0, MaxRevocationLen)}
	r.body(&e)
	e.Fixed(r.Sig[:])
	return e.B, nil
}

// Verify checks the identity's signature.
func (r *Revocation) Verify() error {
	if !r.Identity.Verify(r.signed(), r.Sig[:]) {
		return fmt.Errorf("revocation: %w", ErrBadSignature)
	}
	return nil
}

// ParseRevocation decodes a revocation; call Verify before trusting it.
func ParseRevocation(b []byte) (*Revocation, error) {
	if len(b) > MaxRevocationLen {
		return nil, fmt.Errorf("revocation: %w: %d bytes, at most %d", ErrRecordMalformed, len(b), MaxRevocationLen)
	}
	d := wire.NewDecoder(b)
	if v := d.Uint(); d.Err() == nil && v != revocationVersion {
		return nil, fmt.Errorf("revocation: %w: version %d", ErrRecordMalformed, v)
	}
	r := &Revocation{}
	d.Fixed(r.Identity[:])
	d.Fixed(r.Device[:])
	r.Epoch = d.U64()
	t := d.U64()
	d.Fixed(r.Sig[:])
	if d.Err() != nil {
		return nil, fmt.Errorf("revocation: %w: %v", ErrRecordMalformed, d.Err())
	}
	if len(d.B) != 0 {
		return nil, fmt.Errorf("revocation: %w: %d trailing bytes", ErrRecordMalformed, len(d.B))
	}
	if t > 1<<62 {
		return nil, fmt.Errorf("revocation: %w: time out of range", ErrRecordMalformed)
	}
	r.Time = time.Unix(int64(t), 0).UTC()
	return r, nil
}
