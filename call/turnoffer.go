package call

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

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
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(st), MaxTURNOffer+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxTURNOffer {
		return nil, errors.New("a TURN answer over 4 KiB")
	}
	var o TURNOffer
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("a TURN answer: %w", err)
	}
	if o.Error != "" {
		return nil, errors.New(o.Error)
	}
	if len(o.URLs) == 0 || len(o.URLs) > 8 {
		return nil, fmt.Errorf("a TURN answer with %d addresses", len(o.URLs))
	}
	return &o, nil
}
