package net

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	coreconnmgr "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// The DHT's protocol prefix (never the public IPFS one) and the mDNS
// service name. The protocols' ids are package proto's.
const (
	ProtocolPrefix = "/hearth"
	mdnsService    = "hearth"
)

// Limits of one relayed connection on a public node.
const (
	relayDuration = 30 * time.Minute
	relayData     = 64 << 20
)

// DefaultListen are the addresses a node listens on when none are given:
// every interface, a free port, TCP, QUIC and WebRTC-direct (what a
// browser dials: its certificate derives from the device key, so the
// address's certhash stays the same across restarts), IPv4 and IPv6.
var DefaultListen = []string{
	"/ip4/0.0.0.0/tcp/0",
	"/ip4/0.0.0.0/udp/0/quic-v1",
	"/ip4/0.0.0.0/udp/0/webrtc-direct",
	"/ip6/::/tcp/0",
	"/ip6/::/udp/0/quic-v1",
	"/ip6/::/udp/0/webrtc-direct",
}

// Config builds a Node. Key is required; the zero value of every other
// field gives a LAN-and-DHT-client node on DefaultListen with mDNS.
type Config struct {
	// Key is the device key; the peer id derives from it.
	Key identity.SigningKey
	// Listen are multiaddrs to listen on; empty means DefaultListen.
	Listen []string
	// Bootstrap are full multiaddrs (with /p2p/) of always-on nodes: the
	// DHT starts from them and they serve as relays.
	Bootstrap []string
	// NoMDNS turns LAN discovery off.
	NoMDNS bool
	// Public marks an always-on node: DHT server mode and relay service.
	Public bool
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
}

// Node is a running libp2p node. Close stops it.
type Node struct {
	Host   host.Host
	DHT    *dht.IpfsDHT
	log    *slog.Logger
	mdns   interface{ Close() error }
	punch  *puncher
	scores *proto.Scorer

	bootstrap []peer.AddrInfo
	rm        network.ResourceManager
	household household
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// Resource limits: generous for a household (a few dozen devices, a mirror
// serving friends), far below what would let a hostile peer exhaust a Pi.
func limits() rcmgr.ConcreteLimitConfig {
	def := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&def)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: 512, ConnsInbound: 256, ConnsOutbound: 256,
			Streams: 4096, StreamsInbound: 2048, StreamsOutbound: 2048,
			Memory: 256 << 20, FD: 512,
		},
		// Memory: a WebRTC-direct handshake reserves 2.5 MiB here until
		// it ends (10 s at most), at medium priority (up to 60% of the
		// limit): 96 MiB holds the 20 the STUN gate lets begin
		// (stungate.go) with room for an honest one.
		Transient: rcmgr.ResourceLimits{
			Conns: 64, ConnsInbound: 32, ConnsOutbound: 32,
			Streams: 256, Memory: 96 << 20,
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: 8, ConnsInbound: 4, ConnsOutbound: 8,
			Streams: 256, StreamsInbound: 128, StreamsOutbound: 128,
			Memory: 32 << 20,
		},
		ProtocolPeerDefault: rcmgr.ResourceLimits{
			Streams: 64, StreamsInbound: 32, StreamsOutbound: 32,
		},
		// Reserved for the household (Node.Household): used only when
		// the scopes above are full, by the addresses of devices that
		// proved to be the household's before.
		AllowlistedSystem: rcmgr.ResourceLimits{
			Conns: 128, ConnsInbound: 64, ConnsOutbound: 64,
			Streams: 1024, StreamsInbound: 512, StreamsOutbound: 512,
			Memory: 64 << 20, FD: 128,
		},
		AllowlistedTransient: rcmgr.ResourceLimits{
			Conns: 32, ConnsInbound: 24, ConnsOutbound: 16,
			Streams: 128, Memory: 16 << 20,
		},
	}
	return partial.Build(def.AutoScale())
}

// HandshakeTimeout bounds how long an inbound TCP connection may take to
// finish its security handshake (libp2p's default is 15 s): a silent
// connection frees its slot within it. QUIC's own handshake times out in
// 5 to 10 s.
const HandshakeTimeout = 5 * time.Second

// tcpTransport is libp2p's TCP transport with its own upgrader, whose
// accept timeout is HandshakeTimeout. The key and muxers come from the
// host being built (the AutoNAT dial-back host has a key of its own).
func tcpTransport(key crypto.PrivKey, muxers []tptu.StreamMuxer, psk pnet.PSK, rm network.ResourceManager, gater coreconnmgr.ConnectionGater) (*tcp.TcpTransport, error) {
	n, err := noise.New(noise.ID, key, muxers)
	if err != nil {
		return nil, err
	}
	up, err := tptu.New([]sec.SecureTransport{n}, muxers, psk, rm, gater, tptu.WithAcceptTimeout(HandshakeTimeout))
	if err != nil {
		return nil, err
	}
	return tcp.NewTCPTransport(up, rm, nil)
}

// New starts a node. It returns once it listens; the DHT bootstraps in the
// background.
func New(cfg Config) (*Node, error) {
	if !cfg.Key.Valid() {
		return nil, errors.New("net: no device key")
	}
	log := logattr.OrDiscard(cfg.Logger)
	priv, err := crypto.UnmarshalEd25519PrivateKey(cfg.Key.Ed25519())
	if err != nil {
		return nil, fmt.Errorf("net: device key: %w", err)
	}
	listen := cfg.Listen
	if len(listen) == 0 {
		listen = DefaultListen
	}
	var bootAddrs []ma.Multiaddr
	for _, s := range cfg.Bootstrap {
		a, err := ma.NewMultiaddr(s)
		if err == nil {
			_, err = peer.AddrInfoFromP2pAddr(a)
		}
		if err != nil {
			return nil, fmt.Errorf("bootstrap address %q: %w (want a multiaddr ending in /p2p/PEERID)", s, err)
		}
		bootAddrs = append(bootAddrs, a)
	}
	// Several addresses of one node (TCP and QUIC) make one peer.
	boot, err := peer.AddrInfosFromP2pAddrs(bootAddrs...)
	if err != nil {
		return nil, fmt.Errorf("bootstrap addresses: %w", err)
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits()))
	if err != nil {
		return nil, fmt.Errorf("net: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(64, 192, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("net: connection manager: %w", err)
	}
	scores := proto.NewScorer(log)
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.ConnectionGater(scores),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcpTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Transport(webrtcTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.EnableRelay(),
	}
	switch {
	case cfg.Public:
		// A relayed connection carries a household's sync and pairing
		// until hole punching replaces it; bounded so that a stranger
		// cannot use the relay as a free pipe.
		opts = append(opts, libp2p.EnableRelayService(relay.WithLimit(&relay.RelayLimit{Duration: relayDuration, Data: relayData})),
			libp2p.ForceReachabilityPublic())
	case len(boot) > 0:
		// A home device sits behind a router: take a relay slot on the
		// bootstrap nodes at once rather than wait for AutoNAT to agree,
		// so others can reach it from its first seconds. A household has
		// one or two such nodes, not the four candidates autorelay waits
		// for by default.
		opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(boot,
			autorelay.WithMinCandidates(1), autorelay.WithNumRelays(min(len(boot), 2)), autorelay.WithBootDelay(0)),
			libp2p.ForceReachabilityPrivate())
	default:
		// Reachability unknown: AutoNAT finds out, and this node answers
		// others' AutoNAT dial-backs. (Not combined with a forced
		// reachability: libp2p then never closes the dial-back host.)
		opts = append(opts, libp2p.EnableNATService())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("net: starting host: %w", err)
	}
	mode := dht.ModeAuto
	if cfg.Public {
		mode = dht.ModeServer
	}
	ctx, cancel := context.WithCancel(context.Background())
	kad, err := dht.New(h, dht.ProtocolPrefix(ProtocolPrefix), dht.Mode(mode), dht.BootstrapPeers(boot...))
	if err != nil {
		cancel()
		h.Close()
		return nil, fmt.Errorf("net: DHT: %w", err)
	}
	n := &Node{Host: h, DHT: kad, log: log, bootstrap: boot, ctx: ctx, cancel: cancel, scores: scores, rm: rm}
	scores.SetCloser(func(p peer.ID) { h.Network().ClosePeer(p) })
	proto.Register(h.ID(), scores)
	if n.punch, err = startPuncher(n); err != nil {
		n.Close()
		return nil, err
	}
	if !cfg.NoMDNS {
		svc := mdns.NewMdnsService(h, mdnsService, (*notifee)(n))
		if err := svc.Start(); err != nil {
			log.Warn("mDNS not started", logattr.Err(err))
		} else {
			n.mdns = svc
		}
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.connectBootstrap()
	}()
	return n, nil
}

// connectBootstrap dials every bootstrap peer and bootstraps the DHT.
func (n *Node) connectBootstrap() {
	for _, ai := range n.bootstrap {
		ctx, cancel := context.WithTimeout(n.ctx, 15*time.Second)
		if err := n.Host.Connect(ctx, ai); err != nil {
			n.log.Info("bootstrap peer unreachable", logattr.Peer(ai.ID.String()), logattr.Err(err))
		}
		cancel()
	}
	if err := n.DHT.Bootstrap(n.ctx); err != nil && n.ctx.Err() == nil {
		n.log.Debug("DHT bootstrap", logattr.Err(err))
	}
}

type notifee Node

// HandlePeerFound connects to a peer mDNS found on the LAN.
func (nf *notifee) HandlePeerFound(ai peer.AddrInfo) {
	n := (*Node)(nf)
	if ai.ID == n.Host.ID() || n.ctx.Err() != nil {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		defer cancel()
		if err := n.Host.Connect(ctx, ai); err == nil {
			n.log.Debug("LAN peer connected", logattr.Peer(ai.ID.String()))
		}
	}()
}

// Close stops discovery, the DHT and the host, and waits for the node's
// goroutines.
func (n *Node) Close() error {
	proto.Unregister(n.Host.ID())
	n.cancel()
	if n.punch != nil {
		n.punch.close()
	}
	if n.mdns != nil {
		n.mdns.Close()
	}
	err := n.DHT.Close()
	if herr := n.Host.Close(); err == nil {
		err = herr
	}
	n.wg.Wait()
	return err
}

// Addrs returns the node's full multiaddrs (with /p2p/), the form
// --bootstrap takes.
func (n *Node) Addrs() []string {
	suffix, _ := ma.NewMultiaddr("/p2p/" + n.Host.ID().String())
	var out []string
	for _, a := range n.Host.Addrs() {
		out = append(out, a.Encapsulate(suffix).String())
	}
	return out
}

// Topic is what the DHT holds for a room: the hash of the room's announce
// topic, as a CID.
func topicCID(topic [32]byte) cid.Cid {
	sum := sha256.Sum256(topic[:])
	h, _ := mh.Encode(sum[:], mh.SHA2_256)
	return cid.NewCidV1(cid.Raw, h)
}

// Announce tells the DHT this node serves topic. It returns quickly when
// the DHT has no peers yet (nothing to announce to).
func (n *Node) Announce(ctx context.Context, topic [32]byte) error {
	if len(n.DHT.RoutingTable().ListPeers()) == 0 {
		return nil
	}
	return n.DHT.Provide(ctx, topicCID(topic), true)
}

// FindPeers asks the DHT for nodes serving topic.
func (n *Node) FindPeers(ctx context.Context, topic [32]byte, limit int) []peer.AddrInfo {
	var out []peer.AddrInfo
	for ai := range n.DHT.FindProvidersAsync(ctx, topicCID(topic), limit) {
		if ai.ID != n.Host.ID() {
			out = append(out, ai)
		}
	}
	return out
}

// Peers returns the peers connected now.
func (n *Node) Peers() []peer.ID { return n.Host.Network().Peers() }

// BootstrapPeers returns the peers given as bootstrap nodes.
func (n *Node) BootstrapPeers() []peer.ID {
	out := make([]peer.ID, 0, len(n.bootstrap))
	for _, ai := range n.bootstrap {
		out = append(out, ai.ID)
	}
	return out
}

// PathTo says how this node reaches p: "direct" or "relay".
func (n *Node) PathTo(p peer.ID) string {
	for _, c := range n.Host.Network().ConnsToPeer(p) {
		if c.Stat().Limited {
			continue
		}
		return "direct"
	}
	if n.Host.Network().Connectedness(p) == network.Limited {
		return "relay"
	}
	return "none"
}

// Reach connects to p if it is not connected yet: with the addresses
// known, else (p being a bootstrap node) those it was given, else those
// the DHT finds, else through each bootstrap node as a
// circuit relay (a device behind a NAT holds a relay slot there).
func (n *Node) Reach(ctx context.Context, p peer.ID) error {
	if n.Host.Network().Connectedness(p) == network.Connected {
		return nil
	}
	var errs []error
	try := func(ai peer.AddrInfo) bool {
		cctx, cancel := context.WithTimeout(ctx, reachTimeout)
		defer cancel()
		err := n.Host.Connect(cctx, ai)
		if err != nil {
			errs = append(errs, err)
		}
		return err == nil
	}
	if len(n.Host.Peerstore().Addrs(p)) > 0 && try(peer.AddrInfo{ID: p}) {
		return nil
	}
	for _, r := range n.bootstrap {
		// A bootstrap node is dialled at its given addresses, even before
		// the first dial of it (in the background) put them in the
		// peerstore.
		if r.ID == p && try(r) {
			return nil
		}
	}
	fctx, cancel := context.WithTimeout(ctx, reachTimeout)
	ai, err := n.DHT.FindPeer(fctx, p)
	cancel()
	if err == nil && len(ai.Addrs) > 0 && try(ai) {
		return nil
	}
	for _, r := range n.bootstrap {
		if r.ID == p {
			continue
		}
		var addrs []ma.Multiaddr
		for _, a := range r.Addrs {
			c, err := ma.NewMultiaddr(a.String() + "/p2p/" + r.ID.String() + "/p2p-circuit")
			if err == nil {
				addrs = append(addrs, c)
			}
		}
		if try(peer.AddrInfo{ID: p, Addrs: addrs}) {
			return nil
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("no address known for %s", p.ShortString())
	}
	return fmt.Errorf("reaching %s: %w", p.ShortString(), errors.Join(errs...))
}

// reachTimeout bounds one attempt to connect to a peer.
const reachTimeout = 10 * time.Second

// Relays are the always-on nodes this node takes a relay slot on (its
// bootstrap nodes; none on an always-on node itself).
func (n *Node) Relays() []peer.ID {
	var out []peer.ID
	for _, ai := range n.bootstrap {
		if ai.ID != n.Host.ID() {
			out = append(out, ai.ID)
		}
	}
	return out
}

// Offence records a protocol offence by p (see proto.Scorer.Offence).
func (n *Node) Offence(p peer.ID, protocol string, why error) bool {
	return n.scores.Offence(p, protocol, why)
}

// Banned reports whether p is banned now.
func (n *Node) Banned(p peer.ID) bool { return n.scores.Banned(p) }

// Score is p's offences in the current window.
func (n *Node) Score(p peer.ID) int { return n.scores.Score(p) }
