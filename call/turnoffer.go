package call

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
)

// TURN credentials, as a device asks an always-on node for them (the
// server is call/av's): the wire side, which the phone's app speaks too.

// TURNProtocol hands out short-lived TURN credentials to the devices a
// TURN node serves: the device sends its device proof (length-framed), the
// node answers one JSON object.
const TURNProtocol = "/hearth/turn/1.0.0"

// TURNOffer is the answer of TURNProtocol: ICE servers with credentials,
// or why not.
type TURNOffer struct {
	URLs       []string `json:"urls,omitempty"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
	Expires    int64    `json:"expires,omitempty"` // unix seconds
	Error      string   `json:"error,omitempty"`
}

// MaxTURNOffer bounds the answer of TURNProtocol (and its request).
const MaxTURNOffer = 4 << 10

// FetchTURN asks a peer for TURN credentials, showing this device's
// proof.
func FetchTURN(ctx context.Context, h Host, p peer.ID, proof []byte) (*TURNOffer, error) {
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "hearth turn"), p, TURNProtocol)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	if err := wire.WriteMsg(st, proof); err != nil {
		return nil, err
	}
	st.CloseWrite()
	// One JSON object, read to its end (not to the stream's: a browser's
	// stream may end later than its last byte).
	var o TURNOffer
	dec := json.NewDecoder(io.LimitReader(st, MaxTURNOffer))
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("a TURN answer (at most %d bytes): %w", MaxTURNOffer, err)
	}
	if o.Error != "" {
		return nil, errors.New(o.Error)
	}
	if len(o.URLs) == 0 || len(o.URLs) > 8 {
		return nil, fmt.Errorf("a TURN answer with %d addresses", len(o.URLs))
	}
	return &o, nil
}

// TURNClients keeps credentials from the TURN nodes a device knows, and
// renews them before they expire.
type TURNClients struct {
	Host  Host
	Nodes func() []peer.ID // the nodes to ask (e.g. the bootstrap peers)
	Proof []byte           // this device's proof
	Log   *slog.Logger

	mu     sync.Mutex
	offers map[peer.ID]*TURNOffer
	failed map[peer.ID]time.Time
}

// Offers returns fresh credentials, asking the nodes whose credentials
// are missing or about to expire (at most 3 s).
func (c *TURNClients) Offers(ctx context.Context) []*TURNOffer {
	if c.Nodes == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	now := time.Now()
	var wg sync.WaitGroup
	c.mu.Lock()
	if c.offers == nil {
		c.offers, c.failed = map[peer.ID]*TURNOffer{}, map[peer.ID]time.Time{}
	}
	c.mu.Unlock()
	for _, p := range c.Nodes() {
		c.mu.Lock()
		o, have := c.offers[p]
		fresh := have && time.Unix(o.Expires, 0).Sub(now) > time.Minute
		recentFail := now.Sub(c.failed[p]) < time.Minute
		c.mu.Unlock()
		if fresh || recentFail {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := FetchTURN(ctx, c.Host, p, c.Proof)
			c.mu.Lock()
			defer c.mu.Unlock()
			if err != nil {
				c.failed[p] = time.Now()
				delete(c.offers, p)
				logattr.OrDiscard(c.Log).Debug("no TURN credentials", logattr.Peer(p.String()), logattr.Err(err))
				return
			}
			c.offers[p] = o
		}()
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*TURNOffer
	for _, o := range c.offers {
		if time.Unix(o.Expires, 0).After(now) {
			out = append(out, o)
		}
	}
	return out
}
