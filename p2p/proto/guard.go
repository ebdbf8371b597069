package proto

import (
	"log/slog"
	"runtime/debug"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/hearthp2p/hearth/internal/logattr"
)

// Guard wraps a stream handler so that a panic in it ends that stream,
// never the daemon: the panic is logged with its stack (it is a bug to
// fix) and the stream reset. Goroutines the handler starts need guards of
// their own.
func Guard(log *slog.Logger, proto string, h network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		defer Recover(log, proto, s)
		h(s)
	}
}

// Recover, deferred in a goroutine that serves stream s, ends s on a
// panic, as Guard does for a handler.
func Recover(log *slog.Logger, proto string, s network.Stream) {
	r := recover()
	if r == nil {
		return
	}
	logattr.OrDiscard(log).Error("stream handler panicked: the stream is reset", slog.String("proto", proto),
		logattr.Peer(s.Conn().RemotePeer().String()), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
	s.Reset()
}
