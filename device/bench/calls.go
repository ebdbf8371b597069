package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/vnet"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/call/av"
	hnet "github.com/hearthp2p/hearth/p2p/net"
)

// callSide is a call manager on a libp2p host on loopback.
type callSide struct {
	node *hnet.Node
	m    *call.Manager
}

func newCallSide(w, h int, vn transport.Net) (*callSide, error) {
	n, err := loopbackNode()
	if err != nil {
		return nil, err
	}
	room := [16]byte{'b', 'e', 'n', 'c', 'h'}
	pc := av.PeerConfig{Loopback: true, IPFilter: func(ip net.IP) bool { return ip.IsLoopback() },
		Source: av.Synthetic{Width: w, Height: h, FPS: 30, Bitrate: 2_500_000}}
	if vn != nil {
		pc.Net, pc.IPFilter = vn, nil
	}
	m := call.New(call.Config{
		Host: n.Host,
		Key:  n.Host.Peerstore().PrivKey(n.Host.ID()),
		Authorize: func(p peer.ID, r [16]byte) (call.Party, error) {
			if r != room {
				return call.Party{}, errors.New("not the bench room")
			}
			return call.Party{Identity: p.String()}, nil
		},
		Endpoint: av.PeerEndpoints(pc),
	})
	return &callSide{node: n, m: m}, nil
}

func (s *callSide) close() {
	s.m.Close()
	s.node.Close()
}

// callLatency places a 720p30 call on loopback, answered at once, and
// measures its setup and glass-to-glass latency for d.
func callLatency(ctx context.Context, d, delay time.Duration, label string) ([]Figure, error) {
	const w, h = 1280, 720
	var na, nb transport.Net
	if delay > 0 {
		// The media over pion's virtual network, every packet delayed.
		r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", MinDelay: delay, LoggerFactory: quietLogs{}})
		if err != nil {
			return nil, err
		}
		var nets []*vnet.Net
		for _, ip := range []string{"10.0.0.1", "10.0.0.2"} {
			n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
			if err != nil {
				return nil, err
			}
			if err := r.AddNet(n); err != nil {
				return nil, err
			}
			nets = append(nets, n)
		}
		if err := r.Start(); err != nil {
			return nil, err
		}
		defer r.Stop()
		na, nb = nets[0], nets[1]
	}
	a, err := newCallSide(w, h, na)
	if err != nil {
		return nil, err
	}
	defer a.close()
	b, err := newCallSide(w, h, nb)
	if err != nil {
		return nil, err
	}
	defer b.close()
	if err := a.node.Host.Connect(ctx, peer.AddrInfo{ID: b.node.Host.ID(), Addrs: b.node.Host.Addrs()}); err != nil {
		return nil, err
	}
	start := time.Now()
	c, err := a.m.Place(ctx, [16]byte{'b', 'e', 'n', 'c', 'h'}, []peer.ID{b.node.Host.ID()}, call.Audio|call.Video)
	if err != nil {
		return nil, err
	}
	var in *call.Call
	for in == nil {
		if time.Since(start) > 10*time.Second {
			return nil, errors.New("the call never rang")
		}
		if live, ok := b.m.Live(); ok {
			in = live
		} else {
			time.Sleep(time.Millisecond)
		}
	}
	rang := time.Since(start)
	answered := time.Now()
	if err := in.Answer(call.Audio | call.Video); err != nil {
		return nil, err
	}
	var first time.Duration
	for first == 0 {
		if time.Since(answered) > 20*time.Second {
			return nil, fmt.Errorf("no remote frame 20 s after the answer: %+v", c.Status())
		}
		if s := c.Status(); s.Stats != nil && s.Stats.VideoFrames > 0 {
			first = time.Since(answered)
		} else {
			time.Sleep(time.Millisecond)
		}
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(d):
	}
	s := c.Status()
	c.Hangup("")
	if s.Stats == nil || s.Stats.VideoFrames == 0 {
		return nil, errors.New("no frames")
	}
	lost := float64(s.Stats.FrameGaps) / float64(s.Stats.VideoFrames+s.Stats.FrameGaps) * 100
	figs := []Figure{
		{Name: "call latency p50 " + label, Value: s.Stats.LatencyP50, Unit: "ms", Note: fmt.Sprintf("glass to glass, 1280x720 VP8 at 30 fps, stamped frames read back; %d frames, %.1f%% lost", s.Stats.VideoFrames, lost)},
		{Name: "call latency p99 " + label, Value: s.Stats.LatencyP99, Unit: "ms", Note: "same"},
	}
	if label == "(loopback)" {
		figs = append([]Figure{
			{Name: "call ring", Value: ms(rang), Unit: "ms", Note: "place → ringing at the callee (libp2p stream, authorization)"},
			{Name: "call setup", Value: ms(first), Unit: "ms", Note: "answer → first decoded remote video frame (ICE, DTLS, SRTP, key frame)"},
		}, figs...)
	}
	return figs, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// calls measures the call figures: setup and latency on loopback, the
// latency again with 30 ms added each way (the media through pion's
// virtual network: this machine's kernel has no netem), and the encoder's
// processor time (section encode).
func calls(ctx context.Context, quick bool) ([]Figure, error) {
	if len(av.Codecs()) == 0 {
		return []Figure{{Name: "calls", Unit: "-", Note: "not measured: this hearth has no media codecs (hearth version); build it with -tags codecs"}}, nil
	}
	d := 10 * time.Second
	if quick {
		d = 3 * time.Second
	}
	out, err := callLatency(ctx, d, 0, "(loopback)")
	if err != nil {
		return nil, err
	}
	f, err := callLatency(ctx, d, 30*time.Millisecond, "(+30 ms each way)")
	if err != nil {
		return nil, fmt.Errorf("with 30 ms added: %w", err)
	}
	return append(out, f...), nil
}

// encode measures the encoders' processor time per stream (quick: 480p
// only, fewer frames: enough to prove the codecs run, as under qemu).
func encode(quick bool) ([]Figure, error) {
	if len(av.Codecs()) == 0 {
		return []Figure{{Name: "encode", Unit: "-", Note: "not measured: this hearth has no media codecs (hearth version); build it with -tags codecs"}}, nil
	}
	sizes, frames := [][2]int{{1280, 720}, {640, 480}}, 90
	if quick {
		sizes, frames = [][2]int{{640, 480}}, 15
	}
	var out []Figure
	for _, c := range []struct{ codec, name, how string }{{"vp8", "VP8", "libvpx, real time"}, {"h264", "H.264", "libx264, ultrafast, baseline"}} {
		if !slices.Contains(av.Codecs(), c.codec) {
			out = append(out, Figure{Name: c.name + " encode", Unit: "-", Note: "not in this build"})
			continue
		}
		for _, size := range sizes {
			per, bytes, err := av.MeasureEncode(c.codec, size[0], size[1], 30, 2_500_000, frames)
			if err != nil {
				return nil, err
			}
			out = append(out, Figure{Name: fmt.Sprintf("%s encode %dx%d", c.name, size[0], size[1]), Value: float64(per*30) / float64(time.Second) * 100, Unit: "% core",
				Note: fmt.Sprintf("processor time of one stream at 30 fps (%s, 2.5 Mbit/s; %.1f ms and %d bytes a frame)", c.how, ms(per), bytes)})
		}
	}
	return out, nil
}

// quietLogs keeps pion's virtual network quiet.
type quietLogs struct{}

func (quietLogs) NewLogger(string) logging.LeveledLogger {
	return logging.NewDefaultLeveledLoggerForScope("", logging.LogLevelDisabled, io.Discard)
}
