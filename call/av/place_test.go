package av

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/call"
)

// TestPlaceCtx: the ctx given to Place, PlaceTagged and PlaceGroup bounds
// the placing, not the call. Already done, nothing is placed and its
// error comes back wrapped; done while a device is still being dialled,
// the dial stops and the call ends as hung up by the caller (not missed,
// not failed); done once every device was rung, the call goes on.
func TestPlaceCtx(t *testing.T) {
	bob := newDevice(t, "bob", 30*time.Second, "")

	t.Run("done before", func(t *testing.T) {
		caller := newDevice(t, "caller", 30*time.Second, "")
		ids := caller.connect(bob)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		places := map[string]func() (*call.Call, error){
			"Place":       func() (*call.Call, error) { return caller.m.Place(ctx, testRoom, ids, call.Audio) },
			"PlaceTagged": func() (*call.Call, error) { return caller.m.PlaceTagged(ctx, testRoom, ids, call.Audio, "tag") },
			"PlaceGroup":  func() (*call.Call, error) { return caller.m.PlaceGroup(ctx, testRoom, ids, call.Audio, nil) },
		}
		for name, place := range places {
			c, err := place()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled ctx: call %v, err %v; want context.Canceled", name, c != nil, err)
			}
			if c != nil {
				c.Hangup("")
			}
		}
		if calls := caller.m.Calls(); len(calls) != 0 {
			t.Fatalf("calls placed with a cancelled ctx: %+v", calls)
		}
	})

	t.Run("done while dialling", func(t *testing.T) {
		// Reach stands for a slow way to a device (a DHT lookup, a relay):
		// it holds the dial until its ctx is done.
		entered := make(chan struct{}, 1)
		reachErr := make(chan error, 1)
		caller := newDevice(t, "slow caller", 30*time.Second, "")
		// Set before anything of the manager runs.
		caller.reach = func(ctx context.Context, p peer.ID) error {
			entered <- struct{}{}
			<-ctx.Done()
			reachErr <- ctx.Err()
			return ctx.Err()
		}
		ids := caller.connect(bob)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c, err := caller.m.Place(ctx, testRoom, ids, call.Audio)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the device was never dialled")
		}
		cancel()
		// Well under call.DialTimeout: a dial that ignored ctx would still be
		// waiting, its call ringing.
		select {
		case <-c.Ended():
		case <-time.After(call.DialTimeout / 2):
			t.Fatalf("the call still rings %v after its placing was cancelled: %+v", call.DialTimeout/2, c.Status())
		}
		if s := c.Status(); s.Reason != call.EndHungUp || s.Error != "" {
			t.Fatalf("a call whose placing was cancelled ended %q (error %q), want %q and no error", s.Reason, s.Error, call.EndHungUp)
		}
		select {
		case err := <-reachErr:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("the dial ended with %v, want the caller's cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the dial never stopped")
		}
	})

	t.Run("done after placing", func(t *testing.T) {
		caller := newDevice(t, "caller", 30*time.Second, "")
		ids := caller.connect(bob)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c, err := caller.m.Place(ctx, testRoom, ids, call.Audio)
		if err != nil {
			t.Fatal(err)
		}
		in := bob.incoming()
		select {
		case <-c.Placed():
		case <-time.After(10 * time.Second):
			t.Fatal("the placing never ended")
		}
		// Rung: the placing is over, and the ctx's end changes nothing.
		cancel()
		if err := in.Answer(call.Audio); err != nil {
			t.Fatalf("answering a call whose placing ctx ended after it rang: %v (%+v)", err, c.Status())
		}
		caller.wait("active", func(s call.Status) bool { return s.ID == c.ID.String() && s.State == call.StateActive })
		if s := c.Status(); s.State != call.StateActive {
			t.Fatalf("the call after its ctx ended: %+v", s)
		}
		c.Hangup("")
		bob.wait("ended", func(s call.Status) bool { return s.ID == c.ID.String() && s.State == call.StateEnded })
	})
}

// TestPlaceRedial: a device that cannot be reached when the call is
// placed is rung once it can be, while the call rings (a phone whose app a
// push opened); without Redial the same call ends missed at once.
func TestPlaceRedial(t *testing.T) {
	caller := newDevice(t, "door", 20*time.Second, "")
	bob := newDevice(t, "bob", 20*time.Second, "")
	// Not connected: the caller knows no address of bob.
	c, err := caller.m.PlaceTagged(context.Background(), testRoom, []peer.ID{bob.h.ID()}, call.Audio, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Ended():
	case <-time.After(15 * time.Second):
		t.Fatal("a call nobody could be reached for still rings")
	}
	if s := c.Status(); s.Reason != call.EndMissed {
		t.Fatalf("unreachable, no redial: %+v", s)
	}

	c, err = caller.m.PlaceWith(context.Background(), testRoom, []peer.ID{bob.h.ID()}, call.Audio, call.PlaceOptions{Redial: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Placed():
	case <-time.After(15 * time.Second):
		t.Fatal("the placing never ended")
	}
	time.Sleep(500 * time.Millisecond)
	if s := c.Status(); s.State != call.StateRinging {
		t.Fatalf("with redial, before bob is reachable: %+v", s)
	}
	caller.connect(bob)
	in := bob.incoming()
	if in.ID != c.ID {
		t.Fatalf("bob rung for %s, not %s", in.ID, c.ID)
	}
	if err := in.Answer(call.Audio); err != nil {
		t.Fatal(err)
	}
	caller.wait("active", func(s call.Status) bool { return s.ID == c.ID.String() && s.State == call.StateActive })
	c.Hangup("")
	bob.wait("ended", func(s call.Status) bool { return s.ID == c.ID.String() && s.State == call.StateEnded })
}
