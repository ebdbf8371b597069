package room

import (
	"slices"

	"github.com/hearthp2p/hearth/p2p/identity"
)

// Authority in a room that several devices write at once.
//
// Every device orders the same entries the same way (Lamport clocks, then
// writer, then position), but a writer chooses the dependencies it
// declares, so the order alone cannot tell whether a writer knew of an
// entry that excluded it. The rules:
//
//   - Rank. The founder (while an admin) outranks every admin, admins
//     outrank moderators, moderators outrank members. Removing a member or
//     changing its role needs a rank above the target's (an admin may only
//     lower its own role); an admin may grant any role up to admin. So two
//     parties can never remove or demote each other.
//   - Exclusion. A removal, a leave, a demotion, a device's revocation and
//     a fork proof each exclude their target (for a device, with every
//     device its proof attested, whenever) from what the entry's causal
//     past does not hold: every entry of the target's devices that the
//     excluding entry had not seen is refused (a demotion refuses only what
//     the new role does not allow), wherever the order puts it. A writer
//     who lowers its dependencies only puts its entries among those the
//     exclusion had not seen.
//   - Re-admission. Adding the identity again, or setting its role, lifts
//     an exclusion the adding entry has seen, for the entries written after
//     the writer had seen that addition. A revocation and a fork are never
//     lifted.
//   - A device's hello is never excluded: it says which identity a device
//     key belongs to, nothing more; its entries are what is judged.
//
// The view is computed in passes over the order: an exclusion accepted in
// a pass that finds entries of its target already applied, which it had
// not seen, is registered from the start of the next pass. One whose
// entry a pass then refuses (it rested on entries it excludes, as a last
// admin's leave on a promotion her other device wrote unseen) is void:
// its entry is refused from then on. An exclusion goes from none to
// registered to void at most, so the passes end. The result depends on
// the entries alone, so every honest device computes the same view.

// exclusion is what an accepted excluding entry takes away.
type exclusion struct {
	by       Ref                // the excluding entry
	identity identity.PublicKey // every device of this identity, or
	device   identity.PublicKey // this device only (zero identity)
	role     Role               // what the target's unseen entries may still do: 0 nothing
	lift     bool               // a later addition or role of the identity may lift it
	minEpoch uint64             // if set, only the identity's devices of an older identity epoch
	front    map[identity.PublicKey]uint64
}

// dag answers questions about the causal past of entries, from the
// dependencies their writers declared.
type dag interface {
	// frontier returns, for every log, how many of its entries are in
	// the causal past of ref, ref itself included.
	frontier(ref Ref) map[identity.PublicKey]uint64
	// seen says whether target is in the causal past of ref.
	seen(ref, target Ref) bool
	// device checks the proof and record of the genesis or hello at ref
	// and returns a new Device they describe (View.device, remembered:
	// the view is computed again often, the entry never changes).
	device(ref Ref, proof, record []byte) (*Device, error)
}

// maxPasses bounds the passes that settle exclusions (they end within
// twice the exclusions plus one); past it the last pass stands (it is
// still the same on every device).
const maxPasses = 64

// excludes reports whether o, accepted, excludes someone.
func excludes(t OpType) bool {
	switch t {
	case OpRemoveMember, OpLeave, OpSetRole, OpRevoke, OpFork, OpHello:
		return true // a hello may supersede older devices (identity epochs)
	}
	return false
}

// rank orders who may act on whom.
func (v *View) rank(id identity.PublicKey, role Role) int {
	r := 2 * int(role)
	if id == v.Founder && role == RoleAdmin {
		r++
	}
	return r
}

// capOf returns the most an entry at ref, by a device of id, may do: its
// identity's role, lowered by every exclusion that had not seen it.
func (v *View) capOf(ref Ref, id identity.PublicKey, role Role) Role {
	check := func(xs []*exclusion) {
		for _, x := range xs {
			if ref.Seq < x.front[ref.Writer] || x.role >= role || x.minEpoch > 0 && v.deviceEpoch(ref.Writer) >= x.minEpoch {
				continue
			}
			if v.liftedFor(x, ref) {
				continue
			}
			role = x.role
		}
	}
	for _, l := range v.chainOf(ref.Writer) { // a revocation of a device is its descendants' too
		check(v.exclByDevice[l])
	}
	check(v.exclByIdentity[id])
	return role
}

// register adds an exclusion. An exclusion of this pass that finds
// entries of its target applied which it had not seen is a violation:
// the next pass registers it from the start.
func (v *View) register(x *exclusion, fresh bool) {
	if _, ok := v.active[x.by]; ok {
		return
	}
	v.active[x.by] = x
	if x.device != (identity.PublicKey{}) {
		v.exclByDevice[x.device] = append(v.exclByDevice[x.device], x)
	} else {
		v.exclByIdentity[x.identity] = append(v.exclByIdentity[x.identity], x)
	}
	if !fresh {
		return
	}
	hit := func(d identity.PublicKey) bool {
		seen := x.front[d]
		if x.role == 0 {
			return v.accepted[d] > seen
		}
		return v.privileged[d] > seen
	}
	if x.device != (identity.PublicKey{}) {
		for d, info := range v.Devices {
			if (d == x.device || slices.Contains(info.chain, x.device)) && hit(d) {
				v.violations = append(v.violations, x)
				return
			}
		}
		if hit(x.device) {
			v.violations = append(v.violations, x)
		}
		return
	}
	for d, info := range v.Devices {
		if info.Identity == x.identity && (x.minEpoch == 0 || info.Epoch < x.minEpoch) && hit(d) {
			v.violations = append(v.violations, x)
			return
		}
	}
}

// exclude registers what an accepted entry at ref excludes, if anything.
func (v *View) exclude(ref Ref, o *Op, author identity.PublicKey, target identity.PublicKey, oldRole Role) {
	v.acceptedExcl[ref] = true
	if _, ok := v.active[ref]; ok {
		return // registered from the start of this pass
	}
	x := &exclusion{by: ref, lift: true}
	switch o.Type {
	case OpRemoveMember:
		x.identity = o.Identity
	case OpLeave:
		x.identity = author
	case OpSetRole:
		if o.Role >= oldRole {
			return
		}
		x.identity, x.role = o.Identity, o.Role
	case OpRevoke, OpFork:
		x.device, x.lift = target, false
	default:
		return
	}
	x.front = v.dag.frontier(ref)
	if o.Type == OpFork {
		// Which of the forked device's entries both histories share is
		// not known from the proof: none of them counts.
		x.front = map[identity.PublicKey]uint64{}
	}
	v.register(x, true)
}

// deviceEpoch returns the identity epoch of a device's proof.
func (v *View) deviceEpoch(dev identity.PublicKey) uint64 {
	if d, ok := v.Devices[dev]; ok {
		return d.Epoch
	}
	return 0
}

// liftedFor says whether the entry at ref had seen an addition that
// lifted x.
func (v *View) liftedFor(x *exclusion, ref Ref) bool {
	for _, by := range v.lifted[x] {
		if v.dag.seen(ref, by) {
			return true
		}
	}
	return false
}

// readmit lifts the exclusions of id that the entry at ref has seen.
func (v *View) readmit(ref Ref, id identity.PublicKey) {
	for _, x := range v.exclByIdentity[id] {
		if x.lift && v.dag.seen(ref, x.by) {
			v.lifted[x] = append(v.lifted[x], ref)
		}
	}
}

// unseenExclusion reports whether an exclusion of id applied before ref
// in the order was not seen by the entry at ref: adding id back there
// would undo a removal its writer did not know of.
func (v *View) unseenExclusion(ref Ref, id identity.PublicKey) bool {
	for _, x := range v.exclByIdentity[id] {
		if x.role == 0 && x.lift && v.acceptedExcl[x.by] && !v.dag.seen(ref, x.by) {
			return true
		}
	}
	return false
}

// nextPre returns the exclusions the next pass registers from the start:
// those of this pass whose entries were accepted again, and its
// violations; those whose entries were refused become void. same says
// whether that is what this pass started with.
func (v *View) nextPre() (next map[Ref]*exclusion, same bool) {
	next = map[Ref]*exclusion{}
	for ref, x := range v.pre {
		if v.acceptedExcl[ref] {
			next[ref] = x
		} else {
			v.void[ref] = true
		}
	}
	for _, x := range v.violations {
		next[x.by] = x
	}
	if len(next) != len(v.pre) {
		return next, false
	}
	for ref := range next {
		if _, ok := v.pre[ref]; !ok {
			return next, false
		}
	}
	return next, true
}

// sortedExclusions lists exclusions in a fixed order.
func sortedExclusions(m map[Ref]*exclusion) []*exclusion {
	xs := make([]*exclusion, 0, len(m))
	for _, x := range m {
		xs = append(xs, x)
	}
	slices.SortFunc(xs, func(a, b *exclusion) int { return compareRef(a.by, b.by) })
	return xs
}

func compareRef(a, b Ref) int {
	for i := range a.Writer {
		if a.Writer[i] != b.Writer[i] {
			return int(a.Writer[i]) - int(b.Writer[i])
		}
	}
	switch {
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}
