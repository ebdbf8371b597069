package room

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

// Member is one identity of the room.
type Member struct {
	Identity identity.PublicKey
	Role     Role
	Added    Ref      // the entry that added it (the genesis for the founder)
	Invite   InviteID // the invite it was added through (zero: added directly)
}

// Device is one device that has written to the room.
type Device struct {
	Device   identity.PublicKey
	Identity identity.PublicKey
	Name     string
	Sealing  identity.SealingPublicKey
	Revoked  bool
	Forked   bool
	// Superseded: its identity was restored from its phrase since it was
	// attested (a device of a newer identity epoch said hello); Revoked
	// is set too.
	Superseded bool
	// Epoch is the identity epoch of its proof.
	Epoch uint64

	helloEpoch uint64   // the epoch its hello was sealed in
	helloKey   [32]byte // and the key
	// chain lists the devices of its proof, from the one the identity
	// attested to this one: a revocation of any of them is its own.
	chain []identity.PublicKey
}

// Message is a chat message as the room sees it now.
type Message struct {
	ID        Ref
	Author    identity.PublicKey // identity
	Device    identity.PublicKey
	Text      string
	ReplyTo   *Ref
	Edited    bool
	Deleted   bool
	Time      int64 // author's clock, unix milliseconds
	Reactions map[string][]identity.PublicKey
	// File is set for a file message: its manifest (the key included).
	File *chunk.Manifest
	// Call is set for a call entry.
	Call *CallInfo
	// Door is set for a doorphone's entry (File, for its picture or
	// clip).
	Door *DoorInfo
}

// DoorInfo is a doorphone's event as the room records it.
type DoorInfo struct {
	Event    DoorEvent
	Call     [16]byte
	Identity identity.PublicKey // who unlocked, or was refused
	Text     string
}

// CallInfo is a call as the room records it.
type CallInfo struct {
	ID       [16]byte
	Event    CallEvent
	Duration uint64 // milliseconds, for an ended call
}

// Invite is an invite the room knows.
type Invite struct {
	ID      InviteID
	Seed    Secret32
	Expires int64 // unix milliseconds; 0: never
	Uses    uint64
	Used    uint64
	Role    Role
	By      identity.PublicKey
	Approve bool // an admin approves each request by hand
}

// Rejection records an operation the view refused, and why.
type Rejection struct {
	Ref    Ref
	Op     OpType
	Reason string
}

// View is the state every member computes from the same entries in the
// same order. It is rebuilt from scratch when an entry arrives late. Its
// messages and refusals are rows of the room's store (viewdb.go), read
// through the room (query.go); the rest is here.
type View struct {
	Name      string
	Founder   identity.PublicKey
	Discovery log.Discovery
	Members   map[identity.PublicKey]*Member
	Devices   map[identity.PublicKey]*Device
	Invites   map[InviteID]*Invite
	Mirrors   map[string]*Mirror // by peer id
	// Doors are the devices the room's admins made its doorphones: only
	// they write door entries.
	Doors map[identity.PublicKey]*Door
	// Push holds each device's Web Push subscription (set by the device
	// itself); VAPID is the room's Web Push sender key, which an admin
	// set (nil: none). Only a member device's subscription counts
	// (View.PushOf).
	Push       map[identity.PublicKey]*PushSub
	VAPID      []byte
	VAPIDBy    Ref
	Epoch      uint64
	EpochRef   Ref      // the rotation that started Epoch
	EpochKeyID [32]byte // its key's name (KeyIDOf); zero for a rotation of version 1
	// Count is the number of messages the room shows.
	Count int

	// epochKeys names the keys of each epoch that accepted rotations
	// carried: the one that started it, and any concurrent with it.
	epochKeys map[uint64][][32]byte
	// keyHolders lists, per key, the devices it was sealed to.
	keyHolders map[[32]byte]map[identity.PublicKey]bool

	// Former names the identities removed or gone, with the entry that
	// excluded them, until they are added again.
	Former map[identity.PublicKey]Ref
	// Revoked and Forked name the devices revoked, or proven to have
	// signed two histories of their log, with the entry that said so.
	Revoked map[identity.PublicKey]Ref
	Forked  map[identity.PublicKey]Ref
	// IdentityEpochs holds the newest identity epoch of each identity
	// that a member device's hello showed: devices of older epochs are
	// superseded.
	IdentityEpochs map[identity.PublicKey]uint64
	// Revocations holds each revoked device's revocation, signed by its
	// identity, to hand on to those who check proofs (mirrors).
	Revocations map[identity.PublicKey][]byte

	c            *content // where messages and refusals go
	rotateNeeded bool
	rotateBy     identity.PublicKey // who caused the pending rotation
	applied      int

	// Authority (authority.go).
	dag            dag
	pre            map[Ref]*exclusion // registered from the start of the pass
	void           map[Ref]bool       // excluding entries refused (authority.go)
	active         map[Ref]*exclusion
	exclByIdentity map[identity.PublicKey][]*exclusion
	exclByDevice   map[identity.PublicKey][]*exclusion
	lifted         map[*exclusion][]Ref // the additions that lifted an exclusion
	violations     []*exclusion
	acceptedExcl   map[Ref]bool
	accepted       map[identity.PublicKey]uint64 // per device: 1 + the last entry accepted (hellos aside)
	privileged     map[identity.PublicKey]uint64 // likewise, of entries that needed more than a member's role
}

func newView(founder identity.PublicKey, disc log.Discovery, d dag, c *content, pre map[Ref]*exclusion) *View {
	v := &View{
		Founder:        founder,
		Discovery:      disc,
		Members:        map[identity.PublicKey]*Member{},
		Devices:        map[identity.PublicKey]*Device{},
		Invites:        map[InviteID]*Invite{},
		Mirrors:        map[string]*Mirror{},
		Doors:          map[identity.PublicKey]*Door{},
		Push:           map[identity.PublicKey]*PushSub{},
		Former:         map[identity.PublicKey]Ref{},
		Revoked:        map[identity.PublicKey]Ref{},
		Revocations:    map[identity.PublicKey][]byte{},
		IdentityEpochs: map[identity.PublicKey]uint64{},
		Forked:         map[identity.PublicKey]Ref{},
		epochKeys:      map[uint64][][32]byte{},
		keyHolders:     map[[32]byte]map[identity.PublicKey]bool{},
		c:              c,
		dag:            d,
		pre:            pre,
		active:         map[Ref]*exclusion{},
		exclByIdentity: map[identity.PublicKey][]*exclusion{},
		exclByDevice:   map[identity.PublicKey][]*exclusion{},
		lifted:         map[*exclusion][]Ref{},
		acceptedExcl:   map[Ref]bool{},
		accepted:       map[identity.PublicKey]uint64{},
		privileged:     map[identity.PublicKey]uint64{},
	}
	for _, x := range sortedExclusions(pre) {
		v.register(x, false)
	}
	return v
}

// Mirror is a mirror the room names: members keep it up to date and fetch
// from it.
type Mirror struct {
	PeerID  string
	Addrs   []string
	AddedBy identity.PublicKey
}

// Door is a device the room's admins made a doorphone.
type Door struct {
	Device identity.PublicKey
	Name   string
	By     Ref // the entry that made it one
}

// Door reports whether dev is a doorphone of the room now: made one by an
// admin, and neither revoked nor forked, its identity still a member.
func (v *View) Door(dev identity.PublicKey) (*Door, bool) {
	d, ok := v.Doors[dev]
	if !ok {
		return nil, false
	}
	if _, ok := v.MemberDevice(dev); !ok {
		return nil, false
	}
	return d, true
}

// PushSub is a device's Web Push subscription (RFC 8030): where its push
// service takes messages for it, and the keys they are encrypted to (RFC
// 8291).
type PushSub struct {
	Device   identity.PublicKey
	Endpoint string
	P256DH   []byte // 65 bytes: an uncompressed P-256 point
	Auth     []byte // 16 bytes
	By       Ref
}

// PushOf returns dev's Web Push subscription if dev is a device of a
// member now and gave one.
func (v *View) PushOf(dev identity.PublicKey) (*PushSub, bool) {
	s, ok := v.Push[dev]
	if !ok {
		return nil, false
	}
	if _, ok := v.MemberDevice(dev); !ok {
		return nil, false
	}
	return s, true
}

// MemberDevice reports whether dev is a device of a member now: known to
// the room, neither revoked nor forked, its identity still a member.
func (v *View) MemberDevice(dev identity.PublicKey) (*Device, bool) {
	info, ok := v.Devices[dev]
	if !ok || info.Revoked || info.Forked {
		return nil, false
	}
	if _, member := v.Members[info.Identity]; !member {
		return nil, false
	}
	return info, true
}

// Role returns an identity's role, or 0 if it is not a member.
func (v *View) Role(id identity.PublicKey) Role {
	if m, ok := v.Members[id]; ok {
		return m.Role
	}
	return 0
}

var errNoGenesis = errors.New("no genesis yet")

// apply applies one entry written by writer at position ref. It returns
// the reason it refused the entry, or nil. View.checkWriter judges the
// writer, an applier the operation.
func (v *View) apply(ref Ref, clock uint64, e *Entry, epoch uint64, keyID [32]byte) error {
	v.applied++
	o := &e.Op
	if o.Type == OpGenesis {
		return v.genesis(ref, o)
	}
	if v.Name == "" {
		return errNoGenesis
	}
	if o.Type == OpHello {
		return v.hello(ref, o, epoch, keyID)
	}
	author, role, err := v.checkWriter(ref, epoch, keyID)
	if err != nil {
		return err
	}
	a := applier{v: v, ref: ref, ok: orderKey(clock, ref), e: e, o: o, author: author, role: role}
	privileged, err := a.apply()
	if err != nil {
		return err
	}
	v.accepted[ref.Writer] = ref.Seq + 1
	if privileged {
		v.privileged[ref.Writer] = ref.Seq + 1
	}
	return nil
}

// checkWriter checks that the device that wrote the entry at ref, sealed under
// the key keyID of epoch, may write at all: it said hello, is neither
// revoked nor forked, its identity is a member, it was given that key,
// the entry is not one an exclusion it had not seen takes away entirely,
// and it is not a void exclusion. It returns the identity the device
// writes for and the role the entry acts with.
func (v *View) checkWriter(ref Ref, epoch uint64, keyID [32]byte) (identity.PublicKey, Role, error) {
	dev, ok := v.Devices[ref.Writer]
	switch {
	case !ok:
		return identity.PublicKey{}, 0, errors.New("device never said hello")
	case dev.Revoked:
		return identity.PublicKey{}, 0, errors.New("device revoked")
	case dev.Forked:
		return identity.PublicKey{}, 0, errors.New("device forked its log")
	}
	author := dev.Identity
	me, ok := v.Members[author]
	if !ok {
		return identity.PublicKey{}, 0, errors.New("author is not a member")
	}
	if !v.given(dev, epoch, keyID) {
		return identity.PublicKey{}, 0, errors.New("sealed under an epoch key its device was never given")
	}
	role := v.capOf(ref, author, me.Role)
	if role == 0 {
		return identity.PublicKey{}, 0, errors.New("written after its writer was excluded, without knowing of it")
	}
	if v.void[ref] {
		return identity.PublicKey{}, 0, errors.New("an exclusion that rests on entries it excludes")
	}
	return author, role, nil
}

// applier applies the operation of one entry to a view, once
// View.checkWriter has let its writer write. Its methods, one per operation
// type, each enforce that operation's rule and say whether the entry
// needed more than a member's role (privileged: View.register weighs a
// demotion against such entries). A refused operation changes nothing.
//
// The operations are methods of applier rather than of View so that View
// keeps the methods a reader of its state needs, and so that each
// operation sees the entry it applies without a long parameter list.
type applier struct {
	v      *View
	ref    Ref    // where the entry sits
	ok     []byte // and its order key
	e      *Entry // the entry
	o      *Op    // its operation, &e.Op
	author identity.PublicKey
	role   Role // the role the entry acts with (View.capOf)
}

// refuse is an operation's refusal: the entry is not applied.
func refuse(why string) (bool, error) { return false, errors.New(why) }

// apply dispatches the entry's operation to the method that applies it.
func (a *applier) apply() (privileged bool, err error) {
	switch a.o.Type {
	case OpMessage:
		return a.message()
	case OpFile:
		return a.file()
	case OpCall:
		return a.call()
	case OpDoor:
		return a.door()
	case OpEdit:
		return a.edit()
	case OpDelete:
		return a.delete()
	case OpReact:
		return a.react()
	case OpAddMember:
		return a.addMember()
	case OpRemoveMember:
		return a.removeMember()
	case OpSetRole:
		return a.setRole()
	case OpInvite:
		return a.invite()
	case OpRotate:
		return a.rotate()
	case OpKeys:
		return a.keys()
	case OpLeave:
		return a.leave()
	case OpRevoke:
		return a.revoke()
	case OpFork:
		return a.fork()
	case OpMirror:
		return a.mirror()
	case OpSetDoor:
		return a.setDoor()
	case OpPush:
		return a.push()
	case OpVAPID:
		return a.vapid()
	}
	return false, fmt.Errorf("unexpected %s", a.o.Type)
}

// post adds a new message, named by the entry's position.
func (a *applier) post(m *Message) {
	a.v.c.post(a.ok, m)
	a.v.Count++
}

// message posts a chat message: any member may.
func (a *applier) message() (bool, error) {
	o := a.o
	m := &Message{ID: a.ref, Author: a.author, Device: a.ref.Writer, Text: o.Text, Time: a.e.Time}
	if o.HasReply {
		r := o.Target
		m.ReplyTo = &r
	}
	a.post(m)
	return false, nil
}

// file posts a file message: any member may, with a manifest that parses.
func (a *applier) file() (bool, error) {
	o := a.o
	fm, err := chunk.ParseManifest(o.Blob)
	if err != nil {
		return false, err
	}
	a.post(&Message{ID: a.ref, Author: a.author, Device: a.ref.Writer, Text: o.Text, Time: a.e.Time, File: fm})
	return false, nil
}

// call posts a call's entry: any member may.
func (a *applier) call() (bool, error) {
	o := a.o
	a.post(&Message{ID: a.ref, Author: a.author, Device: a.ref.Writer, Time: a.e.Time, Call: &CallInfo{ID: o.Call, Event: o.CallEvent, Duration: o.Duration}})
	return false, nil
}

// door posts a doorphone's entry: only a device the room's admins made a
// door (and that is one still, View.Door) writes them; a picture or clip
// needs a manifest that parses.
func (a *applier) door() (bool, error) {
	o := a.o
	if _, ok := a.v.Door(a.ref.Writer); !ok {
		return refuse("a door entry from a device the room's admins did not make a door")
	}
	m := &Message{ID: a.ref, Author: a.author, Device: a.ref.Writer, Time: a.e.Time, Door: &DoorInfo{Event: o.DoorEvent, Call: o.Call, Identity: o.Identity, Text: o.Text}}
	if len(o.Blob) > 0 {
		fm, err := chunk.ParseManifest(o.Blob)
		if err != nil {
			return false, err
		}
		m.File = fm
	}
	a.post(m)
	return false, nil
}

// edit changes a message's text: only its author's devices may, and not
// once it is deleted.
func (a *applier) edit() (bool, error) {
	m, k, row, ok := a.v.c.message(a.o.Target)
	switch {
	case !ok:
		return refuse("edit of an unknown message")
	case m.Author != a.author:
		return refuse("only the author's devices may edit")
	case m.Deleted:
		return refuse("message deleted")
	}
	m.Text, m.Edited = a.o.Text, true
	a.v.c.change(a.ok, k, row, m)
	return false, nil
}

// delete blanks a message and its reactions: its author may, and
// moderators and admins may delete anyone's (privileged).
func (a *applier) delete() (bool, error) {
	m, k, row, ok := a.v.c.message(a.o.Target)
	switch {
	case !ok:
		return refuse("delete of an unknown message")
	case m.Author != a.author && a.role < RoleModerator:
		return refuse("only the author, moderators and admins may delete")
	}
	privileged := m.Author != a.author
	m.Text, m.Deleted, m.Reactions = "", true, nil
	a.v.c.change(a.ok, k, row, m)
	return privileged, nil
}

// react adds or takes back the author's reaction to a message: any member
// may, to a message neither unknown nor deleted. Reactors are kept sorted,
// each once.
func (a *applier) react() (bool, error) {
	o, author := a.o, a.author
	m, k, row, ok := a.v.c.message(o.Target)
	if !ok || m.Deleted {
		return refuse("reaction to an unknown or deleted message")
	}
	if m.Reactions == nil {
		m.Reactions = map[string][]identity.PublicKey{}
	}
	who := m.Reactions[o.Emoji]
	i := slices.IndexFunc(who, func(k identity.PublicKey) bool { return k == author })
	switch {
	case o.Remove && i >= 0:
		who = slices.Delete(who, i, i+1)
	case !o.Remove && i < 0:
		who = append(who, author)
		slices.SortFunc(who, func(x, y identity.PublicKey) int { return bytes.Compare(x[:], y[:]) })
	}
	if len(who) == 0 {
		delete(m.Reactions, o.Emoji)
	} else {
		m.Reactions[o.Emoji] = who
	}
	if len(m.Reactions) == 0 {
		m.Reactions = nil
	}
	a.v.c.change(a.ok, k, row, m)
	return false, nil
}

// addMember adds an identity (privileged): only admins may, not one
// already a member, not one whose removal the entry had not seen
// (re-admission lifts only exclusions it has seen), and through an invite
// only while it is known, unexpired and not used up, with a role no
// higher than the invite's (which counts a use).
func (a *applier) addMember() (bool, error) {
	v, o := a.v, a.o
	if a.role < RoleAdmin {
		return refuse("only admins add members")
	}
	if _, ok := v.Members[o.Identity]; ok {
		return refuse("already a member")
	}
	if v.unseenExclusion(a.ref, o.Identity) {
		return refuse("adds back an identity whose removal it had not seen")
	}
	if o.Invite != (InviteID{}) {
		inv, ok := v.Invites[o.Invite]
		switch {
		case !ok:
			return refuse("unknown invite")
		case inv.Expires > 0 && a.e.Time > inv.Expires:
			return refuse("invite expired")
		case inv.Uses > 0 && inv.Used >= inv.Uses:
			return refuse("invite used up")
		case o.Role > inv.Role:
			return refuse("role above the invite's")
		}
		inv.Used++
	}
	v.Members[o.Identity] = &Member{Identity: o.Identity, Role: o.Role, Added: a.ref, Invite: o.Invite}
	delete(v.Former, o.Identity)
	v.readmit(a.ref, o.Identity)
	return true, nil
}

// removeMember removes a member (privileged): only a moderator or admin
// of higher rank than the target (View.rank), and never the last admin.
// The target is excluded and the room must rotate its key.
func (a *applier) removeMember() (bool, error) {
	v, o := a.v, a.o
	target, ok := v.Members[o.Identity]
	switch {
	case !ok:
		return refuse("not a member")
	case a.role < RoleModerator || v.rank(a.author, a.role) <= v.rank(o.Identity, target.Role):
		return refuse("only a member of higher rank removes (the founder, then admins, then moderators)")
	case target.Role == RoleAdmin && v.admins() == 1:
		return refuse("the last admin cannot be removed")
	}
	delete(v.Members, o.Identity)
	v.Former[o.Identity] = a.ref
	v.rotateNeeded, v.rotateBy = true, a.author
	v.exclude(a.ref, o, a.author, identity.PublicKey{}, target.Role)
	return true, nil
}

// setRole sets a member's role (privileged): only admins may; an admin
// may lower but not raise its own role, and change another's only from
// a higher rank; the last admin cannot step down. A demotion excludes
// what the new role does not allow; a promotion, or the same role,
// re-admits.
func (a *applier) setRole() (bool, error) {
	v, o, author, role := a.v, a.o, a.author, a.role
	target, ok := v.Members[o.Identity]
	switch {
	case !ok:
		return refuse("not a member")
	case role < RoleAdmin:
		return refuse("only admins set roles")
	case o.Identity == author && o.Role > role:
		return refuse("a member cannot raise its own role")
	case o.Identity != author && v.rank(author, role) <= v.rank(o.Identity, target.Role):
		return refuse("only a member of higher rank changes a role (the founder, then admins)")
	case target.Role == RoleAdmin && o.Role != RoleAdmin && v.admins() == 1:
		return refuse("the last admin cannot step down")
	}
	old := target.Role
	target.Role = o.Role
	v.exclude(a.ref, o, author, identity.PublicKey{}, old)
	if o.Role >= old {
		v.readmit(a.ref, o.Identity)
	}
	return true, nil
}

// invite records a new invite (privileged): only admins may, under an id
// not already taken.
func (a *applier) invite() (bool, error) {
	v, o := a.v, a.o
	if a.role < RoleAdmin {
		return refuse("only admins invite")
	}
	if _, ok := v.Invites[o.Invite]; ok {
		return refuse("invite exists")
	}
	v.Invites[o.Invite] = &Invite{ID: o.Invite, Seed: o.Seed, Expires: o.Expires, Uses: o.Uses, Role: o.Role, By: a.author, Approve: o.Approve}
	return true, nil
}

// rotate starts the next key epoch (privileged): only moderators and
// admins may, to the epoch after the current one, or, naming its key, to
// an epoch begun already (a rotation concurrent with the one that began
// it).
func (a *applier) rotate() (bool, error) {
	v, o := a.v, a.o
	if a.role < RoleModerator {
		return refuse("only admins and moderators rotate keys")
	}
	switch {
	case o.Epoch == v.Epoch+1:
		v.Epoch, v.EpochRef, v.EpochKeyID, v.rotateNeeded = o.Epoch, a.ref, o.KeyID, false
	case o.Epoch >= 1 && o.Epoch <= v.Epoch && o.KeyID != ([32]byte{}):
		// Concurrent with the rotation that started the epoch (two
		// admins reacting to one leave): its key opens what its
		// writer sealed with it until it saw the other; devices that
		// were not given it get it shared (OpKeys).
	default:
		return false, fmt.Errorf("rotation to epoch %d in epoch %d", o.Epoch, v.Epoch)
	}
	v.addEpochKey(o.Epoch, o.KeyID, o.Keys)
	return true, nil
}

// keys shares an epoch key with more devices: any member may, of a key
// an accepted rotation carried.
func (a *applier) keys() (bool, error) {
	v, o := a.v, a.o
	if !slices.Contains(v.epochKeys[o.Epoch], o.KeyID) {
		return refuse("shares a key no rotation carried")
	}
	v.addEpochKey(o.Epoch, o.KeyID, o.Keys)
	return false, nil
}

// leave takes the author out of the room: any member may, except the last
// admin while others remain. The author is excluded and the room must
// rotate its key.
func (a *applier) leave() (bool, error) {
	v, author := a.v, a.author
	if a.role == RoleAdmin && v.admins() == 1 && len(v.Members) > 1 {
		return refuse("the last admin cannot leave while others remain")
	}
	delete(v.Members, author)
	v.Former[author] = a.ref
	v.rotateNeeded, v.rotateBy = true, author
	v.exclude(a.ref, a.o, author, identity.PublicKey{}, a.role)
	return false, nil
}

// revoke records a device's revocation, signed by its identity: any
// member may hand one on, of a device of a member identity (and of that
// identity, if the room knows the device). The device and every device
// whose proof passes through it are revoked and excluded, never to be
// re-admitted, and the room must rotate its key.
func (a *applier) revoke() (bool, error) {
	v, o := a.v, a.o
	rv, err := identity.ParseRevocation(o.Blob)
	if err != nil {
		return false, err
	}
	if err := rv.Verify(); err != nil {
		return false, err
	}
	if _, ok := v.Members[rv.Identity]; !ok {
		return refuse("revocation of a device of an identity not in the room")
	}
	if d, ok := v.Devices[rv.Device]; ok && d.Identity != rv.Identity {
		return refuse("revocation of a device of another identity")
	}
	// The device, and every device whose proof passes through it,
	// whenever it was attested.
	for _, d := range v.Devices {
		if d.Device == rv.Device || slices.Contains(d.chain, rv.Device) {
			d.Revoked = true
		}
	}
	if _, ok := v.Revoked[rv.Device]; !ok {
		v.Revoked[rv.Device] = a.ref
		v.Revocations[rv.Device] = o.Blob
	}
	v.rotateNeeded, v.rotateBy = true, a.author
	v.exclude(a.ref, o, a.author, rv.Device, 0)
	return false, nil
}

// fork records the proof that a device signed two histories of its log:
// any member may, once per device, with a proof of this room that
// verifies. The device is marked forked, every device whose proof passes
// through it revoked, all excluded for good; if the room knows the
// device, it must rotate its key.
func (a *applier) fork() (bool, error) {
	v, o := a.v, a.o
	fp, err := log.ParseForkProof(o.Blob)
	if err != nil {
		return false, err
	}
	if err := fp.Verify(); err != nil {
		return false, err
	}
	if fp.A.Discovery != v.Discovery {
		return refuse("fork proof of another room")
	}
	d := fp.A.Writer
	if _, ok := v.Forked[d]; ok {
		return refuse("fork already proven")
	}
	v.Forked[d] = a.ref
	for _, info := range v.Devices {
		switch {
		case info.Device == d:
			info.Forked = true
			v.rotateNeeded, v.rotateBy = true, a.author
		case slices.Contains(info.chain, d):
			info.Revoked = true // attested by a device that forked
		}
	}
	v.exclude(a.ref, o, a.author, d, 0)
	return false, nil
}

// mirror names a mirror or takes one off. Any member may name a mirror
// (it only ever sees ciphertext); whoever named it, a moderator or an
// admin may take it off (privileged when it is someone else's).
func (a *applier) mirror() (bool, error) {
	v, o, author := a.v, a.o, a.author
	m, ok := v.Mirrors[o.Name]
	if o.Remove {
		if !ok {
			return refuse("no such mirror")
		}
		if m.AddedBy != author && a.role < RoleModerator {
			return refuse("only who named a mirror, a moderator or an admin may remove it")
		}
		privileged := m.AddedBy != author
		delete(v.Mirrors, o.Name)
		return privileged, nil
	}
	v.Mirrors[o.Name] = &Mirror{PeerID: o.Name, Addrs: strings.Fields(o.Text), AddedBy: author}
	return false, nil
}

// setDoor makes a device the room's doorphone, or no longer one
// (privileged): only admins may, making one only of a device of the room
// neither revoked nor forked, unmaking only a door of the room.
func (a *applier) setDoor() (bool, error) {
	v, o := a.v, a.o
	if a.role < RoleAdmin {
		return refuse("only admins make a device a door")
	}
	if o.Remove {
		if _, ok := v.Doors[o.Identity]; !ok {
			return refuse("not a door of this room")
		}
		delete(v.Doors, o.Identity)
		return true, nil
	}
	if info, ok := v.Devices[o.Identity]; !ok || info.Revoked || info.Forked {
		return refuse("not a device of this room, or revoked")
	}
	v.Doors[o.Identity] = &Door{Device: o.Identity, Name: o.Text, By: a.ref}
	return true, nil
}

// push sets or drops the writing device's own Web Push subscription: any
// member's device may, for itself only (a subscription names no other
// device).
func (a *applier) push() (bool, error) {
	v, o := a.v, a.o
	dev := a.ref.Writer
	if o.Remove {
		if _, ok := v.Push[dev]; !ok {
			return refuse("no subscription to drop")
		}
		delete(v.Push, dev)
		return false, nil
	}
	v.Push[dev] = &PushSub{Device: dev, Endpoint: o.Text, P256DH: bytes.Clone(o.Blob[:65]), Auth: bytes.Clone(o.Blob[65:]), By: a.ref}
	return false, nil
}

// vapid sets the room's Web Push sender key: only admins.
func (a *applier) vapid() (bool, error) {
	if a.role < RoleAdmin {
		return refuse("only admins set the room's push key")
	}
	a.v.VAPID, a.v.VAPIDBy = bytes.Clone(a.o.Blob), a.ref
	return true, nil
}

func (v *View) addEpochKey(epoch uint64, id [32]byte, keys []SealedKey) {
	if !slices.Contains(v.epochKeys[epoch], id) {
		v.epochKeys[epoch] = append(v.epochKeys[epoch], id)
	}
	h := v.keyHolders[id]
	if h == nil {
		h = map[identity.PublicKey]bool{}
		v.keyHolders[id] = h
	}
	for _, k := range keys {
		h[k.Device] = true
	}
}

// given says whether dev may hold the key keyID of epoch: the room sealed
// it to dev (a rotation or a sharing), or dev said hello with it or in a
// later epoch (a device is given the keys up to its joining when it
// joins). Keys of version-1 rotations are not named: they pass.
func (v *View) given(dev *Device, epoch uint64, keyID [32]byte) bool {
	switch {
	case epoch == 0, keyID == [32]byte{}:
		return true
	case epoch < dev.helloEpoch, epoch == dev.helloEpoch && keyID == dev.helloKey:
		return true
	}
	return v.keyHolders[keyID][dev.Device]
}

// sealedWith checks that a block was sealed under a key that a rotation
// accepted by now carried (or the room's own key, in epoch 0).
func (v *View) sealedWith(epoch uint64, id [32]byte) error {
	if epoch == 0 {
		return nil
	}
	ids := v.epochKeys[epoch]
	switch {
	case len(ids) == 0:
		return fmt.Errorf("sealed in epoch %d, which has not begun", epoch)
	case slices.Contains(ids, id), slices.Contains(ids, [32]byte{}): // version 1 rotations name no key
		return nil
	}
	return errors.New("sealed under a key no accepted rotation carried")
}

func (v *View) admins() int {
	n := 0
	for _, m := range v.Members {
		if m.Role == RoleAdmin {
			n++
		}
	}
	return n
}

// device checks a proof and record and returns the device they describe.
func (v *View) device(writer identity.PublicKey, proofB, recordB []byte) (*Device, error) {
	proof, err := identity.ParseProof(proofB)
	if err != nil {
		return nil, err
	}
	if _, err := proof.Verify(identity.VerifyOptions{Device: writer}); err != nil {
		return nil, err
	}
	rec, err := identity.ParseDeviceRecord(recordB)
	if err != nil {
		return nil, err
	}
	if err := rec.Verify(); err != nil {
		return nil, err
	}
	if rec.Device != writer || rec.Identity != proof.Identity {
		return nil, errors.New("device record does not match the proof")
	}
	d := &Device{Device: writer, Identity: proof.Identity, Name: rec.Name, Sealing: rec.Sealing, Epoch: proof.Epoch}
	for _, l := range proof.Chain {
		d.chain = append(d.chain, l.Device)
	}
	return d, nil
}

// chainOf returns the devices whose revocation revokes dev: those of its
// proof, itself included.
func (v *View) chainOf(dev identity.PublicKey) []identity.PublicKey {
	if d, ok := v.Devices[dev]; ok && len(d.chain) > 0 {
		return d.chain
	}
	return []identity.PublicKey{dev}
}

// ChainRevoked reports whether any device of a proof's chain was revoked
// or forked in the room.
func (v *View) ChainRevoked(chain []identity.PublicKey) bool {
	for _, l := range chain {
		if _, ok := v.Revoked[l]; ok {
			return true
		}
		if _, ok := v.Forked[l]; ok {
			return true
		}
	}
	return false
}

func (v *View) genesis(ref Ref, o *Op) error {
	if v.Name != "" {
		return errors.New("a second genesis")
	}
	if ref.Seq != 0 {
		return errors.New("genesis not first in its log")
	}
	d, err := v.dag.device(ref, o.Proof, o.Record)
	if err != nil {
		return err
	}
	if d.Identity != v.Founder {
		return errors.New("genesis by someone else than the founder")
	}
	v.Name = o.Name
	if v.Name == "" {
		v.Name = "(unnamed)"
	}
	v.Members[d.Identity] = &Member{Identity: d.Identity, Role: RoleAdmin, Added: ref}
	v.Devices[ref.Writer] = d
	return nil
}

func (v *View) hello(ref Ref, o *Op, epoch uint64, keyID [32]byte) error {
	if ref.Seq != 0 {
		return errors.New("hello not first in its log")
	}
	d, err := v.dag.device(ref, o.Proof, o.Record)
	if err != nil {
		return err
	}
	if _, ok := v.Members[d.Identity]; !ok {
		return errors.New("hello from a non-member")
	}
	d.helloEpoch, d.helloKey = epoch, keyID
	_, d.Forked = v.Forked[ref.Writer]
	d.Revoked = v.ChainRevoked(d.chain) && !d.Forked
	v.Devices[ref.Writer] = d
	v.newEpoch(ref, d)
	return nil
}

// newEpoch records the identity epoch of a device that said hello at
// ref. A newer one than any seen of its identity supersedes every device
// of an older epoch (the phrase was restored: a lost device must not
// write on nor be sealed keys), from what that hello had not seen; an
// older one is superseded at once.
func (v *View) newEpoch(ref Ref, d *Device) {
	newest, seen := v.IdentityEpochs[d.Identity]
	switch {
	case seen && d.Epoch < newest:
		d.Superseded, d.Revoked = true, true
		return
	case seen && d.Epoch == newest:
		return
	}
	v.IdentityEpochs[d.Identity] = d.Epoch
	if !seen {
		return
	}
	for _, o := range v.Devices {
		if o.Identity == d.Identity && o.Epoch < d.Epoch && !o.Superseded {
			o.Superseded, o.Revoked = true, true
			v.rotateNeeded, v.rotateBy = true, d.Identity
		}
	}
	x := &exclusion{by: ref, identity: d.Identity, minEpoch: d.Epoch, front: v.dag.frontier(ref)}
	v.acceptedExcl[ref] = true
	if _, ok := v.active[ref]; !ok {
		v.register(x, true)
	}
}

// digest is a hash of everything the view shows, its messages read from
// tx, so that peers can check they converged.
func (v *View) digest(tx Tx) ([32]byte, error) {
	var w wire.Encoder
	w.String(v.Name)
	w.Uint(v.Epoch)
	w.Fixed(v.EpochKeyID[:])
	keyed := func(n int, key func(i int) []byte) []int {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return bytes.Compare(key(a), key(b)) })
		return idx
	}
	ref := func(r Ref) { w.Fixed(r.Writer[:]); w.Uint(r.Seq) }
	sortedKeys := func(m map[identity.PublicKey]Ref) []identity.PublicKey {
		ks := slices.Collect(maps.Keys(m))
		slices.SortFunc(ks, func(a, b identity.PublicKey) int { return bytes.Compare(a[:], b[:]) })
		return ks
	}
	members := slices.Collect(maps.Values(v.Members))
	for _, i := range keyed(len(members), func(i int) []byte { return members[i].Identity[:] }) {
		m := members[i]
		w.Fixed(m.Identity[:])
		w.U8(byte(m.Role))
		ref(m.Added)
		w.Fixed(m.Invite[:])
	}
	devices := slices.Collect(maps.Values(v.Devices))
	for _, i := range keyed(len(devices), func(i int) []byte { return devices[i].Device[:] }) {
		d := devices[i]
		w.Fixed(d.Device[:])
		w.Fixed(d.Identity[:])
		w.Bool(d.Revoked)
		w.Bool(d.Forked)
		w.Bool(d.Superseded)
		w.Uint(d.Epoch)
		if !d.Forked { // a forked device's two hellos may differ
			w.String(d.Name)
			w.Bytes(d.Sealing.Bytes())
		}
	}
	for _, m := range []map[identity.PublicKey]Ref{v.Former, v.Revoked, v.Forked} {
		for _, k := range sortedKeys(m) {
			w.Fixed(k[:])
			ref(m[k])
		}
		w.U8(0xff)
	}
	invites := slices.Collect(maps.Values(v.Invites))
	for _, i := range keyed(len(invites), func(i int) []byte { return invites[i].ID[:] }) {
		in := invites[i]
		w.Fixed(in.ID[:])
		w.Uint(uint64(in.Expires))
		w.Uint(in.Uses)
		w.Uint(in.Used)
		w.U8(byte(in.Role))
		w.Fixed(in.By[:])
		w.Bool(in.Approve)
	}
	mirrors := slices.Sorted(maps.Keys(v.Mirrors))
	for _, p := range mirrors {
		m := v.Mirrors[p]
		w.String(p)
		w.String(strings.Join(m.Addrs, " "))
		w.Fixed(m.AddedBy[:])
	}
	w.U8(0xff)
	for _, k := range slices.SortedFunc(maps.Keys(v.Doors), func(a, b identity.PublicKey) int { return bytes.Compare(a[:], b[:]) }) {
		w.Fixed(k[:])
		w.String(v.Doors[k].Name)
		ref(v.Doors[k].By)
	}
	// Web Push, in rooms that have any (a room without keeps the digest
	// it had before push existed).
	if len(v.Push) > 0 || v.VAPID != nil {
		w.U8(0xff)
		for _, k := range slices.SortedFunc(maps.Keys(v.Push), func(a, b identity.PublicKey) int { return bytes.Compare(a[:], b[:]) }) {
			ps := v.Push[k]
			w.Fixed(k[:])
			w.String(ps.Endpoint)
			w.Bytes(ps.P256DH)
			w.Bytes(ps.Auth)
			ref(ps.By)
		}
		w.Bytes(v.VAPID)
		ref(v.VAPIDBy)
	}
	cur := tx.Cursor(bucketMsgs)
	for k, row := cur.First(); k != nil; k, row = cur.Next() {
		m, err := decodeMessage(row)
		if err != nil {
			return [32]byte{}, err
		}
		ref(m.ID)
		w.Fixed(m.Author[:])
		w.Fixed(m.Device[:])
		w.Uint(uint64(m.Time))
		w.String(m.Text)
		w.Bool(m.Edited)
		w.Bool(m.Deleted)
		w.Bool(m.ReplyTo != nil)
		if m.ReplyTo != nil {
			ref(*m.ReplyTo)
		}
		if m.File != nil {
			b, _ := m.File.MarshalBinary()
			w.Bytes(b)
		}
		if c := m.Call; c != nil {
			w.Fixed(c.ID[:])
			w.U8(byte(c.Event))
			w.Uint(c.Duration)
		}
		if d := m.Door; d != nil {
			w.U8(byte(d.Event))
			w.Fixed(d.Call[:])
			w.Fixed(d.Identity[:])
			w.String(d.Text)
		}
		emojis := make([]string, 0, len(m.Reactions))
		for e := range m.Reactions {
			emojis = append(emojis, e)
		}
		slices.Sort(emojis)
		for _, e := range emojis {
			w.String(e)
			for _, who := range m.Reactions[e] {
				w.Fixed(who[:])
			}
		}
	}
	return sha256.Sum256(w.B), nil
}
