// Package parallel spreads independent work over the processor's cores.
package parallel

import (
	"runtime"
	"sync"
)

// For calls fn on consecutive ranges [lo, hi) that cover [0, n), one per
// core at most, and returns when every call has. A range shorter than
// least items is not worth a goroutine: with fewer than 2×least items, fn
// runs once, on [0, n), in the caller's goroutine. The calls run at the
// same time, so fn must write only what its own range owns.
func For(n, least int, fn func(lo, hi int)) {
	parts := runtime.GOMAXPROCS(0)
	if least > 0 {
		parts = min(parts, n/least)
	}
	if parts <= 1 {
		fn(0, n)
		return
	}
	size := (n + parts - 1) / parts
	var wg sync.WaitGroup
	for lo := size; lo < n; lo += size {
		wg.Go(func() { fn(lo, min(lo+size, n)) })
	}
	fn(0, size)
	wg.Wait()
}
