package av

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/turn/v4"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/netutil"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
)

// TURNConfig configures a STUN/TURN server (pion/turn) on an always-on
// node.
type TURNConfig struct {
	// Listen is the address to serve on, e.g. "0.0.0.0:3478": UDP, and
	// TCP at the same port (a device whose network drops UDP reaches
	// TURN over TCP; its relayed address still carries UDP).
	Listen string
	// Public is the address devices reach the server at (and its relayed
	// addresses); it must be one of this machine's.
	Public net.IP
	// Host hands out credentials over TURNProtocol.
	Host host.Host
	// Authorize says whether a peer, with the device proof it sent, is a
	// device of an identity this server serves.
	Authorize func(p peer.ID, proof []byte) error
	// TTL is how long credentials last; zero means DefaultTURNTTL.
	TTL    time.Duration
	Logger *slog.Logger
}

// DefaultTURNTTL is how long TURN credentials last: a call that starts
// within it keeps its allocation as long as it lasts.
const DefaultTURNTTL = 10 * time.Minute

// TURNServer is a running STUN/TURN server.
type TURNServer struct {
	cfg    TURNConfig
	srv    *turn.Server
	secret string
	port   int
	log    *slog.Logger
}

// StartTURN starts the server and the credential protocol.
func StartTURN(cfg TURNConfig) (*TURNServer, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTURNTTL
	}
	if cfg.Public == nil || cfg.Public.IsUnspecified() {
		return nil, errors.New("the TURN server needs the public address devices reach it at")
	}
	pc, err := net.ListenPacket("udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("TURN: %w", err)
	}
	// TCP at the port UDP got (the same one when Listen names a port).
	udp := pc.LocalAddr().(*net.UDPAddr)
	tl, err := net.Listen("tcp4", net.JoinHostPort(udp.IP.String(), strconv.Itoa(udp.Port)))
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("TURN over TCP: %w", err)
	}
	tl = netutil.LimitListener(tl, maxTURNTCP)
	var sb [32]byte
	rand.Read(sb[:])
	s := &TURNServer{cfg: cfg, secret: hex.EncodeToString(sb[:]), port: udp.Port, log: logattr.OrDiscard(cfg.Logger)}
	quiet := quietLogs{}
	relayed := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{RelayAddress: cfg.Public, Address: udp.IP.String()}
	}
	s.srv, err = turn.NewServer(turn.ServerConfig{
		Realm:             "hearth",
		AuthHandler:       turn.LongTermTURNRESTAuthHandler(s.secret, quiet.NewLogger("turn")),
		LoggerFactory:     quiet,
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: relayed()}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: tl, RelayAddressGenerator: relayed()}},
	})
	if err != nil {
		pc.Close()
		tl.Close()
		return nil, fmt.Errorf("TURN: %w", err)
	}
	cfg.Host.SetStreamHandler(call.TURNProtocol, call.Guard(s.log, "turn", s.handle))
	s.log.Info("TURN server on", slog.String("listen", pc.LocalAddr().String()+" (UDP and TCP)"), slog.String("public", cfg.Public.String()))
	return s, nil
}

// Allocations is how many relayed allocations are open.
func (s *TURNServer) Allocations() int { return s.srv.AllocationCount() }

// Close stops the server.
func (s *TURNServer) Close() error {
	s.cfg.Host.RemoveStreamHandler(call.TURNProtocol)
	return s.srv.Close()
}

// Offer makes credentials for a device.
func (s *TURNServer) Offer(p peer.ID) call.TURNOffer {
	user, cred, err := turn.GenerateLongTermTURNRESTCredentials(s.secret, p.String(), s.cfg.TTL)
	if err != nil {
		return call.TURNOffer{Error: err.Error()}
	}
	hp := net.JoinHostPort(s.cfg.Public.String(), strconv.Itoa(s.port))
	return call.TURNOffer{
		// TURN over TCP is for devices whose network drops UDP: ICE
		// prefers the UDP allocation wherever both work.
		URLs:     []string{"stun:" + hp, "turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"},
		Username: user, Credential: cred, Expires: time.Now().Add(s.cfg.TTL).Unix(),
	}
}

func (s *TURNServer) handle(st network.Stream) {
	defer st.Close()
	p := st.Conn().RemotePeer()
	st.SetDeadline(time.Now().Add(5 * time.Second))
	proof, err := wire.ReadMsg(bufio.NewReader(st), call.MaxTURNOffer)
	if err == nil && s.cfg.Authorize != nil {
		err = s.cfg.Authorize(p, proof)
	} else if err == nil {
		err = errors.New("no identity is served")
	}
	var o call.TURNOffer
	if err == nil {
		o = s.Offer(p)
		s.log.Debug("TURN credentials handed out", logattr.Peer(p.String()))
	} else {
		o = call.TURNOffer{Error: "refused: " + err.Error()}
		s.log.Info("TURN credentials refused", logattr.Peer(p.String()), logattr.Err(err))
	}
	json.NewEncoder(st).Encode(o)
}

// maxTURNTCP bounds the TURN server's open TCP connections: anyone can
// open one, and each holds a file descriptor and a goroutine. A device
// holds one during a call (ICE gathers a TCP allocation beside the UDP
// one), so this is over a hundred calls at once.
const maxTURNTCP = 256

// ICEServer is a TURN offer as pion takes it.
func ICEServer(o *call.TURNOffer) webrtc.ICEServer {
	return webrtc.ICEServer{URLs: o.URLs, Username: o.Username, Credential: o.Credential}
}

// ICEServers are TURN offers as pion takes them.
func ICEServers(offers []*call.TURNOffer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(offers))
	for _, o := range offers {
		out = append(out, ICEServer(o))
	}
	return out
}
