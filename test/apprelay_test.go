package test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestAppThroughRelay: the app knows alice's daemon only by its address
// through the always-on node's relay (a circuit over the node's
// WebRTC-direct address), as a phone away from home does: it links, and
// reads and sends, through the relay.
func TestAppThroughRelay(t *testing.T) {
	pub := newDaemon(t, "pub", "--public", "--listen", "/ip4/127.0.0.1/udp/0/webrtc-direct")
	alice := newDaemon(t, "alice", "--bootstrap", tcpAddr(t, pub), "--web", "127.0.0.1:0")
	alice.run(0, "", "room", "create", "family")
	alice.run(0, "", "room", "send", "family", "from home")
	a := tcpAddr(t, alice)
	circuit := webrtcAddr(t, pub) + "/p2p-circuit/p2p/" + a[strings.LastIndex(a, "/")+1:]
	var link struct{ Link, App string }
	alice.json(&link, "device", "link")

	// Alice's daemon listens on TCP and QUIC only here: the relay is the
	// app's one way to it.
	var st struct{ Web string }
	alice.json(&st, "status")
	appURL := strings.SplitN(st.Web, "#", 2)[0] + "app/"
	ctx := phone(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(appURL)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the app", func() bool { return evalPage[bool](ctx, `typeof globalThis.hearthApp === 'object'`) })
	appCall[map[string]any](t, ctx, "starting", `hearthApp.start()`)
	got := appCall[struct{ Identity string }](t, ctx, "linking through the relay", `hearthApp.link(`+jsArg(link.Link)+`, [`+jsArg(circuit)+`], "away")`)
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
