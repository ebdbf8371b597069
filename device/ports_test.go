package device

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
)

// TestStablePorts: a daemon on the default addresses listens on the same
// ports after a restart (a phone's stored WebRTC-direct address stays
// good); a port taken meanwhile by another program, or a damaged file,
// gives a fresh one rather than no listener.
func TestStablePorts(t *testing.T) {
	home := t.TempDir()
	if got := stableListen(home); !slices.Equal(got, hnet.DefaultListen) {
		t.Fatalf("a new home listens on %v", got)
	}
	key, _ := identity.GenerateSigningKey()
	n, err := hnet.New(hnet.Config{Key: key, Listen: stableListen(home), NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := rememberPorts(home, n); err != nil {
		t.Fatal(err)
	}
	n.Close()
	var ports map[string]int
	b, _ := os.ReadFile(filepath.Join(home, PortsName))
	if err := json.Unmarshal(b, &ports); err != nil || ports["ip4/udp/webrtc-direct"] == 0 || ports["ip4/tcp"] == 0 {
		t.Fatalf("remembered %s (%v)", b, err)
	}
	p := ports["ip4/udp/webrtc-direct"]
	want := "/ip4/0.0.0.0/udp/" + strconv.Itoa(p) + "/webrtc-direct"
	if again := stableListen(home); !slices.Contains(again, want) || !slices.Contains(again, "/ip4/0.0.0.0/tcp/"+strconv.Itoa(ports["ip4/tcp"])) {
		t.Fatalf("after a restart: %v, want %s", again, want)
	}
	// Taken by someone else: a fresh port.
	pc, err := net.ListenPacket("udp4", "0.0.0.0:"+strconv.Itoa(p))
	if err != nil {
		t.Fatal(err)
	}
	if again := stableListen(home); slices.Contains(again, want) || !slices.Contains(again, "/ip4/0.0.0.0/udp/0/webrtc-direct") {
		t.Fatalf("with the port taken: %v", again)
	}
	pc.Close()
	os.WriteFile(filepath.Join(home, PortsName), []byte("{not json"), 0o600)
	if got := stableListen(home); !slices.Equal(got, hnet.DefaultListen) {
		t.Fatalf("a damaged file gives %v", got)
	}
}
