package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/hearthp2p/hearth/p2p/blob"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/blobwire"
	hnet "github.com/hearthp2p/hearth/p2p/net"
)

// sourceUplink is the upload rate of each source in the multi-source
// figure: 100 Mbit/s, a Pi's or a home uplink's order of magnitude.
const sourceUplink = 100e6 / 8

// pacedSource serves a source's chunks no faster than its uplink (its
// limiter's burst must hold one ciphertext chunk).
type pacedSource struct {
	blob.Source
	ctx context.Context
	lim *rate.Limiter
}

func (p pacedSource) Chunk(root chunk.Hash, i int, buf []byte) ([]byte, bool) {
	b, ok := p.Source.Chunk(root, i, buf)
	if ok && p.lim.WaitN(p.ctx, len(b)) != nil {
		return nil, false
	}
	return b, ok
}

// multiSource fetches the same file from one source, then from three,
// each source's upload paced at sourceUplink, and gives both rates and
// the speed-up. Every source is its own libp2p host on loopback.
func multiSource(ctx context.Context, size int64) ([]Figure, error) {
	dir, err := os.MkdirTemp("", "hearth-bench-sources-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	store, m, _, closeStore, err := storedFile(dir, filepath.Join(dir, "src.bin"), size)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	recv, err := loopbackNode()
	if err != nil {
		return nil, err
	}
	defer recv.Close()
	var sources []peer.ID
	var limiters []*rate.Limiter
	for range 3 {
		n, err := loopbackNode()
		if err != nil {
			return nil, err
		}
		defer n.Close()
		lim := rate.NewLimiter(rate.Limit(sourceUplink), chunk.Size+64<<10)
		limiters = append(limiters, lim)
		paced := pacedSource{Source: store, ctx: ctx, lim: lim}
		svc := blob.NewService(n.Host, func(chunk.Hash) (blob.Source, bool) { return paced, true }, nil)
		defer svc.Close()
		if err := recv.Host.Connect(ctx, peer.AddrInfo{ID: n.Host.ID(), Addrs: n.Host.Addrs()}); err != nil {
			return nil, err
		}
		sources = append(sources, n.Host.ID())
	}
	sink := dir
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "hearth-bench-"); err == nil {
			sink = d
			defer os.RemoveAll(d)
		}
	}
	fetch := func(peers []peer.ID) (float64, error) {
		out := filepath.Join(sink, "out.part")
		defer os.Remove(out)
		for _, l := range limiters { // every uplink starts with no credit
			l.AllowN(time.Now(), l.Burst())
		}
		return timedFetch(ctx, recv, m, peers, out)
	}
	one, err := fetch(sources[:1])
	if err != nil {
		return nil, err
	}
	three, err := fetch(sources)
	if err != nil {
		return nil, err
	}
	mib := float64(size) / (1 << 20)
	note := fmt.Sprintf("%.0f MiB, each source's upload paced at %.0f Mbit/s, loopback", mib, sourceUplink*8/1e6)
	return []Figure{
		{Name: "file from one source", Value: one / 1e6, Unit: "MB/s", Note: note},
		{Name: "file from three sources", Value: three / 1e6, Unit: "MB/s", Note: "the same file, chunks asked of all three at once"},
		{Name: "multi-source speed-up", Value: three / one, Unit: "ratio", Note: "three sources over one; 3 at best"},
	}, nil
}

// timedFetch fetches the file of m from peers into out, and returns the
// rate in bytes per second, from asking for the hashes to the last chunk
// written.
func timedFetch(ctx context.Context, n *hnet.Node, m *chunk.Manifest, peers []peer.ID, out string) (float64, error) {
	start := time.Now()
	hs, err := blobwire.FetchHashes(ctx, n.Host, m, peers)
	if err != nil {
		return 0, err
	}
	part, err := blob.OpenPartial(out, m, hs)
	if err != nil {
		return 0, err
	}
	err = blobwire.Fetch(ctx, blobwire.FetchConfig{Host: n.Host, Peers: peers, Partial: part})
	part.Close()
	if err != nil {
		return 0, err
	}
	return float64(m.Size) / time.Since(start).Seconds(), nil
}
