package test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestAppThroughRelay: alice's daemon listens on TCP and QUIC only, and
// holds a slot on the always-on node's relay. Her app link names the way
// through the relay (a circuit over the node's WebRTC-direct address), as
// a phone away from home scans it: the app links by it, and reads and
// sends over the relayed connection.
func TestAppThroughRelay(t *testing.T) {
	pub := newDaemon(t, "pub", "--public", "--listen", "/ip4/127.0.0.1/udp/0/webrtc-direct")
	alice := newDaemon(t, "alice", "--bootstrap", tcpAddr(t, pub), "--web", "127.0.0.1:0")
	alice.run(0, "", "room", "create", "family")
	alice.run(0, "", "room", "send", "family", "from home")
	a := tcpAddr(t, alice)
	circuit := webrtcAddr(t, pub) + "/p2p-circuit/p2p/" + a[strings.LastIndex(a, "/")+1:]
	// The app link names the way through the relay.
	var link struct{ Link, App string }
	eventually(t, "the relay's circuit in the app link", func() bool {
		alice.json(&link, "device", "link")
		u, err := url.Parse(link.App)
		if err != nil {
			return false
		}
		q, _ := url.ParseQuery(u.Fragment)
		return slices.Contains(q["at"], circuit)
	})

	// Alice's daemon listens on TCP and QUIC only here: the relay is the
	// app's one way to it. The app opens by the app link, as a phone
	// away from home scans it.
	ctx := phone(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(link.App)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the link screen, filled", func() bool {
		return evalPage[string](ctx, `document.getElementById("link-at")?.value ?? ""`) == circuit
	})
	tap(t, ctx, "#link-go")
	waitPage(t, ctx, "the rooms after linking through the relay", func() bool {
		return evalPage[bool](ctx, `!document.getElementById("rooms").hidden && document.querySelectorAll("#room-list li").length > 0`)
	})
	got := appCall[struct{ Identity string }](t, ctx, "the app's identity", `hearthApp.start()`)
	if got.Identity != alice.identity() {
		t.Fatalf("linked to %q", got.Identity)
	}
	waitPage(t, ctx, "the history through the relay", func() bool {
		return strings.Contains(strings.Join(appMessages(t, ctx, "family"), "|"), "from home")
	})
	conns := appCall[[]struct {
		Peer, Addr string
		Limited    bool
	}](t, ctx, "the app's connections", `hearthApp.connections()`)
	relayed := false
	for _, c := range conns {
		if strings.HasSuffix(a, "/p2p/"+c.Peer) {
			if !strings.Contains(c.Addr, "/p2p-circuit") {
				t.Fatalf("the app reached alice over %s, not the relay", c.Addr)
			}
			relayed = true
		}
	}
	if !relayed {
		t.Fatalf("the app holds no connection to alice: %+v", conns)
	}
	appCall[string](t, ctx, "sending", `hearthApp.send("family", "from away")`)
	eventually(t, "the message from away at home", func() bool {
		for _, m := range alice.history("family") {
			if m.Text == "from away" {
				return true
			}
		}
		return false
	})
}
