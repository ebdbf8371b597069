package net

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	ma "github.com/multiformats/go-multiaddr"
)

// TestPunchGuessesTCPFromQUIC: a node seen only at a QUIC address offers
// the same address with its TCP listener's port to hole punches; not
// where a TCP address of that IP was seen, and nothing from a TCP one.
func TestPunchGuessesTCPFromQUIC(t *testing.T) {
	n := newNode(t, true)
	var port string
	for _, l := range n.Host.Network().ListenAddresses() {
		if p, err := l.ValueForProtocol(ma.P_TCP); err == nil {
			port = p
		}
	}
	if port == "" {
		t.Fatalf("no TCP listener: %v", n.Host.Network().ListenAddresses())
	}
	addrs := func(ss ...string) []ma.Multiaddr {
		var out []ma.Multiaddr
		for _, s := range ss {
			out = append(out, ma.StringCast(s))
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		seen, want []ma.Multiaddr
	}{
		{"quic only", addrs("/ip4/192.0.2.7/udp/4001/quic-v1"), addrs("/ip4/192.0.2.7/tcp/" + port)},
		{"tcp seen too", addrs("/ip4/192.0.2.7/udp/4001/quic-v1", "/ip4/192.0.2.7/tcp/5001"), nil},
		{"tcp only", addrs("/ip4/192.0.2.7/tcp/5001"), nil},
		{"ipv6 quic, ipv4 listener", addrs("/ip6/2001:db8::7/udp/4001/quic-v1"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := n.punch.tcpGuesses(tc.seen)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b ma.Multiaddr) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("guesses (-want +got):\n%s", diff)
			}
		})
	}
}
