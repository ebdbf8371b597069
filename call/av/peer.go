package av

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/internal/logattr"
)

// PeerConfig configures the endpoints that run in the daemon itself: a
// pion PeerConnection sending this device's sources and receiving (and
// measuring, and recording) the other side's media.
type PeerConfig struct {
	// ICEServers are the STUN and TURN servers to use.
	ICEServers []webrtc.ICEServer
	// TURN, if set, adds servers with fresh credentials at each call.
	TURN *call.TURNClients
	// RelayOnly uses TURN relays only (for tests of the TURN path, and
	// for who must not reveal their addresses).
	RelayOnly bool
	// Loopback gathers loopback candidates too: two devices on one
	// machine.
	Loopback bool
	// IPFilter, if set, keeps only the local addresses it accepts for
	// candidates.
	IPFilter func(net.IP) bool
	// Net, if set, replaces the host's network (pion's virtual network:
	// simulated delay and loss in benchmarks and tests).
	Net transport.Net
	// Source makes what this device sends; nil sends synthetic media.
	Source Source
	// RecordDir, if set, gets a folder per call with what was received.
	RecordDir string
	// Speaker, if set, is a command that plays what it reads on stdin:
	// raw signed 16-bit little-endian mono PCM at 48 kHz (e.g. aplay -q -t
	// raw -f S16_LE -r 48000 -c 1). The other side's voice goes there.
	Speaker []string
	Logger  *slog.Logger
}

// maxRemoteCandidates bounds the candidates a call takes from the other
// side.
const maxRemoteCandidates = 64

// PeerEndpoints returns the NewEndpoint of daemon-side endpoints.
func PeerEndpoints(cfg PeerConfig) call.NewEndpoint {
	return func(c *call.Call, ev call.EndpointEvents) (call.Endpoint, error) { return newPeer(cfg, c, ev) }
}

type peerEndpoint struct {
	cfg   PeerConfig
	call  *call.Call
	ev    call.EndpointEvents
	pc    *webrtc.PeerConnection
	log   *slog.Logger
	recv  *receiver
	send  *sender
	start time.Time

	mu         sync.Mutex
	pending    []webrtc.ICECandidateInit
	haveRemote bool
	remoteN    int
	connected  bool
	closed     bool
	path       string
}

func newPeer(cfg PeerConfig, c *call.Call, ev call.EndpointEvents) (*peerEndpoint, error) {
	log := logattr.OrDiscard(cfg.Logger).With(slog.String("call", c.ID.String()))
	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
	}
	if cfg.IPFilter != nil {
		se.SetIPFilter(cfg.IPFilter)
	}
	if cfg.RelayOnly {
		se.SetRelayAcceptanceMinWait(0) // else ICE waits 2 s for nothing better
	}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.LoggerFactory = quietLogs{}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	conf := webrtc.Configuration{ICEServers: slices.Clone(cfg.ICEServers)}
	if cfg.TURN != nil {
		conf.ICEServers = append(conf.ICEServers, ICEServers(cfg.TURN.Offers(context.Background()))...)
	}
	if cfg.RelayOnly {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return nil, err
	}
	p := &peerEndpoint{cfg: cfg, call: c, ev: ev, pc: pc, log: log, start: time.Now()}
	p.recv = newReceiver(p, cfg.RecordDir)
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		s := call.Signal{Candidate: init.Candidate}
		if init.SDPMid != nil {
			s.Mid = *init.SDPMid
		}
		if init.SDPMLineIndex != nil {
			s.MLine = *init.SDPMLineIndex
		}
		ev.Candidate(s)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		log.Debug("call connection", slog.String("state", st.String()))
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.mu.Lock()
			first := !p.connected
			p.connected = true
			p.mu.Unlock()
			if first {
				p.notePath()
				p.send.start()
				ev.Connected()
			}
		case webrtc.PeerConnectionStateFailed:
			ev.Failed(errors.New("the media connection failed (ICE found no path, or it was lost)"))
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, rc *webrtc.RTPReceiver) { p.recv.track(tr, rc) })
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if p.send != nil {
			p.send.attach(dc)
		}
	})

	// Every call offers audio and video both ways; a side that does not
	// send one receives it.
	src := cfg.Source
	if src == nil {
		src = Synthetic{}
	}
	p.send, err = newSender(p, src, c.Media)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return p, nil
}

// notePath records the kind of the selected candidate pair.
func (p *peerEndpoint) notePath() {
	sctp := p.pc.SCTP()
	var pair *webrtc.ICECandidatePair
	if sctp != nil && sctp.Transport() != nil && sctp.Transport().ICETransport() != nil {
		pair, _ = sctp.Transport().ICETransport().GetSelectedCandidatePair()
	}
	if pair == nil {
		for _, tr := range p.pc.GetTransceivers() {
			if s := tr.Sender(); s != nil && s.Transport() != nil {
				pair, _ = s.Transport().ICETransport().GetSelectedCandidatePair()
				if pair != nil {
					break
				}
			}
		}
	}
	if pair == nil {
		return
	}
	path := pair.Local.Typ.String() + "/" + pair.Remote.Typ.String()
	p.mu.Lock()
	p.path = path
	p.mu.Unlock()
	p.log.Info("call media path", slog.String("local", pair.Local.Typ.String()+" "+pair.Local.Address), slog.String("remote", pair.Remote.Typ.String()+" "+pair.Remote.Address))
}

func (p *peerEndpoint) Offer(ctx context.Context) (string, error) {
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	return offer.SDP, nil
}

func (p *peerEndpoint) TakeOffer(ctx context.Context, sdp string) (string, error) {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return "", err
	}
	p.remoteSet()
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return "", err
	}
	return answer.SDP, nil
}

func (p *peerEndpoint) TakeAnswer(sdp string) error {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return err
	}
	p.remoteSet()
	return nil
}

// remoteSet adds the candidates that came before the remote description.
func (p *peerEndpoint) remoteSet() {
	p.mu.Lock()
	p.haveRemote = true
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, c := range pending {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.log.Debug("a remote candidate refused", logattr.Err(err))
		}
	}
}

func (p *peerEndpoint) AddCandidate(s call.Signal) error {
	if s.Candidate == "" {
		return nil // the end of candidates
	}
	if err := CheckCandidate(s.Candidate); err != nil {
		p.log.Info("a remote candidate refused", logattr.Err(err))
		return err
	}
	mid, mline := s.Mid, s.MLine
	init := webrtc.ICECandidateInit{Candidate: s.Candidate, SDPMid: &mid, SDPMLineIndex: &mline}
	p.mu.Lock()
	p.remoteN++
	if p.remoteN > maxRemoteCandidates {
		p.mu.Unlock()
		return fmt.Errorf("over %d remote candidates", maxRemoteCandidates)
	}
	if !p.haveRemote {
		p.pending = append(p.pending, init)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	return p.pc.AddICECandidate(init)
}

// CheckCandidate refuses a candidate that no peer could be reached at:
// one that does not parse, a name to resolve (mDNS or DNS: Hearth sends
// addresses), or an address that is unspecified, multicast or broadcast.
func CheckCandidate(line string) error {
	c, err := ice.UnmarshalCandidate(strings.TrimPrefix(line, "candidate:"))
	if err != nil {
		return fmt.Errorf("a candidate that does not parse: %w", err)
	}
	addr, err := netip.ParseAddr(c.Address())
	if err != nil {
		return fmt.Errorf("a candidate with a host name (%q), not an address", c.Address())
	}
	switch {
	case addr.IsUnspecified(), addr.IsMulticast(), addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("a candidate for %s, which no peer has", addr)
	case c.Port() == 0:
		return errors.New("a candidate for port 0")
	}
	return nil
}

func (p *peerEndpoint) Stats() call.Stats {
	s := p.recv.stats()
	p.mu.Lock()
	s.Path = p.path
	p.mu.Unlock()
	return s
}

func (p *peerEndpoint) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.send.stop()
	err := p.pc.GracefulClose()
	p.send.wait()
	p.recv.wait()
	return err
}

// quietLogs keeps pion's own logging out of the daemon's log.
type quietLogs struct{}

func (quietLogs) NewLogger(string) logging.LeveledLogger { return quietLogger{} }

type quietLogger struct{}

func (quietLogger) Trace(string)          {}
func (quietLogger) Tracef(string, ...any) {}
func (quietLogger) Debug(string)          {}
func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Info(string)           {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warn(string)           {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Error(string)          {}
func (quietLogger) Errorf(string, ...any) {}
