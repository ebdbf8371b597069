package rooms

import (
	"testing"

	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/room"
)

// TestAnswerMatchesLink: another holder of an invite can read a
// candidate's request and answer it with a room of its own; the
// candidate keeps only the answer for the room its link names, admission
// or refusal.
func TestAnswerMatchesLink(t *testing.T) {
	real, fake := room.NewKey(), room.NewKey()
	inv := pairing.NewInvite().WithTag(pairing.RoomTag(real.Discovery()))
	link := inv.Link("12D3KooWabc")
	parsed, _, err := pairing.ParseLink(link)
	if err != nil {
		t.Fatal(err)
	}
	tag := parsed.Tag()
	cases := []struct {
		name string
		a    pairing.Answer
		want bool
	}{
		{"admission to the room", pairing.Answer{OK: true, RoomKey: real.Bytes(), Discovery: real.Discovery()}, true},
		{"admission to another room", pairing.Answer{OK: true, RoomKey: fake.Bytes(), Discovery: fake.Discovery()}, false},
		{"another room claiming the right discovery", pairing.Answer{OK: true, RoomKey: fake.Bytes(), Discovery: real.Discovery()}, false},
		{"refusal by the room", pairing.Answer{Reason: "no", Discovery: real.Discovery()}, true},
		{"refusal by someone else", pairing.Answer{Reason: "no", Discovery: fake.Discovery()}, false},
	}
	for _, c := range cases {
		if got := answerMatches(&c.a, tag); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if _, _, err := pairing.ParseLink(link[:len(link)-len("/12D3KooWabc")-3]); err == nil {
		t.Error("a link with a damaged tag parsed")
	}
}
