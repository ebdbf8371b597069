package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/hearthp2p/hearth/device/control"
)

func mirrorCommands() *command {
	const where = `

Without --mirror the command acts on this daemon, which must run with
'hearth daemon --mirror'. With --mirror MADDR (a full multiaddr ending in
/p2p/PEERID, as 'hearth status' on the mirror prints) it asks that mirror,
which acts for this identity: its owners (the mirror's own identity and
those given with --mirror-owner) without limit, anyone else within a quota.`
	return &command{name: "mirror", summary: "keep rooms on a blind mirror (it stores ciphertext only)", subs: []*command{
		{name: "keep", args: "ROOM|DISCOVERY", nargs: 1, flags: withFlags((*mirrorKeepArgs).define, runMirrorKeep), summary: "ask a mirror to keep a room",
			long: `Ask a mirror to keep a room: every log, verified against its writers'
signatures, kept while the members are offline and served to any peer that
knows the room's discovery key. The mirror never holds the room key. When
this device is a member, the room names the mirror so that every member keeps
it up to date and fetches from it. --pin (owners only) keeps the room out of
eviction.` + where},
		{name: "drop", args: "ROOM|DISCOVERY", nargs: 1, flags: withFlags((*mirrorArgs).define, runMirrorDrop), summary: "ask a mirror to drop a room and delete its data",
			long: `Ask a mirror to forget a room and delete what it kept of it. Only an owner of
the mirror or the identity that asked to keep it may.` + where},
		{name: "list", flags: withFlags((*mirrorArgs).define, runMirrorList), summary: "list the rooms a mirror keeps (for this identity; all for an owner)",
			long: `List the rooms a mirror keeps for this identity; an owner sees every room.` + where},
	}}
}

// mirrorArgs are the flags of the mirror commands: which mirror they ask.
type mirrorArgs struct{ addr string }

func (a *mirrorArgs) define(fs *flag.FlagSet) {
	fs.StringVar(&a.addr, "mirror", "", "ask the mirror at `MADDR` (a full multiaddr with /p2p/) instead of this daemon")
}

// mirrorKeepArgs are the flags of mirror keep.
type mirrorKeepArgs struct {
	mirrorArgs
	pin bool
}

func (a *mirrorKeepArgs) define(fs *flag.FlagSet) {
	a.mirrorArgs.define(fs)
	fs.BoolVar(&a.pin, "pin", false, "keep the room out of eviction (owners of the mirror only)")
}

func runMirrorKeep(ctx context.Context, r *runner, a *mirrorKeepArgs, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.Mirror.Keep(ctx, control.MirrorRequest{Target: args[0], Mirror: a.addr, Pin: a.pin})
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "mirror %s keeps the room\n", out.Mirror)
		printMirrorRooms(w, out)
		if f := out.Files; f != nil {
			if f.Offered > 0 {
				fmt.Fprintf(w, "it fetches %d file(s) sent before (%s) from this device: keep it online until 'hearth mirror list' shows them\n", f.Offered, human(f.Bytes))
			}
			for _, n := range f.NotFitted {
				fmt.Fprintf(w, "not kept, over what the room may hold there: %s\n", n)
			}
			for _, n := range f.Failed {
				fmt.Fprintf(w, "not kept: %s\n", n)
			}
		}
	})
}

func runMirrorDrop(ctx context.Context, r *runner, a *mirrorArgs, args []string) error {
	return r.do("dropped", func(c *control.Client) error {
		return c.Mirror.Drop(ctx, control.MirrorRequest{Target: args[0], Mirror: a.addr})
	})
}

func runMirrorList(ctx context.Context, r *runner, a *mirrorArgs, _ []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.Mirror.List(ctx, control.MirrorRequest{Mirror: a.addr})
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		if len(out.Rooms) == 0 {
			fmt.Fprintf(w, "mirror %s keeps no room for this identity\n", out.Mirror)
			return
		}
		printMirrorRooms(w, out)
	})
}

func printMirrorRooms(w io.Writer, out *control.MirrorRooms) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "DISCOVERY\tROOM\tPINNED\tLOGS\tENTRIES\tSIZE\tUSED\n")
	for _, m := range out.Rooms {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%s\t%s\n", m.Discovery, orDash(m.Room), m.Pinned, m.Logs, m.Entries, human(m.Bytes), m.Used)
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
