package device

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/internal/secfile"
	hnet "github.com/hearthp2p/hearth/p2p/net"
)

// PortsName is the file in the home that remembers the ports the
// default listen addresses got, so that a restart listens on the same
// ones: an address another device stored (the phone's app keeps its
// daemon's WebRTC-direct address, certhash and all) stays good.
const PortsName = "ports.json"

// transportKey names a listen address's family and transport, without its
// port: "ip4/udp/webrtc-direct".
func transportKey(a ma.Multiaddr) (key string, port int, ok bool) {
	var parts []string
	ma.ForEach(a, func(c ma.Component) bool {
		switch c.Protocol().Code {
		case ma.P_IP4, ma.P_IP6:
			parts = append(parts, c.Protocol().Name)
		case ma.P_TCP, ma.P_UDP:
			parts = append(parts, c.Protocol().Name)
			port, _ = strconv.Atoi(c.Value())
		case ma.P_QUIC_V1, ma.P_WEBRTC_DIRECT:
			parts = append(parts, c.Protocol().Name)
		}
		return true
	})
	if len(parts) < 2 {
		return "", 0, false
	}
	return strings.Join(parts, "/"), port, true
}

// stableListen returns the default listen addresses with the ports this
// home got last time, where they are still free.
func stableListen(home string) []string {
	known := map[string]int{}
	if b, err := os.ReadFile(filepath.Join(home, PortsName)); err == nil {
		json.Unmarshal(b, &known) // a damaged file: fresh ports, written anew
	}
	out := make([]string, 0, len(hnet.DefaultListen))
	for _, s := range hnet.DefaultListen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			out = append(out, s)
			continue
		}
		key, _, ok := transportKey(a)
		port := known[key]
		if !ok || port <= 0 || port > 65535 || !portFree(key, port) {
			out = append(out, s)
			continue
		}
		s = strings.Replace(s, "/tcp/0", "/tcp/"+strconv.Itoa(port), 1)
		s = strings.Replace(s, "/udp/0", "/udp/"+strconv.Itoa(port), 1)
		out = append(out, s)
	}
	return out
}

// portFree reports whether port of the transport of key can be bound now
// (another program may have taken it since).
func portFree(key string, port int) bool {
	ip4 := strings.HasPrefix(key, "ip4/")
	addr := "0.0.0.0"
	if !ip4 {
		addr = "::"
	}
	hp := net.JoinHostPort(addr, strconv.Itoa(port))
	if strings.Contains(key, "/tcp") {
		ln, err := net.Listen(map[bool]string{true: "tcp4", false: "tcp6"}[ip4], hp)
		if err != nil {
			return false
		}
		ln.Close()
		return true
	}
	pc, err := net.ListenPacket(map[bool]string{true: "udp4", false: "udp6"}[ip4], hp)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

// rememberPorts writes the ports the node listens on, by transport.
func rememberPorts(home string, n *hnet.Node) error {
	ports := map[string]int{}
	for _, a := range n.Host.Network().ListenAddresses() {
		if key, port, ok := transportKey(a); ok && port > 0 {
			ports[key] = port
		}
	}
	b, err := json.Marshal(ports)
	if err != nil {
		return err
	}
	if err := secfile.Write(filepath.Join(home, PortsName), b, false); err != nil {
		return fmt.Errorf("remembering the listen ports: %w", err)
	}
	return nil
}
