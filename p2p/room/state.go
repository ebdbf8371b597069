package room

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
)

// The view as applied is kept in the store, so that a room reopens
// without applying its history again:
//
//	state "view"    -> the view but its messages (encodeState), as
//	                   applied up to the entry "last" names
//	state "dirty"   -> present while the view counts entries of logs
//	                   held in memory only (not stored): reopening
//	                   computes it again from the store
//
// stateVersion changes whenever the encoding or the rules that make the
// view change: a room whose state has another version computes its view
// again from its logs.
const (
	bucketState  = "state"
	stateVersion = 2 // 2: Web Push (View.Push, View.VAPID)
)

var (
	keyView  = []byte("view")
	keyDirty = []byte("dirty")
)

func init() {
	ViewBuckets = append(ViewBuckets, bucketState)
}

var errState = errors.New("room: the stored view does not decode")

func sortedKeys[K comparable, V any](m map[K]V, key func(K) []byte) []K {
	ks := slices.Collect(maps.Keys(m))
	slices.SortFunc(ks, func(a, b K) int { return bytes.Compare(key(a), key(b)) })
	return ks
}

func pk(k identity.PublicKey) []byte { return k[:] }

func refBytes(r Ref) []byte { return seqKey(r.Writer, r.Seq) }

func putRef(e *wire.Encoder, r Ref) { e.Fixed(r.Writer[:]); e.Uint(r.Seq) }

func getRef(d *wire.Decoder) Ref {
	var r Ref
	d.Fixed(r.Writer[:])
	r.Seq = d.Uint()
	return r
}

func putKey(e *wire.Encoder, k identity.PublicKey) { e.Fixed(k[:]) }

func getKey(d *wire.Decoder) identity.PublicKey {
	var k identity.PublicKey
	d.Fixed(k[:])
	return k
}

func putExclusion(e *wire.Encoder, x *exclusion) {
	putRef(e, x.by)
	putKey(e, x.identity)
	putKey(e, x.device)
	e.U8(byte(x.role))
	e.Bool(x.lift)
	e.Uint(x.minEpoch)
	e.Uint(uint64(len(x.front)))
	for _, k := range sortedKeys(x.front, pk) {
		putKey(e, k)
		e.Uint(x.front[k])
	}
}

func getExclusion(d *wire.Decoder) *exclusion {
	x := &exclusion{by: getRef(d), identity: getKey(d), device: getKey(d), role: Role(d.U8()), lift: d.Bool(), minEpoch: d.Uint()}
	n := d.Count(MaxRoomDevices * 4)
	x.front = make(map[identity.PublicKey]uint64, n)
	for range n {
		k := getKey(d)
		x.front[k] = d.Uint()
	}
	return x
}

// maxStateItems bounds the items of one kind of a stored view.
const maxStateItems = 1 << 20

// encodeState encodes everything of v but its messages, and the last
// entry applied.
func encodeState(v *View, last *node) []byte {
	var e wire.Encoder
	e.Uint(stateVersion)
	e.Bool(last != nil)
	if last != nil {
		e.Uint(last.clock)
		putRef(&e, last.ref)
	}
	e.String(v.Name)
	e.Uint(v.Epoch)
	putRef(&e, v.EpochRef)
	e.Fixed(v.EpochKeyID[:])
	e.Uint(uint64(v.Count))
	e.Uint(uint64(v.applied))
	e.Bool(v.rotateNeeded)
	putKey(&e, v.rotateBy)

	e.Uint(uint64(len(v.Members)))
	for _, k := range sortedKeys(v.Members, pk) {
		m := v.Members[k]
		putKey(&e, m.Identity)
		e.U8(byte(m.Role))
		putRef(&e, m.Added)
		e.Fixed(m.Invite[:])
	}
	e.Uint(uint64(len(v.Devices)))
	for _, k := range sortedKeys(v.Devices, pk) {
		dv := v.Devices[k]
		putKey(&e, dv.Device)
		putKey(&e, dv.Identity)
		e.String(dv.Name)
		e.Bytes(dv.Sealing.Bytes())
		e.Bool(dv.Revoked)
		e.Bool(dv.Forked)
		e.Bool(dv.Superseded)
		e.Uint(dv.Epoch)
		e.Uint(dv.helloEpoch)
		e.Fixed(dv.helloKey[:])
		e.Uint(uint64(len(dv.chain)))
		for _, c := range dv.chain {
			putKey(&e, c)
		}
	}
	e.Uint(uint64(len(v.Invites)))
	for _, k := range sortedKeys(v.Invites, func(id InviteID) []byte { return id[:] }) {
		in := v.Invites[k]
		e.Fixed(in.ID[:])
		seed := in.Seed.Bytes()
		e.Fixed(seed[:])
		e.Uint(uint64(in.Expires))
		e.Uint(in.Uses)
		e.Uint(in.Used)
		e.U8(byte(in.Role))
		putKey(&e, in.By)
		e.Bool(in.Approve)
	}
	e.Uint(uint64(len(v.Mirrors)))
	for _, k := range slices.Sorted(maps.Keys(v.Mirrors)) {
		m := v.Mirrors[k]
		e.String(m.PeerID)
		e.Uint(uint64(len(m.Addrs)))
		for _, a := range m.Addrs {
			e.String(a)
		}
		putKey(&e, m.AddedBy)
	}
	e.Uint(uint64(len(v.Doors)))
	for _, k := range sortedKeys(v.Doors, pk) {
		dr := v.Doors[k]
		putKey(&e, dr.Device)
		e.String(dr.Name)
		putRef(&e, dr.By)
	}
	for _, m := range []map[identity.PublicKey]Ref{v.Former, v.Revoked, v.Forked} {
		e.Uint(uint64(len(m)))
		for _, k := range sortedKeys(m, pk) {
			putKey(&e, k)
			putRef(&e, m[k])
		}
	}
	e.Uint(uint64(len(v.IdentityEpochs)))
	for _, k := range sortedKeys(v.IdentityEpochs, pk) {
		putKey(&e, k)
		e.Uint(v.IdentityEpochs[k])
	}
	e.Uint(uint64(len(v.Revocations)))
	for _, k := range sortedKeys(v.Revocations, pk) {
		putKey(&e, k)
		e.Bytes(v.Revocations[k])
	}
	e.Uint(uint64(len(v.epochKeys)))
	for _, ep := range slices.Sorted(maps.Keys(v.epochKeys)) {
		e.Uint(ep)
		e.Uint(uint64(len(v.epochKeys[ep])))
		for _, id := range v.epochKeys[ep] {
			e.Fixed(id[:])
		}
	}
	e.Uint(uint64(len(v.keyHolders)))
	for _, id := range sortedKeys(v.keyHolders, func(k [32]byte) []byte { return k[:] }) {
		e.Fixed(id[:])
		hs := v.keyHolders[id]
		e.Uint(uint64(len(hs)))
		for _, k := range sortedKeys(hs, pk) {
			putKey(&e, k)
		}
	}
	// Exclusions: every one the view holds (registered, from the start
	// of the pass, or violations), each once, then who refers to which.
	all := map[Ref]*exclusion{}
	for r, x := range v.active {
		all[r] = x
	}
	for r, x := range v.pre {
		all[r] = x
	}
	for _, x := range v.violations {
		all[x.by] = x
	}
	e.Uint(uint64(len(all)))
	for _, r := range sortedKeys(all, refBytes) {
		putExclusion(&e, all[r])
	}
	refs := func(rs []Ref) {
		e.Uint(uint64(len(rs)))
		for _, r := range rs {
			putRef(&e, r)
		}
	}
	refs(sortedKeys(v.active, refBytes))
	refs(sortedKeys(v.pre, refBytes))
	var viol []Ref
	for _, x := range v.violations {
		viol = append(viol, x.by)
	}
	refs(viol)
	for _, m := range []map[identity.PublicKey][]*exclusion{v.exclByIdentity, v.exclByDevice} {
		e.Uint(uint64(len(m)))
		for _, k := range sortedKeys(m, pk) {
			putKey(&e, k)
			var rs []Ref
			for _, x := range m[k] {
				rs = append(rs, x.by)
			}
			refs(rs)
		}
	}
	lifted := map[Ref][]Ref{}
	for x, rs := range v.lifted {
		lifted[x.by] = rs
	}
	e.Uint(uint64(len(lifted)))
	for _, r := range sortedKeys(lifted, refBytes) {
		putRef(&e, r)
		refs(lifted[r])
	}
	for _, m := range []map[Ref]bool{v.void, v.acceptedExcl} {
		var rs []Ref
		for r, set := range m {
			if set {
				rs = append(rs, r)
			}
		}
		slices.SortFunc(rs, func(a, b Ref) int { return bytes.Compare(refBytes(a), refBytes(b)) })
		refs(rs)
	}
	for _, m := range []map[identity.PublicKey]uint64{v.accepted, v.privileged} {
		e.Uint(uint64(len(m)))
		for _, k := range sortedKeys(m, pk) {
			putKey(&e, k)
			e.Uint(m[k])
		}
	}
	// Version 2: Web Push.
	e.Uint(uint64(len(v.Push)))
	for _, k := range sortedKeys(v.Push, pk) {
		ps := v.Push[k]
		putKey(&e, k)
		e.String(ps.Endpoint)
		e.Bytes(ps.P256DH)
		e.Bytes(ps.Auth)
		putRef(&e, ps.By)
	}
	e.Bytes(v.VAPID)
	putRef(&e, v.VAPIDBy)
	return e.B
}

// decodeState restores into v (new, of newView) what encodeState
// encoded, and returns the last entry applied.
func decodeState(b []byte, v *View) (*node, error) {
	d := wire.NewDecoder(b)
	if ver := d.Uint(); ver != stateVersion {
		return nil, fmt.Errorf("%w: version %d, not %d", errState, ver, stateVersion)
	}
	var last *node
	if d.Bool() {
		last = &node{clock: d.Uint(), ref: getRef(d)}
	}
	v.Name = d.String(maxRowString)
	v.Epoch = d.Uint()
	v.EpochRef = getRef(d)
	d.Fixed(v.EpochKeyID[:])
	v.Count = int(d.Uint())
	v.applied = int(d.Uint())
	v.rotateNeeded = d.Bool()
	v.rotateBy = getKey(d)

	for range d.Count(maxStateItems) {
		m := &Member{Identity: getKey(d), Role: Role(d.U8()), Added: getRef(d)}
		d.Fixed(m.Invite[:])
		v.Members[m.Identity] = m
	}
	for range d.Count(maxStateItems) {
		dv := &Device{Device: getKey(d), Identity: getKey(d), Name: d.String(maxRowString)}
		sealing := d.Bytes(1 << 12)
		dv.Revoked, dv.Forked, dv.Superseded = d.Bool(), d.Bool(), d.Bool()
		dv.Epoch, dv.helloEpoch = d.Uint(), d.Uint()
		d.Fixed(dv.helloKey[:])
		for range d.Count(maxStateItems) {
			dv.chain = append(dv.chain, getKey(d))
		}
		if d.Err() == nil {
			s, err := identity.ParseSealingPublicKey(sealing)
			if err != nil {
				d.Fail(err)
			}
			dv.Sealing = s
		}
		v.Devices[dv.Device] = dv
	}
	for range d.Count(maxStateItems) {
		in := &Invite{}
		d.Fixed(in.ID[:])
		var seed [32]byte
		d.Fixed(seed[:])
		in.Seed = Secret32{b: seed}
		in.Expires, in.Uses, in.Used = int64(d.Uint()), d.Uint(), d.Uint()
		in.Role, in.By, in.Approve = Role(d.U8()), getKey(d), d.Bool()
		v.Invites[in.ID] = in
	}
	for range d.Count(maxStateItems) {
		m := &Mirror{PeerID: d.String(maxRowString)}
		for range d.Count(maxStateItems) {
			m.Addrs = append(m.Addrs, d.String(maxRowString))
		}
		m.AddedBy = getKey(d)
		v.Mirrors[m.PeerID] = m
	}
	for range d.Count(maxStateItems) {
		dr := &Door{Device: getKey(d), Name: d.String(maxRowString), By: getRef(d)}
		v.Doors[dr.Device] = dr
	}
	for _, m := range []map[identity.PublicKey]Ref{v.Former, v.Revoked, v.Forked} {
		for range d.Count(maxStateItems) {
			k := getKey(d)
			m[k] = getRef(d)
		}
	}
	for range d.Count(maxStateItems) {
		k := getKey(d)
		v.IdentityEpochs[k] = d.Uint()
	}
	for range d.Count(maxStateItems) {
		k := getKey(d)
		v.Revocations[k] = d.Bytes(1 << 16)
	}
	for range d.Count(maxStateItems) {
		ep := d.Uint()
		n := d.Count(maxStateItems)
		ids := make([][32]byte, n)
		for i := range ids {
			d.Fixed(ids[i][:])
		}
		v.epochKeys[ep] = ids
	}
	for range d.Count(maxStateItems) {
		var id [32]byte
		d.Fixed(id[:])
		hs := map[identity.PublicKey]bool{}
		for range d.Count(maxStateItems) {
			hs[getKey(d)] = true
		}
		v.keyHolders[id] = hs
	}
	all := map[Ref]*exclusion{}
	for range d.Count(maxStateItems) {
		x := getExclusion(d)
		all[x.by] = x
	}
	xs := func() []*exclusion {
		var out []*exclusion
		for range d.Count(maxStateItems) {
			r := getRef(d)
			x, ok := all[r]
			if !ok && d.Err() == nil {
				d.Fail(fmt.Errorf("an exclusion %v not stored", r))
			}
			out = append(out, x)
		}
		return out
	}
	refs := func() []Ref {
		var out []Ref
		for range d.Count(maxStateItems) {
			out = append(out, getRef(d))
		}
		return out
	}
	for _, x := range xs() {
		if x != nil {
			v.active[x.by] = x
		}
	}
	if pre := xs(); len(pre) > 0 {
		v.pre = map[Ref]*exclusion{}
		for _, x := range pre {
			if x != nil {
				v.pre[x.by] = x
			}
		}
	}
	v.violations = xs()
	for _, m := range []map[identity.PublicKey][]*exclusion{v.exclByIdentity, v.exclByDevice} {
		for range d.Count(maxStateItems) {
			k := getKey(d)
			m[k] = xs()
		}
	}
	for range d.Count(maxStateItems) {
		r := getRef(d)
		lifts := refs()
		if x, ok := all[r]; ok {
			v.lifted[x] = lifts
		} else if d.Err() == nil {
			d.Fail(fmt.Errorf("a lifted exclusion %v not stored", r))
		}
	}
	v.void = map[Ref]bool{}
	for _, r := range refs() {
		v.void[r] = true
	}
	for _, r := range refs() {
		v.acceptedExcl[r] = true
	}
	for _, m := range []map[identity.PublicKey]uint64{v.accepted, v.privileged} {
		for range d.Count(maxStateItems) {
			k := getKey(d)
			m[k] = d.Uint()
		}
	}
	for range d.Count(maxStateItems) {
		ps := &PushSub{Device: getKey(d), Endpoint: d.String(MaxPushURLLen), P256DH: d.Bytes(65), Auth: d.Bytes(16), By: getRef(d)}
		v.Push[ps.Device] = ps
	}
	if key := d.Bytes(VAPIDKeyLen); len(key) > 0 {
		v.VAPID = key
	}
	v.VAPIDBy = getRef(d)
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %v", errState, err)
	}
	return last, nil
}

// saveState writes the view as applied, within the transaction that
// applied it; or, while it counts entries of logs held in memory only,
// that it must be computed again when the room reopens.
func (r *Room) saveState() {
	tx := r.content.tx
	held := false
	for _, ls := range r.logs {
		held = held || ls.unsaved && ls.clocked > 0
	}
	if held {
		r.content.fail(tx.Put(bucketState, keyDirty, nil))
		return
	}
	r.content.fail(tx.Delete(bucketState, keyDirty))
	r.content.fail(tx.Put(bucketState, keyView, encodeState(r.view, r.last)))
}

// restoreState reads the view as it was applied, and each log's order,
// from tx: false if the room must compute them again (no state, one of
// another version, or one that counts entries not stored).
func (r *Room) restoreState(tx Tx) (bool, error) {
	b := tx.Get(bucketState, keyView)
	if b == nil || tx.Get(bucketState, keyDirty) != nil {
		return false, nil
	}
	v := newView(r.cfg.Founder, r.disc, r, r.content, nil)
	last, err := decodeState(b, v)
	if err != nil {
		return false, err
	}
	for w, ls := range r.logs {
		run, ok := lastRun(tx, w)
		if ok && run.start+run.n > ls.log.Len() {
			return false, fmt.Errorf("%w: clocks of %d entries of a log of %d", errState, run.start+run.n, ls.log.Len())
		}
		ls.run, ls.clocked, ls.decoded = run, int(run.start+run.n), int(run.start+run.n)
	}
	r.view, r.last = v, last
	return true, nil
}
