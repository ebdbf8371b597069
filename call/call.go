package call

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
)

// Party is who is at the other end of a call leg, as the room knows it.
type Party struct {
	Identity string `json:"identity"` // hex
	Name     string `json:"name"`     // the device's name
	Device   string `json:"device"`   // hex
}

// Endpoint is what makes and takes the media of a call on this device: a
// pion PeerConnection in the daemon, or the browser page.
type Endpoint interface {
	// Offer makes the caller's session description.
	Offer(ctx context.Context) (string, error)
	// TakeOffer sets the caller's description and returns the answer.
	TakeOffer(ctx context.Context, sdp string) (string, error)
	// TakeAnswer sets the callee's answer (on the caller).
	TakeAnswer(sdp string) error
	// AddCandidate adds a remote ICE candidate (queued until the remote
	// description is set).
	AddCandidate(Signal) error
	// Stats reports what the media did so far.
	Stats() Stats
	// Close ends the media and frees everything.
	Close() error
}

// EndpointEvents are what an endpoint reports to its call.
type EndpointEvents struct {
	Candidate func(Signal) // a local candidate to send (Kind Candidate)
	Connected func()       // media flows
	Failed    func(error)  // the connection failed or was lost
}

// NewEndpoint makes the endpoint of a call.
type NewEndpoint func(c *Call, ev EndpointEvents) (Endpoint, error)

// Stats are a call's media figures, as far as the endpoint knows them.
type Stats struct {
	VideoFrames   uint64  `json:"video_frames"`              // frames whose stamp was read back and checked (the synthetic pattern)
	UnreadFrames  uint64  `json:"unread_frames"`             // whole frames whose stamp was not read: not decoded (H.264), or none (a camera, a browser)
	BadStamps     uint64  `json:"bad_stamps"`                // stamps read back that failed the check (frame number, clock)
	FrameGaps     uint64  `json:"frame_gaps"`                // frames missing between checked ones
	AudioPackets  uint64  `json:"audio_packets"`             // audio packets received
	BytesIn       uint64  `json:"bytes_in"`                  // media bytes received
	LatencyP50    float64 `json:"latency_p50_ms"`            // glass to glass, synthetic frames only
	LatencyP99    float64 `json:"latency_p99_ms"`            // same
	Path          string  `json:"path,omitempty"`            // the selected ICE pair: host, srflx, relay
	Recording     string  `json:"recording,omitempty"`       // the folder of the recording, if any
	AudioPlayedMs uint64  `json:"audio_played_ms,omitempty"` // the other side's voice played on the speaker
	FirstFrameMs  float64 `json:"first_frame_ms,omitempty"`  // answer → first whole remote frame
}

// Frames is every whole video frame received, its stamp read or not.
func (s Stats) Frames() uint64 { return s.VideoFrames + s.UnreadFrames + s.BadStamps }

// Host is what calls need of the device's node: its id and streams. A
// libp2p host is one; so is the phone app's node over js-libp2p.
type Host interface {
	ID() peer.ID
	SetStreamHandler(protocol.ID, network.StreamHandler)
	RemoveStreamHandler(protocol.ID)
	NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
}

// Config is what a Manager needs.
type Config struct {
	Host Host
	// Key is the device key (Host's identity), which signs the admissions
	// of a group call this device placed; without it, nobody can be let
	// into a group it placed.
	Key crypto.PrivKey
	// Authorize says who a peer is in a room, or refuses it (not a
	// member's device, or this device is not in that room).
	Authorize func(p peer.ID, room [16]byte) (Party, error)
	// Reach, if set, connects to a peer before it is rung (finding it
	// through the DHT or a relay); else the host's own dialling is used.
	Reach func(ctx context.Context, p peer.ID) error
	// Endpoint makes a call's media endpoint.
	Endpoint NewEndpoint
	// OnChange is called (not under a lock) when a call changes state.
	OnChange func(Status)
	// RingTimeout is how long a call rings before it is missed; zero means
	// DefaultRingTimeout.
	RingTimeout time.Duration
	Logger      *slog.Logger
	// Offence, if set, hears of a peer that sent a signal that breaks the
	// protocol (the node scores and bans such peers).
	Offence func(p peer.ID, why error)
	// Decline, if set, says why this device declines a ring from party
	// (a doorphone has nobody to answer): a non-empty reason declines it
	// at once, before it rings or makes this device busy.
	Decline func(party Party, room [16]byte) string
}

// Timeouts.
const (
	DefaultRingTimeout = 30 * time.Second
	connectTimeout     = 20 * time.Second
	firstSignalTimeout = 10 * time.Second
	DialTimeout        = 10 * time.Second // to reach and ring one device
	writeTimeout       = 10 * time.Second
	RingsPerMinute     = 20 // rings read from one peer; more are reset unread
)

// Manager places and takes calls on this device. One call at a time: a
// ring while in a call is answered busy.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	calls  map[ID]*Call
	order  []ID // oldest first, for the list
	rings  map[peer.ID][]time.Time
	joined map[joinKey]bool // group joins taken (admit.go)
	closed bool
	wg     sync.WaitGroup
}

// maxKept is how many ended calls the manager remembers.
const maxKept = 32

// New registers the signaling protocol on the host.
func New(cfg Config) *Manager {
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = DefaultRingTimeout
	}
	m := &Manager{cfg: cfg, log: logattr.OrDiscard(cfg.Logger), calls: map[ID]*Call{}, rings: map[peer.ID][]time.Time{}, joined: map[joinKey]bool{}}
	cfg.Host.SetStreamHandler(Protocol, Guard(m.log, "call", m.handle))
	return m
}

// Close hangs up every call and removes the protocol handler.
func (m *Manager) Close() {
	m.cfg.Host.RemoveStreamHandler(Protocol)
	m.mu.Lock()
	m.closed = true
	var live []*Call
	for _, c := range m.calls {
		live = append(live, c)
	}
	m.mu.Unlock()
	for _, c := range live {
		c.Hangup("the device is stopping")
	}
	m.wg.Wait()
}

// Direction of a call.
const (
	Outgoing = "outgoing"
	Incoming = "incoming"
)

// States of a call.
const (
	StateRinging    = "ringing"
	StateConnecting = "connecting"
	StateActive     = "active"
	StateEnded      = "ended"
)

// Why a call ended.
const (
	EndHungUp     = "hung up"
	EndRemoteHung = "hung up by the other side"
	EndDeclined   = "declined"
	EndBusy       = "busy"
	EndMissed     = "missed"
	EndElsewhere  = "answered on another device"
	// EndOther: a callee's side, when another member answered.
	EndOther  = "answered by someone else"
	EndFailed = "failed"
)

// Status is a call as the control API shows it.
type Status struct {
	ID        string    `json:"id"`
	Room      string    `json:"room"`
	Direction string    `json:"direction"`
	State     string    `json:"state"`
	Media     string    `json:"media"`
	Peer      *Party    `json:"peer,omitempty"` // who answered, or who rings
	Rung      int       `json:"rung,omitempty"` // devices rung (outgoing)
	Started   time.Time `json:"started"`
	Answered  time.Time `json:"answered,omitzero"`
	Ended     time.Time `json:"ended,omitzero"`
	Group     string    `json:"group,omitempty"`  // the group call it is a part of
	Reason    string    `json:"reason,omitempty"` // why it ended
	Error     string    `json:"error,omitempty"`
	Stats     *Stats    `json:"stats,omitempty"`
}

// Duration is how long the call was answered, zero if never.
func (s Status) Duration() time.Duration {
	if s.Answered.IsZero() {
		return 0
	}
	end := s.Ended
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(s.Answered)
}

// Call is one call, outgoing or incoming.
type Call struct {
	m *Manager

	ID        ID
	Room      [16]byte
	Direction string
	Media     Media // what this side sends

	mu       sync.Mutex
	st       Status
	legs     map[peer.ID]*leg // outgoing: every device rung; incoming: the caller
	answered *leg
	ep       Endpoint
	ended    chan struct{}
	accepted chan struct{} // incoming: Answer was called
	placed   chan struct{} // outgoing: closed when every target was dialled (place)
	tag      any
	group    ID      // zero: a call of two
	forks    []*Call // a group caller: the calls of the later participants
	admit    []byte  // a join of a group: the origin's admission, shown in the ring
}

// Tag is what PlaceTagged or AnswerTagged set.
func (c *Call) Tag() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tag
}

// Status returns the call's state now.
func (c *Call) Status() Status {
	c.mu.Lock()
	st := c.st
	ep := c.ep
	c.mu.Unlock()
	if ep != nil {
		s := ep.Stats()
		st.Stats = &s
	}
	return st
}

// Ended is closed when the call has ended.
func (c *Call) Ended() <-chan struct{} { return c.ended }

// Placed is closed once every device an outgoing call rings was dialled
// and rung, or failed to be; nil for an incoming call.
func (c *Call) Placed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.placed
}

// leg is the signaling stream to one device.
type leg struct {
	m     *Manager
	p     peer.ID
	party Party
	st    network.Stream
	r     *bufio.Reader
	wmu   sync.Mutex
	done  atomic.Bool // it answered no, or was told to stop
	wire  ID          // the call's id on this stream (the ring's)

	mu   sync.Mutex
	call *Call // the call it serves (a group caller moves it to a fork)
}

func (l *leg) owner() *Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.call
}

func (l *leg) send(s Signal) error {
	s.Call = l.wire
	b, err := s.MarshalBinary()
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.st.SetWriteDeadline(time.Now().Add(writeTimeout))
	return wire.WriteMsg(l.st, b)
}

func (l *leg) recv() (Signal, error) {
	b, err := wire.ReadMsg(l.r, MaxSignal)
	if err == nil {
		var s Signal
		if err = s.UnmarshalBinary(b); err == nil {
			return s, nil
		}
	}
	if (wire.Malformed(err) || errors.Is(err, ErrMalformed)) && l.m != nil && l.m.cfg.Offence != nil {
		l.m.cfg.Offence(l.p, err)
	}
	return Signal{}, err
}

// ErrBusy means this device is in a call already.
var ErrBusy = errors.New("already in a call")

// ErrNoCall means no call has that id.
var ErrNoCall = errors.New("no such call")

func (m *Manager) newCall(id ID, room [16]byte, dir string, media Media, group ID) (*Call, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("the device is stopping")
	}
	// One call at a time, or the calls of one group.
	for _, c := range m.calls {
		c.mu.Lock()
		live := c.st.State != StateEnded
		same := group != (ID{}) && c.group == group
		c.mu.Unlock()
		if live && !same {
			return nil, ErrBusy
		}
	}
	if _, ok := m.calls[id]; ok {
		return nil, fmt.Errorf("a call %s exists already", id)
	}
	c := &Call{m: m, ID: id, Room: room, Direction: dir, Media: media, legs: map[peer.ID]*leg{},
		ended: make(chan struct{}), accepted: make(chan struct{}), group: group}
	c.st = Status{ID: id.String(), Room: fmt.Sprintf("%x", room), Direction: dir, State: StateRinging, Media: media.String(), Started: time.Now()}
	if group != (ID{}) {
		c.st.Group = group.String()
	}
	m.calls[id] = c
	m.order = append(m.order, id)
	for len(m.order) > maxKept {
		old := m.calls[m.order[0]]
		old.mu.Lock()
		over := old.st.State == StateEnded
		old.mu.Unlock()
		if !over {
			break
		}
		delete(m.calls, m.order[0])
		m.order = m.order[1:]
	}
	return c, nil
}

// Calls lists the calls this device remembers, oldest first.
func (m *Manager) Calls() []Status {
	m.mu.Lock()
	var cs []*Call
	for _, id := range m.order {
		cs = append(cs, m.calls[id])
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Status())
	}
	return out
}

// Get returns a call by id.
func (m *Manager) Get(id ID) (*Call, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.calls[id]
	return c, ok
}

// Live returns the call in progress, if any.
func (m *Manager) Live() (*Call, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range m.order {
		c := m.calls[id]
		c.mu.Lock()
		live := c.st.State != StateEnded
		c.mu.Unlock()
		if live {
			return c, true
		}
	}
	return nil, false
}

func (c *Call) changed() {
	if f := c.m.cfg.OnChange; f != nil {
		f(c.Status())
	}
}

// end ends the call once: it tells every leg still open, closes the
// media, and reports.
func (c *Call) end(reason string, err error, tell *Signal) {
	c.mu.Lock()
	if c.st.State == StateEnded {
		c.mu.Unlock()
		return
	}
	c.st.State, c.st.Reason, c.st.Ended = StateEnded, reason, time.Now()
	if err != nil {
		c.st.Error = err.Error()
	}
	legs := make([]*leg, 0, len(c.legs))
	for _, l := range c.legs {
		legs = append(legs, l)
	}
	ep := c.ep
	c.mu.Unlock()
	var final *Stats
	if ep != nil {
		// Closed first: the figures count every frame, as the
		// recording (closed with it) has them.
		ep.Close()
		s := ep.Stats()
		final = &s
	}
	for _, l := range legs {
		if tell != nil && !l.done.Load() {
			l.send(*tell)
		}
		l.st.Close()
	}
	c.mu.Lock()
	c.st.Stats = final
	c.ep = nil
	c.mu.Unlock()
	close(c.ended)
	c.m.log.Info("call ended", slog.String("call", c.ID.String()), slog.String("reason", reason), logattr.Err(err))
	c.changed()
}

// Hangup ends the call from this side: a ringing outgoing call stops
// ringing everywhere, an incoming one is declined, an answered one is hung
// up. In a group call, this device leaves the group: every call of it
// ends.
func (c *Call) Hangup(reason string) {
	if c.group != (ID{}) {
		for _, o := range c.m.groupCalls(c.group) {
			o.hangup(reason)
		}
		return
	}
	c.hangup(reason)
}

// groupCalls are the live calls of a group.
func (m *Manager) groupCalls(g ID) []*Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Call
	for _, c := range m.calls {
		if c.group == g {
			out = append(out, c)
		}
	}
	return out
}

func (c *Call) hangup(reason string) {
	c.mu.Lock()
	state, dir := c.st.State, c.Direction
	c.mu.Unlock()
	switch {
	case state == StateEnded:
	case state == StateRinging && dir == Outgoing:
		c.end(EndHungUp, nil, &Signal{Kind: Hangup, Call: c.ID, Reason: reasonGaveUp})
	case state == StateRinging:
		c.end(EndDeclined, nil, &Signal{Kind: Decline, Call: c.ID, Reason: trim(reason)})
	default:
		c.end(EndHungUp, nil, &Signal{Kind: Hangup, Call: c.ID, Reason: trim(reason)})
	}
}

func trim(s string) string {
	if len(s) > MaxReason {
		return s[:MaxReason]
	}
	return s
}

// startMedia makes the endpoint; its candidates go to leg l.
func (c *Call) startMedia(l *leg) error {
	ep, err := c.m.cfg.Endpoint(c, EndpointEvents{
		Candidate: func(s Signal) {
			s.Kind, s.Call = Candidate, c.ID
			l.send(s)
		},
		Connected: func() {
			c.mu.Lock()
			if c.st.State != StateConnecting {
				c.mu.Unlock()
				return
			}
			c.st.State = StateActive
			c.mu.Unlock()
			c.m.log.Info("call connected", slog.String("call", c.ID.String()))
			c.changed()
		},
		Failed: func(err error) {
			c.end(EndFailed, err, &Signal{Kind: Hangup, Call: c.ID, Reason: "the connection failed"})
		},
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.st.State == StateEnded {
		c.mu.Unlock()
		ep.Close()
		return errors.New("the call ended")
	}
	c.ep = ep
	c.mu.Unlock()
	// Not connected in time: failed.
	c.m.wg.Add(1)
	go func() {
		defer c.m.wg.Done()
		t := time.NewTimer(connectTimeout)
		defer t.Stop()
		select {
		case <-c.ended:
		case <-t.C:
			c.mu.Lock()
			stuck := c.st.State == StateConnecting
			c.mu.Unlock()
			if stuck {
				c.end(EndFailed, errors.New("no media connection within "+connectTimeout.String()), &Signal{Kind: Hangup, Call: c.ID, Reason: "no media connection"})
			}
		}
	}()
	return nil
}

func (c *Call) endpoint() Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ep
}
