package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hearthp2p/hearth/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return sock
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := NewClient(filepath.Join(t.TempDir(), "none.sock")).Status(ctx); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("no daemon: %v", err)
	}
	tests := []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"api error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			w.Write([]byte(`{"error":"refused: bad signature"}`))
		}, "refused: bad signature"},
		{"error without body", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, "daemon answered 500"},
		{"not json", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, "decoding the daemon's answer"},
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"peer_id":"` + strings.Repeat("x", MaxBody) + `"}`))
		}, "over 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(serve(t, tc.h)).Status(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	var ae *APIError
	_, err := NewClient(serve(t, tests[0].h)).Devices(ctx)
	if !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("APIError: %v", err)
	}
}

// TestHistoryPages: a history of any size comes through a page at a time
// (a daemon answering ?limit and ?before as the real one does), in order,
// once each, though the whole would be over MaxBody.
func TestHistoryPages(t *testing.T) {
	const n = 2*historyPage + 345
	all := make([]Message, n)
	for i := range all {
		all[i] = Message{ID: fmt.Sprintf("%032x", i), Text: strings.Repeat("w", 600)}
	}
	pages := 0
	sock := serve(t, func(w http.ResponseWriter, r *http.Request) {
		pages++
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || limit > historyPage {
			http.Error(w, "no limit", 400)
			return
		}
		end := n
		if b := r.URL.Query().Get("before"); b != "" {
			fmt.Sscanf(b, "%x", &end)
		}
		start := max(end-limit, 0)
		json.NewEncoder(w).Encode(History{Room: "r", Messages: all[start:end], More: start > 0})
	})
	h, err := NewClient(sock).Rooms.History(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != n || pages != 3 {
		t.Fatalf("%d messages in %d pages", len(h.Messages), pages)
	}
	for i, m := range h.Messages {
		if m.ID != all[i].ID {
			t.Fatalf("message %d is %s", i, m.ID)
		}
	}
}
