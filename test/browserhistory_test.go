package test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserHistoryPages: a room of 130 messages opens on its newest
// page, not its history; scrolling up reads the pages before, in order,
// the view staying on what was read; new messages still come in.
func TestBrowserHistoryPages(t *testing.T) {
	actx := browser(t)
	dir := artifacts(t)
	alice := newDaemon(t, "alice", "--web", "127.0.0.1:0")
	var st struct{ Web string }
	alice.json(&st, "status")
	var created struct{ Room string }
	alice.json(&created, "room", "create", "long")
	room := created.Room
	a := actx
	if err := chromedp.Do(a, chromedp.Navigate(st.Web), chromedp.WaitVisible(chromedp.CSS(`#create-room`))); err != nil {
		t.Fatal(err)
	}
	// Written by the page's own API, fast: 130 entries.
	if !evalPage[bool](a, `(async () => { for (let i = 0; i < 130; i++) await api('POST', '/api/v1/rooms/`+room+`/messages', { text: 'm' + i }); return true; })()`) {
		t.Fatal("writing 130 messages from the page failed")
	}
	click(t, a, `#rooms li[data-room="`+room+`"] .name`)
	texts := func() []string {
		return evalPage[[]string](a, `[...document.querySelectorAll('#messages .msg .text')].map((e) => e.textContent)`)
	}
	waitPage(t, a, "the newest page", func() bool {
		ts := texts()
		return len(ts) > 0 && ts[len(ts)-1] == "m129"
	})
	if ts := texts(); len(ts) >= 130 || len(ts) < 50 {
		t.Fatalf("the room opened on %d messages: want its newest page (50 and more, fewer than 130)", len(ts))
	}
	shot(t, a, dir, "1-newest-page")
	for page := 0; page < 5 && len(texts()) < 130; page++ {
		before := len(texts())
		evalPage[bool](a, `(() => { document.getElementById('messages').scrollTop = 0; return true; })()`)
		waitPage(t, a, fmt.Sprintf("the page before %d messages", before), func() bool { return len(texts()) > before })
		if top := evalPage[float64](a, `document.getElementById('messages').scrollTop`); len(texts()) < 130 && top < 80 {
			t.Errorf("after reading older messages the view is at %v px: it jumped to the top", top)
		}
	}
	ts := texts()
	want := make([]string, 130)
	for i := range want {
		want[i] = fmt.Sprintf("m%d", i)
	}
	if strings.Join(ts, " ") != strings.Join(want, " ") {
		t.Fatalf("after scrolling up, the page shows %d messages out of order or twice: %v", len(ts), ts)
	}
	shot(t, a, dir, "2-oldest")
	// A new message still shows, the older pages staying.
	alice.run(0, "", "room", "send", room, "one more")
	waitPage(t, a, "a new message", func() bool {
		ts := texts()
		return len(ts) > 0 && ts[len(ts)-1] == "one more"
	})
	if n := len(texts()); n != 131 {
		t.Errorf("after a new message the page shows %d messages, want all 131", n)
	}
}
