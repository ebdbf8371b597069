package logattr

import (
	"log/slog"
)

// Fixed attribute keys.
const (
	KeyPeer = "peer"
	KeyRoom = "room"
	KeyCall = "call"
	KeyDev  = "dev"
	KeyErr  = "err"
)

// Peer logs a peer id or key; values that implement slog.LogValuer log
// their short form.
func Peer(v any) slog.Attr { return slog.Any(KeyPeer, v) }

// Room logs a room id or discovery key.
func Room(v any) slog.Attr { return slog.Any(KeyRoom, v) }

// Call logs a call id.
func Call(v any) slog.Attr { return slog.Any(KeyCall, v) }

// Dev logs a device key.
func Dev(v any) slog.Attr { return slog.Any(KeyDev, v) }

// Err logs an error; nil logs nothing useful but is allowed.
func Err(err error) slog.Attr {
	if err == nil {
		return slog.String(KeyErr, "")
	}
	return slog.String(KeyErr, err.Error())
}

// Discard returns a logger that drops everything, for a nil Config logger.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// OrDiscard returns l, or a discarding logger if l is nil.
func OrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return Discard()
	}
	return l
}
