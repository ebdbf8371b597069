package pairing

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
)

// Limits of pairing messages.
const (
	MaxRequest = 8 << 10  // a sealed request: proof, record, name, keys
	MaxAnswer  = 64 << 10 // a sealed answer: room key and every epoch key
	maxBlob    = 4096
	maxName    = 64
	maxKeys    = 1024
	maxReason  = 256
)

// Errors of pairing.
var (
	ErrMalformed = errors.New("malformed pairing message")
	ErrOpen      = errors.New("cannot open pairing message")
	ErrInvalid   = errors.New("invalid pairing request")
)

// Request is what a candidate asks.
type Request struct {
	Invite    ID
	Identity  identity.PublicKey
	Proof     []byte // the candidate device's proof
	Record    []byte // its device record
	Name      string // the person's display name
	Ephemeral []byte // HPKE public key the answer is sealed to
	Time      int64  // unix milliseconds
	Sig       [64]byte
	// DevSig is the candidate device's signature of the request, the
	// ephemeral key and invite included: only the holder of the device
	// key named (by the proof, or the record of a new device) gets an
	// answer, never whoever merely read its proof or record somewhere.
	DevSig [64]byte
	// Device is the device that signed DevSig, set by OpenRequest and
	// OpenLinkRequest (it is not sent).
	Device identity.PublicKey
	// Chain lists the devices of the proof, the identity's first to
	// Device, set by OpenRequest: a revocation of any of them is Device's.
	Chain []identity.PublicKey
	// Epoch is the identity epoch of the proof, set by OpenRequest.
	Epoch uint64
}

// requestVersion is the version of requests; version 1 had no DevSig
// and is refused.
const requestVersion = 2

const devSigDomain = "hearth/pairing-device/v1\x00"

func (r *Request) body() []byte {
	var w wire.Encoder
	w.U8(requestVersion)
	w.Fixed(r.Invite[:])
	w.Fixed(r.Identity[:])
	w.Bytes(r.Proof)
	w.Bytes(r.Record)
	w.String(r.Name)
	w.Bytes(r.Ephemeral)
	w.Uint(uint64(r.Time))
	return w.B
}

// NewRequest builds and seals a request for inv. It returns the sealed
// bytes and the ephemeral key that opens the answer.
func NewRequest(inv Invite, id identity.PublicKey, dev identity.SigningKey, proof, record []byte, name string, now time.Time) ([]byte, identity.SealingKey, error) {
	return seal(inv, dev, &Request{Identity: id, Proof: proof, Record: record, Name: name, Time: now.UnixMilli()})
}

// NewLinkRequest builds and seals the request of a new device that asks
// to join an identity (device linking): no identity and no proof yet, only
// its device record, self-signed, with a zero identity.
func NewLinkRequest(inv Invite, dev identity.SigningKey, record []byte, name string, now time.Time) ([]byte, identity.SealingKey, error) {
	return seal(inv, dev, &Request{Record: record, Name: name, Time: now.UnixMilli()})
}

func seal(inv Invite, dev identity.SigningKey, r *Request) ([]byte, identity.SealingKey, error) {
	eph, err := identity.GenerateSealingKey()
	if err != nil {
		return nil, identity.SealingKey{}, err
	}
	if len(r.Name) > maxName {
		r.Name = r.Name[:maxName]
	}
	r.Invite, r.Ephemeral = inv.ID(), eph.Public().Bytes()
	r.Sig = inv.key().Sign(append([]byte("hearth/pairing-request/v1\x00"), r.body()...))
	r.DevSig = dev.Sign(append([]byte(devSigDomain), r.body()...))
	plain := append(r.body(), r.Sig[:]...)
	plain = append(plain, r.DevSig[:]...)
	key := inv.requestKey()
	aead, _ := chacha20poly1305.NewX(key[:])
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	id16 := inv.ID()
	sealed := aead.Seal(nonce, nonce, plain, id16[:])
	if len(sealed) > MaxRequest {
		return nil, identity.SealingKey{}, fmt.Errorf("pairing request of %d bytes, at most %d", len(sealed), MaxRequest)
	}
	return sealed, eph, nil
}

// OpenRequest opens a sealed request with the invite and checks it: the
// invite signature, the device proof (for the claimed identity) and the
// device record. It does not check expiry or uses: the room's view does.
func OpenRequest(inv Invite, sealed []byte) (*Request, error) {
	r, err := open(inv, sealed)
	if err != nil {
		return nil, err
	}
	proof, err := identity.ParseProof(r.Proof)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	dev, err := proof.Verify(identity.VerifyOptions{Identity: r.Identity})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	rec, err := identity.ParseDeviceRecord(r.Record)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := rec.Verify(); err != nil || rec.Device != dev || rec.Identity != r.Identity {
		return nil, fmt.Errorf("%w: device record does not match the proof", ErrInvalid)
	}
	if err := r.checkDevSig(dev); err != nil {
		return nil, err
	}
	r.Device, r.Epoch = dev, proof.Epoch
	for _, l := range proof.Chain {
		r.Chain = append(r.Chain, l.Device)
	}
	return r, nil
}

// checkDevSig checks the signature of the device dev.
func (r *Request) checkDevSig(dev identity.PublicKey) error {
	if !dev.Verify(append([]byte(devSigDomain), r.body()...), r.DevSig[:]) {
		return fmt.Errorf("%w: not signed by the device it names", ErrInvalid)
	}
	return nil
}

// OpenLinkRequest opens a new device's request (see NewLinkRequest) and
// returns it with the device's record, self-signature checked.
func OpenLinkRequest(inv Invite, sealed []byte) (*Request, *identity.DeviceRecord, error) {
	r, err := open(inv, sealed)
	if err != nil {
		return nil, nil, err
	}
	if len(r.Proof) != 0 || r.Identity != (identity.PublicKey{}) {
		return nil, nil, fmt.Errorf("%w: a room request, not a device link", ErrInvalid)
	}
	rec, err := identity.ParseDeviceRecord(r.Record)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := rec.Verify(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := r.checkDevSig(rec.Device); err != nil {
		return nil, nil, err
	}
	r.Device = rec.Device
	return r, rec, nil
}

// open decrypts a request and checks the invite signature and the
// ephemeral key.
func open(inv Invite, sealed []byte) (*Request, error) {
	if len(sealed) > MaxRequest || len(sealed) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(sealed))
	}
	key := inv.requestKey()
	aead, _ := chacha20poly1305.NewX(key[:])
	id16 := inv.ID()
	n := chacha20poly1305.NonceSizeX
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], id16[:])
	if err != nil {
		return nil, ErrOpen
	}
	d := wire.NewDecoder(plain)
	if v := d.U8(); d.Err() == nil && v != requestVersion {
		return nil, fmt.Errorf("%w: version %d (this device is older or newer than the one asking)", ErrMalformed, v)
	}
	r := &Request{}
	d.Fixed(r.Invite[:])
	d.Fixed(r.Identity[:])
	r.Proof = d.Bytes(maxBlob)
	r.Record = d.Bytes(maxBlob)
	r.Name = d.String(maxName)
	r.Ephemeral = d.Bytes(identity.SealingPublicKeyLen)
	t := d.Uint()
	d.Fixed(r.Sig[:])
	d.Fixed(r.DevSig[:])
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	r.Time = int64(t & (1<<62 - 1))
	if r.Invite != inv.ID() {
		return nil, fmt.Errorf("%w: for another invite", ErrInvalid)
	}
	if !inv.key().Public().Verify(append([]byte("hearth/pairing-request/v1\x00"), r.body()...), r.Sig[:]) {
		return nil, fmt.Errorf("%w: not signed with the invite key", ErrInvalid)
	}
	if _, err := identity.ParseSealingPublicKey(r.Ephemeral); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return r, nil
}

// EpochKey is one epoch's key in an answer.
type EpochKey struct {
	Epoch uint64
	Key   [32]byte
}

// Answer is what an admin sends back.
type Answer struct {
	OK      bool
	Reason  string // why not, when !OK
	RoomKey [32]byte
	Founder identity.PublicKey
	Name    string
	Keys    []EpochKey
	// Discovery is the room's discovery key, for refusals: the candidate
	// checks it against the tag of its link (an admission is checked by
	// the discovery key of its room key).
	Discovery [32]byte
}

func answerInfo(id ID) []byte { return append([]byte("hearth/pairing-answer/v1\x00"), id[:]...) }

// SealAnswer seals an answer to the request's ephemeral key.
func SealAnswer(req *Request, a *Answer) ([]byte, error) {
	pub, err := identity.ParseSealingPublicKey(req.Ephemeral)
	if err != nil {
		return nil, err
	}
	if len(a.Keys) > maxKeys {
		return nil, fmt.Errorf("answer with %d epoch keys", len(a.Keys))
	}
	var w wire.Encoder
	w.U8(1)
	w.Bool(a.OK)
	w.String(a.Reason)
	w.Fixed(a.RoomKey[:])
	w.Fixed(a.Founder[:])
	w.String(a.Name)
	w.Uint(uint64(len(a.Keys)))
	for _, k := range a.Keys {
		w.Uint(k.Epoch)
		w.Fixed(k.Key[:])
	}
	w.Fixed(a.Discovery[:])
	return pub.Seal(answerInfo(req.Invite), w.B)
}

// OpenAnswer opens an answer with the ephemeral key of the request.
func OpenAnswer(eph identity.SealingKey, inv ID, sealed []byte) (*Answer, error) {
	if len(sealed) > MaxAnswer {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(sealed))
	}
	plain, err := eph.Open(answerInfo(inv), sealed)
	if err != nil {
		return nil, ErrOpen
	}
	return parseAnswer(plain)
}

// parseAnswer decodes an opened answer.
func parseAnswer(plain []byte) (*Answer, error) {
	d := wire.NewDecoder(plain)
	if v := d.U8(); d.Err() == nil && v != 1 {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, v)
	}
	a := &Answer{OK: d.Bool(), Reason: d.String(maxReason)}
	d.Fixed(a.RoomKey[:])
	d.Fixed(a.Founder[:])
	a.Name = d.String(256)
	n := d.Count(maxKeys)
	for range n {
		var k EpochKey
		k.Epoch = d.Uint()
		d.Fixed(k.Key[:])
		a.Keys = append(a.Keys, k)
	}
	d.Fixed(a.Discovery[:])
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return a, nil
}

// LinkRoom is one of the identity's rooms in a link answer.
type LinkRoom struct {
	Key     [32]byte
	Founder identity.PublicKey
	Name    string
	Keys    []EpochKey
	Peers   []string // full multiaddrs of peers that hold the room (mirrors)
}

// Matches reports whether a link answer is for the identity tag names.
func (a *LinkAnswer) Matches(tag Tag) bool { return IdentityTag(a.Identity) == tag }

// LinkAnswer is what a device of the identity sends a new device: the
// proof that attests it, and the identity's rooms with their keys.
type LinkAnswer struct {
	OK       bool
	Reason   string
	Identity identity.PublicKey
	Proof    []byte
	Rooms    []LinkRoom
}

// Limits of a link answer.
const (
	maxLinkRooms = 256
	maxPeers     = 8
	maxPeerLen   = 256
)

func linkInfo(id ID) []byte { return append([]byte("hearth/link-answer/v1\x00"), id[:]...) }

// SealLinkAnswer seals a link answer to the request's ephemeral key.
func SealLinkAnswer(req *Request, a *LinkAnswer) ([]byte, error) {
	pub, err := identity.ParseSealingPublicKey(req.Ephemeral)
	if err != nil {
		return nil, err
	}
	if len(a.Rooms) > maxLinkRooms {
		return nil, fmt.Errorf("a link answer with %d rooms, at most %d", len(a.Rooms), maxLinkRooms)
	}
	var w wire.Encoder
	w.U8(1)
	w.Bool(a.OK)
	w.String(a.Reason)
	w.Fixed(a.Identity[:])
	w.Bytes(a.Proof)
	w.Uint(uint64(len(a.Rooms)))
	for _, r := range a.Rooms {
		w.Fixed(r.Key[:])
		w.Fixed(r.Founder[:])
		w.String(r.Name)
		w.Uint(uint64(len(r.Keys)))
		for _, k := range r.Keys {
			w.Uint(k.Epoch)
			w.Fixed(k.Key[:])
		}
		peers := r.Peers[:min(len(r.Peers), maxPeers)]
		w.Uint(uint64(len(peers)))
		for _, p := range peers {
			w.String(p)
		}
	}
	if len(w.B) > MaxAnswer-1024 {
		return nil, fmt.Errorf("a link answer of %d bytes", len(w.B))
	}
	return pub.Seal(linkInfo(req.Invite), w.B)
}

// OpenLinkAnswer opens a link answer with the request's ephemeral key.
func OpenLinkAnswer(eph identity.SealingKey, inv ID, sealed []byte) (*LinkAnswer, error) {
	if len(sealed) > MaxAnswer {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(sealed))
	}
	plain, err := eph.Open(linkInfo(inv), sealed)
	if err != nil {
		return nil, ErrOpen
	}
	return parseLinkAnswer(plain)
}

// parseLinkAnswer decodes an opened link answer.
func parseLinkAnswer(plain []byte) (*LinkAnswer, error) {
	d := wire.NewDecoder(plain)
	if v := d.U8(); d.Err() == nil && v != 1 {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, v)
	}
	a := &LinkAnswer{OK: d.Bool(), Reason: d.String(maxReason)}
	d.Fixed(a.Identity[:])
	a.Proof = d.Bytes(maxBlob)
	n := d.Count(maxLinkRooms)
	for range n {
		var r LinkRoom
		d.Fixed(r.Key[:])
		d.Fixed(r.Founder[:])
		r.Name = d.String(256)
		k := d.Count(maxKeys)
		for range k {
			var ek EpochKey
			ek.Epoch = d.Uint()
			d.Fixed(ek.Key[:])
			r.Keys = append(r.Keys, ek)
		}
		p := d.Count(maxPeers)
		for range p {
			r.Peers = append(r.Peers, d.String(maxPeerLen))
		}
		a.Rooms = append(a.Rooms, r)
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return a, nil
}
