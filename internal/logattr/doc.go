// Package logattr builds the slog attributes every Hearth component uses,
// so that log keys are the same everywhere: peer, room, call, dev, err.
package logattr
