package room

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
)

func sampleEntries() []Entry {
	w := identity.PublicKey{7}
	target := Ref{Writer: w, Seq: 3}
	return []Entry{
		{Time: 1, Op: Op{Type: OpGenesis, Name: "home", Proof: []byte{1}, Record: []byte{2}}},
		{Deps: []Dep{{Writer: w, Length: 300}}, Time: 2, Op: Op{Type: OpMessage, Text: "hi"}},
		{Time: 3, Op: Op{Type: OpMessage, Text: "re", HasReply: true, Target: target}},
		{Time: 4, Op: Op{Type: OpEdit, Target: target, Text: "fixed"}},
		{Time: 5, Op: Op{Type: OpDelete, Target: target}},
		{Time: 6, Op: Op{Type: OpReact, Target: target, Emoji: "👍", Remove: true}},
		{Time: 7, Op: Op{Type: OpAddMember, Identity: w, Role: RoleModerator, Invite: InviteID{1}}},
		{Time: 8, Op: Op{Type: OpRemoveMember, Identity: w}},
		{Time: 9, Op: Op{Type: OpSetRole, Identity: w, Role: RoleAdmin}},
		{Time: 10, Op: Op{Type: OpInvite, Invite: InviteID{2}, Seed: Secret32{b: [32]byte{3}}, Expires: 99, Uses: 2, Role: RoleMember}},
		{Time: 11, Op: Op{Type: OpRotate, Epoch: 2, Keys: []SealedKey{{Device: w, Sealed: []byte{1, 2, 3}}}}},
		{Time: 12, Op: Op{Type: OpLeave}},
		{Time: 13, Op: Op{Type: OpRevoke, Blob: []byte{9}}},
		{Time: 14, Op: Op{Type: OpFork, Blob: []byte{8}}},
	}
}

func TestEntryRoundTrip(t *testing.T) {
	for _, e := range sampleEntries() {
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: %v", e.Op.Type, err)
		}
		got, err := ParseEntry(b)
		if err != nil {
			t.Fatalf("%s: %v", e.Op.Type, err)
		}
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatalf("%s: round trip differs", e.Op.Type)
		}
	}
}

func TestEntryRejects(t *testing.T) {
	good, _ := (&Entry{Time: 1, Op: Op{Type: OpMessage, Text: "hi"}}).MarshalBinary()
	tests := []struct {
		name string
		e    *Entry
		raw  []byte
	}{
		{"long text", &Entry{Op: Op{Type: OpMessage, Text: strings.Repeat("x", MaxChatLen+1)}}, nil},
		{"empty message", &Entry{Op: Op{Type: OpMessage}}, nil},
		{"bad utf8", &Entry{Op: Op{Type: OpMessage, Text: "\xff"}}, nil},
		{"bad role", &Entry{Op: Op{Type: OpSetRole, Role: 9}}, nil},
		{"unknown op", &Entry{Op: Op{Type: 99}}, nil},
		{"truncated", nil, good[:len(good)-1]},
		{"trailing", nil, append(append([]byte{}, good...), 0)},
		{"version", nil, append([]byte{3}, good[1:]...)},
		{"too many deps", nil, []byte{1, 1, 0xfd, 0xff, 0xff}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.e != nil {
				if _, err := tc.e.MarshalBinary(); !errors.Is(err, ErrEntryMalformed) {
					t.Fatalf("marshal: %v", err)
				}
				return
			}
			if _, err := ParseEntry(tc.raw); !errors.Is(err, ErrEntryMalformed) {
				t.Fatalf("parse: %v", err)
			}
		})
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, e := range sampleEntries() {
		b, _ := e.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		out, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("entry re-encoded differently")
		}
	})
}
