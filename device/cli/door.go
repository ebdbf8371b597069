package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/hearthp2p/hearth/device/control"
)

func doorCommands() *command {
	return &command{name: "door", summary: "the doorphone: its state, its simulated button, and unlocking a room's door", subs: []*command{
		{name: "status", summary: "the doorphone's state (on the doorphone)", run: runDoorStatus,
			long: `Print the doorphone's state: idle, ringing, in call or cooldown; what its LED
shows; the household room; in pairing mode, the invite link a new household
member joins with ('hearth room join LINK' on their device); and what it
counted since it started.`},
		{name: "press", args: "[short|long|down|up]", optArgs: 1, summary: "press the simulated button (driver sim)", run: runDoorPress,
			long: `Press the button of a doorphone running on the simulated board ([hal]
driver = "sim", or 'hearth daemon --hal sim', as 'hearth demo' does): short
rings the household, long toggles pairing mode, down and up hold and release
it by hand.`},
		{name: "motion", summary: "trip the simulated motion sensor (driver sim)", run: runDoorMotion},
		{name: "unlock", args: "ROOM", nargs: 1, flags: withFlags((*unlockArgs).define, runDoorUnlock), summary: "open a room's door (admins of the room)",
			long: `Ask the doorphone of a room to open its door. This device signs a fresh
request and sends it straight to the doorphone; the door opens only for a
device of an admin of its household room, never twice for one request, and
writes every unlock (and every refusal) into the room. With several doors in
the room, say which with --door.`},
		{name: "list", args: "ROOM", nargs: 1, summary: "a room's doorphones", run: runDoorList,
			long: `List the devices the room's admins made its doorphones: only their entries
count as door events (rings, unlocks) in every member's view, and only they
are asked to unlock or for their live view. A door revoked, or whose
identity left the room, no longer counts.`},
		{name: "add", args: "ROOM DEVICE", nargs: 2, flags: withFlags((*doorAddArgs).define, runDoorAdd), summary: "make a device of the room a doorphone (admins of the room)",
			long: `Make a device of the room one of its doorphones (DEVICE: its key, or 8 or
more of its first hex digits; 'hearth room members ROOM --json' lists the
devices). A doorphone makes itself the door of the household room it
founds; this is for a doorphone that joined a room it did not found, or one
an admin took off. Only admins may: every member's view refuses it from
anyone else.`},
		{name: "remove", args: "ROOM DEVICE", nargs: 2, summary: "take a doorphone off a room (admins of the room)", run: runDoorRemove,
			long: `Take a device off the room's doorphones: what it writes afterwards does not
count as a door event, and members no longer ring or unlock it. Its earlier
entries stay.`},
	}}
}

// doorAddArgs are the flags of door add.
type doorAddArgs struct{ name string }

func (a *doorAddArgs) define(fs *flag.FlagSet) {
	fs.StringVar(&a.name, "name", "", "the door's `NAME` as members see it (e.g. front door)")
}

func printDoors(r *runner, ds *control.Doors) error {
	return r.emit(ds, func(w io.Writer) {
		if len(ds.Doors) == 0 {
			fmt.Fprintln(w, "no doorphone in this room")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DEVICE\tNAME\tIDENTITY\tCOUNTS")
		for _, d := range ds.Doors {
			counts := "yes"
			if !d.Counts {
				counts = "no (revoked, or its identity left)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Device, d.Name, short(d.Identity), counts)
		}
		tw.Flush()
	})
}

func runDoorList(ctx context.Context, r *runner, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	ds, err := c.Door.List(ctx, args[0])
	if err != nil {
		return err
	}
	return printDoors(r, ds)
}

func runDoorAdd(ctx context.Context, r *runner, a *doorAddArgs, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	ds, err := c.Door.Set(ctx, args[0], control.SetDoor{Device: args[1], Name: a.name})
	if err != nil {
		return err
	}
	return printDoors(r, ds)
}

func runDoorRemove(ctx context.Context, r *runner, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	ds, err := c.Door.Set(ctx, args[0], control.SetDoor{Device: args[1], Remove: true})
	if err != nil {
		return err
	}
	return printDoors(r, ds)
}

// unlockArgs are the flags of door unlock.
type unlockArgs struct{ door string }

func (a *unlockArgs) define(fs *flag.FlagSet) {
	fs.StringVar(&a.door, "door", "", "the doorphone's `DEVICE` (hex, or a prefix of 8 or more digits) when the room has several")
}

func printDoor(r *runner, st *control.Door) error {
	return r.emit(st, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		state := st.State
		if st.Stuck {
			state += " (button stuck)"
		}
		fmt.Fprintf(tw, "state\t%s\n", state)
		fmt.Fprintf(tw, "led\t%s\n", st.LED)
		fmt.Fprintf(tw, "household\t%s (%s)\n", st.RoomName, st.Room)
		if st.Call != "" {
			fmt.Fprintf(tw, "call\t%s\n", st.Call)
		}
		if st.Pairing != "" {
			fmt.Fprintf(tw, "pairing\t%s (until %s)\n", st.Pairing, st.PairingUntil)
		}
		fmt.Fprintf(tw, "board\t%s\n", st.Driver)
		fmt.Fprintf(tw, "counted\t%d rings, %d missed, %d unlocks, %d refused\n", st.Rings, st.Missed, st.Unlocks, st.Refused)
		if h := st.Hub; h != nil {
			if h.Broker != "" {
				line := h.MQTT + " to " + h.Broker
				if h.MQTT != "connected" && h.LastError != "" {
					line += " (last error: " + h.LastError + ")"
				}
				fmt.Fprintf(tw, "home hub (mqtt)\t%s; topics %s; unlock from the hub %s\n", line, h.Topics, h.Unlock)
			}
			if h.RTSP != "" {
				fmt.Fprintf(tw, "recorder (rtsp)\t%s (%d playing)\n", h.RTSP, h.RTSPClients)
			}
		}
		tw.Flush()
	})
}

func runDoorStatus(ctx context.Context, r *runner, _ []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	st, err := c.Door.Status(ctx)
	if err != nil {
		return err
	}
	return printDoor(r, st)
}

func runDoorPress(ctx context.Context, r *runner, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	kind := "short"
	if len(args) == 1 {
		kind = args[0]
	}
	switch kind {
	case "short", "long", "down", "up":
	default:
		return usagef("press %q: short, long, down or up", kind)
	}
	st, err := c.Door.Press(ctx, control.DoorPress{Kind: kind})
	if err != nil {
		return err
	}
	return printDoor(r, st)
}

func runDoorMotion(ctx context.Context, r *runner, _ []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	st, err := c.Door.Motion(ctx)
	if err != nil {
		return err
	}
	return printDoor(r, st)
}

func runDoorUnlock(ctx context.Context, r *runner, a *unlockArgs, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	u, err := c.Door.Unlock(ctx, args[0], control.Unlock{Door: a.door})
	if err != nil {
		return err
	}
	if !u.Opened {
		return printUnlock(r, u, fmt.Errorf("the door refused: %s", u.Reason))
	}
	return printUnlock(r, u, nil)
}

func printUnlock(r *runner, u *control.Unlocked, err error) error {
	if perr := r.emit(u, func(w io.Writer) {
		if u.Opened {
			fmt.Fprintf(w, "the door %s is open\n", short(u.Door))
		}
	}); perr != nil {
		return perr
	}
	return err
}
