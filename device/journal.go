package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/coreos/go-systemd/v22/journal"
)

// UnderJournal says whether w, the daemon's stderr, is the journal's
// stream: systemd says so in JOURNAL_STREAM (device:inode of the stream).
func UnderJournal(env string, w io.Writer) bool {
	f, ok := w.(*os.File)
	if env == "" || !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return env == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// JournalHandler is a slog handler writing to systemd's journal with
// native fields: MESSAGE, PRIORITY, and each attribute as an upper-case
// field (peer as PEER, err as ERR), so `journalctl -u hearth PEER=...`
// finds a peer's lines.
type JournalHandler struct {
	opts   slog.HandlerOptions
	attrs  []slog.Attr
	prefix string
	send   func(msg string, p journal.Priority, vars map[string]string) error
	mu     *sync.Mutex
}

// NewJournalHandler returns a handler for the journal, or an error when
// the journal's socket is not there.
func NewJournalHandler(opts *slog.HandlerOptions) (*JournalHandler, error) {
	if !journal.Enabled() {
		return nil, errors.New("log format journald: the journal's socket is not there (is this running under systemd?)")
	}
	return newJournalHandler(opts, journal.Send), nil
}

func newJournalHandler(opts *slog.HandlerOptions, send func(string, journal.Priority, map[string]string) error) *JournalHandler {
	h := &JournalHandler{send: send, mu: &sync.Mutex{}}
	if opts != nil {
		h.opts = *opts
	}
	return h
}

// Enabled implements slog.Handler.
func (h *JournalHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.opts.Level != nil {
		min = h.opts.Level.Level()
	}
	return l >= min
}

// Handle implements slog.Handler.
func (h *JournalHandler) Handle(_ context.Context, r slog.Record) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": "hearth", "HEARTH_LEVEL": r.Level.String()}
	for _, a := range h.attrs {
		addJournalVar(vars, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addJournalVar(vars, h.prefix, a)
		return true
	})
	p := journal.PriInfo
	switch {
	case r.Level >= slog.LevelError:
		p = journal.PriErr
	case r.Level >= slog.LevelWarn:
		p = journal.PriWarning
	case r.Level < slog.LevelInfo:
		p = journal.PriDebug
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.send(r.Message, p, vars)
}

func addJournalVar(vars map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			addJournalVar(vars, prefix+a.Key+"_", g)
		}
		return
	}
	name := journalName(prefix + a.Key)
	if name == "" {
		return
	}
	vars[name] = v.String()
}

// journalName makes a journal field name: upper-case letters, digits and
// underscores, not starting with an underscore or a digit (those are
// the journal's own).
func journalName(k string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(k) {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	n := strings.TrimLeft(b.String(), "_0123456789")
	if n == "" || n == "MESSAGE" || n == "PRIORITY" {
		return ""
	}
	return n
}

// WithAttrs implements slog.Handler.
func (h *JournalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		if h.prefix != "" {
			a.Key = h.prefix + a.Key
		}
		c.attrs = append(c.attrs, a)
	}
	return &c
}

// WithGroup implements slog.Handler.
func (h *JournalHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.prefix = h.prefix + name + "_"
	return &c
}
