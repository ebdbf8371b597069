package logattr

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimited(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1_000_000, 0)
	log := slog.New(Limited(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), func() time.Time { return now }))
	peer := log.With(Peer("p1")) // the limit holds across derived loggers
	for range 1000 {
		peer.Info("a ring refused", Err(nil))
	}
	log.Info("daemon started") // another message is not held back
	for range 50 {
		log.Debug("a frame") // debug is never limited
	}
	now = now.Add(LimitEvery)
	log.Info("a ring refused")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	count := map[string]int{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		count[m["msg"].(string)]++
	}
	if count["a ring refused"] != LimitBurst+1 || count["daemon started"] != 1 || count["a frame"] != 50 {
		t.Fatalf("lines per message: %v", count)
	}
	last := lines[len(lines)-1]
	if !strings.Contains(last, `"suppressed":990`) {
		t.Fatalf("the line after the pause does not count what was dropped: %s", last)
	}
}
