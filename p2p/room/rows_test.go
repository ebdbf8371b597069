package room

import (
	"bytes"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
)

// FuzzDecodeRows feeds damaged rows to what reads the store back: each is
// refused or decoded, never a panic, and what decodes encodes the same.
func FuzzDecodeRows(f *testing.F) {
	m := &Message{ID: Ref{Writer: identity.PublicKey{1}, Seq: 2}, Author: identity.PublicKey{3}, Text: "hi",
		ReplyTo: &Ref{Seq: 1}, Call: &CallInfo{Event: 1}, Door: &DoorInfo{Text: "door"},
		Reactions: map[string][]identity.PublicKey{"+1": {{4}}}}
	b, _ := encodeMessage(m)
	f.Add(byte(0), b)
	f.Add(byte(1), encodeRejection(Rejection{Ref: m.ID, Op: OpEdit, Reason: "no"}))
	f.Add(byte(2), encodeDeps([]Dep{{Writer: identity.PublicKey{5}, Length: 9}}))
	v := newView(identity.PublicKey{1}, [32]byte{}, nil, nil, nil)
	v.Name = "room"
	f.Add(byte(3), encodeState(v, &node{clock: 3}))
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		switch kind % 4 {
		case 0:
			if m, err := decodeMessage(b); err == nil {
				if again, err := encodeMessage(m); err != nil || !bytes.Equal(again, b) && len(m.Reactions) == 0 {
					t.Fatalf("a message row does not encode back: %v", err)
				}
			}
		case 1:
			if rj, err := decodeRejection(b); err == nil && !bytes.Equal(encodeRejection(rj), b) {
				t.Fatal("a refusal row does not encode back")
			}
		case 2:
			if deps, err := decodeDeps(b); err == nil && !bytes.Equal(encodeDeps(deps), b) {
				t.Fatal("a dependencies row does not encode back")
			}
		case 3:
			v := newView(identity.PublicKey{1}, [32]byte{}, nil, nil, nil)
			if last, err := decodeState(b, v); err == nil {
				_ = encodeState(v, last)
			}
		}
	})
}
