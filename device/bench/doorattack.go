package bench

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/device"
	"github.com/hearthp2p/hearth/device/config"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
)

// doorUnderAttack measures press → ring while the household is attacked
// the two ways that used to silence the bell: a member of the household
// rings the door device itself every second (from her own program, with
// her real keys), and a stranger keeps 32 silent TCP connections open to
// it from 32 loopback addresses, re-opening each as it is closed. Three
// daemons run in this process: the door (simulated board), the phone and
// the member's.
func doorUnderAttack(ctx context.Context, presses int) ([]Figure, error) {
	dir, err := os.MkdirTemp("", "hearth-bench-doorattack-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stops []func() error
	defer func() {
		cancel()
		for _, s := range stops {
			s()
		}
	}()
	ids := map[string]*identity.Local{}
	start := func(name string, c device.Config) (*control.Client, error) {
		home := filepath.Join(dir, name)
		p, err := identity.NewPhrase()
		if err != nil {
			return nil, err
		}
		l, err := identity.Setup(home, p, "", identity.SetupOptions{Name: name})
		p.Wipe()
		if err != nil {
			return nil, err
		}
		ids[name] = l
		c.Home, c.NoMDNS, c.Listen = home, true, []string{"/ip4/127.0.0.1/tcp/0"}
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
		return control.NewClient(device.SocketPath(home)), nil
	}
	door := &device.DoorConfig{Room: "Home", Cooldown: 300 * time.Millisecond, UnlockPulse: time.Second, Clip: time.Second,
		Pairing: time.Minute, MotionEvery: 10 * time.Second,
		HAL: config.HALSettings{Driver: "sim", LongPress: config.Duration(800 * time.Millisecond), Debounce: config.Duration(20 * time.Millisecond)}}
	doorC, err := start("door", device.Config{Door: door, Calls: device.CallConfig{RingTimeout: 5 * time.Second}})
	if err != nil {
		return nil, err
	}
	st, err := doorC.Status(ctx)
	if err != nil {
		return nil, err
	}
	var boot, target string
	for _, a := range st.Addrs {
		if strings.Contains(a, "/tcp/") {
			boot = a
			target = "127.0.0.1:" + strings.Split(a, "/")[4]
		}
	}
	if boot == "" {
		return nil, errors.New("the door has no TCP address")
	}
	phoneC, err := start("phone", device.Config{Bootstrap: []string{boot}})
	if err != nil {
		return nil, err
	}
	malC, err := start("member", device.Config{Bootstrap: []string{boot}})
	if err != nil {
		return nil, err
	}
	var room string
	for _, c := range []*control.Client{phoneC, malC} {
		if room, err = pairWith(ctx, doorC, c); err != nil {
			return nil, err
		}
	}

	// The member rings the door device every second, as her program.
	ringer, err := hnet.New(hnet.Config{Key: ids["member"].Device, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		return nil, err
	}
	defer ringer.Close()
	full, err := ma.NewMultiaddr(boot)
	if err != nil {
		return nil, err
	}
	ai, err := peer.AddrInfoFromP2pAddr(full)
	if err != nil {
		return nil, err
	}
	roomID, err := parseRoomID(room)
	if err != nil {
		return nil, err
	}
	var rings, declined atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for ctx.Err() == nil {
			rings.Add(1)
			if s, err := ringOnce(ctx, ringer, *ai, roomID); err == nil && s.Kind == call.Decline {
				declined.Add(1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	})
	// The stranger holds the handshake slots.
	var held, refused atomic.Int64
	for i := range 32 {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i))}
		wg.Go(func() {
			d := net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}
			for ctx.Err() == nil {
				c, err := d.DialContext(ctx, "tcp", target)
				if err != nil {
					continue
				}
				stop := context.AfterFunc(ctx, func() { c.Close() })
				at := time.Now()
				io.Copy(io.Discard, c)
				stop()
				c.Close()
				if time.Since(at) > time.Second {
					held.Add(1)
				} else {
					refused.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(2 * time.Second) // both attacks under way

	var took []time.Duration
	for range presses {
		if err := waitFor(ctx, 30*time.Second, func() bool {
			s, _ := doorC.Door.Status(ctx)
			return s != nil && s.State == "idle"
		}); err != nil {
			return nil, fmt.Errorf("the door never idle: %w", err)
		}
		t0 := time.Now()
		if _, err := doorC.Door.Press(ctx, control.DoorPress{}); err != nil {
			return nil, err
		}
		var in control.Call
		if err := waitFor(ctx, 20*time.Second, func() bool {
			cs, err := phoneC.Calls.List(ctx)
			if err != nil {
				return false
			}
			for _, c := range cs.Calls {
				if c.State == call.StateRinging && c.Direction == call.Incoming {
					in = c
					return true
				}
			}
			return false
		}); err != nil {
			return nil, fmt.Errorf("a press under attack rang nobody: %w", err)
		}
		took = append(took, time.Since(t0))
		phoneC.Calls.Hangup(ctx, in.ID)
	}
	cancel()
	slices.Sort(took)
	return []Figure{
		{Name: "door press → ring under attack", Value: ms(took[len(took)/2]), Unit: "ms",
			Note: fmt.Sprintf("median of %d presses (slowest %.0f ms) while a member rang the door every second (%d rings: %d declined at once, the rest over the ring rate limit, reset unread) and a stranger held 32 silent connections (%d closed by the door's handshake timeout, %d refused at once)",
				len(took), ms(took[len(took)-1]), rings.Load(), declined.Load(), held.Load(), refused.Load())},
	}, nil
}

// pairWith joins c to the door's household room by its pairing mode.
func pairWith(ctx context.Context, doorC, c *control.Client) (string, error) {
	if _, err := doorC.Door.Press(ctx, control.DoorPress{Kind: "long"}); err != nil {
		return "", err
	}
	var st *control.Door
	if err := waitFor(ctx, 20*time.Second, func() bool {
		st, _ = doorC.Door.Status(ctx)
		return st != nil && st.Pairing != ""
	}); err != nil {
		return "", fmt.Errorf("pairing mode: %w", err)
	}
	if _, err := c.Rooms.Join(ctx, st.Pairing); err != nil {
		return "", err
	}
	if _, err := doorC.Door.Press(ctx, control.DoorPress{Kind: "long"}); err != nil {
		return "", err
	}
	return st.Room, waitFor(ctx, 20*time.Second, func() bool {
		s, _ := doorC.Door.Status(ctx)
		return s != nil && s.Pairing == ""
	})
}

// ringOnce rings the door from h, as a member's program would, and reads
// its answer.
func ringOnce(ctx context.Context, h *hnet.Node, door peer.AddrInfo, room [16]byte) (call.Signal, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.Host.Connect(ctx, door); err != nil {
		return call.Signal{}, err
	}
	s, err := h.Host.NewStream(ctx, door.ID, call.Protocol)
	if err != nil {
		return call.Signal{}, err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := (&call.Signal{Kind: call.Ring, Call: call.NewID(), Room: room, Media: call.Audio}).MarshalBinary()
	if err != nil {
		return call.Signal{}, err
	}
	if err := wire.WriteMsg(s, b); err != nil {
		return call.Signal{}, err
	}
	ab, err := wire.ReadMsg(bufio.NewReader(s), call.MaxSignal)
	if err != nil {
		return call.Signal{}, err
	}
	var out call.Signal
	return out, out.UnmarshalBinary(ab)
}

func parseRoomID(s string) ([16]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return [16]byte{}, fmt.Errorf("room id %q", s)
	}
	return [16]byte(b), nil
}

// waitFor polls ok every 20 ms for at most d.
func waitFor(ctx context.Context, d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return errors.New("not in time")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
