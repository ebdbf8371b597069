package cli

import (
	"context"
	"flag"
	"log/slog"

	"github.com/hearthp2p/hearth/device/demo"
)

func demoCommand() *command {
	return &command{name: "demo", flags: withFlags((*demoArgs).define, runDemo), summary: "the doorphone on simulated hardware and a phone, on this machine",
		long: `Run the whole story on one machine: a doorphone on the simulated board
(button, LED, relay) with the synthetic camera, and a phone, two daemons with
their own identities talking over loopback. The phone joins the household
through the door's pairing mode; then someone presses the button, the phone
rings, answers and sees the door; a second ring goes unanswered and leaves a
snapshot and a clip in the room; the phone unlocks the door. Both web pages
stay up afterwards (their links are printed): press the button on the door's
page, answer on the phone's. Ctrl-C stops it. The homes are thrown away at
the end unless --dir keeps them.`}
}

// demoArgs are the flags of demo.
type demoArgs struct {
	dir      string
	web      string
	noStory  bool
	once     bool
	logLevel string
}

func (a *demoArgs) define(fs *flag.FlagSet) {
	fs.StringVar(&a.dir, "dir", "", "keep the two homes in `DIR` (default: a temporary folder, removed at the end)")
	fs.StringVar(&a.web, "web", "127.0.0.1:8080", "the phone's page on loopback `ADDR`; the door's is on the next port")
	fs.BoolVar(&a.noStory, "no-story", false, "do not play the story: only pair the phone, then wait")
	fs.BoolVar(&a.once, "once", false, "stop after the story")
	fs.StringVar(&a.logLevel, "log-level", "warn", "`LEVEL` of the daemons' logs on stderr: debug, info, warn or error")
}

func runDemo(ctx context.Context, r *runner, a *demoArgs, _ []string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	logger := slog.New(slog.NewTextHandler(r.env.Stderr, &slog.HandlerOptions{Level: level}))
	out := r.env.Stdout
	if r.json {
		out = r.env.Stderr // stdout has the one JSON object
	}
	fig, err := demo.Run(ctx, demo.Config{Dir: a.dir, Web: a.web, Story: !a.noStory, Once: a.once,
		Out: out, Logger: logger})
	if err != nil {
		return err
	}
	if r.json && fig != nil {
		return r.emit(map[string]any{
			"press_to_ring_ms":   fig.PressToRing.Seconds() * 1000,
			"answer_to_frame_ms": fig.AnswerToFrame.Seconds() * 1000,
			"view_to_frame_ms":   fig.ViewToFrame.Seconds() * 1000,
			"frames":             fig.FramesReceived,
			"missed_with_clip":   fig.MissedWithClip,
			"unlocked":           fig.Unlocked,
		}, nil)
	}
	return nil
}
