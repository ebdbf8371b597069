package room

import (
	"fmt"
	"testing"
)

// TestLateBranchesGoBack: two households' devices write while apart,
// edits, deletions and reactions included, then meet again, many times:
// each branch that arrives late is applied by going back to a checkpoint
// before it, never from the start, and every device shows what the logs
// alone give (sameView computes it again from scratch).
func TestLateBranchesGoBack(t *testing.T) {
	h := newHousehold(t, 1)
	a, b := h.a1, h.rooms[1]
	var last Ref
	for round := range 8 {
		for i := range 5 {
			last = mustWrite(t, a, Op{Type: OpMessage, Text: fmt.Sprintf("a %d.%d", round, i)})
		}
		for i := range 4 {
			mustWrite(t, b, Op{Type: OpMessage, Text: fmt.Sprintf("b %d.%d", round, i)})
		}
		if round%2 == 1 {
			mustWrite(t, a, Op{Type: OpEdit, Target: last, Text: "edited"})
			mustWrite(t, b, Op{Type: OpReact, Target: last, Emoji: "+1"})
			mustWrite(t, a, Op{Type: OpDelete, Target: last})
		}
		// Each gets the other's branch, written meanwhile: for one of
		// them it sorts before what it applied.
		syncAll(t, a, b)
		sameView(t, a, b)
	}
	a.mu.Lock()
	ar := a.rewinds
	a.mu.Unlock()
	b.mu.Lock()
	br := b.rewinds
	b.mu.Unlock()
	if ar+br < 8 {
		t.Fatalf("%d and %d late branches went back to a checkpoint, want most of 16", ar, br)
	}
	t.Logf("late branches applied from a checkpoint: %d and %d", ar, br)
}
