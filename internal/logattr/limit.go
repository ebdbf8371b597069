package logattr

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limits of Limited: each message (its text, whatever its attributes) may
// be logged LimitBurst times at once, then once every LimitEvery; what
// was dropped meanwhile is counted on the next line of that message.
const (
	LimitBurst = 10
	LimitEvery = 10 * time.Second
	// limitKeys bounds the messages remembered: messages are constant
	// strings in the code, so this is never reached unless one is not.
	limitKeys = 1024
)

// KeySuppressed is the attribute that says how many lines of a message
// were dropped since the last one logged.
const KeySuppressed = "suppressed"

// Limited wraps a handler so that no message is logged more than
// LimitBurst times at once and once every LimitEvery after that, at
// levels Info and above (Debug is what someone turned on to see
// everything). A remote peer can make a daemon log (a refused ring, a
// stranger at the door); without a limit, one that repeats fills the log
// and wears out an SD card. now is time.Now outside tests.
func Limited(h slog.Handler, now func() time.Time) slog.Handler {
	return &limited{h: h, st: &limitState{now: now, msgs: map[string]*bucket{}}}
}

type limited struct {
	h  slog.Handler
	st *limitState
}

type limitState struct {
	mu   sync.Mutex
	now  func() time.Time
	msgs map[string]*bucket
}

// bucket is a token bucket for one message.
type bucket struct {
	tokens     float64
	last       time.Time
	suppressed int
}

// allow reports whether a line of msg may be logged now, and how many
// were dropped before it.
func (s *limitState) allow(msg string) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	b, ok := s.msgs[msg]
	if !ok {
		if len(s.msgs) >= limitKeys {
			// Forget the quietest half rather than grow.
			for k, v := range s.msgs {
				if v.suppressed == 0 && len(s.msgs) > limitKeys/2 {
					delete(s.msgs, k)
				}
			}
		}
		b = &bucket{tokens: LimitBurst, last: now}
		s.msgs[msg] = b
	}
	b.tokens = min(LimitBurst, b.tokens+float64(now.Sub(b.last))/float64(LimitEvery))
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	n := b.suppressed
	b.suppressed = 0
	return true, n
}

func (l *limited) Enabled(ctx context.Context, lvl slog.Level) bool { return l.h.Enabled(ctx, lvl) }

func (l *limited) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo {
		return l.h.Handle(ctx, r)
	}
	ok, dropped := l.st.allow(r.Message)
	if !ok {
		return nil
	}
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int(KeySuppressed, dropped))
	}
	return l.h.Handle(ctx, r)
}

func (l *limited) WithAttrs(as []slog.Attr) slog.Handler {
	return &limited{h: l.h.WithAttrs(as), st: l.st}
}

func (l *limited) WithGroup(name string) slog.Handler {
	return &limited{h: l.h.WithGroup(name), st: l.st}
}
