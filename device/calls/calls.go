package calls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/webrtc/v4"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/call/av"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// Calls places and takes this device's calls, rung over its rooms.
// Others hear of its calls through OnChange and give the media of their
// own calls through Endpoints; it holds none of them.
//
// Lock order: mu is a leaf (hooks are called without it).
type Calls struct {
	log   *slog.Logger
	rooms *rooms.Manager
	self  identity.PublicKey // this device's identity
	// device is this device's key; pushServices the push origins the
	// settings add (push.go).
	device       identity.PublicKey
	pushServices []string
	ctx          context.Context // ends at Close: the pushes under way
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	m            *call.Manager
	turn         *av.TURNServer
	ice          []webrtc.ICEServer // --stun
	turns        *call.TURNClients
	src          *hookSource

	mu        sync.Mutex
	written   map[call.ID]bool // outgoing calls whose start is in the room
	pushed    map[call.ID]bool // incoming door rings this device pushed
	onChange  []func(call.Status)
	endpoints []tagEndpoints
}

// EndpointFunc makes the media side of a call (see call.Config.Endpoint).
type EndpointFunc func(*call.Call, call.EndpointEvents) (call.Endpoint, error)

// tagEndpoints makes the endpoints of the calls whose tag it takes.
type tagEndpoints struct {
	takes func(tag any) bool
	make  EndpointFunc
}

// Config is how the daemon makes calls.
type Config struct {
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
	// stdout (av.ARecordCommand); else the synthetic tone (NoAudio:
	// nothing).
	Microphone []string
	NoAudio    bool
	// Camera, if set, is a program writing H.264 (Annex B) on stdout
	// (av.RPiCamCommand): its frames are sent instead of the synthetic
	// pattern. Still, if set, writes one JPEG (av.RPiStillCommand).
	Camera []string
	Still  []string
	// Doorphone: this device is a doorphone, which has nobody to answer a
	// ring: it declines every ring at once (it is never busy for one).
	Doorphone bool
	// PushServices are Web Push origins (scheme://host[:port]) a ring may
	// be pushed to besides the browsers' own (push.go).
	PushServices []string
}

// doorphoneDeclines is what a doorphone answers a ring.
const doorphoneDeclines = "a doorphone takes no calls: it rings you when someone is at the door"

// Deps is what New needs besides the Config.
type Deps struct {
	Logger *slog.Logger
	Node   *hnet.Node
	ID     *identity.Local
	Rooms  *rooms.Manager
	// Owners are the identities, besides this one, this node serves TURN
	// for (a mirror's owners).
	Owners []identity.PublicKey
}

// New takes calls from here on (they ring, and are declined on a
// doorphone); Close ends them.
func New(cfg Config, deps Deps) (*Calls, error) {
	c := &Calls{log: deps.Logger, rooms: deps.Rooms, self: deps.ID.Identity, device: deps.ID.Device.Public(), pushServices: cfg.PushServices,
		written: map[call.ID]bool{}, pushed: map[call.ID]bool{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	owners, node := deps.Owners, deps.Node
	proof, err := deps.ID.Proof.MarshalBinary()
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
		served := append([]identity.PublicKey{c.self}, owners...)
		served = append(served, cfg.TURNUsers...)
		t, err := av.StartTURN(av.TURNConfig{Listen: cfg.TURNListen, Public: pub, Host: node.Host, Logger: c.log,
			Authorize: func(p peer.ID, proofB []byte) error {
				dev, err := proto.DeviceOf(p)
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
	turns := &call.TURNClients{Host: node.Host, Nodes: node.BootstrapPeers, Proof: proof, Log: c.log}
	c.ice, c.turns = ice, turns
	// One camera for every reader: the calls, the clips, the recorder.
	c.src = &hookSource{Source: av.NewTee(source(cfg))}
	peerEndpoint := av.PeerEndpoints(av.PeerConfig{
		// Two homes on one machine (and tests) meet over loopback.
		Loopback:   true,
		ICEServers: ice,
		TURN:       turns,
		RecordDir:  cfg.RecordDir,
		Source:     c.src,
		Speaker:    cfg.Speaker,
		Logger:     c.log,
	})
	var decline func(call.Party, [16]byte) string
	if cfg.Doorphone {
		decline = func(call.Party, [16]byte) string { return doorphoneDeclines }
	}
	c.m = call.New(call.Config{
		Host:      node.Host,
		Key:       node.Host.Peerstore().PrivKey(node.Host.ID()),
		Authorize: c.authorize,
		Reach:     node.Reach,
		Offence:   func(p peer.ID, why error) { node.Offence(p, "call", why) },
		// A call whose tag another part takes (the web page's) has its
		// media there; any other, in the daemon.
		Endpoint: func(cl *call.Call, ev call.EndpointEvents) (call.Endpoint, error) {
			if endpoint := c.endpointFor(cl.Tag()); endpoint != nil {
				return endpoint(cl, ev)
			}
			return peerEndpoint(cl, ev)
		},
		OnChange:    c.changed,
		RingTimeout: cfg.RingTimeout,
		Logger:      c.log,
		Decline:     decline,
	})
	return c, nil
}

// OnChange has f hear of every change of every call; f must not block. It may be called at any time.
func (c *Calls) OnChange(f func(call.Status)) {
	c.mu.Lock()
	c.onChange = append(c.onChange, f)
	c.mu.Unlock()
}

// Endpoints has endpoint give the media side of the calls whose tag takes
// says it takes (the web page's calls have their media in the browser);
// any other call has its media here. It may be called at any time.
func (c *Calls) Endpoints(takes func(tag any) bool, endpoint EndpointFunc) {
	c.mu.Lock()
	c.endpoints = append(c.endpoints, tagEndpoints{takes, endpoint})
	c.mu.Unlock()
}

func (c *Calls) endpointFor(tag any) EndpointFunc {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.endpoints {
		if e.takes(tag) {
			return e.make
		}
	}
	return nil
}

// Manager is the call manager: the calls themselves.
func (c *Calls) Manager() *call.Manager { return c.m }

// Source is what this device sends in a call, without the hook
// BeforeVideo sets.
func (c *Calls) Source() av.Source { return c.src.Source }

// BeforeVideo has f run before a call opens the video source (the
// doorphone lets go of the camera there).
func (c *Calls) BeforeVideo(f func()) { c.src.SetBefore(f) }

// Close ends every call and stops taking them.
func (c *Calls) Close() {
	c.m.Close()
	c.cancel()
	c.wg.Wait()
	if c.turn != nil {
		c.turn.Close()
	}
}

// authorize says who a peer is in a room this device is in: a device of
// a member, not revoked.
func (c *Calls) authorize(p peer.ID, id [16]byte) (call.Party, error) {
	r, ok := c.rooms.Get(room.ID(id))
	if !ok {
		return call.Party{}, errors.New("not a room of this device")
	}
	dev, err := proto.DeviceOf(p)
	if err != nil {
		return call.Party{}, err
	}
	var party call.Party
	err = errors.New("not a device of a member of the room")
	r.View(func(v *room.View) {
		if d, ok := v.MemberDevice(dev); ok {
			party = call.Party{Identity: d.Identity.String(), Name: d.Name, Device: d.Device.String()}
			err = nil
		}
	})
	return party, err
}

// Targets are the devices to ring in a room: every device of every other
// member.
func (c *Calls) Targets(r *room.Room) []peer.ID {
	me := c.self
	var out []peer.ID
	r.View(func(v *room.View) {
		for dev := range v.Devices {
			d, ok := v.MemberDevice(dev)
			if !ok || d.Identity == me {
				continue
			}
			if p, err := proto.PeerOf(d.Device); err == nil {
				out = append(out, p)
			}
		}
	})
	return out
}

// changed writes the caller's call entries into the room: started when
// answered; ended (with its duration), missed or declined at the end.
func (c *Calls) changed(s call.Status) {
	c.mu.Lock()
	hooks := c.onChange
	c.mu.Unlock()
	for _, f := range hooks {
		f(s)
	}
	c.relayPush(s)
	if s.State == call.StateEnded {
		if id, err := call.ParseID(s.ID); err == nil {
			c.mu.Lock()
			delete(c.pushed, id)
			c.mu.Unlock()
		}
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
	r, err := c.rooms.Resolve(s.Room)
	if err != nil {
		return
	}
	if _, err := r.Write(room.Op{Type: room.OpCall, Call: id, CallEvent: ev, Duration: uint64(dur.Milliseconds())}); err != nil {
		c.log.Info("a call entry not written", logattr.Room(s.Room), logattr.Err(err))
	}
}

// ErrNobody: a call placed in a room of one.
var ErrNobody = errors.New("nobody else in the room to call: invite someone first")

// Place rings every other member's devices in rm (a group call: all who
// answer join), the call tagged with tag (a page's session). ctx bounds
// the placing (dialling and ringing the devices), not the call: a ctx
// that ends while the call rings hangs it up.
func (c *Calls) Place(ctx context.Context, rm *room.Room, audioOnly, group bool, tag any) (*call.Call, error) {
	targets := c.Targets(rm)
	if len(targets) == 0 {
		return nil, ErrNobody
	}
	place := c.m.PlaceTagged
	if group {
		place = c.m.PlaceGroup
	}
	return place(ctx, [16]byte(rm.ID()), targets, Media(audioOnly), tag)
}

// Media is what a call carries: audio and video, or audio only.
func Media(audioOnly bool) call.Media {
	if audioOnly {
		return call.Audio
	}
	return call.Audio | call.Video
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
func source(cfg Config) av.Source {
	var video, audio av.Source = av.Synthetic{Codec: cfg.VideoCodec}, av.Synthetic{}
	if len(cfg.Camera) > 0 {
		video = av.Camera{Command: cfg.Camera, StillCommand: cfg.Still}
	}
	switch {
	case cfg.NoAudio:
		audio = nil
	case len(cfg.Microphone) > 0:
		audio = av.Microphone{Command: cfg.Microphone}
	}
	return av.Mix{VideoFrom: video, AudioFrom: audio}
}

// hookSource is the device's source with a hook run before a call opens
// its video: the doorphone lets go of the camera there.
type hookSource struct {
	av.Source
	mu     sync.Mutex
	before func()
}

func (h *hookSource) SetBefore(f func()) {
	h.mu.Lock()
	h.before = f
	h.mu.Unlock()
}

// Video runs the hook, then opens the source's video.
func (h *hookSource) Video() (av.Stream, error) {
	h.mu.Lock()
	f := h.before
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Source.Video()
}

// Still is the source's still picture.
func (h *hookSource) Still(ctx context.Context) ([]byte, error) { return av.Still(ctx, h.Source) }

// ICEServers are the servers a call uses now: the --stun ones and TURN
// credentials from the bootstrap nodes.
func (c *Calls) ICEServers(ctx context.Context) []webrtc.ICEServer {
	out := append([]webrtc.ICEServer(nil), c.ice...)
	return append(out, av.ICEServers(c.turns.Offers(ctx))...)
}
