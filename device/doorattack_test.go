package device

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/doorwire"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// TestDoorHoldsAgainstMembers: a member who means harm, with her real
// keys and her own program beside her daemon, cannot make herself a door,
// cannot silence the bell by ringing the door (it declines at once, and a
// press still rings the household while she rings every second), and once
// removed cannot make the door write into the room however often she asks
// it to unlock.
func TestDoorHoldsAgainstMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons and calls: not in -short")
	}
	ctx := context.Background()
	doorM, phone, mal := newMember(t, "door"), newMember(t, "phone"), newMember(t, "mallory")
	doorM.start(t, Config{Calls: CallConfig{RingTimeout: 3 * time.Second}, Door: doorConfig(phone.id.Identity)})
	boot := []string{doorM.addr(t)}
	phone.start(t, Config{Bootstrap: boot})
	mal.start(t, Config{Bootstrap: boot})
	rm := pair(t, ctx, doorM.c, phone)
	pair(t, ctx, doorM.c, mal)
	doorDev := doorM.id.Device.Public()
	eventually(t, "the phone an admin", 20*time.Second, func() bool {
		ms, err := phone.c.Rooms.Members(ctx, rm)
		if err != nil {
			return false
		}
		for _, m := range ms.Members {
			if m.Identity == phone.id.Identity.String() {
				return m.Role == "admin"
			}
		}
		return false
	})

	// Who is a door: the doorphone alone, made one by itself (it founded
	// the room); a member may not make herself one.
	eventually(t, "the door in the phone's list", 20*time.Second, func() bool {
		ds, err := phone.c.Door.List(ctx, rm)
		return err == nil && len(ds.Doors) == 1 && ds.Doors[0].Device == doorDev.String() && ds.Doors[0].Counts
	})
	if _, err := mal.c.Door.Set(ctx, rm, control.SetDoor{Device: mal.id.Device.Public().String()}); err == nil || !strings.Contains(err.Error(), "only admins") {
		t.Fatalf("a member made herself a door: %v", err)
	}

	// The bell: mallory rings the door device itself, as her program
	// would. It declines at once, every time.
	ringDoor := rawDoorErr(t, mal, doorM, call.Protocol)
	ring := func() []byte {
		b, _ := (&call.Signal{Kind: call.Ring, Call: call.NewID(), Room: mustRoomID(t, rm), Media: call.Audio}).MarshalBinary()
		return b
	}
	ringOnce := func() call.Signal {
		t.Helper()
		ab, err := ringDoor(ring())
		if err != nil {
			t.Fatalf("a member's ring: %v", err)
		}
		var s call.Signal
		if err := s.UnmarshalBinary(ab); err != nil {
			t.Fatal(err)
		}
		return s
	}
	start := time.Now()
	if s := ringOnce(); s.Kind != call.Decline || !strings.Contains(s.Reason, "doorphone") {
		t.Fatalf("the door answered a member's ring with %s %q", s.Kind, s.Reason)
	}
	t.Logf("the door declined a member's ring in %s", time.Since(start).Round(time.Microsecond))
	// While she rings every second, a visitor presses: the household
	// rings.
	stop := make(chan struct{})
	done := make(chan struct{})
	var rang atomic.Int32 // her rings the door answered
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				if _, err := ringDoor(ring()); err == nil {
					rang.Add(1)
				}
			}
		}
	}()
	eventually(t, "her rings under way", 15*time.Second, func() bool { return rang.Load() >= 1 })
	if _, err := doorM.c.Door.Press(ctx, control.DoorPress{}); err != nil {
		t.Fatal(err)
	}
	var rung control.Call
	eventually(t, "the ring on the phone", 15*time.Second, func() bool {
		cs, err := phone.c.Calls.List(ctx)
		if err != nil {
			return false
		}
		for _, c := range cs.Calls {
			if c.State == call.StateRinging && c.Direction == call.Incoming {
				rung = c
				return true
			}
		}
		return false
	})
	close(stop)
	<-done
	// The phone declines; the door records the ring as missed (with its
	// clip) before what follows is measured.
	if _, err := phone.c.Calls.Hangup(ctx, rung.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the missed ring in the room", 20*time.Second, func() bool {
		return len(doorEntries(t, doorM.c, rm, "missed")) == 1
	})
	for _, c := range mustCalls(t, doorM.c) {
		if c.Direction == call.Incoming && c.State != call.StateEnded {
			t.Fatalf("a member's ring is open on the door: %+v", c)
		}
	}

	// Removed, she asks the door to unlock again and again: refused,
	// counted, nothing written into the room.
	if err := phone.c.Rooms.Remove(ctx, rm, mal.id.Identity.String()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mallory out of the door's room", 20*time.Second, func() bool {
		ms, err := doorM.c.Rooms.Members(ctx, rm)
		if err != nil {
			return false
		}
		for _, m := range ms.Members {
			if m.Identity == mal.id.Identity.String() {
				return false
			}
		}
		return true
	})
	before := len(history(t, doorM.c, rm))
	st0, _ := doorM.c.Door.Status(ctx)
	unlock := rawDoorErr(t, mal, doorM, proto.Door)
	answered, reset := 0, 0
	for i := range 30 {
		req := &doorwire.UnlockRequest{Room: mustRoomID(t, rm), Door: doorDev, Counter: uint64(1000 + i), Time: time.Now().UnixMilli()}
		req.Sign(mal.id.Device)
		b, err := unlock(req.Marshal())
		if err != nil {
			reset++
			continue
		}
		a, err := doorwire.ParseUnlockAnswer(b)
		if err != nil || a.Opened || !strings.Contains(a.Reason, "not a device of a member") {
			t.Fatalf("a removed member's unlock: %+v %v", a, err)
		}
		answered++
	}
	st1, _ := doorM.c.Door.Status(ctx)
	t.Logf("a removed member's 30 unlock requests: %d answered (refused), %d reset unread; the door counted %d refusals", answered, reset, st1.Refused-st0.Refused)
	if h := history(t, doorM.c, rm); len(h) != before {
		t.Fatalf("a removed member's requests wrote %d entries into the room: %+v", len(h)-before, h[before:])
	}
	if st1.Refused-st0.Refused != 30 || reset == 0 {
		t.Fatalf("refusals counted %d of 30, %d reset", st1.Refused-st0.Refused, reset)
	}
}

func mustCalls(t *testing.T, c *control.Client) []control.Call {
	t.Helper()
	cs, err := c.Calls.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cs.Calls
}
