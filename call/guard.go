package call

import (
	"log/slog"
	"runtime/debug"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/hearthp2p/hearth/internal/logattr"
)

// Guard wraps a stream handler so that a panic in it ends that stream,
// never the daemon (as p2p/net's Guard does; call does not import p2p).
func Guard(log *slog.Logger, proto string, h network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("stream handler panicked: the stream is reset", slog.String("proto", proto),
					logattr.Peer(s.Conn().RemotePeer().String()), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
				s.Reset()
			}
		}()
		h(s)
	}
}
