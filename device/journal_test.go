package device

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
)

func TestJournalHandler(t *testing.T) {
	type entry struct {
		msg  string
		p    journal.Priority
		vars map[string]string
	}
	var got []entry
	h := newJournalHandler(&slog.HandlerOptions{Level: slog.LevelInfo}, func(m string, p journal.Priority, v map[string]string) error {
		got = append(got, entry{m, p, v})
		return nil
	})
	key, _ := identity.GenerateSigningKey()
	log := slog.New(h).With(slog.String("part", "door"))
	log.Debug("hidden")
	log.Info("door unlocked", slog.String("identity", "ab12"), slog.Any("key", key), slog.Group("call", slog.Int("n", 2)))
	log.Error("relay", logattr.Err(errors.New("pin gone")), slog.String("0bad key!", "x"))
	if len(got) != 2 {
		t.Fatalf("%d entries, want 2 (debug is below the level)", len(got))
	}
	e := got[0]
	if e.msg != "door unlocked" || e.p != journal.PriInfo || e.vars["IDENTITY"] != "ab12" || e.vars["PART"] != "door" ||
		e.vars["CALL_N"] != "2" || e.vars["SYSLOG_IDENTIFIER"] != "hearth" {
		t.Fatalf("entry %+v", e)
	}
	if e.vars["KEY"] != "redacted" {
		t.Fatalf("a key reached the journal: %q", e.vars["KEY"])
	}
	if got[1].p != journal.PriErr || got[1].vars["ERR"] != "pin gone" || got[1].vars["BAD_KEY_"] != "x" {
		t.Fatalf("entry %+v", got[1])
	}
}
