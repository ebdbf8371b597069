package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/hearthp2p/hearth/device/bench"
	"github.com/hearthp2p/hearth/device/control"
)

func roomCommands() *command {
	return &command{name: "room", summary: "create, join and use encrypted chat rooms", subs: []*command{
		{name: "create", args: "NAME", nargs: 1, summary: "create a room; prints its id and discovery key", run: runRoomCreate},
		{name: "list", summary: "list the rooms this device holds", run: runRoomList},
		{name: "members", args: "ROOM", nargs: 1, summary: "list a room's members, roles and devices", run: runRoomMembers},
		{name: "leave", args: "ROOM", nargs: 1, summary: "leave a room and forget it on this device", run: runRoomLeave},
		{name: "invite", args: "ROOM", nargs: 1, flags: withFlags((*inviteArgs).define, runRoomInvite), summary: "make an invite link (and a QR code on a terminal)",
			long: `Make an invite link for a room (admins only). Whoever holds the link can ask
to join; an admin's device admits them while the invite is valid. The link is
a secret: send it privately. On a terminal a QR code is printed too.`},
		{name: "join", args: "LINK", nargs: 1, flags: withFlags((*joinArgs).define, runRoomJoin), summary: "join a room with an invite link (--cancel: withdraw a pending join)",
			long: `Join a room with an invite link. The request is sealed so that only members
holding the invite can read it, and the answer (the room key) is sealed to a
key only this device holds. When an admin's device is reachable (on the LAN,
or through the bootstrap nodes) the join completes at once; it can take up to
a minute. When an admin must approve the request (an invite made with
--approve), or none is reachable (the request is then left in the mailboxes
of the room's mirrors named in the link), the join is pending: the daemon
keeps it in its home, asks again, and completes it by itself once an admin
has answered, across restarts and whether or not this command still runs.
'hearth room list' shows it as pending (or refused, with the reason);
'hearth room join --cancel LINK' withdraws it.`},
		{name: "send", args: "ROOM TEXT", nargs: 2, flags: withFlags((*sendArgs).define, runRoomSend), summary: "send a message; prints its id"},
		{name: "history", args: "ROOM", nargs: 1, flags: withFlags((*historyArgs).define, runRoomHistory), summary: "print a room's messages",
			long: `Print a room's messages, oldest first, in the room's order (the same on
every device). --limit prints only the latest N; --before MSG only those
before that message (its id as history prints it). A page with older
messages before it says so on stderr, with the command that reads them.`},
		{name: "edit", args: "ROOM MSG TEXT", nargs: 3, summary: "edit a message (from any device of its author)", run: runRoomEdit},
		{name: "delete", args: "ROOM MSG", nargs: 2, summary: "delete a message for everyone (author, moderators, admins)", run: runRoomDelete},
		{name: "react", args: "ROOM MSG EMOJI", nargs: 3, flags: withFlags((*reactArgs).define, runRoomReact), summary: "react to a message"},
		{name: "remove", args: "ROOM IDENTITY", nargs: 2, summary: "remove a member; a new key epoch starts", run: runRoomRemove},
		{name: "role", args: "ROOM IDENTITY ROLE", nargs: 3, summary: "set a member's role: admin, moderator or member", run: runRoomRole},
		{name: "requests", args: "ROOM", nargs: 1, summary: "list join requests waiting for approval (invites made with --approve)", run: runRoomRequests},
		{name: "approve", args: "ROOM REQUEST", nargs: 2, summary: "approve a join request: the candidate becomes a member", run: runRoomApprove},
		{name: "decline", args: "ROOM REQUEST", nargs: 2, summary: "decline a join request", run: runRoomDecline},
	}}
}

// inviteArgs are the flags of room invite.
type inviteArgs struct {
	expires time.Duration
	uses    uint64
	approve bool
}

func (a *inviteArgs) define(fs *flag.FlagSet) {
	fs.DurationVar(&a.expires, "expires", 7*24*time.Hour, "the invite expires after `DURATION` (0 for never)")
	fs.Uint64Var(&a.uses, "uses", 1, "how many people may join with it (`N`, 0 for unlimited)")
	fs.BoolVar(&a.approve, "approve", false, "admit nobody by itself: an admin approves each request ('hearth room requests')")
}

func runRoomRequests(ctx context.Context, r *runner, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.Rooms.Requests(ctx, args[0])
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		if len(out.Requests) == 0 {
			fmt.Fprintln(w, "no join request waits for approval")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "REQUEST\tNAME\tIDENTITY\tSINCE\n")
		for _, q := range out.Requests {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", q.Request, q.Name, q.Identity, q.Time)
		}
		tw.Flush()
	})
}

func runRoomApprove(ctx context.Context, r *runner, args []string) error {
	return r.do("approved: the candidate is a member", func(c *control.Client) error { return c.Rooms.Decide(ctx, args[0], args[1], true) })
}

func runRoomDecline(ctx context.Context, r *runner, args []string) error {
	return r.do("declined", func(c *control.Client) error { return c.Rooms.Decide(ctx, args[0], args[1], false) })
}

// sendArgs are the flags of room send.
type sendArgs struct{ replyTo string }

func (a *sendArgs) define(fs *flag.FlagSet) {
	fs.StringVar(&a.replyTo, "reply-to", "", "reply to message `MSG`")
}

// reactArgs are the flags of room react.
type reactArgs struct{ remove bool }

func (a *reactArgs) define(fs *flag.FlagSet) {
	fs.BoolVar(&a.remove, "remove", false, "take the reaction back")
}

func (r *runner) api() (*control.Client, error) { return r.client() }

// do runs one call on the daemon and prints msg (or {"ok":true}).
func (r *runner) do(msg string, call func(c *control.Client) error) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	if err := call(c); err != nil {
		return err
	}
	return r.emit(control.OK{OK: true}, func(w io.Writer) { fmt.Fprintln(w, msg) })
}

func runRoomCreate(ctx context.Context, r *runner, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.Rooms.Create(ctx, args[0])
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "room %s created\nid         %s\ndiscovery  %s\n", out.Name, out.Room, out.Discovery)
	})
}

func runRoomList(ctx context.Context, r *runner, _ []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.Rooms.List(ctx)
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		for _, p := range out.Pending {
			switch p.State {
			case "refused":
				fmt.Fprintf(w, "join refused (invite %s): %s ('hearth room join --cancel LINK' forgets it)\n", p.Invite[:8], p.Reason)
			case "awaiting approval":
				fmt.Fprintf(w, "pending join (invite %s), waiting for an admin's approval since %s\n", p.Invite[:8], p.Since)
			default:
				fmt.Fprintf(w, "pending join (invite %s), waiting in mailboxes since %s\n", p.Invite[:8], p.Since)
			}
		}
		if len(out.Rooms) == 0 {
			if len(out.Pending) == 0 {
				fmt.Fprintln(w, "no rooms yet: 'hearth room create NAME' or 'hearth room join LINK'")
			}
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "ROOM\tNAME\tROLE\tMEMBERS\tMESSAGES\tPEERS\n")
		for _, rm := range out.Rooms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\n", rm.Room, rm.Name, rm.Role, rm.Members, rm.Messages, rm.Peers)
		}
		tw.Flush()
	})
}

func runRoomMembers(ctx context.Context, r *runner, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.Rooms.Members(ctx, args[0])
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "IDENTITY\tNAME\tROLE\tDEVICES\n")
		for _, m := range out.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", m.Identity, m.Name, m.Role, len(m.Devices))
		}
		tw.Flush()
	})
}

func runRoomLeave(ctx context.Context, r *runner, args []string) error {
	return r.do("left the room", func(c *control.Client) error { return c.Rooms.Leave(ctx, args[0]) })
}

func runRoomInvite(ctx context.Context, r *runner, a *inviteArgs, args []string) error {
	if a.expires < 0 {
		return usagef("--expires must not be negative")
	}
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.Rooms.Invite(ctx, args[0], control.InviteCreate{ExpiresSeconds: int64(a.expires / time.Second), Uses: a.uses, Approve: a.approve})
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		fmt.Fprintln(w, out.Link)
		if isTerminal(r.env.Stdout) {
			if q, err := qrcode.New(out.Link, qrcode.Medium); err == nil {
				fmt.Fprint(w, q.ToSmallString(false))
			}
		}
		when := "never expires"
		if out.Expires != "" {
			when = "expires " + out.Expires
		}
		uses := "unlimited uses"
		if out.Uses > 0 {
			uses = fmt.Sprintf("%d use(s)", out.Uses)
		}
		fmt.Fprintf(r.env.Stderr, "The link is a secret: send it privately. It %s, %s.\n", when, uses)
	})
}

// joinArgs are the flags of room join.
type joinArgs struct{ cancel bool }

func (a *joinArgs) define(fs *flag.FlagSet) {
	fs.BoolVar(&a.cancel, "cancel", false, "withdraw the pending join of this link")
}

func runRoomJoin(ctx context.Context, r *runner, a *joinArgs, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	if a.cancel {
		if err := c.Rooms.CancelJoin(ctx, control.JoinCancel{Link: args[0]}); err != nil {
			return err
		}
		return r.emit(struct {
			Cancelled bool `json:"cancelled"`
		}{true}, func(w io.Writer) { fmt.Fprintln(w, "the pending join was withdrawn") })
	}
	if !r.json {
		fmt.Fprintln(r.env.Stderr, "asking an admin of the room to let this device in...")
	}
	out, err := c.Rooms.Join(ctx, args[0])
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		if out.Pending && out.Awaiting {
			fmt.Fprintf(w, "an admin of the room must approve the request ('hearth room requests' on their side).\n"+
				"This device joins by itself once one has, even if you stop this command or restart\n"+
				"the daemon; 'hearth room list' shows the join as pending until then, and\n"+
				"'hearth room join --cancel LINK' withdraws it.\n")
			return
		}
		if out.Pending {
			fmt.Fprintf(w, "no admin of the room is online: the request was left with %d mirror(s).\n"+
				"This device joins by itself when an admin answers, even if you stop and restart\n"+
				"the daemon; 'hearth room list' shows the join as pending until then.\n", len(out.Mailboxes))
			return
		}
		fmt.Fprintf(w, "joined %s (%s)\n", out.Name, out.Room)
	})
}

func runRoomSend(ctx context.Context, r *runner, a *sendArgs, args []string) error {
	if strings.TrimSpace(args[1]) == "" {
		return usagef("an empty message: give the text to send, e.g. hearth room send ROOM \"hello\"")
	}
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.Rooms.Send(ctx, args[0], control.MessageSend{Text: args[1], ReplyTo: a.replyTo})
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) { fmt.Fprintln(w, out.ID) })
}

// historyArgs are the flags of room history.
type historyArgs struct {
	limit  int
	before string
}

func (a *historyArgs) define(fs *flag.FlagSet) {
	fs.Func("limit", "print only the latest `N` messages (before --before, if given)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errors.New("a number of messages, 1 or more")
		}
		a.limit = n
		return nil
	})
	fs.StringVar(&a.before, "before", "", "print only the messages before `MSG` (its id as history prints it)")
}

func runRoomHistory(ctx context.Context, r *runner, a *historyArgs, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	var out *control.History
	if a.limit > 0 {
		out, err = c.Rooms.HistoryPage(ctx, args[0], a.limit, a.before)
	} else {
		out, err = c.Rooms.HistoryBefore(ctx, args[0], a.before)
	}
	if err != nil {
		return err
	}
	if out.More && len(out.Messages) > 0 && !r.json {
		fmt.Fprintf(r.env.Stderr, "older messages before these: hearth room history %s --limit %d --before %s\n", args[0], a.limit, out.Messages[0].ID)
	}
	var names memberNames
	if !r.json {
		names = namesOf(ctx, c, args[0])
	}
	return r.emit(out, func(w io.Writer) {
		for _, m := range out.Messages {
			text := m.Text
			switch {
			case m.Call != nil:
				text = "[call " + m.Call.Event
				if m.Call.DurationMs > 0 {
					text += ", " + (time.Duration(m.Call.DurationMs) * time.Millisecond).Round(time.Second).String()
				}
				text += "]"
			case m.Door != nil:
				text = "[door: " + m.Door.Event
				if m.Door.Identity != "" {
					text += " by " + short(m.Door.Identity)
				}
				if m.Door.Detail != "" {
					text += ", " + m.Door.Detail
				}
				text += "]"
				if m.File != nil {
					text += fmt.Sprintf(" %s (%s, %s)", m.File.Name, m.File.Type, human(m.File.Size))
				}
			case m.File != nil && !m.Deleted:
				text = fmt.Sprintf("[file %s, %s] %s", m.File.Name, human(m.File.Size), m.Text)
			case m.Deleted:
				text = "(deleted)"
			case m.Edited:
				text += " (edited)"
			}
			if m.ReplyTo != "" && !m.Deleted {
				text = "(reply to " + m.ReplyTo + ") " + text
			}
			t, _ := time.Parse(time.RFC3339, m.Time)
			fmt.Fprintf(w, "%s  %s  %s: %s\n", t.Local().Format("2006-01-02 15:04"), m.ID, names.of(m.Author), text)
			for e, who := range m.Reactions {
				fmt.Fprintf(w, "    %s %d\n", e, len(who))
			}
		}
	})
}

func short(hex string) string {
	if len(hex) > 8 {
		return hex[:8]
	}
	return hex
}

func runRoomEdit(ctx context.Context, r *runner, args []string) error {
	return r.do("edited", func(c *control.Client) error { return c.Rooms.Edit(ctx, args[0], args[1], args[2]) })
}

func runRoomDelete(ctx context.Context, r *runner, args []string) error {
	return r.do("deleted", func(c *control.Client) error { return c.Rooms.Delete(ctx, args[0], args[1]) })
}

func runRoomReact(ctx context.Context, r *runner, a *reactArgs, args []string) error {
	said := "reacted"
	if a.remove {
		said = "reaction taken back"
	}
	return r.do(said, func(c *control.Client) error {
		return c.Rooms.React(ctx, args[0], args[1], control.Reaction{Emoji: args[2], Remove: a.remove})
	})
}

func runRoomRemove(ctx context.Context, r *runner, args []string) error {
	return r.do("removed; a new key epoch starts", func(c *control.Client) error { return c.Rooms.Remove(ctx, args[0], args[1]) })
}

func runRoomRole(ctx context.Context, r *runner, args []string) error {
	if !strings.Contains(" admin moderator member ", " "+args[2]+" ") {
		return usagef("ROLE %q: want admin, moderator or member", args[2])
	}
	return r.do("role set", func(c *control.Client) error { return c.Rooms.SetRole(ctx, args[0], args[1], args[2]) })
}

// benchArgs are the flags of bench.
type benchArgs struct {
	quick          bool
	markdown       bool
	doorCommand    string
	historyCommand string
	only           []string
}

func (a *benchArgs) define(fs *flag.FlagSet) {
	fs.BoolVar(&a.quick, "quick", false, "smaller workloads: about a minute")
	fs.BoolVar(&a.markdown, "markdown", false, "print the figures as the README's table: with the machine, the date and each goal")
	fs.StringVar(&a.doorCommand, "door-command", "", "run the door section's doorphone daemon with `COMMAND` (e.g. 'qemu-aarch64-static dist/hearth-linux-arm64'); default: this hearth")
	fs.StringVar(&a.historyCommand, "history-command", "", "run the history section's daemon with `COMMAND` (e.g. 'qemu-aarch64-static dist/hearth-linux-arm64'); default: this hearth")
	fs.Func("only", "run only these sections, comma-separated: "+strings.Join(bench.Sections, ", "), func(v string) error {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				a.only = append(a.only, s)
			}
		}
		return nil
	})
}

func runBench(ctx context.Context, r *runner, a *benchArgs, _ []string) error {
	progress := func(s string) { fmt.Fprintln(r.env.Stderr, "bench:", s) }
	start := r.env.Now()
	figs, err := bench.Run(ctx, bench.Config{Quick: a.quick, Only: a.only, Progress: progress,
		DoorCommand: strings.Fields(a.doorCommand), HistoryCommand: strings.Fields(a.historyCommand)})
	if err != nil {
		return err
	}
	took := r.env.Now().Sub(start).Round(time.Second)
	defer func() {
		// What missed its goal, said once more where it is seen.
		for _, f := range bench.Missed(figs) {
			fmt.Fprintf(r.env.Stderr, "bench: %s: %s %s misses its goal (%s)\n", f.Name, bench.FormatValue(f.Value), f.Unit, f.GoalText())
		}
	}()
	if a.markdown && !r.json {
		bench.WriteMarkdown(r.env.Stdout, figs, a.quick, start, took)
		return nil
	}
	return r.emit(map[string]any{"figures": figs, "machine": bench.Machine(), "seconds": took.Seconds()}, func(w io.Writer) {
		bench.WriteTable(w, figs, took)
	})
}

// memberNames maps a room's identities to the names their devices gave.
type memberNames map[string]string

// namesOf reads a room's members' names; without them, identities show
// short.
func namesOf(ctx context.Context, c *control.Client, room string) memberNames {
	ms, err := c.Rooms.Members(ctx, room)
	if err != nil {
		return nil
	}
	out := memberNames{}
	for _, m := range ms.Members {
		if m.Name != "" {
			out[m.Identity] = m.Name
		}
	}
	return out
}

// of is an identity's name, or its first hex digits.
func (n memberNames) of(id string) string {
	if name := n[id]; name != "" {
		return name
	}
	return short(id)
}
