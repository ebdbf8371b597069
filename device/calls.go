package device

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/webrtc/v4"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/room"
)

// calls places and takes this device's calls, rung over its rooms.
type Calls struct {
	rs    *Manager
	m     *call.Manager
	turn  *call.TURNServer
	ice   []webrtc.ICEServer // --stun
	turns *call.TURNClients
	web   *WebServer // the page, with --web
	src   *hookSource
	door  *Door // on a doorphone

	mu      sync.Mutex
	written map[call.ID]bool // outgoing calls whose start is in the room
}

// CallConfig is how the daemon makes calls.
type CallConfig struct {
	// STUN are STUN server URLs (stun:HOST:PORT) given by the user.
	STUN []string
	// TURNListen, if set, runs a STUN/TURN server on this address (UDP and TCP)
	// for the devices this node serves (its identity, MirrorOwners and
	// TURNUsers); TURNPublic is the address devices reach it at
	// (default: TURNListen's, when it is not unspecified).
	TURNListen string
	TURNPublic net.IP
	TURNUsers  []identity.PublicKey
	// RecordDir, if set, records what each call receives into a folder
	// per call.
	RecordDir string
	// RingTimeout is how long a call rings; zero means the default.
	RingTimeout time.Duration
	// VideoCodec is what the synthetic source sends: vp8 (default) or
	// h264.
	VideoCodec string
	// Speaker, if set, is a program playing raw 48 kHz mono S16LE PCM
	// from stdin: the other side's voice on a headless device.
	Speaker []string
	// Microphone, if set, is a program writing 48 kHz mono S16LE PCM on
	// stdout (call.ARecordCommand); else the synthetic tone (NoAudio:
	// nothing).
	Microphone []string
	NoAudio    bool
	// Camera, if set, is a program writing H.264 (Annex B) on stdout
	// (call.RPiCamCommand): its frames are sent instead of the synthetic
	// pattern. Still, if set, writes one JPEG (call.RPiStillCommand).
	Camera []string
	Still  []string
	// Doorphone: this device is a doorphone, which has nobody to answer a
	// ring: it declines every ring at once (it is never busy for one).
	Doorphone bool
}

// doorphoneDeclines is what a doorphone answers a ring.
const doorphoneDeclines = "a doorphone takes no calls: it rings you when someone is at the door"

func NewCalls(rs *Manager, cfg CallConfig, owners []identity.PublicKey) (*Calls, error) {
	c := &Calls{rs: rs, written: map[call.ID]bool{}}
	proof, err := rs.id.Proof.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var ice []webrtc.ICEServer
	for _, u := range cfg.STUN {
		ice = append(ice, webrtc.ICEServer{URLs: []string{u}})
	}
	if cfg.TURNListen != "" {
		pub := cfg.TURNPublic
		if pub == nil {
			host, _, err := net.SplitHostPort(cfg.TURNListen)
			if err != nil {
				return nil, fmt.Errorf("--turn %q: %w", cfg.TURNListen, err)
			}
			pub = net.ParseIP(host)
		}
		served := append([]identity.PublicKey{rs.self.Identity}, owners...)
		served = append(served, cfg.TURNUsers...)
		t, err := call.StartTURN(call.TURNConfig{Listen: cfg.TURNListen, Public: pub, Host: rs.node.Host, Logger: rs.log,
			Authorize: func(p peer.ID, proofB []byte) error {
				dev, err := hnet.DeviceOf(p)
				if err != nil {
					return err
				}
				proof, err := identity.ParseProof(proofB)
				if err != nil {
					return fmt.Errorf("device proof: %w", err)
				}
				if _, err := proof.Verify(identity.VerifyOptions{Device: dev}); err != nil {
					return fmt.Errorf("device proof: %w", err)
				}
				id := proof.Identity
				if !slices.Contains(served, id) {
					return fmt.Errorf("identity %s is not served here (see --turn-user)", id.Short())
				}
				return nil
			}})
		if err != nil {
			return nil, err
		}
		c.turn = t
	}
	turns := &call.TURNClients{Host: rs.node.Host, Nodes: rs.node.BootstrapPeers, Proof: proof, Log: rs.log}
	c.ice, c.turns = ice, turns
	c.src = &hookSource{Source: source(cfg)}
	peerEndpoint := call.PeerEndpoints(call.PeerConfig{
		// Two homes on one machine (and tests) meet over loopback.
		Loopback:   true,
		ICEServers: ice,
		TURN:       turns,
		RecordDir:  cfg.RecordDir,
		Source:     c.src,
		Speaker:    cfg.Speaker,
		Logger:     rs.log,
	})
	var decline func(call.Party, [16]byte) string
	if cfg.Doorphone {
		decline = func(call.Party, [16]byte) string { return doorphoneDeclines }
	}
	c.m = call.New(call.Config{
		Host:      rs.node.Host,
		Authorize: c.authorize,
		Reach:     rs.node.Reach,
		Offence:   func(p peer.ID, why error) { rs.node.Offence(p, "call", why) },
		// A call placed or answered on the web page has its media in the
		// browser; any other, in the daemon.
		Endpoint: func(cl *call.Call, ev call.EndpointEvents) (call.Endpoint, error) {
			if sess, ok := cl.Tag().(PageSession); ok && c.web != nil {
				return c.web.NewBrowserEndpoint(string(sess), cl, ev)
			}
			return peerEndpoint(cl, ev)
		},
		OnChange:    c.changed,
		RingTimeout: cfg.RingTimeout,
		Logger:      rs.log,
		Decline:     decline,
	})
	return c, nil
}

func (c *Calls) Close() {
	c.m.Close()
	if c.turn != nil {
		c.turn.Close()
	}
}

// authorize says who a peer is in a room this device is in: a device of
// a member, not revoked.
func (c *Calls) authorize(p peer.ID, id [16]byte) (call.Party, error) {
	c.rs.mu.Lock()
	r, ok := c.rs.byID[room.ID(id)]
	c.rs.mu.Unlock()
	if !ok {
		return call.Party{}, errors.New("not a room of this device")
	}
	dev, err := hnet.DeviceOf(p)
	if err != nil {
		return call.Party{}, err
	}
	var party call.Party
	err = errors.New("not a device of a member of the room")
	r.View(func(v *room.View) {
		d, ok := v.Devices[dev]
		if !ok || d.Revoked || d.Forked {
			return
		}
		if _, member := v.Members[d.Identity]; !member {
			return
		}
		party = call.Party{Identity: d.Identity.String(), Name: d.Name, Device: d.Device.String()}
		err = nil
	})
	return party, err
}

// Targets are the devices to ring in a room: every device of every other
// member.
func (c *Calls) Targets(r *room.Room) []peer.ID {
	me := c.rs.self.Identity
	var out []peer.ID
	r.View(func(v *room.View) {
		for _, d := range v.Devices {
			if d.Identity == me || d.Revoked || d.Forked {
				continue
			}
			if _, member := v.Members[d.Identity]; !member {
				continue
			}
			if p, err := PeerOf(d.Device); err == nil {
				out = append(out, p)
			}
		}
	})
	return out
}

// changed writes the caller's call entries into the room: started when
// answered; ended (with its duration), missed or declined at the end.
func (c *Calls) changed(s call.Status) {
	if c.web != nil {
		c.web.CallsChanged()
	}
	if c.door != nil {
		c.door.CallChanged(s)
	}
	// The room records the call its caller placed; not the calls between
	// the participants of a group, which follow from it.
	if s.Direction != call.Outgoing || (s.Group != "" && s.Group != s.ID) {
		return
	}
	id, err := call.ParseID(s.ID)
	if err != nil {
		return
	}
	var ev room.CallEvent
	var dur time.Duration
	c.mu.Lock()
	started := c.written[id]
	switch {
	case s.State == call.StateActive && !started:
		ev = room.CallStarted
		c.written[id] = true
	case s.State == call.StateEnded:
		delete(c.written, id)
		switch {
		case !s.Answered.IsZero():
			ev, dur = room.CallEnded, s.Duration()
		case s.Reason == call.EndDeclined || s.Reason == call.EndBusy:
			ev = room.CallDeclined
		case s.Reason == call.EndMissed:
			ev = room.CallMissed
		}
	}
	c.mu.Unlock()
	if ev == 0 {
		return
	}
	r, err := c.rs.Resolve(s.Room)
	if err != nil {
		return
	}
	if _, err := r.Write(room.Op{Type: room.OpCall, Call: id, CallEvent: ev, Duration: uint64(dur.Milliseconds())}); err != nil {
		c.rs.log.Info("a call entry not written", logattr.Room(s.Room), logattr.Err(err))
	}
}

// Place rings a room as req says, the call tagged with tag (a page's
// session), and answers the request with the ringing call.
func (cs *Calls) Place(w http.ResponseWriter, rm *room.Room, req control.CallPlace, tag any) {
	targets := cs.Targets(rm)
	if len(targets) == 0 {
		WriteError(w, http.StatusConflict, "nobody else in the room to call: invite someone first")
		return
	}
	place := cs.m.PlaceTagged
	if req.Group {
		place = cs.m.PlaceGroup
	}
	c, err := place(context.Background(), [16]byte(rm.ID()), targets, MediaOf(req.AudioOnly), tag)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, call.ErrBusy) {
			status = http.StatusConflict
		}
		WriteError(w, status, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, c.Status())
}

func (c *Calls) Find(s string) (*call.Call, error) {
	if s == "live" {
		if live, ok := c.m.Live(); ok {
			return live, nil
		}
		return nil, errors.New("no call in progress")
	}
	var found *call.Call
	for _, st := range c.m.Calls() {
		if strings.HasPrefix(st.ID, strings.ToLower(s)) && s != "" {
			if found != nil {
				return nil, fmt.Errorf("%q names several calls: give more of the id", s)
			}
			id, _ := call.ParseID(st.ID)
			found, _ = c.m.Get(id)
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no call %q ('hearth calls' lists them)", s)
	}
	return found, nil
}

// source is what this device sends in a call.
func source(cfg CallConfig) call.Source {
	var video, audio call.Source = call.Synthetic{Codec: cfg.VideoCodec}, call.Synthetic{}
	if len(cfg.Camera) > 0 {
		video = call.Camera{Command: cfg.Camera, StillCommand: cfg.Still}
	}
	switch {
	case cfg.NoAudio:
		audio = nil
	case len(cfg.Microphone) > 0:
		audio = call.Microphone{Command: cfg.Microphone}
	}
	return call.Mix{VideoFrom: video, AudioFrom: audio}
}

// hookSource is the device's source with a hook run before a call opens
// its video: the doorphone lets go of the camera there.
type hookSource struct {
	call.Source
	mu     sync.Mutex
	before func()
}

func (h *hookSource) SetBefore(f func()) {
	h.mu.Lock()
	h.before = f
	h.mu.Unlock()
}

// Video runs the hook, then opens the source's video.
func (h *hookSource) Video() (call.Stream, error) {
	h.mu.Lock()
	f := h.before
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Source.Video()
}

// Still is the source's still picture.
func (h *hookSource) Still(ctx context.Context) ([]byte, error) { return call.Still(ctx, h.Source) }
