package room

import (
	"fmt"
	"testing"
)

// BenchmarkCatchUp measures a new member syncing a room of 100,000
// messages from one peer: every block verified against its head, opened,
// decoded, ordered and applied.
func BenchmarkCatchUp(b *testing.B) {
	defer func(every int) { ckptEvery = every }(ckptEvery)
	ckptEvery = 4096 // as in a daemon, not as the tests store it
	const n, batch = 100_000, 1000
	h := newHousehold(b, 1)
	ops := make([]Op, batch)
	for i := 0; i < n; i += batch {
		for j := range ops {
			ops[j] = Op{Type: OpMessage, Text: fmt.Sprintf("message number %d from alice, with a little text", i+j)}
		}
		if _, err := h.a1.WriteBatch(ops); err != nil {
			b.Fatal(err)
		}
	}
	newcomer := h.rooms[1].cfg.Self
	b.ResetTimer()
	for b.Loop() {
		r := openRoom(b, h.key, h.alice.id.Public(), newcomer)
		pullBatches(b, r, h.a1, 900<<10)
		if got := r.Count(); got != n {
			b.Fatalf("%d messages", got)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

func pullBatches(b *testing.B, dst, src *Room, max int) {
	for _, h := range src.Heads() {
		if h.Writer == dst.cfg.Self.Device.Public() {
			continue
		}
		for {
			hh, blocks, ok := src.Blocks(h.Writer, dst.Len(h.Writer), max)
			if !ok {
				break
			}
			if err := dst.Receive(hh, blocks); err != nil {
				b.Fatal(err)
			}
		}
	}
}
