package room

import (
	"bytes"
	"slices"

	"github.com/hearthp2p/hearth/internal/logattr"
)

// Going back to a point of the order instead of computing the view again
// from the start.
//
// An entry that arrives late (a branch written offline) sorts before
// entries already applied. The view is then what it was before the first
// late entry, and the entries from there applied again. The final pass's
// view is stored every ckptEvery entries (ckpt, keyed by the order key of
// the last entry it applied), and what entries after a checkpoint wrote
// can be undone (viewdb.go): going back costs what follows the
// checkpoint, not the history.
//
// When is that exact? The passes of authority.go differ only in which
// exclusions are registered from the start, and what each pass hands the
// next depends only on the view at each entry that may exclude someone
// (is it accepted? had it seen what it excludes?). Entries that come
// after every such entry, and exclude nobody themselves, change none of
// that in any pass: only the final pass's view from where they sort
// onward. So: when no fresh entry may exclude, and none that may (xord,
// written as entries get their clocks) sorts after the first fresh one,
// the final pass goes back to its checkpoint before the first fresh entry
// and applies the rest again. Otherwise the view is computed again from
// the start. A rewind that ends with exclusions to register differently
// (it cannot, by the above) falls back to that too.
const (
	bucketCkpt = "ckpt"
	bucketXord = "xord"
)

// ckptEvery is how many entries apart the final pass's view is stored
// (tests make it small, so that their rooms go back to checkpoints).
var ckptEvery = 4096

func init() {
	ViewBuckets = append(ViewBuckets, bucketCkpt, bucketXord)
}

// nodeKey is a node's order key.
func nodeKey(n *node) []byte { return orderKey(n.clock, n.ref) }

// applied notes an entry applied in the final pass (or the pass being
// computed): every ckptEvery, the view is stored as a checkpoint.
func (r *Room) applied(n *node) {
	if r.last == nil {
		r.last = new(node)
	}
	*r.last = node{ref: n.ref, clock: n.clock} // r.last is never shared
	r.sinceCkpt++
	if r.sinceCkpt >= ckptEvery {
		r.sinceCkpt = 0
		r.content.fail(r.content.tx.Put(bucketCkpt, nodeKey(r.last), encodeState(r.view, r.last)))
	}
}

// clearCkpts deletes every checkpoint (a pass starts from scratch).
func (r *Room) clearCkpts() {
	r.deleteFrom(bucketCkpt, nil)
	r.sinceCkpt = 0
}

// deleteFrom deletes the keys of a bucket at or after from (nil: all).
func (r *Room) deleteFrom(bucket string, from []byte) {
	var keys [][]byte
	cur := r.content.tx.Cursor(bucket)
	for k, _ := cur.Last(); k != nil && bytes.Compare(k, from) >= 0; k, _ = cur.Prev() {
		keys = append(keys, slices.Clone(k))
	}
	for _, k := range keys {
		r.content.fail(r.content.tx.Delete(bucket, k))
	}
}

// rewind applies fresh entries that sort before what is applied by going
// back to the checkpoint before the first of them (see above). It
// reports false when the view must be computed again from the start.
func (r *Room) rewind(fresh []*node) bool {
	if slices.ContainsFunc(fresh, func(n *node) bool { return n.entry != nil && excludes(n.entry.Op.Type) }) {
		return false
	}
	first := nodeKey(fresh[0])
	tx := r.content.tx
	xc := tx.Cursor(bucketXord)
	for k, v := xc.Seek(first); k != nil; k, v = xc.Next() {
		if !r.inertHello(k, v) {
			return false // an entry that may exclude sorts after it
		}
	}
	cur := tx.Cursor(bucketCkpt)
	cur.Seek(first)
	at, state := cur.Prev()
	if at == nil {
		return false // no checkpoint before it: from the start
	}
	v := newView(r.cfg.Founder, r.disc, r, r.content, nil)
	last, err := decodeState(state, v)
	if err != nil {
		r.log.Warn("a stored checkpoint does not decode", logattr.Room(r.id.String()), logattr.Err(err))
		return false
	}
	after := append(slices.Clone(at), 0) // the first key past the checkpoint
	r.content.rewind(after)
	r.deleteFrom(bucketCkpt, after)
	r.view, r.last, r.sinceCkpt = v, last, 0
	r.eachEntryFrom(after, func(n *node) {
		r.applyNode(n)
		r.applied(n)
	})
	if _, same := r.view.nextPre(); !same {
		r.log.Warn("going back left exclusions to register anew: computing the view from the start", logattr.Room(r.id.String()))
		return false
	}
	r.rewinds++
	return true
}

// startAfter returns the position of the first entry of a log whose
// order key is at or after from: clocks rise along a log, so a binary
// search over its positions finds it.
func (r *Room) startAfter(ls *logState, from []byte) uint64 {
	n := uint64(ls.clocked)
	lo, hi := uint64(0), n
	for lo < hi {
		mid := lo + (hi-lo)/2
		c, ok := r.clockAt(r.content.tx, ls, mid)
		if !ok {
			return 0
		}
		if bytes.Compare(orderKey(c, Ref{Writer: ls.log.Writer(), Seq: mid}), from) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// markExcluding records where an entry that may exclude someone sorts,
// and its operation's type.
func (r *Room) markExcluding(n *node) {
	if n.entry != nil && excludes(n.entry.Op.Type) {
		r.content.fail(r.content.tx.Put(bucketXord, nodeKey(n), []byte{byte(n.entry.Op.Type)}))
	}
}

// inertHello reports whether the entry that may exclude at order key k
// (its xord row's value v) is a hello that excludes nobody in any pass,
// whatever sorts before it: a hello supersedes only devices of its own
// identity of an older identity epoch (View.newEpoch), and the room holds
// no log of such a device. A device's identity and epoch come from its
// proof, the same in every pass; a log whose device the view does not
// know could be anyone's, so it makes no hello inert. This is the hello a
// device says while it catches up: the rest of the history, arriving
// after it, has entries that sort before it.
func (r *Room) inertHello(k, v []byte) bool {
	ref, ok := refOf(k)
	if !ok || len(v) != 1 || OpType(v[0]) != OpHello {
		return false // stored without its type (an older version): assume it may
	}
	w := ref.Writer
	d, ok := r.view.Devices[w]
	if !ok {
		return false
	}
	for o := range r.logs {
		if o == w {
			continue
		}
		od, ok := r.view.Devices[o]
		if !ok || od.Identity == d.Identity && od.Epoch < d.Epoch {
			return false
		}
	}
	return true
}
