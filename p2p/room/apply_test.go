package room

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/google/btree"

	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

// stubDAG is a causal past in which every entry has seen every other,
// except those named blind, which have seen none, and those that name
// what they have not seen; frontiers are empty.
type stubDAG struct {
	blind  map[Ref]bool
	unseen map[Ref]map[Ref]bool
}

func (d stubDAG) frontier(Ref) map[identity.PublicKey]uint64 { return map[identity.PublicKey]uint64{} }
func (d stubDAG) seen(ref, target Ref) bool                  { return !d.blind[ref] && !d.unseen[ref][target] }
func (d stubDAG) device(Ref, []byte, []byte) (*Device, error) {
	return nil, errors.New("no device in a stub")
}

// TestApplyRules applies one scripted entry after another to a view built
// by hand (no logs, no network, a stub causal past) and checks, for each,
// the reason View.apply refuses it (or none), whether it counted as
// accepted and as privileged; then what the view shows, down to its
// digest. It walks every check of apply and of each operation, those the
// room tests do not reach included (files, calls, mirrors, taking a door
// off, invites' limits, rotations out of turn, revocations and fork
// proofs that do not verify, are of another identity or room, or come
// twice), so that a change in who may write what, in what a refusal says
// or in which entries count as privileged shows here. The expectations
// were recorded from the single switch of View.applyOp that the
// per-operation methods replaced; of its checks only "the last admin
// cannot be removed" is not reached (no entry can: only the founder
// outranks an admin, and it is an admin too).
func TestApplyRules(t *testing.T) {
	key := func(b byte) identity.PublicKey { return identity.PublicKey{b} }
	signer := func(b byte) identity.SigningKey {
		k, err := identity.NewSigningKey(bytes.Repeat([]byte{b}, 32))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	memberKey, strangerKey, forkKey := signer(4), signer(6), signer(0x31)
	founder, admin, mod, member, newcomer, stranger := key(1), key(2), key(3), memberKey.Public(), key(5), strangerKey.Public()
	fd, ad, md, ud, xd := key(0x11), key(0x12), key(0x13), key(0x14), key(0x15)
	unknownDev, revokedDev, forkedDev, bothDev := key(0x21), key(0x22), key(0x23), key(0x27)
	ud2, ud3, ud4, forkDev := key(0x24), key(0x25), key(0x26), forkKey.Public()
	disc := log.Discovery{9}

	d := stubDAG{blind: map[Ref]bool{}, unseen: map[Ref]map[Ref]bool{}}
	// The view's rows in memory, in one transaction; entry i is at clock
	// i+1.
	ms := NewMemStore()
	clocks := map[Ref]uint64{}
	c := &content{
		tx:    &memTx{s: ms, disc: disc, b: ms.buckets(disc), writable: true, saved: map[string]*btree.BTreeG[memItem]{}},
		order: func(r Ref) ([]byte, bool) { k, ok := clocks[r]; return orderKey(k, r), ok },
	}
	v := newView(founder, disc, d, c, nil)
	if err := v.apply(Ref{Writer: ud}, 0, &Entry{Op: Op{Type: OpMessage}}, 0, [32]byte{}); err == nil || err.Error() != "no genesis yet" {
		t.Fatalf("an entry before the genesis: %v", err)
	}
	v.applied = 0
	v.Name = "test"
	for _, m := range []struct {
		id, dev identity.PublicKey
		role    Role
	}{{founder, fd, RoleAdmin}, {admin, ad, RoleAdmin}, {mod, md, RoleModerator}, {member, ud, RoleMember}} {
		v.Members[m.id] = &Member{Identity: m.id, Role: m.role}
		v.Devices[m.dev] = &Device{Device: m.dev, Identity: m.id}
	}
	v.Devices[xd] = &Device{Device: xd, Identity: newcomer}
	v.Devices[revokedDev] = &Device{Device: revokedDev, Identity: member, Revoked: true}
	v.Devices[forkedDev] = &Device{Device: forkedDev, Identity: member, Forked: true}
	v.Devices[bothDev] = &Device{Device: bothDev, Identity: member, Revoked: true, Forked: true}
	// ud3 was attested by ud2, ud4 by the device that will fork.
	v.Devices[ud2] = &Device{Device: ud2, Identity: member, chain: []identity.PublicKey{ud2}}
	v.Devices[ud3] = &Device{Device: ud3, Identity: member, chain: []identity.PublicKey{ud2, ud3}}
	v.Devices[forkDev] = &Device{Device: forkDev, Identity: member}
	v.Devices[ud4] = &Device{Device: ud4, Identity: member, chain: []identity.PublicKey{forkDev, ud4}}

	manifest, err := (&chunk.Manifest{Name: "a.jpg", Size: 10, Type: "image/jpeg", ChunkSize: 1 << 16}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte{0xff, 0x01}
	inv1, inv2, inv3 := InviteID{1}, InviteID{2}, InviteID{3}
	k1, k2, k3 := [32]byte{0xa1}, [32]byte{0xa2}, [32]byte{0xa3}
	revocation := func(by identity.SigningKey, dev identity.PublicKey) []byte {
		r, err := identity.NewRevocation(by, dev, 0, time.Unix(1000, 0))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := r.MarshalBinary()
		return b
	}
	tampered := func(b []byte, at int) []byte { // at < 0: from the end
		b = bytes.Clone(b)
		if at < 0 {
			at += len(b)
		}
		b[at] ^= 1
		return b
	}
	// Two heads of length 1 of the forked device's log that differ.
	forkProof := func(disc log.Discovery) []byte {
		a, b := log.SignHead(forkKey, disc, 1, log.Hash{1}), log.SignHead(forkKey, disc, 1, log.Hash{2})
		fb, err := (&log.ForkProof{A: a, B: b, PrefixRoot: b.Root}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return fb
	}

	seq := map[identity.PublicKey]uint64{}
	refs := map[string]Ref{} // named entries, for later targets
	const badManifest = "bad file manifest: version 255"
	type step struct {
		name   string // names the entry's ref for later steps (optional)
		dev    identity.PublicKey
		op     Op
		time   int64
		epoch  uint64
		keyID  [32]byte
		blind  bool          // the entry has seen nothing
		unseen []string      // the named entries it has not seen
		void   bool          // the entry is a void exclusion
		want   string        // the refusal; "" accepted
		priv   bool          // accepted as privileged
		target string        // Op.Target is this named entry's ref
		then   func() string // after the step: what is wrong with the view, or ""
	}
	steps := []step{
		// Who may write at all.
		{dev: unknownDev, op: Op{Type: OpMessage}, want: "device never said hello"},
		{dev: revokedDev, op: Op{Type: OpMessage}, want: "device revoked"},
		{dev: forkedDev, op: Op{Type: OpMessage}, want: "device forked its log"},
		{dev: bothDev, op: Op{Type: OpMessage}, want: "device revoked"},
		{dev: xd, op: Op{Type: OpMessage}, want: "author is not a member"},
		{dev: xd, op: Op{Type: OpMessage}, epoch: 1, keyID: k1, want: "author is not a member"},
		{dev: ud, op: Op{Type: OpMessage}, epoch: 1, keyID: k1, want: "sealed under an epoch key its device was never given"},
		{dev: ud, op: Op{Type: OpMessage}, void: true, want: "an exclusion that rests on entries it excludes"},
		{dev: ud, op: Op{Type: OpType(99)}, want: "unexpected op(99)"},
		{dev: fd, op: Op{Type: OpGenesis}, want: "a second genesis"},
		{dev: fd, op: Op{Type: OpHello}, want: "hello not first in its log"},
		// Posts.
		{name: "m1", dev: ud, op: Op{Type: OpMessage, Text: "hi"}, time: 5},
		{name: "reply", dev: ud, op: Op{Type: OpMessage, Text: "re", HasReply: true}, target: "m1", time: 6},
		{name: "mm", dev: md, op: Op{Type: OpMessage, Text: "mod's"}, time: 7},
		{dev: ud, op: Op{Type: OpFile, Text: "pic", Blob: manifest}, time: 8},
		{dev: ud, op: Op{Type: OpFile, Blob: garbage}, want: badManifest},
		{dev: ud, op: Op{Type: OpCall, Call: [16]byte{7}, CallEvent: CallEvent(2), Duration: 1234}, time: 9},
		// Doors.
		{dev: ud, op: Op{Type: OpDoor, DoorEvent: DoorRing}, want: "a door entry from a device the room's admins did not make a door"},
		{dev: md, op: Op{Type: OpSetDoor, Identity: ud}, want: "only admins make a device a door"},
		{dev: fd, op: Op{Type: OpSetDoor, Identity: ud, Remove: true}, want: "not a door of this room"},
		{dev: md, op: Op{Type: OpSetDoor, Identity: ud, Remove: true}, want: "only admins make a device a door"},
		{dev: fd, op: Op{Type: OpSetDoor, Identity: unknownDev}, want: "not a device of this room, or revoked"},
		{dev: fd, op: Op{Type: OpSetDoor, Identity: revokedDev}, want: "not a device of this room, or revoked"},
		{dev: fd, op: Op{Type: OpSetDoor, Identity: ud, Text: "front"}, priv: true},
		{dev: ud, op: Op{Type: OpDoor, DoorEvent: DoorRing, Call: [16]byte{8}, Identity: mod, Text: "ring", Blob: manifest}, time: 10},
		{dev: ud, op: Op{Type: OpDoor, DoorEvent: DoorRing}, time: 11},
		{dev: ud, op: Op{Type: OpDoor, DoorEvent: DoorRing, Blob: garbage}, want: badManifest},
		{dev: fd, op: Op{Type: OpSetDoor, Identity: ud, Remove: true}, priv: true},
		{dev: ud, op: Op{Type: OpDoor, DoorEvent: DoorRing}, want: "a door entry from a device the room's admins did not make a door"},
		// Edits, reactions, deletions.
		{dev: md, op: Op{Type: OpEdit, Text: "x"}, target: "m1", want: "only the author's devices may edit"},
		{dev: ud, op: Op{Type: OpEdit, Text: "x"}, target: "nothing", want: "edit of an unknown message"},
		{dev: ud, op: Op{Type: OpEdit, Text: "hi!"}, target: "m1"},
		{dev: ud, op: Op{Type: OpReact, Emoji: "+1"}, target: "m1"},
		{dev: md, op: Op{Type: OpReact, Emoji: "+1"}, target: "m1"},
		{dev: fd, op: Op{Type: OpReact, Emoji: "+1"}, target: "m1"},
		{dev: ud, op: Op{Type: OpReact, Emoji: "+1"}, target: "m1"},
		{dev: ud, op: Op{Type: OpReact, Emoji: "+1", Remove: true}, target: "m1"},
		{dev: ud, op: Op{Type: OpReact, Emoji: "+1", Remove: true}, target: "m1"},
		{dev: ud, op: Op{Type: OpReact, Emoji: "ok"}, target: "reply"},
		{dev: ud, op: Op{Type: OpReact, Emoji: "ok", Remove: true}, target: "reply"},
		{dev: ud, op: Op{Type: OpReact, Emoji: "x"}, target: "nothing", want: "reaction to an unknown or deleted message"},
		{dev: ud, op: Op{Type: OpDelete}, target: "mm", want: "only the author, moderators and admins may delete"},
		{dev: ud, op: Op{Type: OpDelete}, target: "nothing", want: "delete of an unknown message"},
		{dev: md, op: Op{Type: OpDelete}, target: "m1", priv: true},
		{dev: ud, op: Op{Type: OpEdit, Text: "x"}, target: "m1", want: "message deleted"},
		{dev: md, op: Op{Type: OpEdit, Text: "x"}, target: "m1", want: "only the author's devices may edit"},
		{dev: ud, op: Op{Type: OpReact, Emoji: "x"}, target: "m1", want: "reaction to an unknown or deleted message"},
		{dev: md, op: Op{Type: OpDelete}, target: "mm"},
		// Mirrors.
		{dev: ud, op: Op{Type: OpMirror, Name: "peerA", Text: "/ip4/1 /ip4/2"}},
		{dev: ud, op: Op{Type: OpMirror, Name: "peerB", Remove: true}, want: "no such mirror"},
		{dev: ad, op: Op{Type: OpMirror, Name: "peerC", Text: "/ip4/3"}},
		{dev: ud, op: Op{Type: OpMirror, Name: "peerC", Remove: true}, want: "only who named a mirror, a moderator or an admin may remove it"},
		{dev: md, op: Op{Type: OpMirror, Name: "peerC", Remove: true}, priv: true},
		{dev: ud, op: Op{Type: OpMirror, Name: "peerA", Remove: true}},
		{dev: md, op: Op{Type: OpMirror, Name: "peerD", Text: "/ip4/4"}},
		// Invites and additions.
		{dev: md, op: Op{Type: OpInvite, Invite: inv1}, want: "only admins invite"},
		{dev: fd, op: Op{Type: OpInvite, Invite: inv1, Expires: 1000, Uses: 1, Role: RoleModerator}, priv: true},
		{dev: ad, op: Op{Type: OpInvite, Invite: inv1}, want: "invite exists"},
		{dev: md, op: Op{Type: OpInvite, Invite: inv1}, want: "only admins invite"},
		{dev: fd, op: Op{Type: OpInvite, Invite: inv2, Uses: 1, Role: RoleMember, Approve: true}, priv: true},
		{dev: fd, op: Op{Type: OpInvite, Invite: inv3, Role: RoleAdmin}, priv: true},
		{dev: md, op: Op{Type: OpAddMember, Identity: newcomer, Role: RoleMember}, want: "only admins add members"},
		{dev: fd, op: Op{Type: OpAddMember, Identity: member, Role: RoleMember}, want: "already a member"},
		{dev: fd, op: Op{Type: OpAddMember, Identity: newcomer, Role: RoleMember, Invite: InviteID{0xee}}, want: "unknown invite"},
		{dev: fd, op: Op{Type: OpAddMember, Identity: newcomer, Role: RoleMember, Invite: inv1}, time: 2000, want: "invite expired"},
		{dev: fd, op: Op{Type: OpAddMember, Identity: newcomer, Role: RoleAdmin, Invite: inv1}, time: 2000, want: "invite expired"},
		{dev: fd, op: Op{Type: OpAddMember, Identity: member, Role: RoleMember, Invite: InviteID{0xee}}, want: "already a member"},
		{dev: fd, op: Op{Type: OpAddMember, Identity: newcomer, Role: RoleModerator, Invite: inv2}, want: "role above the invite's"},
		{dev: fd, op: Op{Type: OpAddMember, Identity: newcomer, Role: RoleMember, Invite: inv2}, time: 500, priv: true},
		{dev: ad, op: Op{Type: OpAddMember, Identity: stranger, Role: RoleMember, Invite: inv2}, want: "invite used up"},
		{dev: ad, op: Op{Type: OpAddMember, Identity: stranger, Role: RoleModerator, Invite: inv2}, want: "invite used up"},
		{dev: xd, op: Op{Type: OpMessage, Text: "hello all"}},
		// Removals and re-admission.
		{dev: ud, op: Op{Type: OpRemoveMember, Identity: mod}, want: "only a member of higher rank removes (the founder, then admins, then moderators)"},
		{dev: md, op: Op{Type: OpRemoveMember, Identity: admin}, want: "only a member of higher rank removes (the founder, then admins, then moderators)"},
		{dev: ad, op: Op{Type: OpRemoveMember, Identity: founder}, want: "only a member of higher rank removes (the founder, then admins, then moderators)"},
		{dev: fd, op: Op{Type: OpRemoveMember, Identity: stranger}, want: "not a member"},
		{dev: ud, op: Op{Type: OpRemoveMember, Identity: stranger}, want: "not a member"},
		{dev: md, op: Op{Type: OpRemoveMember, Identity: newcomer}, priv: true},
		{dev: xd, op: Op{Type: OpMessage}, want: "author is not a member"},
		{dev: fd, op: Op{Type: OpAddMember, Identity: newcomer, Role: RoleMember}, blind: true, want: "adds back an identity whose removal it had not seen"},
		{name: "readd", dev: ad, op: Op{Type: OpAddMember, Identity: newcomer, Role: RoleMember}, priv: true},
		{dev: xd, op: Op{Type: OpMessage, Text: "back"}},
		{dev: xd, op: Op{Type: OpMessage}, blind: true, want: "written after its writer was excluded, without knowing of it"},
		{dev: xd, op: Op{Type: OpMessage}, blind: true, void: true, want: "written after its writer was excluded, without knowing of it"},
		{dev: xd, op: Op{Type: OpMessage}, unseen: []string{"readd"}, want: "written after its writer was excluded, without knowing of it"},
		{dev: fd, op: Op{Type: OpAddMember, Identity: newcomer, Role: RoleMember}, blind: true, want: "already a member"},
		// Setting the same role re-admits too: an entry that had seen it,
		// not the addition, counts.
		{dev: fd, op: Op{Type: OpSetRole, Identity: newcomer, Role: RoleMember}, priv: true},
		{dev: xd, op: Op{Type: OpMessage, Text: "seen the role"}, unseen: []string{"readd"}},
		// Roles.
		{dev: ud, op: Op{Type: OpSetRole, Identity: member, Role: RoleMember}, want: "only admins set roles"},
		{dev: ud, op: Op{Type: OpSetRole, Identity: stranger, Role: RoleMember}, want: "not a member"},
		{dev: fd, op: Op{Type: OpSetRole, Identity: stranger, Role: RoleMember}, want: "not a member"},
		{dev: fd, op: Op{Type: OpSetRole, Identity: founder, Role: RoleAdmin + 1}, want: "a member cannot raise its own role"},
		{dev: ad, op: Op{Type: OpSetRole, Identity: founder, Role: RoleMember}, want: "only a member of higher rank changes a role (the founder, then admins)"},
		{dev: fd, op: Op{Type: OpSetRole, Identity: mod, Role: RoleMember}, priv: true},
		{dev: md, op: Op{Type: OpDelete}, target: "reply", want: "only the author, moderators and admins may delete"},
		{dev: fd, op: Op{Type: OpSetRole, Identity: mod, Role: RoleModerator}, priv: true},
		{dev: fd, op: Op{Type: OpSetRole, Identity: member, Role: RoleMember}, priv: true},
		{dev: ad, op: Op{Type: OpSetRole, Identity: admin, Role: RoleMember}, priv: true},
		{dev: fd, op: Op{Type: OpSetRole, Identity: founder, Role: RoleModerator}, want: "the last admin cannot step down"},
		// Keys.
		{dev: ud, op: Op{Type: OpRotate, Epoch: 1, KeyID: k1}, want: "only admins and moderators rotate keys"},
		{dev: md, op: Op{Type: OpRotate, Epoch: 5, KeyID: k1}, want: "rotation to epoch 5 in epoch 0"},
		{dev: ud, op: Op{Type: OpRotate, Epoch: 5, KeyID: k1}, want: "only admins and moderators rotate keys"},
		{dev: md, op: Op{Type: OpRotate, Epoch: 1, KeyID: k1, Keys: []SealedKey{{Device: md}, {Device: fd}}}, priv: true, then: func() string {
			if v.rotateNeeded || v.EpochRef.Writer != md {
				return "the rotation did not start the epoch"
			}
			return ""
		}},
		{dev: fd, op: Op{Type: OpRotate, Epoch: 1, KeyID: k2, Keys: []SealedKey{{Device: fd}}}, priv: true},
		{dev: fd, op: Op{Type: OpRotate, Epoch: 1}, want: "rotation to epoch 1 in epoch 1"},
		{dev: fd, op: Op{Type: OpRotate, Epoch: 0, KeyID: k3}, want: "rotation to epoch 0 in epoch 1"},
		{dev: ud, op: Op{Type: OpMessage}, epoch: 1, keyID: k2, want: "sealed under an epoch key its device was never given"},
		{dev: xd, op: Op{Type: OpMessage}, epoch: 1, keyID: k1, blind: true, want: "sealed under an epoch key its device was never given"},
		{dev: ud, op: Op{Type: OpKeys, Epoch: 1, KeyID: k3, Keys: []SealedKey{{Device: ud}}}, want: "shares a key no rotation carried"},
		{dev: ud, op: Op{Type: OpKeys, Epoch: 1, KeyID: k2, Keys: []SealedKey{{Device: ud}}}},
		{dev: ud, op: Op{Type: OpMessage, Text: "sealed"}, epoch: 1, keyID: k2},
		{dev: md, op: Op{Type: OpMessage, Text: "sealed"}, epoch: 1, keyID: k1},
		// Revocations and fork proofs.
		{dev: ud, op: Op{Type: OpRevoke, Blob: garbage}, want: "revocation: malformed record: truncated"},
		{dev: ud, op: Op{Type: OpRevoke, Blob: tampered(revocation(memberKey, ud2), -1)}, want: "revocation: bad signature"},
		{dev: ud, op: Op{Type: OpRevoke, Blob: revocation(strangerKey, ud2)}, want: "revocation of a device of an identity not in the room"},
		{dev: ud, op: Op{Type: OpRevoke, Blob: revocation(strangerKey, md)}, want: "revocation of a device of an identity not in the room"},
		{dev: ud, op: Op{Type: OpRevoke, Blob: revocation(memberKey, md)}, want: "revocation of a device of another identity"},
		{name: "rv", dev: fd, op: Op{Type: OpRevoke, Blob: revocation(memberKey, ud2)}},
		{dev: ud3, op: Op{Type: OpMessage}, want: "device revoked"},
		{dev: md, op: Op{Type: OpRevoke, Blob: revocation(memberKey, ud2)}},
		{dev: ud, op: Op{Type: OpRevoke, Blob: revocation(memberKey, unknownDev)}},
		{dev: ud, op: Op{Type: OpFork, Blob: garbage}, want: "not a fork proof: 2 bytes"},
		{dev: ud, op: Op{Type: OpFork, Blob: tampered(forkProof(disc), log.HeadLen-1)}, want: "not a fork proof: first head: head signature does not verify"},
		{dev: ud, op: Op{Type: OpFork, Blob: forkProof(log.Discovery{8})}, want: "fork proof of another room"},
		{name: "fork", dev: md, op: Op{Type: OpFork, Blob: forkProof(disc)}},
		{dev: ud, op: Op{Type: OpFork, Blob: forkProof(disc)}, want: "fork already proven"},
		{dev: ud, op: Op{Type: OpFork, Blob: forkProof(log.Discovery{8})}, want: "fork proof of another room"},
		{dev: ud, op: Op{Type: OpFork, Blob: tampered(forkProof(log.Discovery{8}), log.HeadLen-1)}, want: "not a fork proof: first head: head signature does not verify"},
		{dev: forkDev, op: Op{Type: OpMessage}, want: "device forked its log"},
		{dev: ud4, op: Op{Type: OpMessage}, want: "device revoked"},
		// Leaving.
		{dev: ad, op: Op{Type: OpLeave}},
		{dev: ad, op: Op{Type: OpMessage}, want: "author is not a member"},
		{dev: fd, op: Op{Type: OpLeave}, want: "the last admin cannot leave while others remain"},
		{dev: xd, op: Op{Type: OpLeave}},
	}
	for i, s := range steps {
		ref := Ref{Writer: s.dev, Seq: seq[s.dev]}
		if s.op.Type == OpHello || s.op.Type == OpGenesis {
			ref.Seq++ // not first in its log
		}
		seq[s.dev] = ref.Seq + 1
		if s.target != "" {
			s.op.Target = refs[s.target] // zero for "nothing": no such message
		}
		if s.blind {
			d.blind[ref] = true
		}
		for _, n := range s.unseen {
			if d.unseen[ref] == nil {
				d.unseen[ref] = map[Ref]bool{}
			}
			d.unseen[ref][refs[n]] = true
		}
		if s.void {
			v.void = map[Ref]bool{ref: true}
		}
		acc0, priv0 := v.accepted[s.dev], v.privileged[s.dev]
		clocks[ref] = uint64(i + 1)
		err := v.apply(ref, uint64(i+1), &Entry{Time: s.time, Op: s.op}, s.epoch, s.keyID)
		v.void = nil
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != s.want {
			t.Fatalf("step %d (%s by %x): refusal %q, want %q", i, s.op.Type, s.dev[:1], got, s.want)
		}
		accepted, privileged := v.accepted[s.dev] != acc0, v.privileged[s.dev] != priv0
		if accepted != (s.want == "" && s.op.Type != OpGenesis && s.op.Type != OpHello) || privileged != s.priv {
			t.Fatalf("step %d (%s by %x): accepted %v, privileged %v; want privileged %v", i, s.op.Type, s.dev[:1], accepted, privileged, s.priv)
		}
		if s.then != nil {
			if wrong := s.then(); wrong != "" {
				t.Fatalf("step %d (%s by %x): %s", i, s.op.Type, s.dev[:1], wrong)
			}
		}
		if s.name != "" {
			refs[s.name] = ref
		}
	}
	if v.applied != len(steps) {
		t.Fatalf("%d entries applied, want %d", v.applied, len(steps))
	}
	if !v.rotateNeeded || v.rotateBy != newcomer || v.Epoch != 1 || v.EpochKeyID != k1 {
		t.Fatalf("rotation: needed %v by %x, epoch %d key %x", v.rotateNeeded, v.rotateBy[:1], v.Epoch, v.EpochKeyID[:1])
	}
	if len(v.epochKeys[1]) != 2 || !v.keyHolders[k2][ud] || !v.keyHolders[k1][md] || v.keyHolders[k1][ud] {
		t.Fatalf("epoch keys %x, holders %v", v.epochKeys[1], v.keyHolders)
	}
	if len(v.active) != 9 || len(v.violations) != 5 {
		t.Fatalf("%d exclusions registered, %d violations", len(v.active), len(v.violations))
	}
	if len(v.Members) != 3 || v.Role(founder) != RoleAdmin || v.Role(mod) != RoleModerator || v.Role(member) != RoleMember {
		t.Fatalf("members %v", v.Members)
	}
	if _, ok := v.Former[admin]; !ok || len(v.Former) != 2 {
		t.Fatalf("former %v", v.Former)
	}
	if inv := v.Invites[inv2]; len(v.Invites) != 3 || inv.Used != 1 || v.Invites[inv1].Used != 0 {
		t.Fatalf("invites %v", v.Invites)
	}
	if _, ok := v.Mirrors["peerD"]; len(v.Mirrors) != 1 || !ok || len(v.Doors) != 0 {
		t.Fatalf("mirrors %v, doors %v", v.Mirrors, v.Doors)
	}
	if m, _, _, _ := c.message(refs["m1"]); v.Count != 12 || !m.Deleted || m.Text != "" || m.Reactions != nil {
		t.Fatalf("%d messages, the first %+v", v.Count, m)
	}
	if m, _, _, _ := c.message(refs["reply"]); m.ReplyTo == nil || *m.ReplyTo != refs["m1"] || len(m.Reactions) != 0 {
		t.Fatalf("the reply %+v", m)
	}
	if v.Revoked[ud2] != refs["rv"] || len(v.Revoked) != 2 || len(v.Revocations) != 2 || !v.Devices[ud3].Revoked {
		t.Fatalf("revoked %v", v.Revoked)
	}
	if v.Forked[forkDev] != refs["fork"] || len(v.Forked) != 1 || !v.Devices[forkDev].Forked || v.Devices[forkDev].Revoked || !v.Devices[ud4].Revoked || v.Devices[ud4].Forked {
		t.Fatalf("forked %v", v.Forked)
	}
	// Everything the view shows, as recorded from the switch.
	const want = "c440c4ac093e920fb9b817c838076f5e5c1cf3b10af0e139af50f588769a8219"
	if dg, err := v.digest(c.tx); err != nil || hex.EncodeToString(dg[:]) != want || c.err != nil {
		t.Fatalf("digest %x, want %s", dg, want)
	}
}
