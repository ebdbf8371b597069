package proto

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestScoresForgetful: offences older than the window do not add up, and a
// flood of new peers cannot grow the table without bound.
func TestScoresForgetful(t *testing.T) {
	s := NewScorer(nil)
	p := peer.ID("someone")
	for range BanScore - 1 {
		s.Offence(p, "x", nil)
	}
	s.mu.Lock()
	s.scores[p].first = time.Now().Add(-scoreWindow - time.Second)
	s.mu.Unlock()
	if s.Offence(p, "x", nil) || s.Score(p) != 1 {
		t.Fatalf("an old window counted: score %d", s.Score(p))
	}
	for i := range maxScored + 100 {
		s.Offence(peer.ID(fmt.Sprint(i)), "x", nil)
	}
	if len(s.scores) > maxScored {
		t.Fatalf("%d peers scored", len(s.scores))
	}
}
