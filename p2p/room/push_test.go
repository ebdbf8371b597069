package room

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/p2p/identity"
)

func pushKeys(b byte) []byte { return bytes.Repeat([]byte{b}, PushKeysLen) }

// TestPush: each device sets its own Web Push subscription, and only its
// own; only admins set the room's VAPID key; a subscription stops
// counting when its device is revoked or its identity removed; every
// replica agrees, and the view reopens from the store with them.
func TestPush(t *testing.T) {
	h := newHousehold(t, 2)
	bob, mallory := h.rooms[1], h.rooms[2]
	bobDev, malDev := bob.cfg.Self.Device.Public(), mallory.cfg.Self.Device.Public()
	aliceDev := h.a1.cfg.Self.Device.Public()

	mustWrite(t, bob, Op{Type: OpPush, Text: "https://push.example/bob", Blob: pushKeys(1)})
	// A member sets the room's sender key: refused everywhere, through
	// its client or around it.
	fm := forger{mallory}
	forged := fm.write(t, fm.deps(), 0, Op{Type: OpVAPID, Blob: bytes.Repeat([]byte{7}, VAPIDKeyLen)})[0]
	viaClient := mustWrite(t, mallory, Op{Type: OpVAPID, Blob: bytes.Repeat([]byte{8}, VAPIDKeyLen)})
	// Removing a subscription it never gave.
	nothing := mustWrite(t, mallory, Op{Type: OpPush, Remove: true})
	mustWrite(t, h.a1, Op{Type: OpVAPID, Blob: bytes.Repeat([]byte{9}, VAPIDKeyLen)})
	mustWrite(t, mallory, Op{Type: OpPush, Text: "https://push.example/mallory", Blob: pushKeys(2)})
	syncAll(t, h.rooms...)
	for _, r := range h.rooms {
		for _, ref := range []Ref{forged, viaClient, nothing} {
			if rejected(r, ref) == "" {
				t.Fatalf("%v counts", ref)
			}
		}
		r.View(func(v *View) {
			if !bytes.Equal(v.VAPID, bytes.Repeat([]byte{9}, VAPIDKeyLen)) {
				t.Fatalf("the room's key: %x", v.VAPID)
			}
			s, ok := v.PushOf(bobDev)
			if !ok || s.Endpoint != "https://push.example/bob" || !bytes.Equal(s.P256DH, pushKeys(1)[:65]) || !bytes.Equal(s.Auth, pushKeys(1)[65:]) {
				t.Fatalf("bob's subscription: %+v", s)
			}
			if s, ok := v.PushOf(malDev); !ok || s.Endpoint != "https://push.example/mallory" {
				t.Fatalf("mallory's own subscription: %+v", s)
			}
			if _, ok := v.PushOf(aliceDev); ok {
				t.Fatal("alice has a subscription she never gave")
			}
		})
	}
	sameView(t, h.rooms...)

	// A newer subscription replaces the older; a removal drops it.
	mustWrite(t, bob, Op{Type: OpPush, Text: "https://push.example/bob2", Blob: pushKeys(3)})
	syncAll(t, h.rooms...)
	h.a1.View(func(v *View) {
		if s, _ := v.PushOf(bobDev); s == nil || s.Endpoint != "https://push.example/bob2" {
			t.Fatalf("bob's newer subscription: %+v", s)
		}
	})
	mustWrite(t, bob, Op{Type: OpPush, Remove: true})
	syncAll(t, h.rooms...)
	h.a1.View(func(v *View) {
		if _, ok := v.PushOf(bobDev); ok {
			t.Fatal("a dropped subscription counts")
		}
	})
	sameView(t, h.rooms...)

	// Mallory's identity removed: her subscription no longer counts (no
	// door pushes to a former member).
	mustWrite(t, h.a1, Op{Type: OpRemoveMember, Identity: h.people[2].id.Public()})
	syncAll(t, h.a1, bob)
	h.a1.View(func(v *View) {
		if _, ok := v.PushOf(malDev); ok {
			t.Fatal("a removed member's subscription counts")
		}
	})

	// A revoked device's subscription no longer counts.
	phone := openRoom(t, h.key, h.alice.id.Public(), h.alice.device(t))
	syncAll(t, h.a1, bob, phone)
	mustWrite(t, phone, Op{Type: OpPush, Text: "https://push.example/phone", Blob: pushKeys(4)})
	syncAll(t, h.a1, bob, phone)
	phoneDev := phone.cfg.Self.Device.Public()
	h.a1.View(func(v *View) {
		if _, ok := v.PushOf(phoneDev); !ok {
			t.Fatal("the phone's subscription does not count")
		}
	})
	rv, err := identity.NewRevocation(h.alice.id, phoneDev, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := rv.MarshalBinary()
	mustWrite(t, h.a1, Op{Type: OpRevoke, Blob: rb})
	syncAll(t, h.a1, bob)
	for _, r := range []*Room{h.a1, bob} {
		r.View(func(v *View) {
			if _, ok := v.PushOf(phoneDev); ok {
				t.Fatal("a revoked device's subscription counts")
			}
		})
	}
	sameView(t, h.a1, bob)
}

// TestPushMalformed: subscriptions and keys of the wrong shape do not
// even decode.
func TestPushMalformed(t *testing.T) {
	for _, o := range []Op{
		{Type: OpPush, Text: "", Blob: pushKeys(1)},
		{Type: OpPush, Text: "https://push.example/x", Blob: pushKeys(1)[:80]},
		{Type: OpPush, Text: "https://push.example/x"},
		{Type: OpPush, Remove: true, Text: "https://push.example/x"},
		{Type: OpVAPID, Blob: make([]byte, 31)},
		{Type: OpVAPID},
	} {
		e := &Entry{Time: 1, Op: o}
		b, err := e.MarshalBinary()
		if err == nil {
			_, err = ParseEntry(b)
		}
		if !errors.Is(err, ErrEntryMalformed) {
			t.Errorf("%s %+v: %v", o.Type, o, err)
		}
	}
}
