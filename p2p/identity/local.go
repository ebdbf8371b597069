package identity

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hearthp2p/hearth/internal/secfile"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// FileName is the file in the home that holds this device's identity
// state, secret keys included (mode 0600).
const FileName = "identity.json"

const localVersion = 1

// Errors of the local store.
var (
	// ErrNoIdentity means the home has no identity yet.
	ErrNoIdentity = errors.New("no identity in this home")
	// ErrIdentityExists means Setup would replace an identity without Force.
	ErrIdentityExists = errors.New("an identity already exists in this home")
	// ErrWrongPhrase means a phrase derives another identity than this
	// home's.
	ErrWrongPhrase = errors.New("the phrase belongs to another identity")
	// ErrCorrupt means the identity file exists but does not hold a
	// consistent identity.
	ErrCorrupt = errors.New("identity file is damaged")
)

// Local is this device's identity: the identity public key, the epoch,
// this device's keys, its proof and record, and the revocations it knows.
// It is not safe for concurrent use; the daemon owns it.
type Local struct {
	Identity    PublicKey
	Epoch       uint64
	Created     time.Time
	Device      SigningKey
	Sealing     SealingKey
	Proof       *Proof
	Record      *DeviceRecord
	Revocations []*Revocation

	path string
}

// SetupOptions tune Setup. The zero value names the device after the host,
// refuses to replace an identity and uses the system clock.
type SetupOptions struct {
	// Name is this device's name; empty means the host name.
	Name string
	// Force replaces an existing identity in the home.
	Force bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Setup creates this device's identity in dir from a phrase: it derives the
// identity key, makes a fresh device key and sealing key, starts a new epoch
// (the current time in seconds), attests the device and writes everything
// in one atomic write. The identity secret key is wiped before it returns.
// On any error nothing in dir has changed.
func Setup(dir string, phrase Phrase, passphrase string, opts SetupOptions) (*Local, error) {
	if !phrase.Valid() {
		return nil, &PhraseError{Err: ErrEmptyPhrase}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	name := opts.Name
	if name == "" {
		name, _ = os.Hostname()
		if len(name) > MaxDeviceName {
			name = name[:MaxDeviceName]
		}
		if CheckDeviceName(name) != nil {
			name = ""
		}
	}
	if err := CheckDeviceName(name); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	if !opts.Force {
		if _, err := os.Lstat(path); err == nil {
			return nil, fmt.Errorf("%w (%s); pass --force to replace it, which makes this device a new one", ErrIdentityExists, path)
		}
	}
	seed := phrase.Seed(passphrase)
	idKey := DeriveIdentity(seed)
	seed.Wipe()
	defer idKey.Wipe()

	device, err := GenerateSigningKey()
	if err != nil {
		return nil, err
	}
	sealing, err := GenerateSealingKey()
	if err != nil {
		return nil, err
	}
	t := now()
	epoch := uint64(t.Unix())
	l := &Local{
		Identity: idKey.Public(),
		Epoch:    epoch,
		Created:  time.Unix(t.Unix(), 0).UTC(),
		Device:   device,
		Sealing:  sealing,
		Proof:    NewProof(idKey, device.Public(), epoch),
		path:     path,
	}
	l.Record, err = NewDeviceRecord(l.Identity, device, sealing.Public(), name, t)
	if err != nil {
		return nil, err
	}
	if err := secfile.EnsureDir(dir); err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	if err := l.save(!opts.Force); err != nil {
		return nil, err
	}
	return l, nil
}

// SetupLinked creates this device's identity in dir from a proof another
// device of the identity made for it (device linking): the proof must
// attest device for identity. No identity secret is involved. On any error
// nothing in dir has changed.
func SetupLinked(dir string, id PublicKey, device SigningKey, sealing SealingKey, proof *Proof, name string, now time.Time) (*Local, error) {
	if err := CheckDeviceName(name); err != nil {
		return nil, err
	}
	if _, err := proof.Verify(VerifyOptions{Identity: id, Device: device.Public()}); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%w (%s)", ErrIdentityExists, path)
	}
	l := &Local{
		Identity: id,
		Epoch:    proof.Epoch,
		Created:  time.Unix(now.Unix(), 0).UTC(),
		Device:   device,
		Sealing:  sealing,
		Proof:    proof,
		path:     path,
	}
	var err error
	l.Record, err = NewDeviceRecord(id, device, sealing.Public(), name, now)
	if err != nil {
		return nil, err
	}
	if err := secfile.EnsureDir(dir); err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	if err := l.save(true); err != nil {
		return nil, err
	}
	return l, nil
}

// Exists reports whether dir holds an identity file.
func Exists(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, FileName))
	return err == nil
}

// Load reads and checks this device's identity from dir. It refuses a home
// or file that others can read, and a file whose keys, proof or records do
// not agree.
func Load(dir string) (*Local, error) {
	if err := secfile.CheckDir(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%s does not exist)", ErrNoIdentity, dir)
		}
		return nil, fmt.Errorf("home: %w", err)
	}
	path := filepath.Join(dir, FileName)
	b, err := secfile.Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%s)", ErrNoIdentity, dir)
		}
		return nil, err
	}
	defer wipe(b)
	l, err := decodeLocal(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	l.path = path
	return l, nil
}

type localFile struct {
	Version       int       `json:"version"`
	Identity      PublicKey `json:"identity"`
	Epoch         uint64    `json:"epoch"`
	Created       time.Time `json:"created"`
	DeviceSecret  string    `json:"device_secret"`
	SealingSecret string    `json:"sealing_secret"`
	Proof         string    `json:"proof"`
	Record        string    `json:"device_record"`
	Revocations   []string  `json:"revocations,omitempty"`
}

func (l *Local) save(exclusive bool) error {
	devSeed := l.Device.Seed()
	defer wipe(devSeed)
	sealBytes, err := l.Sealing.Bytes()
	if err != nil {
		return err
	}
	defer wipe(sealBytes)
	proof, err := l.Proof.MarshalBinary()
	if err != nil {
		return err
	}
	rec, err := l.Record.MarshalBinary()
	if err != nil {
		return err
	}
	f := localFile{
		Version:       localVersion,
		Identity:      l.Identity,
		Epoch:         l.Epoch,
		Created:       l.Created,
		DeviceSecret:  hex.EncodeToString(devSeed),
		SealingSecret: hex.EncodeToString(sealBytes),
		Proof:         hex.EncodeToString(proof),
		Record:        hex.EncodeToString(rec),
	}
	for _, r := range l.Revocations {
		b, err := r.MarshalBinary()
		if err != nil {
			return err
		}
		f.Revocations = append(f.Revocations, hex.EncodeToString(b))
	}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	defer wipe(out)
	if err := secfile.Write(l.path, append(out, '\n'), exclusive); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w (%s)", ErrIdentityExists, l.path)
		}
		return fmt.Errorf("writing identity: %w", err)
	}
	return nil
}

func decodeLocal(b []byte) (*Local, error) {
	var f localFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if f.Version != localVersion {
		return nil, fmt.Errorf("unknown version %d", f.Version)
	}
	l := &Local{Identity: f.Identity, Epoch: f.Epoch, Created: f.Created}
	seed, err := hex.DecodeString(f.DeviceSecret)
	if err != nil {
		return nil, errors.New("device secret is not hex")
	}
	l.Device, err = NewSigningKey(seed)
	wipe(seed)
	if err != nil {
		return nil, err
	}
	sb, err := hex.DecodeString(f.SealingSecret)
	if err != nil {
		return nil, errors.New("sealing secret is not hex")
	}
	l.Sealing, err = ParseSealingKey(sb)
	wipe(sb)
	if err != nil {
		return nil, err
	}
	pb, err := hex.DecodeString(f.Proof)
	if err != nil {
		return nil, errors.New("proof is not hex")
	}
	if l.Proof, err = ParseProof(pb); err != nil {
		return nil, err
	}
	if l.Proof.Epoch != l.Epoch {
		return nil, fmt.Errorf("proof epoch %d differs from epoch %d", l.Proof.Epoch, l.Epoch)
	}
	if _, err := l.Proof.Verify(VerifyOptions{Identity: l.Identity, Device: l.Device.Public()}); err != nil {
		return nil, err
	}
	rb, err := hex.DecodeString(f.Record)
	if err != nil {
		return nil, errors.New("device record is not hex")
	}
	if l.Record, err = ParseDeviceRecord(rb); err != nil {
		return nil, err
	}
	if err := l.Record.Verify(); err != nil {
		return nil, err
	}
	if l.Record.Device != l.Device.Public() || l.Record.Identity != l.Identity || !slices.Equal(l.Record.Sealing.b, l.Sealing.Public().b) {
		return nil, errors.New("device record does not match the keys")
	}
	for i, s := range f.Revocations {
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("revocation %d is not hex", i+1)
		}
		r, err := ParseRevocation(b)
		if err != nil {
			return nil, err
		}
		if r.Identity != l.Identity {
			return nil, fmt.Errorf("revocation %d is for another identity", i+1)
		}
		if err := r.Verify(); err != nil {
			return nil, err
		}
		l.Revocations = append(l.Revocations, r)
	}
	return l, nil
}

// IsRevoked reports whether this identity has revoked device.
func (l *Local) IsRevoked(device PublicKey) bool {
	for _, r := range l.Revocations {
		if r.Device == device {
			return true
		}
	}
	return false
}

// CheckPhrase derives the identity key from phrase and passphrase and
// returns it if it is this home's identity. The caller wipes it.
func (l *Local) CheckPhrase(phrase Phrase, passphrase string) (SigningKey, error) {
	seed := phrase.Seed(passphrase)
	k := DeriveIdentity(seed)
	seed.Wipe()
	if k.Public() != l.Identity {
		other := k.Public()
		k.Wipe()
		return SigningKey{}, fmt.Errorf("%w (%s, this home is %s); check the words and the passphrase", ErrWrongPhrase, other.Short(), l.Identity.Short())
	}
	return k, nil
}

// Revoke makes a revocation of device signed with the identity key and
// adds it with AddRevocation.
func (l *Local) Revoke(identity SigningKey, device PublicKey, now time.Time) (*Revocation, error) {
	if identity.Public() != l.Identity {
		return nil, ErrWrongPhrase
	}
	if device == l.Device.Public() {
		return nil, ErrRevokeSelf
	}
	r, err := NewRevocation(identity, device, l.Epoch, now)
	if err != nil {
		return nil, err
	}
	return l.AddRevocation(r)
}

// ErrRevokeSelf means a device was asked to revoke itself.
var ErrRevokeSelf = errors.New("cannot revoke this device from itself: revoke it from another device of the identity, or restore the phrase elsewhere")

// AddRevocation checks a revocation (this identity, a valid signature, not
// this device) and keeps it in the home. A device revoked already keeps
// its first revocation, which is returned.
func (l *Local) AddRevocation(r *Revocation) (*Revocation, error) {
	if r.Identity != l.Identity {
		return nil, fmt.Errorf("%w: revocation is for %s, this home is %s", ErrForeignIdentity, r.Identity.Short(), l.Identity.Short())
	}
	if err := r.Verify(); err != nil {
		return nil, err
	}
	if r.Device == l.Device.Public() {
		return nil, ErrRevokeSelf
	}
	for _, old := range l.Revocations {
		if old.Device == r.Device {
			return old, nil
		}
	}
	l.Revocations = append(l.Revocations, r)
	if err := l.save(false); err != nil {
		l.Revocations = l.Revocations[:len(l.Revocations)-1]
		return nil, err
	}
	return r, nil
}

// PeerID is this device's libp2p peer id, derived from the device key.
func (l *Local) PeerID() (peer.ID, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(l.Device.pub[:])
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pub)
}

// Wipe zeroes the secret keys held in memory.
func (l *Local) Wipe() {
	l.Device.Wipe()
	l.Sealing = SealingKey{}
}
