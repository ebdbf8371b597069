package blobwire

import (
	"sync"

	"github.com/hearthp2p/hearth/p2p/blob/chunk"
)

// HeldSet records which chunks of a file a sink holds, for its Missing, Held
// and Complete; safe for concurrent use. A sink embeds it.
type HeldSet struct {
	m    *chunk.Manifest
	mu   sync.Mutex
	have []bool
	n    int
}

// NewHeldSet records none of m's chunks held.
func NewHeldSet(m *chunk.Manifest) *HeldSet {
	return &HeldSet{m: m, have: make([]bool, m.Chunks())}
}

// Mark records chunk i held (again is nothing); an index out of the file
// is ignored.
func (h *HeldSet) Mark(i int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i >= 0 && i < len(h.have) && !h.have[i] {
		h.have[i] = true
		h.n++
	}
}

// Has reports whether chunk i is held.
func (h *HeldSet) Has(i int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return i >= 0 && i < len(h.have) && h.have[i]
}

// Bitmap returns which chunks are held, a copy.
func (h *HeldSet) Bitmap() []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bool(nil), h.have...)
}

// Missing returns the chunks not held yet.
func (h *HeldSet) Missing() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int
	for i, ok := range h.have {
		if !ok {
			out = append(out, i)
		}
	}
	return out
}

// Held returns how many chunks are held and how many bytes.
func (h *HeldSet) Held() (chunks int, bytes int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, ok := range h.have {
		if ok {
			bytes += int64(h.m.ChunkLen(i))
		}
	}
	return h.n, bytes
}

// Complete reports whether every chunk is held.
func (h *HeldSet) Complete() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n == len(h.have)
}
