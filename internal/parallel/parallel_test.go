package parallel

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// TestFor: every item is visited once, whatever n, least and the cores,
// and short work stays in the caller's goroutine.
func TestFor(t *testing.T) {
	for _, procs := range []int{1, 2, 3, 8} {
		old := runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 2, 7, 63, 64, 65, 1000, 1001} {
			for _, least := range []int{0, 1, 16, 64} {
				seen := make([]atomic.Int32, n)
				var calls atomic.Int32
				For(n, least, func(lo, hi int) {
					calls.Add(1)
					if lo < 0 || hi > n || lo > hi {
						t.Errorf("range [%d, %d) of %d", lo, hi, n)
						return
					}
					for i := lo; i < hi; i++ {
						seen[i].Add(1)
					}
				})
				for i := range seen {
					if c := seen[i].Load(); c != 1 {
						t.Fatalf("procs %d, n %d, least %d: item %d visited %d times", procs, n, least, i, c)
					}
				}
				if c := int(calls.Load()); c > procs || least > 0 && n < 2*least && c != 1 {
					t.Fatalf("procs %d, n %d, least %d: %d calls", procs, n, least, c)
				}
			}
		}
		runtime.GOMAXPROCS(old)
	}
}
