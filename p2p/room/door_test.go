package room

import (
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
)

func doorEvents(r *Room) (n int) {
	for _, m := range allMessages(r) {
		if m.Door != nil {
			n++
		}
	}
	return n
}

// TestDoors: only a device the room's admins made a door writes door
// entries. A member who writes them (through an attacker's own program,
// around the client), or who makes itself a door, is refused by every
// view; a door taken off, revoked or whose identity was removed stops
// counting; every view agrees.
func TestDoors(t *testing.T) {
	h := newHousehold(t, 2)
	door, mallory := h.rooms[1], h.rooms[2]
	doorDev, malDev := door.cfg.Self.Device.Public(), mallory.cfg.Self.Device.Public()
	// A member forges door events, and makes itself a door.
	fm := forger{mallory}
	forged := fm.write(t, fm.deps(), 0,
		Op{Type: OpDoor, DoorEvent: DoorRing},
		Op{Type: OpSetDoor, Identity: malDev, Text: "front door"},
		Op{Type: OpDoor, DoorEvent: DoorUnlocked, Identity: h.alice.id.Public(), Text: "alice"})
	viaClient := mustWrite(t, mallory, Op{Type: OpDoor, DoorEvent: DoorRing})
	forged = append(forged, viaClient)
	syncAll(t, h.rooms...)
	for _, r := range h.rooms {
		for _, ref := range forged {
			if !holds(r, ref) || rejected(r, ref) == "" {
				t.Fatalf("a member's forged %v counts", ref)
			}
		}
		if n := doorEvents(r); n != 0 {
			t.Fatalf("%d door events from a member", n)
		}
	}
	// An admin makes the door device a door: its entries count.
	mustWrite(t, h.a1, Op{Type: OpSetDoor, Identity: doorDev, Text: "front door"})
	syncAll(t, h.rooms...)
	ring := mustWrite(t, door, Op{Type: OpDoor, DoorEvent: DoorRing})
	syncAll(t, h.rooms...)
	for _, r := range h.rooms {
		r.View(func(v *View) {
			if d, ok := v.Door(doorDev); !ok || d.Name != "front door" {
				t.Fatal("the door is not a door")
			}
			if _, ok := v.Door(malDev); ok {
				t.Fatal("mallory is a door")
			}
		})
		if rejected(r, ring) != "" || doorEvents(r) != 1 {
			t.Fatalf("the door's ring: %q", rejected(r, ring))
		}
	}
	sameView(t, h.rooms...)
	// Taken off: its later entries are refused.
	mustWrite(t, h.a1, Op{Type: OpSetDoor, Identity: doorDev, Remove: true})
	syncAll(t, h.rooms...)
	// The door device goes on writing door entries, through its client
	// and around it: refused by every other view.
	late := mustWrite(t, door, Op{Type: OpDoor, DoorEvent: DoorMotion})
	fd := forger{door}
	forgedLate := fd.write(t, fd.deps(), 0, Op{Type: OpDoor, DoorEvent: DoorUnlocked, Identity: h.alice.id.Public()})[0]
	syncAll(t, h.rooms...)
	for _, r := range []*Room{h.a1, mallory} {
		if !holds(r, forgedLate) || rejected(r, forgedLate) == "" {
			t.Fatal("a door taken off forged a door entry that counts")
		}
		if rejected(r, late) == "" {
			t.Fatal("a door taken off still writes door entries")
		}
	}
	// Made a door again, then its identity removed: not a door any more.
	mustWrite(t, h.a1, Op{Type: OpSetDoor, Identity: doorDev, Text: "front door"})
	syncAll(t, h.rooms...)
	mustWrite(t, h.a1, Op{Type: OpRemoveMember, Identity: h.people[1].id.Public()})
	syncAll(t, h.rooms...)
	for _, r := range []*Room{h.a1, mallory} {
		r.View(func(v *View) {
			if _, ok := v.Door(doorDev); ok {
				t.Fatal("the door of a removed identity still counts")
			}
		})
	}
	sameView(t, h.a1, mallory)
	// A member may not take a door off; an admin may not make a door of
	// a device the room does not know.
	off := mustWrite(t, mallory, Op{Type: OpSetDoor, Identity: doorDev, Remove: true})
	unknown := mustWrite(t, h.a1, Op{Type: OpSetDoor, Identity: identity.PublicKey{1}})
	syncAll(t, h.a1, mallory)
	for _, r := range []*Room{h.a1, mallory} {
		if rejected(r, off) == "" || rejected(r, unknown) == "" {
			t.Fatal("a member took a door off, or an unknown device became one")
		}
	}
	sameView(t, h.a1, mallory)
}
