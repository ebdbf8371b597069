package roomdb

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// TestViewTxMatchesMemory runs the same random transactions on the
// database's room.Tx and on a MemStore's, failed ones included, and
// compares every read and cursor walk: a room behaves the same in memory
// and on disk.
func TestViewTxMatchesMemory(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "hearth.db"), storage.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stores := []room.Store{New(db), room.NewMemStore()}
	d := log.Discovery{1}
	other := log.Discovery{2}
	rng := rand.New(rand.NewPCG(7, 8))
	key := func() []byte { return fmt.Appendf(nil, "k%03d", rng.IntN(200)) }
	errFail := errors.New("rolled back")
	for round := range 300 {
		ops := make([][3]int, 1+rng.IntN(20))
		for i := range ops {
			ops[i] = [3]int{rng.IntN(3), rng.IntN(200), rng.IntN(2)}
		}
		fail := rng.IntN(4) == 0
		for _, s := range stores {
			err := s.Update(d, func(tx room.Tx) error {
				for _, op := range ops {
					k := fmt.Appendf(nil, "k%03d", op[1])
					b := []string{"a", "b"}[op[2]]
					switch op[0] {
					case 0, 1:
						if err := tx.Put(b, k, fmt.Appendf(nil, "v%d", round)); err != nil {
							return err
						}
					case 2:
						if err := tx.Delete(b, k); err != nil {
							return err
						}
					}
				}
				if fail {
					return errFail
				}
				return nil
			})
			if fail != errors.Is(err, errFail) || !fail && err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		// Another room's buckets of the same names stay apart.
		if round == 0 {
			for _, s := range stores {
				s.Update(other, func(tx room.Tx) error { return tx.Put("a", []byte("k000"), []byte("other")) })
			}
		}
		probes := []([]byte){key(), key(), key()}
		var walks [2]string
		for i, s := range stores {
			var w bytes.Buffer
			s.View(d, func(tx room.Tx) error {
				for j, b := range []string{"a", "b", "none"} {
					c := tx.Cursor(b)
					for k, v := c.First(); k != nil; k, v = c.Next() {
						fmt.Fprintf(&w, "%s:%s=%s ", b, k, v)
					}
					k, v := c.Prev()
					fmt.Fprintf(&w, "past the end, prev: %s=%s ", k, v)
					for k, v := c.Last(); k != nil; k, v = c.Prev() {
						fmt.Fprintf(&w, "<%s=%s ", k, v)
					}
					k, v = c.Next()
					fmt.Fprintf(&w, "before the start, next: %s=%s ", k, v)
					probe := probes[j]
					k, v = c.Seek(probe)
					fmt.Fprintf(&w, "seek %s: %s=%s ", probe, k, v)
					k, v = c.Prev()
					fmt.Fprintf(&w, "then prev: %s=%s ", k, v)
					fmt.Fprintf(&w, "get %s=%s|", probe, tx.Get(b, probe))
					if err := tx.Put(b, probe, nil); err == nil {
						t.Fatal("a write in a read-only transaction")
					}
				}
				return nil
			})
			walks[i] = w.String()
		}
		if walks[0] != walks[1] {
			t.Fatalf("round %d: on disk\n%s\nin memory\n%s", round, walks[0], walks[1])
		}
	}
}
