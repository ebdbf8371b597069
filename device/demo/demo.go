package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/device"
	"github.com/hearthp2p/hearth/device/config"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/identity"
)

// Config is `hearth demo`: a doorphone on the simulated board with the
// synthetic camera, and a phone, both daemons in this process.
type Config struct {
	// Dir holds the two homes; empty: a new temporary folder, removed at
	// the end.
	Dir string
	// Web is the phone's page address (the door's is the next port);
	// empty: free ports.
	Web string
	// Story plays the story (a ring answered, a ring missed, an unlock)
	// before waiting; Once stops after it.
	Story, Once bool
	// Out gets the narration.
	Out    io.Writer
	Logger *slog.Logger
}

// Figures are what the story measured.
type Figures struct {
	PressToRing    time.Duration // button press → ringing on the phone
	AnswerToFrame  time.Duration // answer → first video frame from the door
	ViewToFrame    time.Duration // live view asked → first video frame
	FramesReceived uint64
	MissedWithClip bool
	Unlocked       bool
}

// Demo runs the demo until ctx is done (or after the story, with Once).
func Run(ctx context.Context, cfg Config) (*Figures, error) {
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "hearth-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	doorHome, phoneHome := filepath.Join(dir, "door"), filepath.Join(dir, "phone")
	var ids [2]*identity.Local
	for i, h := range []struct{ home, name string }{{doorHome, "Front door"}, {phoneHome, "Phone"}} {
		if identity.Exists(h.home) {
			l, err := identity.Load(h.home)
			if err != nil {
				return nil, err
			}
			ids[i] = l
			continue
		}
		p, err := identity.NewPhrase()
		if err != nil {
			return nil, err
		}
		l, err := identity.Setup(h.home, p, "", identity.SetupOptions{Name: h.name})
		p.Wipe()
		if err != nil {
			return nil, err
		}
		ids[i] = l
	}
	defer ids[0].Wipe()
	defer ids[1].Wipe()

	phoneWeb, doorWeb := "127.0.0.1:0", "127.0.0.1:0"
	if cfg.Web != "" {
		phoneWeb = cfg.Web
		host, port, err := splitPort(cfg.Web)
		if err != nil {
			return nil, err
		}
		doorWeb = fmt.Sprintf("%s:%d", host, port+1)
		if port == 0 {
			doorWeb = cfg.Web // free ports for both
		}
	}
	loop := []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	logger := cfg.Logger
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stops []func() error
	defer func() {
		cancel()
		for _, s := range stops {
			s()
		}
	}()
	start := func(c device.Config) (*control.Client, error) {
		ready := make(chan struct{})
		done := make(chan error, 1)
		c.Ready = func() { close(ready) }
		go func() { done <- device.Run(ctx, c) }()
		select {
		case <-ready:
		case err := <-done:
			return nil, err
		}
		stops = append(stops, func() error { return <-done })
		return control.NewClient(device.SocketPath(c.Home)), nil
	}
	door := &device.DoorConfig{Room: "Home", Admins: []identity.PublicKey{ids[1].Identity}, Cooldown: 2 * time.Second,
		UnlockPulse: 3 * time.Second, Clip: 3 * time.Second, Pairing: 5 * time.Minute, MotionEvery: 10 * time.Second,
		HAL: config.HALSettings{Driver: "sim", LongPress: config.Duration(time.Second), Debounce: config.Duration(20 * time.Millisecond)}}
	doorC, err := start(device.Config{Home: doorHome, Listen: loop, NoMDNS: true, Web: doorWeb, Door: door, Logger: tagged(logger, "door"),
		Calls: device.CallConfig{RingTimeout: 10 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("the door: %w", err)
	}
	dst, err := doorC.Status(ctx)
	if err != nil {
		return nil, err
	}
	var boot []string
	for _, a := range dst.Addrs {
		if strings.Contains(a, "/tcp/") {
			boot = append(boot, a)
		}
	}
	phoneC, err := start(device.Config{Home: phoneHome, Listen: loop, NoMDNS: true, Web: phoneWeb, Bootstrap: boot, Logger: tagged(logger, "phone")})
	if err != nil {
		return nil, fmt.Errorf("the phone: %w", err)
	}
	pst, err := phoneC.Status(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "Two devices run on this machine, each with its own identity, talking over loopback:\n")
	fmt.Fprintf(out, "  the door   (simulated button, LED and relay; synthetic camera): %s\n", dst.Web)
	fmt.Fprintf(out, "  the phone  (answers the door in the browser):                  %s\n", pst.Web)
	fmt.Fprintf(out, "Open both links in a browser. Their homes: %s\n\n", dir)

	rm, err := demoPair(ctx, out, doorC, phoneC)
	if err != nil {
		return nil, err
	}
	var fig *Figures
	if cfg.Story {
		if fig, err = demoStory(ctx, out, doorC, phoneC, rm); err != nil {
			return fig, err
		}
	}
	if cfg.Once {
		return fig, nil
	}
	fmt.Fprintf(out, "\nThe demo goes on: press the button on the door's page (or 'hearth --home %s door press'),\n"+
		"answer on the phone's page, unlock from it. Ctrl-C stops it.\n", doorHome)
	<-ctx.Done()
	return fig, nil
}

func tagged(l *slog.Logger, who string) *slog.Logger {
	if l == nil {
		return nil
	}
	return l.With(slog.String("device", who))
}

func splitPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	var port int
	if i < 0 {
		return "", 0, fmt.Errorf("--web %q: HOST:PORT", addr)
	}
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil || port < 0 || port >= 65535 {
		return "", 0, fmt.Errorf("--web %q: a port below 65535", addr)
	}
	return addr[:i], port, nil
}

// waitUntil polls ok every 20 ms until it holds or d passes.
func waitUntil(ctx context.Context, d time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("the demo waited %s for %s", d, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// demoPair joins the phone to the household through the door's pairing
// mode, unless it is in already.
func demoPair(ctx context.Context, out io.Writer, doorC, phoneC *control.Client) (string, error) {
	st, err := doorC.Door.Status(ctx)
	if err != nil {
		return "", err
	}
	if rooms, err := phoneC.Rooms.List(ctx); err == nil {
		for _, r := range rooms.Rooms {
			if r.Room == st.Room {
				return st.Room, nil
			}
		}
	}
	fmt.Fprintf(out, "1. A long press on the door's button: pairing mode (the LED blinks blue), an invite on its page.\n")
	if _, err := doorC.Door.Press(ctx, control.DoorPress{Kind: "long"}); err != nil {
		return "", err
	}
	if err := waitUntil(ctx, 20*time.Second, "pairing mode", func() bool {
		st, _ = doorC.Door.Status(ctx)
		return st != nil && st.Pairing != ""
	}); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "   The phone joins the household %q with it (hearth room join LINK).\n", st.RoomName)
	if _, err := phoneC.Rooms.Join(ctx, st.Pairing); err != nil {
		return "", fmt.Errorf("the phone joining: %w", err)
	}
	doorC.Door.Press(ctx, control.DoorPress{Kind: "long"})
	ph, _ := phoneC.Status(ctx)
	if err := waitUntil(ctx, 20*time.Second, "the phone to become an admin", func() bool {
		ms, err := doorC.Rooms.Members(ctx, st.Room)
		if err != nil || ph == nil {
			return false
		}
		for _, m := range ms.Members {
			if m.Identity == ph.Identity && m.Role == "admin" {
				return true
			}
		}
		return false
	}); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "   The phone's identity is in doorphone.admins: it is made an admin, so it may unlock.\n")
	return st.Room, nil
}

// demoStory rings and answers, rings and misses, and unlocks.
func demoStory(ctx context.Context, out io.Writer, doorC, phoneC *control.Client, rm string) (*Figures, error) {
	fig := &Figures{}
	doorIdle := func() error {
		return waitUntil(ctx, 30*time.Second, "the door to be idle", func() bool {
			st, _ := doorC.Door.Status(ctx)
			return st != nil && st.State == "idle"
		})
	}
	if err := doorIdle(); err != nil {
		return fig, err
	}
	ringing := func() (control.Call, bool) {
		cs, err := phoneC.Calls.List(ctx)
		if err != nil {
			return control.Call{}, false
		}
		for _, c := range cs.Calls {
			if c.State == call.StateRinging && c.Direction == call.Incoming {
				return c, true
			}
		}
		return control.Call{}, false
	}
	fmt.Fprintf(out, "2. Someone presses the door's button: every device of the household rings.\n")
	t0 := time.Now()
	if _, err := doorC.Door.Press(ctx, control.DoorPress{}); err != nil {
		return fig, err
	}
	var in control.Call
	if err := waitUntil(ctx, 20*time.Second, "the phone to ring", func() bool {
		var ok bool
		in, ok = ringing()
		return ok
	}); err != nil {
		return fig, err
	}
	fig.PressToRing = time.Since(t0)
	fmt.Fprintf(out, "   The phone rings %s after the press (a press is a short hold and a release).\n", fig.PressToRing.Round(time.Millisecond))
	fmt.Fprintf(out, "   The phone answers with its voice only; the door sends its camera and microphone.\n")
	if _, err := phoneC.Calls.Answer(ctx, in.ID, control.CallAnswer{AudioOnly: true}); err != nil {
		return fig, err
	}
	var c *control.Call
	if err := waitUntil(ctx, 20*time.Second, "video from the door", func() bool {
		var err error
		c, err = phoneC.Calls.Get(ctx, in.ID)
		return err == nil && c.Stats != nil && c.Stats.VideoFrames > 0
	}); err != nil {
		return fig, err
	}
	select {
	case <-ctx.Done():
		return fig, ctx.Err()
	case <-time.After(3 * time.Second):
	}
	if c, err := phoneC.Calls.Get(ctx, in.ID); err == nil && c.Stats != nil {
		fig.AnswerToFrame = time.Duration(c.Stats.FirstFrameMs * float64(time.Millisecond))
		fig.FramesReceived = c.Stats.VideoFrames
		fmt.Fprintf(out, "   First frame of the door's video %s after the answer; %d frames in 3 s.\n",
			fig.AnswerToFrame.Round(time.Millisecond), fig.FramesReceived)
	}
	phoneC.Calls.Hangup(ctx, in.ID)
	fmt.Fprintf(out, "   The phone hangs up.\n")

	if err := doorIdle(); err != nil {
		return fig, err
	}
	fmt.Fprintf(out, "3. Another press, and nobody answers for 10 s: a missed ring, with its snapshot and a clip.\n")
	missed0 := 0
	if st, err := doorC.Door.Status(ctx); err == nil {
		missed0 = st.Missed
	}
	if _, err := doorC.Door.Press(ctx, control.DoorPress{}); err != nil {
		return fig, err
	}
	var entry *control.Message
	if err := waitUntil(ctx, 40*time.Second, "the missed ring in the room", func() bool {
		st, err := doorC.Door.Status(ctx)
		if err != nil || st.Missed == missed0 {
			return false
		}
		h, err := phoneC.Rooms.History(ctx, rm)
		if err != nil {
			return false
		}
		for i := range h.Messages {
			if m := h.Messages[i]; m.Door != nil && m.Door.Event == "missed" {
				entry = &h.Messages[i]
			}
		}
		return entry != nil
	}); err != nil {
		return fig, err
	}
	if entry.File != nil {
		fig.MissedWithClip = true
		fmt.Fprintf(out, "   The phone sees it: %s (%d bytes, %s), fetched from the door, end-to-end encrypted.\n", entry.File.Name, entry.File.Size, entry.File.Type)
	} else {
		fmt.Fprintf(out, "   The phone sees it (no clip: this build has no video codecs).\n")
	}

	fmt.Fprintf(out, "4. The phone unlocks the door: a signed request straight to the door, which pulses its relay.\n")
	u, err := phoneC.Door.Unlock(ctx, rm, control.Unlock{})
	if err != nil {
		return fig, err
	}
	if !u.Opened {
		return fig, errors.New("the door refused the phone: " + u.Reason)
	}
	fig.Unlocked = true
	st, _ := doorC.Door.Status(ctx)
	fmt.Fprintf(out, "   Opened: the relay pulsed (%d pulse(s) so far).\n", st.RelayPulses)

	fmt.Fprintf(out, "5. Later, the phone looks at the door (Live view on its page): the door calls it back with its camera.\n")
	if err := doorIdle(); err != nil {
		return fig, err
	}
	t1 := time.Now()
	v, err := phoneC.Door.View(ctx, rm, control.View{})
	if err != nil {
		return fig, err
	}
	if err := waitUntil(ctx, 10*time.Second, "the live view ringing", func() bool {
		c, err := phoneC.Calls.Get(ctx, v.Call)
		return err == nil && c.State == "ringing"
	}); err != nil {
		return fig, err
	}
	if _, err := phoneC.Calls.Answer(ctx, v.Call, control.CallAnswer{AudioOnly: true}); err != nil {
		return fig, err
	}
	if err := waitUntil(ctx, 20*time.Second, "the door's camera", func() bool {
		c, err := phoneC.Calls.Get(ctx, v.Call)
		return err == nil && c.Stats != nil && c.Stats.VideoFrames > 0
	}); err != nil {
		return fig, err
	}
	fig.ViewToFrame = time.Since(t1)
	fmt.Fprintf(out, "   The door's camera on the phone %s after it asked; the phone hangs up.\n\n", fig.ViewToFrame.Round(time.Millisecond))
	phoneC.Calls.Hangup(ctx, v.Call)
	st, _ = doorC.Door.Status(ctx)
	fmt.Fprintf(out, "The household room now reads (hearth room history %s):\n", st.RoomName)
	h, err := phoneC.Rooms.History(ctx, rm)
	if err == nil {
		for _, m := range h.Messages {
			switch {
			case m.Door != nil:
				line := "door: " + m.Door.Event
				if m.Door.Detail != "" {
					line += ", " + m.Door.Detail
				}
				if m.File != nil {
					line += fmt.Sprintf(" [%s]", m.File.Name)
				}
				fmt.Fprintf(out, "   %s\n", line)
			case m.Call != nil:
				fmt.Fprintf(out, "   call %s\n", m.Call.Event)
			}
		}
	}
	return fig, nil
}
