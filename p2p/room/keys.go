package room

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"

	"golang.org/x/crypto/hkdf"

	"github.com/hearthp2p/hearth/p2p/log"
)

// Key is a room key: 32 random bytes that give access to a room. It never
// prints itself.
type Key struct{ k [32]byte }

// NewKey returns a fresh room key.
func NewKey() Key {
	var k Key
	rand.Read(k.k[:])
	return k
}

// KeyFromBytes makes a key from 32 bytes.
func KeyFromBytes(b [32]byte) Key { return Key{k: b} }

// Bytes returns the key's bytes, to seal or store them.
func (k Key) Bytes() [32]byte { return k.k }

func (Key) String() string       { return "RoomKey(redacted)" }
func (Key) GoString() string     { return "RoomKey(redacted)" }
func (Key) LogValue() slog.Value { return slog.StringValue("redacted") }

// EpochZero returns the key of epoch 0, which derives from the room key.
func (k Key) EpochZero() log.Key { return k.epochZero() }

func (k Key) mac(label string) []byte {
	m := hmac.New(sha256.New, k.k[:])
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Discovery returns the room's discovery key: HMAC-SHA256 of a fixed label
// under the room key. Peers announce and mirrors store under it; it does
// not reveal the room key.
func (k Key) Discovery() log.Discovery {
	var d log.Discovery
	copy(d[:], k.mac("hearth/discovery/v1"))
	return d
}

// ID is how people and the command line name a room.
type ID [16]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ID returns the room's id, another keyed hash of the room key.
func (k Key) ID() ID {
	var id ID
	copy(id[:], k.mac("hearth/room-id/v1"))
	return id
}

// epochZero derives the key of the room's first epoch from the room key;
// later epochs get random keys sealed to each device.
func (k Key) epochZero() log.Key {
	r := hkdf.New(sha256.New, k.k[:], nil, []byte("hearth/epoch-0/v1"))
	var b [32]byte
	r.Read(b[:])
	return log.NewKey(b)
}

// announceTopic is what peers put in the DHT to find each other for a
// room: a hash of the discovery key, so even the DHT never sees the
// discovery key itself.
func AnnounceTopic(d log.Discovery) [32]byte {
	h := sha256.New()
	h.Write([]byte("hearth/announce/v1\x00"))
	h.Write(d[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}
