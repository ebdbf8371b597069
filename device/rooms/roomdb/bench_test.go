package roomdb

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// BenchmarkCatchUp measures a new member's device taking a room of
// 100,000 messages from a peer into the database (fsync on commit), in
// frames of the size replication sends: every block verified against its
// head, opened, ordered, applied and written with the view's rows.
func BenchmarkCatchUp(b *testing.B) {
	const n, batch, frame = 100_000, 1000, 960 << 10
	alice, _ := identity.GenerateSigningKey()
	bob, _ := identity.GenerateSigningKey()
	key := room.NewKey()
	src, err := room.Open(room.Config{Key: key, Founder: alice.Public(), Self: self(b, alice, "laptop")})
	if err != nil {
		b.Fatal(err)
	}
	if err := src.Create("home"); err != nil {
		b.Fatal(err)
	}
	if _, err := src.Write(room.Op{Type: room.OpAddMember, Identity: bob.Public(), Role: room.RoleMember}); err != nil {
		b.Fatal(err)
	}
	ops := make([]room.Op, batch)
	for i := 0; i < n; i += batch {
		for j := range ops {
			ops[j] = room.Op{Type: room.OpMessage, Text: fmt.Sprintf("message %d: a line of chat of typical length", i+j)}
		}
		if _, err := src.WriteBatch(ops); err != nil {
			b.Fatal(err)
		}
	}
	me := self(b, bob, "phone")
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		db, err := storage.Open(filepath.Join(b.TempDir(), "hearth.db"), storage.Config{})
		if err != nil {
			b.Fatal(err)
		}
		dst, err := room.Open(room.Config{Key: key, Founder: alice.Public(), Self: me, Store: New(db)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, h := range src.Heads() {
			for {
				hh, blocks, ok := src.Blocks(h.Writer, dst.Len(h.Writer), frame)
				if !ok {
					break
				}
				if err := dst.Receive(hh, blocks); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		if got := dst.Count(); got != n {
			b.Fatalf("%d messages", got)
		}
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
