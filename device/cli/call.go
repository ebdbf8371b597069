package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/device/control"
)

func callCommands() []*command {
	return []*command{
		{name: "call", args: "ROOM", nargs: 1, flags: withFlags((*callArgs).define, runCall), summary: "ring every other member's devices of a room",
			long: `Ring every device of every other member of a room at once; the first to
answer gets the call, the others stop ringing. The daemon sends this device's
camera and microphone, or a synthetic test pattern and tone where there are
none, and takes the other side's media (recorded with 'daemon
--record-calls'). The command waits until the call is answered or ends, then
prints it; the call goes on in the daemon until 'hearth hangup'. With
--no-wait it prints the ringing call at once. Nobody answering within the
daemon's ring timeout is a missed call, written into the room.`},
		{name: "answer", args: "[CALL]", optArgs: 1, flags: withFlags((*mediaArgs).define, runAnswer), summary: "answer the ringing call",
			long: `Answer a call ringing on this device (CALL is its id or a prefix of it, as
'hearth calls' prints; without it, the call ringing now). The daemon then
sends and receives media, as for 'hearth call'.`},
		{name: "hangup", args: "[CALL]", optArgs: 1, summary: "hang up, or decline a ringing call", run: runHangup,
			long: `End a call (CALL as for 'hearth answer'; without it, the call in progress):
hang up an answered call, stop ringing an outgoing one, decline an incoming
one.`},
		{name: "calls", summary: "list this device's calls, with their media figures", run: runCalls},
	}
}

// mediaArgs are the flags of what this device sends in a call: of call
// and answer.
type mediaArgs struct{ audioOnly bool }

func (a *mediaArgs) define(fs *flag.FlagSet) {
	fs.BoolVar(&a.audioOnly, "audio-only", false, "send no video")
}

// callArgs are the flags of call.
type callArgs struct {
	mediaArgs
	noWait bool
	group  bool
}

func (a *callArgs) define(fs *flag.FlagSet) {
	a.mediaArgs.define(fs)
	fs.BoolVar(&a.noWait, "no-wait", false, "print the ringing call at once; do not wait for an answer")
	fs.BoolVar(&a.group, "group", false, "a group call: everyone who answers joins (up to four devices, one per person)")
}

func runCall(ctx context.Context, r *runner, a *callArgs, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	st, err := c.Calls.Place(ctx, args[0], control.CallPlace{AudioOnly: a.audioOnly, Group: a.group})
	if err != nil {
		return err
	}
	if !a.noWait {
		if !r.json {
			fmt.Fprintf(r.env.Stderr, "ringing %d device(s)...\n", st.Rung)
		}
		for st.State == call.StateRinging || st.State == call.StateConnecting {
			select {
			case <-ctx.Done():
				return fmt.Errorf("stopped waiting; the call %s goes on ('hearth hangup' ends it)", st.ID)
			case <-time.After(100 * time.Millisecond):
			}
			if st, err = c.Calls.Get(ctx, st.ID); err != nil {
				return err
			}
		}
	}
	if st.State == call.StateEnded && st.Answered.IsZero() {
		return printCall(r, st, errors.New("the call was "+st.Reason))
	}
	return printCall(r, st, nil)
}

// printCall prints a call, and fails with err after it when err is set.
func printCall(r *runner, st *control.Call, err error) error {
	if err != nil {
		if r.json {
			r.emit(st, nil)
		}
		return err
	}
	return r.emit(st, func(w io.Writer) {
		fmt.Fprintf(w, "%s\n%s\n", st.ID, describeCall(st))
	})
}

func describeCall(st *control.Call) string {
	who := ""
	if st.Peer != nil {
		who = " with " + short(st.Peer.Identity)
		if st.Peer.Name != "" {
			who += " (" + st.Peer.Name + ")"
		}
	} else if st.Room != "" {
		who = " in room " + short(st.Room) // nobody answered: the room it rang
	}
	kind := st.Media + " "
	if st.Media == "none" || st.Media == "" {
		kind = ""
	}
	s := fmt.Sprintf("%s %scall%s: %s", st.Direction, kind, who, st.State)
	if st.State == call.StateEnded {
		s += " (" + st.Reason + ")"
	}
	if d := st.Duration(); d > 0 {
		s += ", " + d.Round(time.Second).String()
	}
	return s
}

// target is the call of an optional CALL argument: "live" without one.
func target(args []string) string {
	if len(args) == 0 {
		return "live"
	}
	return args[0]
}

func runAnswer(ctx context.Context, r *runner, a *mediaArgs, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	st, err := c.Calls.Answer(ctx, target(args), control.CallAnswer{AudioOnly: a.audioOnly})
	if err != nil {
		return err
	}
	return printCall(r, st, nil)
}

func runHangup(ctx context.Context, r *runner, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	st, err := c.Calls.Hangup(ctx, target(args))
	if err != nil {
		return err
	}
	return printCall(r, st, nil)
}

func runCalls(ctx context.Context, r *runner, _ []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.Calls.List(ctx)
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		if len(out.Calls) == 0 {
			fmt.Fprintln(w, "no calls yet: 'hearth call ROOM' rings a room")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "CALL\tSTARTED\tWHAT\tFRAMES IN\tAUDIO IN\tLATENCY P50\n")
		for _, st := range out.Calls {
			frames, audio, lat := "-", "-", "-"
			if s := st.Stats; s != nil {
				frames, audio = fmt.Sprint(s.Frames()), fmt.Sprint(s.AudioPackets)
				if s.LatencyP50 > 0 {
					lat = fmt.Sprintf("%.0f ms", s.LatencyP50)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.ID[:12], st.Started.Local().Format("15:04:05"), describeCall(&st), frames, audio, lat)
		}
		tw.Flush()
	})
}
