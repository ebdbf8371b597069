package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/hearthp2p/hearth/device"
	"github.com/hearthp2p/hearth/device/control"
)

func deviceCommands() *command {
	return &command{name: "device", summary: "link a new device to this identity", subs: []*command{
		{name: "link", flags: withFlags((*deviceLinkArgs).define, runDeviceLink), summary: "make a one-use link for a new device of this identity",
			long: `Make a link that joins a new device to this identity (asks the daemon). On
the new device, run 'hearth device join LINK'; on a phone, open the app link
it prints (a QR code on a terminal), when the daemon serves its page. The new device gets a proof
attested by this one, and every room of the identity with its keys: it then
reads the whole history and can edit and delete what the identity's other
devices wrote. The link works once, until it expires, and is a secret: pass
it privately. When the rooms have mirrors, the link names them too, and the
new device can link while this one is offline: it leaves its request in
their mailboxes, and this daemon answers when it next runs.`},
		{name: "join", args: "LINK", nargs: 1, flags: withFlags((*deviceJoinArgs).define, runDeviceJoin), summary: "link this new device with a link from another device (no daemon needed)",
			long: `Link this home's new device to an identity with a link from 'hearth device
link' on another device. Run it in an empty home, with no daemon: it asks the
other device directly, else leaves its request in the mailboxes of the
mirrors the link names and waits up to --wait for the answer. If none comes,
it exits with the join pending: run the same command again later (the
request is kept in the home) to pick up the answer. Once linked, start the
daemon: the identity's rooms sync from their peers and mirrors.`},
	}}
}

// deviceLinkArgs are the flags of device link.
type deviceLinkArgs struct{ expires time.Duration }

func (a *deviceLinkArgs) define(fs *flag.FlagSet) {
	fs.DurationVar(&a.expires, "expires", 24*time.Hour, "the link expires after `DURATION`")
}

// deviceJoinArgs are the flags of device join.
type deviceJoinArgs struct {
	net  netArgs
	name string
	wait time.Duration
}

func (a *deviceJoinArgs) define(fs *flag.FlagSet) {
	a.net.define(fs, "listen on `MADDR` while linking (repeatable; default: every interface)",
		"an always-on node to reach the others through (`MADDR`, repeatable)",
		"do not look for the other device on the LAN")
	fs.StringVar(&a.name, "name", "", "this device's `NAME` as other devices see it (default: the host name)")
	fs.DurationVar(&a.wait, "wait", 2*time.Minute, "wait up to `DURATION` for an answer left in a mailbox")
}

func runDeviceLink(ctx context.Context, r *runner, a *deviceLinkArgs, _ []string) error {
	if a.expires <= 0 {
		return usagef("--expires must be positive")
	}
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.DeviceLink(ctx, control.DeviceLinkRequest{ExpiresSeconds: int64(a.expires / time.Second)})
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "%s\n\nOn the new device: hearth device join '%s'\n", out.Link, out.Link)
		if out.App != "" {
			fmt.Fprintf(w, "On a phone: open %s\n", out.App)
			if isTerminal(r.env.Stdout) {
				if q, err := qrcode.New(out.App, qrcode.Low); err == nil {
					fmt.Fprint(w, "or scan:\n"+q.ToSmallString(false))
				}
			}
		}
		fmt.Fprintf(w, "Valid once, until %s. Keep it secret.\n", out.Expires)
	})
}

func runDeviceJoin(ctx context.Context, r *runner, a *deviceJoinArgs, args []string) error {
	home, err := r.home()
	if err != nil {
		return err
	}
	progress := func(s string) {
		if !r.json {
			fmt.Fprintln(r.env.Stderr, s)
		}
	}
	res, err := device.LinkJoin(ctx, device.LinkJoinConfig{Home: home, Link: args[0], Name: a.name,
		Listen: a.net.listen, Bootstrap: a.net.bootstrap, NoMDNS: a.net.noMDNS, Wait: a.wait,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Progress: progress, Now: r.env.Now})
	if err != nil {
		return err
	}
	return r.emit(res, func(w io.Writer) {
		if res.Pending {
			fmt.Fprintf(w, "no answer yet: the request waits with %d mirror(s). Run the same command again\nlater (once the other device has run) to finish linking.\n", len(res.Mailboxes))
			return
		}
		fmt.Fprintf(w, "linked: this device (%s) now belongs to identity %s, with %d room(s).\nStart the daemon ('hearth daemon') to sync them.\n", res.Device, res.Identity, res.Rooms)
	})
}
