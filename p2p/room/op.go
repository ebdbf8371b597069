package room

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
)

// Limits of entries. Each is checked when an entry is decoded, before it
// is applied.
const (
	// MaxChatLen bounds a message's text in bytes.
	MaxChatLen = 16 << 10
	// MaxNameLen bounds a room name.
	MaxNameLen = 128
	// MaxEmojiLen bounds a reaction.
	MaxEmojiLen = 32
	// MaxRoomDevices bounds the devices of a room: the dependencies of an
	// entry and the keys of an epoch rotation.
	MaxRoomDevices = 1024
	// maxBlobLen bounds an embedded proof, record, revocation or fork
	// proof.
	maxBlobLen = 4096
	// maxSealedKey bounds one sealed epoch key (32 bytes plus HPKE).
	maxSealedKey = 32 + identity.SealOverhead + 64
)

// OpType says what an entry does.
type OpType uint8

// Operations. The numbers are part of the format.
const (
	OpGenesis      OpType = 1  // the room's first entry: name and the founder's device
	OpHello        OpType = 2  // a device's first entry: its proof and sealing key
	OpMessage      OpType = 3  // Text, optionally replying to Target
	OpEdit         OpType = 4  // new Text for Target
	OpDelete       OpType = 5  // delete Target for everyone
	OpReact        OpType = 6  // Emoji on Target, or remove it
	OpAddMember    OpType = 7  // Identity joins with Role, through Invite if set
	OpRemoveMember OpType = 8  // Identity leaves, removed
	OpSetRole      OpType = 9  // Identity gets Role
	OpInvite       OpType = 10 // a new invite: Invite, Seed, Expires, Uses, Role
	OpRotate       OpType = 11 // a new epoch: its key sealed to each device
	OpLeave        OpType = 12 // the writer's identity leaves
	OpRevoke       OpType = 13 // Blob is a revocation signed by an identity key
	OpFork         OpType = 14 // Blob is a fork proof of some device's log
	OpMirror       OpType = 15 // Name is a mirror's peer id, Text its addresses (space-separated); Remove takes it off
	OpFile         OpType = 16 // Blob is a file's manifest (package blob), Text a caption
	OpCall         OpType = 17 // a call of the room: Call, CallEvent, Duration
	OpDoor         OpType = 18 // a doorphone's event: DoorEvent, Call, Identity, Text; Blob a picture or clip's manifest (may be empty)
	OpKeys         OpType = 19 // an epoch's key (KeyID names it) sealed to devices that were not given it
	OpSetDoor      OpType = 20 // an admin makes device Identity a doorphone of the room (Text its name), or takes it off (Remove)
	OpPush         OpType = 21 // the writing device's Web Push subscription: Text its push service URL, Blob its keys (p256dh, then auth); Remove drops it
	OpVAPID        OpType = 22 // an admin sets the room's Web Push sender key (VAPID, RFC 8292): Blob its P-256 private scalar
	opMax                 = OpVAPID
)

// Web Push: the sizes of a subscription's keys (RFC 8291: an uncompressed
// P-256 point and a 16-byte secret), of the room's VAPID private key, and
// the longest push service URL.
const (
	PushKeysLen   = 65 + 16
	VAPIDKeyLen   = 32
	MaxPushURLLen = 1024
)

var opNames = map[OpType]string{
	OpGenesis: "genesis", OpHello: "hello", OpMessage: "message", OpEdit: "edit", OpDelete: "delete",
	OpReact: "react", OpAddMember: "add-member", OpRemoveMember: "remove-member", OpSetRole: "set-role",
	OpInvite: "invite", OpRotate: "rotate", OpLeave: "leave", OpRevoke: "revoke", OpFork: "fork", OpMirror: "mirror", OpFile: "file", OpCall: "call", OpDoor: "door", OpKeys: "keys",
	OpSetDoor: "set-door", OpPush: "push", OpVAPID: "vapid",
}

func (t OpType) String() string {
	if n, ok := opNames[t]; ok {
		return n
	}
	return "op(" + strconv.Itoa(int(t)) + ")"
}

// Role of a member.
type Role uint8

// Roles, least powerful first.
const (
	RoleMember    Role = 1
	RoleModerator Role = 2
	RoleAdmin     Role = 3
)

func (r Role) String() string {
	switch r {
	case RoleMember:
		return "member"
	case RoleModerator:
		return "moderator"
	case RoleAdmin:
		return "admin"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// ParseRole reads "admin", "moderator" or "member".
func ParseRole(s string) (Role, error) {
	switch s {
	case "member":
		return RoleMember, nil
	case "moderator":
		return RoleModerator, nil
	case "admin":
		return RoleAdmin, nil
	}
	return 0, fmt.Errorf("role %q: want admin, moderator or member", s)
}

// Ref names one entry: a writer's device and a position in its log.
type Ref struct {
	Writer identity.PublicKey
	Seq    uint64
}

// String is the message id users see: 16 hex digits of the device, a dash
// and the position.
func (r Ref) String() string {
	return hex.EncodeToString(r.Writer[:8]) + "-" + strconv.FormatUint(r.Seq, 10)
}

// ParseRefPrefix splits a message id into the device prefix and position.
func ParseRefPrefix(s string) (prefix []byte, seq uint64, err error) {
	p, q, ok := strings.Cut(s, "-")
	if !ok || len(p) != 16 {
		return nil, 0, fmt.Errorf("message id %q: want 16 hex digits, a dash and a number", s)
	}
	prefix, err = hex.DecodeString(p)
	if err != nil {
		return nil, 0, fmt.Errorf("message id %q: not hex", s)
	}
	seq, err = strconv.ParseUint(q, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("message id %q: bad position", s)
	}
	return prefix, seq, nil
}

// Dep says an entry was written after the first Length entries of
// Writer's log.
type Dep struct {
	Writer identity.PublicKey
	Length uint64
}

// InviteID names an invite.
type InviteID [16]byte

func (i InviteID) String() string { return hex.EncodeToString(i[:]) }

// SealedKey is an epoch key sealed to one device's sealing key.
type SealedKey struct {
	Device identity.PublicKey
	Sealed []byte
}

// Secret32 is 32 secret bytes inside an entry (an invite seed). It never
// prints itself.
type Secret32 struct{ b [32]byte }

// Bytes returns the secret.
func (s Secret32) Bytes() [32]byte { return s.b }

func (Secret32) String() string   { return "Secret(redacted)" }
func (Secret32) GoString() string { return "Secret(redacted)" }

// Entry is the plaintext of one block: what the writer had seen, when it
// wrote (its own clock, for display only: order never depends on it) and
// one operation.
type Entry struct {
	Deps []Dep
	Time int64 // unix milliseconds
	Op   Op

	version byte // as read (ParseEntry); zero: entryVersion
}

// Op is one operation; Type says which fields count.
type Op struct {
	Type      OpType
	Name      string             // genesis
	Text      string             // message, edit
	Emoji     string             // react
	Remove    bool               // react: take the reaction back
	Target    Ref                // edit, delete, react; reply when HasReply
	HasReply  bool               // message: Target is the message replied to
	Identity  identity.PublicKey // add-member, remove-member, set-role; set-door: the door's device
	Role      Role               // add-member, set-role, invite
	Invite    InviteID           // add-member (zero: added directly), invite
	Seed      Secret32           // invite
	Expires   int64              // invite: unix milliseconds
	Uses      uint64             // invite: how many may join with it
	Approve   bool               // invite: an admin approves each request by hand
	Epoch     uint64             // rotate, keys
	Keys      []SealedKey        // rotate, keys
	KeyID     [32]byte           // rotate, keys: names the key (KeyIDOf); zero in entries of version 1
	Proof     []byte             // genesis, hello: the device proof
	Record    []byte             // genesis, hello: the device record
	Blob      []byte             // revoke, fork, file, door, push, vapid
	Call      [16]byte           // call: its id
	CallEvent CallEvent          // call: what happened
	Duration  uint64             // call: how long it was answered, in milliseconds (ended)
	DoorEvent DoorEvent          // door: what happened
}

// DoorEvent is what a doorphone's entry records.
type DoorEvent byte

// Door events. The numbers are part of the format.
const (
	DoorRing          DoorEvent = 1 // the button was pressed: Blob a snapshot, Call the call rung
	DoorMissed        DoorEvent = 2 // nobody answered Call: Blob a short clip
	DoorUnlocked      DoorEvent = 3 // Identity unlocked the door (Text: from which device)
	DoorUnlockRefused DoorEvent = 4 // Identity's unlock was refused: Text says why
	DoorMotion        DoorEvent = 5 // movement in front of the door: Blob a snapshot
	DoorPairing       DoorEvent = 6 // pairing mode on (Text: until when) or off (Text empty)
	doorEventMax                = DoorPairing
)

func (e DoorEvent) String() string {
	switch e {
	case DoorRing:
		return "ring"
	case DoorMissed:
		return "missed"
	case DoorUnlocked:
		return "unlocked"
	case DoorUnlockRefused:
		return "unlock refused"
	case DoorMotion:
		return "motion"
	case DoorPairing:
		return "pairing"
	}
	return "door(" + strconv.Itoa(int(e)) + ")"
}

// CallEvent is what a call entry records.
type CallEvent byte

// Call events, written by the caller's device.
const (
	CallStarted  CallEvent = 1 // answered
	CallEnded    CallEvent = 2 // hung up after Duration
	CallMissed   CallEvent = 3 // nobody answered
	CallDeclined CallEvent = 4 // everyone rung said no
	callEventMax           = CallDeclined
)

var callEventNames = [...]string{"", "started", "ended", "missed", "declined"}

func (e CallEvent) String() string {
	if e == 0 || e > callEventMax {
		return fmt.Sprintf("call-event(%d)", byte(e))
	}
	return callEventNames[e]
}

// entryVersion is the version entries are written in. Version 1 (read
// still) had no KeyID in rotations.
const entryVersion = 2

// maxCallDuration bounds a call entry's duration: a year.
const maxCallDuration = 365 * 24 * 3600 * 1000

// ErrEntryMalformed means an entry could not be decoded.
var ErrEntryMalformed = errors.New("malformed entry")

// MarshalBinary encodes the entry.
func (e *Entry) MarshalBinary() ([]byte, error) {
	if len(e.Deps) > MaxRoomDevices {
		return nil, fmt.Errorf("entry with %d dependencies, at most %d", len(e.Deps), MaxRoomDevices)
	}
	if err := e.Op.check(); err != nil {
		return nil, err
	}
	version := e.version
	if version == 0 {
		version = entryVersion
	}
	if version == 1 && e.Op.Type == OpKeys {
		return nil, fmt.Errorf("%w: keys in an entry of version 1", ErrEntryMalformed)
	}
	w := wire.Encoder{B: make([]byte, 0, 64+len(e.Deps)*40+len(e.Op.Text))}
	w.U8(version)
	w.Uint(uint64(e.Time))
	w.Uint(uint64(len(e.Deps)))
	for _, d := range e.Deps {
		w.Fixed(d.Writer[:])
		w.Uint(d.Length)
	}
	o := &e.Op
	w.U8(byte(o.Type))
	ref := func(r Ref) { w.Fixed(r.Writer[:]); w.Uint(r.Seq) }
	switch o.Type {
	case OpGenesis:
		w.String(o.Name)
		w.Bytes(o.Proof)
		w.Bytes(o.Record)
	case OpHello:
		w.Bytes(o.Proof)
		w.Bytes(o.Record)
	case OpMessage:
		w.String(o.Text)
		w.Bool(o.HasReply)
		if o.HasReply {
			ref(o.Target)
		}
	case OpEdit:
		ref(o.Target)
		w.String(o.Text)
	case OpDelete:
		ref(o.Target)
	case OpReact:
		ref(o.Target)
		w.String(o.Emoji)
		w.Bool(o.Remove)
	case OpAddMember:
		w.Fixed(o.Identity[:])
		w.U8(byte(o.Role))
		w.Fixed(o.Invite[:])
	case OpRemoveMember:
		w.Fixed(o.Identity[:])
	case OpSetRole:
		w.Fixed(o.Identity[:])
		w.U8(byte(o.Role))
	case OpInvite:
		w.Fixed(o.Invite[:])
		w.Fixed(o.Seed.b[:])
		w.Uint(uint64(o.Expires))
		w.Uint(o.Uses)
		w.U8(byte(o.Role))
		w.Bool(o.Approve)
	case OpRotate, OpKeys:
		w.Uint(o.Epoch)
		w.Uint(uint64(len(o.Keys)))
		for _, k := range o.Keys {
			w.Fixed(k.Device[:])
			w.Bytes(k.Sealed)
		}
		if version > 1 {
			w.Fixed(o.KeyID[:])
		}
	case OpLeave:
	case OpRevoke, OpFork:
		w.Bytes(o.Blob)
	case OpMirror:
		w.String(o.Name)
		w.String(o.Text)
		w.Bool(o.Remove)
	case OpFile:
		w.Bytes(o.Blob)
		w.String(o.Text)
	case OpCall:
		w.Fixed(o.Call[:])
		w.U8(byte(o.CallEvent))
		w.Uint(o.Duration)
	case OpDoor:
		w.U8(byte(o.DoorEvent))
		w.Fixed(o.Call[:])
		w.Fixed(o.Identity[:])
		w.String(o.Text)
		w.Bytes(o.Blob)
	case OpSetDoor:
		w.Fixed(o.Identity[:])
		w.String(o.Text)
		w.Bool(o.Remove)
	case OpPush:
		w.String(o.Text)
		w.Bytes(o.Blob)
		w.Bool(o.Remove)
	case OpVAPID:
		w.Bytes(o.Blob)
	}
	return w.B, nil
}

func (o *Op) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrEntryMalformed, o.Type, fmt.Sprintf(format, a...))
	}
	switch {
	case o.Type == 0 || o.Type > opMax:
		return bad("unknown operation")
	case len(o.Name) > MaxNameLen || !utf8.ValidString(o.Name):
		return bad("name of %d bytes", len(o.Name))
	case len(o.Text) > MaxChatLen || !utf8.ValidString(o.Text):
		return bad("text of %d bytes (at most %d, UTF-8)", len(o.Text), MaxChatLen)
	case len(o.Emoji) > MaxEmojiLen || !utf8.ValidString(o.Emoji):
		return bad("reaction of %d bytes", len(o.Emoji))
	case (o.Type == OpAddMember || o.Type == OpSetRole || o.Type == OpInvite) && (o.Role < RoleMember || o.Role > RoleAdmin):
		return bad("bad role %d", o.Role)
	case len(o.Keys) > MaxRoomDevices:
		return bad("%d keys", len(o.Keys))
	case o.Type == OpKeys && (len(o.Keys) == 0 || o.Epoch == 0):
		return bad("no keys, or keys of epoch 0")
	case o.Type == OpReact && o.Emoji == "":
		return bad("empty reaction")
	case o.Type == OpMessage && o.Text == "":
		return bad("empty message")
	case o.Type == OpMirror && o.Name == "":
		return bad("mirror without a peer id")
	case o.Type == OpFile && len(o.Blob) == 0:
		return bad("file without a manifest")
	case o.Type == OpCall && (o.CallEvent == 0 || o.CallEvent > callEventMax):
		return bad("unknown call event %d", o.CallEvent)
	case o.Type == OpDoor && (o.DoorEvent == 0 || o.DoorEvent > doorEventMax):
		return bad("unknown door event %d", o.DoorEvent)
	case o.Type == OpSetDoor && (o.Identity == identity.PublicKey{} || len(o.Text) > MaxNameLen):
		return bad("no device, or a name of %d bytes", len(o.Text))
	case o.Type == OpPush && !o.Remove && (o.Text == "" || len(o.Text) > MaxPushURLLen || len(o.Blob) != PushKeysLen):
		return bad("a subscription needs its URL (at most %d bytes) and %d bytes of keys", MaxPushURLLen, PushKeysLen)
	case o.Type == OpPush && o.Remove && (o.Text != "" || len(o.Blob) != 0):
		return bad("a removal carries no subscription")
	case o.Type == OpVAPID && len(o.Blob) != VAPIDKeyLen:
		return bad("a key of %d bytes, want %d", len(o.Blob), VAPIDKeyLen)
	case o.Duration > maxCallDuration:
		return bad("a call of %d ms", o.Duration)
	case o.Expires < 0:
		return bad("negative expiry")
	}
	return nil
}

// ParseEntry decodes an entry, checking every limit.
func ParseEntry(b []byte) (*Entry, error) {
	e := new(Entry)
	if err := e.parse(b); err != nil {
		return nil, err
	}
	return e, nil
}

// parse is ParseEntry into e. On error e is left zero.
func (e *Entry) parse(b []byte) error {
	*e = Entry{}
	if err := e.parseAll(b); err != nil {
		*e = Entry{}
		return err
	}
	return nil
}

func (e *Entry) parseAll(b []byte) error {
	d := wire.NewDecoder(b)
	version := d.U8()
	if d.Err() == nil && version != entryVersion && version != 1 {
		return fmt.Errorf("%w: version %d", ErrEntryMalformed, version)
	}
	e.version = version
	t := d.Uint()
	if t > 1<<62 {
		d.Fail(errors.New("time out of range"))
	}
	e.Time = int64(t)
	n := d.Count(MaxRoomDevices)
	if n > 0 {
		e.Deps = make([]Dep, n)
		for i := range e.Deps {
			d.Fixed(e.Deps[i].Writer[:])
			e.Deps[i].Length = d.Uint()
		}
	}
	o := &e.Op
	o.Type = OpType(d.U8())
	ref := func(r *Ref) { d.Fixed(r.Writer[:]); r.Seq = d.Uint() }
	switch o.Type {
	case OpGenesis:
		o.Name = d.String(MaxNameLen)
		o.Proof = d.Bytes(maxBlobLen)
		o.Record = d.Bytes(maxBlobLen)
	case OpHello:
		o.Proof = d.Bytes(maxBlobLen)
		o.Record = d.Bytes(maxBlobLen)
	case OpMessage:
		o.Text = d.String(MaxChatLen)
		if o.HasReply = d.Bool(); o.HasReply {
			ref(&o.Target)
		}
	case OpEdit:
		ref(&o.Target)
		o.Text = d.String(MaxChatLen)
	case OpDelete:
		ref(&o.Target)
	case OpReact:
		ref(&o.Target)
		o.Emoji = d.String(MaxEmojiLen)
		o.Remove = d.Bool()
	case OpAddMember:
		d.Fixed(o.Identity[:])
		o.Role = Role(d.U8())
		d.Fixed(o.Invite[:])
	case OpRemoveMember:
		d.Fixed(o.Identity[:])
	case OpSetRole:
		d.Fixed(o.Identity[:])
		o.Role = Role(d.U8())
	case OpInvite:
		d.Fixed(o.Invite[:])
		d.Fixed(o.Seed.b[:])
		x := d.Uint()
		if x > 1<<62 {
			d.Fail(errors.New("expiry out of range"))
		}
		o.Expires = int64(x)
		o.Uses = d.Uint()
		o.Role = Role(d.U8())
		o.Approve = d.Bool()
	case OpRotate, OpKeys:
		if o.Type == OpKeys && version == 1 {
			d.Fail(errors.New("keys in an entry of version 1"))
		}
		o.Epoch = d.Uint()
		n := d.Count(MaxRoomDevices)
		if n > 0 {
			o.Keys = make([]SealedKey, n)
			for i := range o.Keys {
				d.Fixed(o.Keys[i].Device[:])
				o.Keys[i].Sealed = d.Bytes(maxSealedKey)
			}
		}
		if version > 1 {
			d.Fixed(o.KeyID[:])
		}
	case OpLeave:
	case OpRevoke, OpFork:
		o.Blob = d.Bytes(maxBlobLen)
	case OpMirror:
		o.Name = d.String(MaxNameLen)
		o.Text = d.String(MaxChatLen)
		o.Remove = d.Bool()
	case OpFile:
		o.Blob = d.Bytes(maxBlobLen)
		o.Text = d.String(MaxChatLen)
	case OpCall:
		d.Fixed(o.Call[:])
		o.CallEvent = CallEvent(d.U8())
		o.Duration = d.Uint()
	case OpDoor:
		o.DoorEvent = DoorEvent(d.U8())
		d.Fixed(o.Call[:])
		d.Fixed(o.Identity[:])
		o.Text = d.String(MaxChatLen)
		o.Blob = d.Bytes(maxBlobLen)
	case OpSetDoor:
		d.Fixed(o.Identity[:])
		o.Text = d.String(MaxNameLen)
		o.Remove = d.Bool()
	case OpPush:
		o.Text = d.String(MaxPushURLLen)
		o.Blob = d.Bytes(PushKeysLen)
		o.Remove = d.Bool()
	case OpVAPID:
		o.Blob = d.Bytes(VAPIDKeyLen)
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("%w: %v", ErrEntryMalformed, err)
	}
	return o.check()
}

// SecretFrom wraps 32 secret bytes (an invite seed) for an entry.
func SecretFrom(b [32]byte) Secret32 { return Secret32{b: b} }
