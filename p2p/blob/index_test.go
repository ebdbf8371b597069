package blob

import (
	"context"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/blobwire"
)

// fixedSource serves a file of a few chunks whose bytes do not matter:
// a naive one, that slices its hash list and chunks with the index it is
// given, as a source may.
type fixedSource struct{ hs []chunk.Hash }

func (f fixedSource) Hashes(chunk.Hash) ([]chunk.Hash, bool) { return f.hs, true }
func (f fixedSource) Chunk(_ chunk.Hash, i int, _ []byte) ([]byte, bool) {
	_ = f.hs[i] // a source trusting its caller
	return []byte("chunk"), true
}
func (f fixedSource) Have(chunk.Hash) []bool { return make([]bool, len(f.hs)) }

// TestHugeIndex: whoever knows a file's root asks for hashes and a chunk
// at indexes of 2^31 and more (negative as an int of a 32-bit build, the
// armv6 and armv7 packages). The service answers "bad", never slices with
// them, and goes on serving. The suite runs this package on GOARCH=386
// too (scripts/test).
func TestHugeIndex(t *testing.T) {
	server := newNode(t, fixedSource{hs: make([]chunk.Hash, 4)})
	client := newNode(t, nil)
	ids := client.connect(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := blobwire.Dial(ctx, client.n.Host, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, a := range []uint32{1 << 31, 1<<31 + 5, 1<<32 - 1} {
		for _, op := range []byte{blobwire.OpHashes, blobwire.OpChunk} {
			st, payload, err := c.Ask(blobwire.Request{Op: op, A: a, B: 4}, blobwire.MaxAnswer)
			if err != nil || st != blobwire.StatusBad {
				t.Fatalf("op %d at index %d: status %d %q, %v; want a refusal", op, a, st, payload, err)
			}
		}
	}
	hs, err := c.Hashes(chunk.Hash{})
	if err != nil || len(hs) != 4 {
		t.Fatalf("the service after: %d hashes, %v", len(hs), err)
	}
}
