package room

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

var authoritySeeds = flag.Int("authority.seeds", 12, "random trials of TestAuthorityConvergence (200 for the long run)")

// forger is an attacker's own program around a device it holds the real
// keys of (a former member's, a stolen one): it appends to the device's
// log whatever it likes, declaring the dependencies it likes and sealing
// under any epoch key the device was given, around every check Room.Write
// makes. Honest rooms get its blocks through Blocks and Receive, the path
// the sync protocol takes.
type forger struct{ r *Room }

// deps returns the dependencies the device would declare now: kept to be
// declared later, they make an entry look older than it is.
func (f forger) deps() []Dep {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	return f.r.deps(f.r.cfg.Self.Device.Public())
}

// write appends ops as one batch, the first declaring deps, sealed under
// the newest key the device holds of epoch.
func (f forger) write(t testing.TB, deps []Dep, epoch uint64, ops ...Op) []Ref {
	t.Helper()
	r := f.r
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := r.keys[epoch]
	if len(keys) == 0 {
		t.Fatalf("forger holds no key of epoch %d", epoch)
	}
	me := r.cfg.Self.Device.Public()
	ls, err := r.logFor(me, false)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([][]byte, len(ops))
	for i := range ops {
		e := Entry{Time: r.now().UnixMilli(), Op: ops[i]}
		if i == 0 {
			e.Deps = deps
		}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		plain[i] = b
	}
	start := ls.log.Len()
	blocks, h, err := ls.log.Append(r.cfg.Self.Device, keys[len(keys)-1].key, epoch, plain)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.store.SaveBlocks(r.disc, h, start, blocks); err != nil {
		t.Fatal(err)
	}
	refs := make([]Ref, len(ops))
	for i := range refs {
		refs[i] = Ref{Writer: me, Seq: start + uint64(i)}
	}
	return refs
}

// handKeys gives dst every epoch key src holds, as a pairing answer does.
func handKeys(src, dst *Room) {
	for e, ks := range src.EpochKeys() {
		for _, k := range ks {
			dst.LoadKey(e, k)
		}
	}
	dst.Process()
}

// holds says whether r holds (has received) the entry at ref.
func holds(r *Room, ref Ref) bool { return r.Len(ref.Writer) > ref.Seq }

// rejected returns why r's view refused the entry at ref, or "" if it
// did not (or has not seen it).
func rejected(r *Room, ref Ref) (why string) {
	rj, _ := r.Rejection(ref)
	return rj.Reason
}

func sameView(t testing.TB, rooms ...*Room) {
	t.Helper()
	want := digest(rooms[0])
	for i, r := range rooms[1:] {
		if digest(r) != want {
			t.Fatalf("replica %d's view differs from replica 0's", i+1)
		}
	}
	for i, r := range rooms {
		stored, recomputed, ok := reopened(t, r)
		if !ok {
			continue
		}
		if stored != want {
			t.Fatalf("replica %d reopened from its store shows another view", i)
		}
		if recomputed != want {
			t.Fatalf("replica %d's view computed again from its logs alone differs from the one it applied as entries came", i)
		}
	}
}

// reopened opens a copy of r's store as the room would reopen it: with
// the view it stored (stored), and computing the view again from its
// logs alone (recomputed). ok is false while r holds logs in memory only.
func reopened(t testing.TB, r *Room) (stored, recomputed [32]byte, ok bool) {
	t.Helper()
	r.mu.Lock()
	ms, isMem := r.store.(*MemStore)
	held := false
	for _, ls := range r.logs {
		held = held || ls.unsaved
	}
	var keys []epochKey
	var epochs []uint64
	for e, ks := range r.keys {
		for _, k := range ks {
			keys, epochs = append(keys, k), append(epochs, e)
		}
	}
	var copies [2]*MemStore
	if isMem && !held {
		copies = [2]*MemStore{ms.clone(), ms.clone()}
	}
	r.mu.Unlock()
	if !isMem || held {
		return stored, recomputed, false
	}
	for i, force := range []bool{false, true} {
		cfg := r.cfg
		cfg.Store, cfg.OnChange = copies[i], nil
		again, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for j, k := range keys {
			again.LoadKey(epochs[j], k.key.Bytes())
		}
		if err := again.Load(); err != nil {
			t.Fatal(err)
		}
		again.stale = again.stale || force
		again.Process()
		if i == 0 {
			stored = again.Digest()
		} else {
			recomputed = again.Digest()
		}
	}
	return stored, recomputed, true
}

func messageTexts(r *Room) []string {
	var out []string
	for _, m := range allMessages(r) {
		out = append(out, m.Text)
	}
	return out
}

// TestRemovedMemberBackdates: after her removal, carol's device appends
// entries that declare what she had seen before it (her clock stays below
// the removal), sealed with the epoch key she still holds. Every honest
// view refuses them, whichever order they arrive in.
func TestRemovedMemberBackdates(t *testing.T) {
	for _, early := range []bool{false, true} {
		t.Run(fmt.Sprint("forgery first ", early), func(t *testing.T) {
			h := newHousehold(t, 2)
			bob, carol := h.rooms[1], h.rooms[2]
			before := mustWrite(t, carol, Op{Type: OpMessage, Text: "before"})
			bm := mustWrite(t, bob, Op{Type: OpMessage, Text: "bob's"})
			syncAll(t, h.rooms...)
			f := forger{carol}
			stale := f.deps()
			if early {
				// The forgery reaches bob before the removal does.
				forged := f.write(t, stale, 0, Op{Type: OpMessage, Text: "backdated"})
				pull(t, bob, carol)
				if !holds(bob, forged[0]) {
					t.Fatal("bob did not receive the forgery")
				}
			}
			mustWrite(t, h.a1, Op{Type: OpRemoveMember, Identity: carol.cfg.Self.Identity})
			pull(t, carol, h.a1) // she sees the removal (and cannot read what follows)
			forged := f.write(t, stale, 0,
				Op{Type: OpMessage, Text: "backdated 2"},
				Op{Type: OpEdit, Target: before, Text: "rewritten"},
				Op{Type: OpReact, Target: bm, Emoji: "💩"},
				Op{Type: OpMessage, Text: "backdated 3"})
			forgedNoDeps := f.write(t, nil, 0, Op{Type: OpMessage, Text: "no deps at all"})
			syncAll(t, h.a1, bob)
			pull(t, bob, carol)
			pull(t, h.a1, carol)
			for _, r := range []*Room{h.a1, bob} {
				for _, ref := range append(forged, forgedNoDeps...) {
					if !holds(r, ref) {
						t.Fatalf("the forgery %v did not arrive", ref)
					}
					if rejected(r, ref) == "" {
						t.Fatalf("forgery %v not refused", ref)
					}
				}
				got := messageTexts(r)
				slices.Sort(got)
				if !slices.Equal(got, []string{"before", "bob's"}) {
					t.Fatalf("messages %q", got)
				}
				if m, _ := r.Message(bm); len(m.Reactions) != 0 {
					t.Fatal("the removed member's reaction counts")
				}
			}
			sameView(t, h.a1, bob)
		})
	}
}

// TestRemovedAdminTakeover: admin xavier is removed by alice, the founder.
// He then writes, with dependencies from before his removal, a removal of
// alice, a new admin of his own and the removal of bob. Nothing of it
// holds; alice keeps her room.
func TestRemovedAdminTakeover(t *testing.T) {
	h := newHousehold(t, 2)
	bob, x := h.rooms[1], h.rooms[2]
	xid := x.cfg.Self.Identity
	mustWrite(t, h.a1, Op{Type: OpSetRole, Identity: xid, Role: RoleAdmin})
	syncAll(t, h.rooms...)
	f := forger{x}
	stale := f.deps()
	mustWrite(t, h.a1, Op{Type: OpRemoveMember, Identity: xid})
	pull(t, bob, h.a1)
	pull(t, x, h.a1)
	crony := newPerson(t, "crony")
	forged := f.write(t, stale, 0,
		Op{Type: OpRemoveMember, Identity: h.alice.id.Public()},
		Op{Type: OpAddMember, Identity: crony.id.Public(), Role: RoleAdmin},
		Op{Type: OpRemoveMember, Identity: bob.cfg.Self.Identity},
		Op{Type: OpInvite, Invite: InviteID{7}, Role: RoleAdmin, Seed: SecretFrom([32]byte{1})})
	pull(t, bob, x)
	pull(t, h.a1, x)
	syncAll(t, h.a1, bob)
	for _, r := range []*Room{h.a1, bob} {
		for _, ref := range forged {
			if !holds(r, ref) || rejected(r, ref) == "" {
				t.Fatalf("forgery %v held %v, refused %q", ref, holds(r, ref), rejected(r, ref))
			}
		}
		r.View(func(v *View) {
			if v.Role(h.alice.id.Public()) != RoleAdmin || v.Role(bob.cfg.Self.Identity) != RoleMember {
				t.Fatalf("alice %v, bob %v", v.Role(h.alice.id.Public()), v.Role(bob.cfg.Self.Identity))
			}
			if v.Role(xid) != 0 || v.Role(crony.id.Public()) != 0 || len(v.Invites) != 0 {
				t.Fatalf("xavier %v, his crony %v, %d invites", v.Role(xid), v.Role(crony.id.Public()), len(v.Invites))
			}
		})
	}
	sameView(t, h.a1, bob)
	// Alice can still write and rotate: the room is hers.
	mustWrite(t, h.a1, Op{Type: OpMessage, Text: "still mine"})
}

// TestRankRule: admins cannot remove or demote each other, concurrently
// or not; only the founder acts on admins. A removal wins over what its
// target wrote concurrently, and a demotion over what its target's old
// role allowed.
func TestRankRule(t *testing.T) {
	h := newHousehold(t, 3)
	x, y, m := h.rooms[1], h.rooms[2], h.rooms[3]
	xid, yid, mid := x.cfg.Self.Identity, y.cfg.Self.Identity, m.cfg.Self.Identity
	mustWrite(t, h.a1, Op{Type: OpSetRole, Identity: xid, Role: RoleAdmin})
	mustWrite(t, h.a1, Op{Type: OpSetRole, Identity: yid, Role: RoleAdmin})
	syncAll(t, h.rooms...)
	// Concurrently: x removes y, y removes x, x demotes alice.
	rx := mustWrite(t, x, Op{Type: OpRemoveMember, Identity: yid})
	ry := mustWrite(t, y, Op{Type: OpRemoveMember, Identity: xid})
	ra := mustWrite(t, x, Op{Type: OpSetRole, Identity: h.alice.id.Public(), Role: RoleMember})
	syncAll(t, h.rooms...)
	for _, ref := range []Ref{rx, ry, ra} {
		if rejected(h.a1, ref) == "" {
			t.Fatalf("%v accepted", ref)
		}
	}
	// Alice demotes x to member while x, not knowing, deletes m's message
	// and invites: the demotion wins, whatever x declares.
	mm := mustWrite(t, m, Op{Type: OpMessage, Text: "m's"})
	syncAll(t, h.rooms...)
	stale := forger{x}.deps()
	mustWrite(t, h.a1, Op{Type: OpSetRole, Identity: xid, Role: RoleMember})
	del := mustWrite(t, x, Op{Type: OpDelete, Target: mm}) // x has not seen the demotion
	back := forger{x}.write(t, stale, 0, Op{Type: OpInvite, Invite: InviteID{9}, Role: RoleAdmin})
	own := mustWrite(t, x, Op{Type: OpMessage, Text: "x may still talk"})
	syncAll(t, h.rooms...)
	pull(t, h.a1, x)
	syncAll(t, h.rooms...)
	for _, ref := range append([]Ref{del}, back...) {
		if rejected(h.a1, ref) == "" {
			t.Fatalf("%v accepted after the demotion", ref)
		}
	}
	if rejected(h.a1, own) != "" {
		t.Fatal("a demoted member's message refused")
	}
	if msg, _ := h.a1.Message(mm); msg.Deleted {
		t.Fatal("deleted by a demoted admin")
	}
	h.a1.View(func(v *View) {
		if v.Role(mid) != RoleMember || v.Role(xid) != RoleMember || v.Role(yid) != RoleAdmin {
			t.Fatalf("roles: x %v y %v m %v", v.Role(xid), v.Role(yid), v.Role(mid))
		}
	})
	// The founder removes an admin.
	mustWrite(t, h.a1, Op{Type: OpRemoveMember, Identity: yid})
	syncAll(t, h.rooms...)
	sameView(t, h.rooms...)
}

// TestReadmission: a removed member added back writes again; what her
// device wrote between the removal and the moment it saw the new
// addition stays refused.
func TestReadmission(t *testing.T) {
	h := newHousehold(t, 2)
	bob, carol := h.rooms[1], h.rooms[2]
	cid := carol.cfg.Self.Identity
	syncAll(t, h.rooms...)
	mustWrite(t, h.a1, Op{Type: OpRemoveMember, Identity: cid})
	gap := forger{carol}.write(t, forger{carol}.deps(), 0, Op{Type: OpMessage, Text: "in the gap"})
	pull(t, bob, h.a1)
	pull(t, bob, carol)
	mustWrite(t, h.a1, Op{Type: OpAddMember, Identity: cid, Role: RoleMember})
	handKeys(h.a1, carol) // as the pairing answer does
	syncAll(t, h.rooms...)
	back := mustWrite(t, carol, Op{Type: OpMessage, Text: "back"})
	syncAll(t, h.rooms...)
	for _, r := range h.rooms {
		if rejected(r, gap[0]) == "" || rejected(r, back) != "" {
			t.Fatalf("gap refused %q, back refused %q", rejected(r, gap[0]), rejected(r, back))
		}
	}
	if got := messageTexts(bob); !slices.Equal(got, []string{"back"}) {
		t.Fatalf("messages %q", got)
	}
	sameView(t, h.rooms...)

	// An addition that had not seen a concurrent removal does not undo it.
	mustWrite(t, h.a1, Op{Type: OpSetRole, Identity: bob.cfg.Self.Identity, Role: RoleAdmin})
	syncAll(t, h.rooms...)
	mustWrite(t, h.a1, Op{Type: OpRemoveMember, Identity: cid})
	readd := forger{bob}.write(t, forger{bob}.deps(), bob.view.Epoch, Op{Type: OpAddMember, Identity: cid, Role: RoleMember})
	_ = readd
	syncAll(t, h.rooms...)
	h.a1.View(func(v *View) {
		if v.Role(cid) != 0 {
			t.Fatal("carol back by an addition concurrent with her removal")
		}
	})
	sameView(t, h.rooms...)
}

// TestForkConverges: bob's device signs two histories and shows one to
// alice, the other to carol, who each apply what they see. Once the proof
// has reached everyone, all views are the same and nothing of that device
// counts.
func TestForkConverges(t *testing.T) {
	h := newHousehold(t, 2)
	bob, carol := h.rooms[1], h.rooms[2]
	mustWrite(t, bob, Op{Type: OpMessage, Text: "honest"})
	syncAll(t, h.rooms...)
	twin := twinOf(t, h, bob)
	me := bob.cfg.Self.Device.Public()
	pull(t, twin, h.a1)
	twin.Process()
	mustWrite(t, bob, Op{Type: OpMessage, Text: "left"})
	mustWrite(t, twin, Op{Type: OpMessage, Text: "right"})
	pull(t, h.a1, bob)
	pull(t, carol, twin)
	if slices.Equal(messageTexts(h.a1), messageTexts(carol)) {
		t.Fatal("the fork was not shown")
	}
	var th log.Head
	for _, hh := range twin.Heads() {
		if hh.Writer == me {
			th = hh
		}
	}
	fp, err := h.a1.Check(th)
	if err != nil || fp == nil {
		t.Fatalf("fork not caught: %v", err)
	}
	b, _ := fp.MarshalBinary()
	mustWrite(t, h.a1, Op{Type: OpFork, Blob: b})
	pull(t, carol, h.a1)
	if digest(carol) != digest(h.a1) {
		t.Fatal("alice and carol differ once the proof reached both")
	}
	for _, r := range []*Room{h.a1, carol} {
		r.View(func(v *View) {
			if _, ok := v.Forked[me]; !ok || !v.Devices[me].Forked {
				t.Fatal("device not marked forked")
			}
		})
		for _, m := range allMessages(r) {
			if m.Device == me {
				t.Fatalf("%q of the forked device counts", m.Text)
			}
		}
	}
}

// TestRevocationExcludes: a device revoked by its identity is out of
// everything it writes that the revocation had not seen, however it
// declares its dependencies, and the room rotates without it.
func TestRevocationExcludes(t *testing.T) {
	h := newHousehold(t, 1)
	bob := h.rooms[1]
	stolen := openRoom(t, h.key, h.alice.id.Public(), h.alice.device(t))
	syncAll(t, h.a1, bob, stolen)
	ok := mustWrite(t, stolen, Op{Type: OpMessage, Text: "before the theft"})
	syncAll(t, h.a1, bob, stolen)
	f := forger{stolen}
	stale := f.deps()
	rv, err := identity.NewRevocation(h.alice.id, stolen.cfg.Self.Device.Public(), 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := rv.MarshalBinary()
	mustWrite(t, h.a1, Op{Type: OpRevoke, Blob: rb})
	syncAll(t, h.a1, bob)
	pull(t, stolen, h.a1)
	forged := f.write(t, stale, 0, Op{Type: OpMessage, Text: "as alice, after"})
	if _, err := stolen.Write(Op{Type: OpMessage, Text: "through the client"}); err == nil {
		t.Fatal("a revoked device wrote through its client")
	}
	pull(t, bob, stolen)
	pull(t, h.a1, stolen)
	for _, r := range []*Room{h.a1, bob} {
		if !holds(r, forged[0]) || rejected(r, forged[0]) == "" || rejected(r, ok) != "" {
			t.Fatal("the revoked device's entry counts, or its earlier one does not")
		}
		r.View(func(v *View) {
			if v.Epoch != 1 || !v.Devices[stolen.cfg.Self.Device.Public()].Revoked {
				t.Fatalf("epoch %d after the revocation", v.Epoch)
			}
		})
	}
	sameView(t, h.a1, bob)
	// The stolen device cannot read what follows.
	after := mustWrite(t, bob, Op{Type: OpMessage, Text: "after"})
	pull(t, stolen, bob)
	if !holds(stolen, after) {
		t.Fatal("the stolen device did not get the ciphertext")
	}
	if _, ok := stolen.Message(after); ok {
		t.Fatal("the revoked device read a message of the new epoch")
	}
}

// TestAuthorityConvergence: random interleavings of joins, removals,
// re-admissions, role changes, revocations, leaves (with the concurrent
// rotations they cause), deletes and writes by excluded parties (who
// declare stale dependencies) among partial syncs, six identities, three
// of them with two devices. Every
// honest view ends the same, and nothing an excluded party wrote after its
// exclusion without having seen a re-admission counts.
func TestAuthorityConvergence(t *testing.T) {
	seeds := *authoritySeeds
	if testing.Short() {
		seeds = min(seeds, 4)
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			authorityTrial(t, seed, 150)
		})
	}
}

func authorityTrial(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 18))
	h := newHousehold(t, 5)
	rooms := slices.Clone(h.rooms)
	// Second devices for alice and two members.
	for _, i := range []int{0, 1, 2} {
		rooms = append(rooms, openRoom(t, h.key, h.alice.id.Public(), h.people[i].device(t)))
	}
	syncAll(t, rooms...)
	var ids []identity.PublicKey
	for _, p := range h.people {
		ids = append(ids, p.id.Public())
	}
	stale := make([][]Dep, len(rooms))
	for step := range steps {
		i := rng.IntN(len(rooms))
		r := rooms[i]
		switch x := rng.IntN(20); {
		case x < 8:
			r.Write(Op{Type: OpMessage, Text: fmt.Sprintf("m%d", step)})
		case x < 10:
			stale[i] = forger{r}.deps()
		case x < 12 && stale[i] != nil && r.Len(r.cfg.Self.Device.Public()) > 0:
			// Writes with old dependencies, around the client.
			r.mu.Lock()
			epoch := r.view.Epoch
			_, has := r.keys[epoch]
			r.mu.Unlock()
			if has {
				forger{r}.write(t, stale[i], epoch, Op{Type: OpMessage, Text: fmt.Sprintf("stale%d", step)},
					Op{Type: OpRemoveMember, Identity: ids[rng.IntN(len(ids))]},
					Op{Type: OpSetRole, Identity: r.cfg.Self.Identity, Role: RoleAdmin})
			}
		case x < 14:
			r.Write(Op{Type: OpRemoveMember, Identity: ids[1+rng.IntN(len(ids)-1)]})
		case x < 16:
			r.Write(Op{Type: OpAddMember, Identity: ids[1+rng.IntN(len(ids)-1)], Role: Role(1 + rng.IntN(3))})
		case x < 18:
			r.Write(Op{Type: OpSetRole, Identity: ids[rng.IntN(len(ids))], Role: Role(1 + rng.IntN(3))})
		case x < 19 && rng.IntN(2) == 0:
			if r.cfg.Self.Identity != ids[0] {
				r.Write(Op{Type: OpLeave})
			}
		case x < 19:
			// An identity revokes one of the second devices (6, 7, 8 are
			// the second devices of people 0, 1, 2), from its first.
			p := rng.IntN(3)
			rv, err := identity.NewRevocation(h.people[p].id, rooms[6+p].cfg.Self.Device.Public(), 1, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := rv.MarshalBinary()
			rooms[p].Write(Op{Type: OpRevoke, Blob: b})
		default:
			var refs []Ref
			for _, m := range allMessages(r) {
				refs = append(refs, m.ID)
			}
			if len(refs) > 0 {
				r.Write(Op{Type: OpDelete, Target: refs[rng.IntN(len(refs))]})
			}
		}
		if rng.IntN(3) == 0 {
			a, b := rooms[rng.IntN(len(rooms))], rooms[rng.IntN(len(rooms))]
			if a != b {
				pull(t, a, b)
			}
		}
	}
	syncAll(t, rooms...)
	// Members added back were never sealed the keys of the epochs they
	// missed: pairing hands them every key, as here.
	for _, r := range rooms {
		handKeys(h.a1, r)
	}
	syncAll(t, rooms...)
	var members []*Room
	h.a1.View(func(v *View) {
		for _, r := range rooms {
			if _, ok := v.Members[r.cfg.Self.Identity]; ok {
				members = append(members, r)
			}
		}
	})
	sameView(t, members...)
	checkNoUnseenExcluded(t, h.a1)
	refusals := allRejections(h.a1)
	h.a1.View(func(v *View) {
		excluded := 0
		for _, x := range refusals {
			if strings.HasPrefix(x.Reason, "written after its writer was excluded") {
				excluded++
			}
		}
		t.Logf("%d members agree: epoch %d, %d messages, %d former members, %d revoked devices, %d entries refused as excluded, %d refused in all",
			len(members), v.Epoch, v.Count, len(v.Former), len(v.Revoked), excluded, len(refusals))
	})
}

// checkNoUnseenExcluded checks r's view against the rule: no accepted
// entry of a device is past what an exclusion of it had seen, unless a
// re-admission it had seen lifted it.
func checkNoUnseenExcluded(t *testing.T, r *Room) {
	t.Helper()
	refused := map[Ref]bool{}
	for _, x := range allRejections(r) {
		refused[x.Ref] = true
	}
	r.View(func(v *View) {
		r.store.View(r.disc, func(tx Tx) error {
			r.content.tx = tx
			defer func() { r.content.tx = nil }()
			r.eachEntry(func(n *node) {
				if refused[n.ref] || n.entry == nil || n.entry.Op.Type == OpHello || n.entry.Op.Type == OpGenesis {
					return
				}
				d := v.Devices[n.ref.Writer]
				for _, x := range append(slices.Clone(v.exclByDevice[n.ref.Writer]), v.exclByIdentity[d.Identity]...) {
					if x.role != 0 || n.ref.Seq < x.front[n.ref.Writer] {
						continue
					}
					lifted := false
					for _, by := range v.lifted[x] {
						lifted = lifted || r.seen(n.ref, by)
					}
					if lifted {
						continue
					}
					t.Fatalf("%v (%s) accepted though %v excluded its writer without having seen it", n.ref, n.entry.Op.Type, x.by)
				}
			})
			return nil
		})
	})
}

// TestConcurrentRotations: two admins rotate the same epoch at once (both
// react to a leave) and write under their own new keys before they see
// each other's; a member's new device is added meanwhile. Once synced,
// every entry opens and counts on every current device, all views agree,
// and everyone writes on under the epoch's winning key.
func TestConcurrentRotations(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			h := newHousehold(t, 4)
			a, b, c, d, leaver := h.a1, h.rooms[1], h.rooms[2], h.rooms[3], h.rooms[4]
			mustWrite(t, a, Op{Type: OpSetRole, Identity: b.cfg.Self.Identity, Role: RoleAdmin})
			syncAll(t, h.rooms...)
			mustWrite(t, leaver, Op{Type: OpLeave})
			pull(t, a, leaver)
			pull(t, b, leaver)
			// Both rotated on their own: write under their keys.
			rooms := []*Room{a, b, c, d}
			var sent []string
			for i := range 6 {
				r := rooms[rng.IntN(2)]
				txt := fmt.Sprintf("m%d", i)
				mustWrite(t, r, Op{Type: OpMessage, Text: txt})
				sent = append(sent, txt)
			}
			// Each admin's epoch reaches one other member first.
			pull(t, c, a)
			pull(t, d, b)
			for i := range 4 {
				r := rooms[rng.IntN(4)]
				txt := fmt.Sprintf("n%d", i)
				if _, err := r.Write(Op{Type: OpMessage, Text: txt}); err == nil {
					sent = append(sent, txt)
				}
			}
			// A second device of d's, linked with the keys d holds.
			d2 := openRoom(t, h.key, h.alice.id.Public(), h.people[3].device(t))
			handKeys(d, d2)
			pull(t, d2, d)
			syncAll(t, a, b, c, d, d2)
			syncAll(t, a, b, c, d, d2)
			mustWrite(t, d2, Op{Type: OpMessage, Text: "from d2"})
			sent = append(sent, "from d2")
			syncAll(t, a, b, c, d, d2)
			all := []*Room{a, b, c, d, d2}
			sameView(t, all...)
			slices.Sort(sent)
			for i, r := range all {
				got := messageTexts(r)
				slices.Sort(got)
				if !slices.Equal(got, sent) {
					t.Logf("rejections %+v", allRejections(r))
					t.Fatalf("device %d shows %q, %q were sent", i, got, sent)
				}
				if _, err := r.Write(Op{Type: OpMessage, Text: "after"}); err != nil {
					t.Fatalf("device %d cannot write: %v", i, err)
				}
			}
		})
	}
}

// TestRotationOfManyDevices: a room of more devices than one entry can
// seal a key to rotates: every remaining device gets the new key and
// reads what follows; the removed one does not.
func TestRotationOfManyDevices(t *testing.T) {
	key, alice := NewKey(), newPerson(t, "alice")
	a1 := openRoom(t, key, alice.id.Public(), alice.device(t))
	if err := a1.Create("big"); err != nil {
		t.Fatal(err)
	}
	rooms := []*Room{a1}
	for i := range 2*maxKeysPerEntry + 1 {
		p := newPerson(t, fmt.Sprint("m", i))
		mustWrite(t, a1, Op{Type: OpAddMember, Identity: p.id.Public(), Role: RoleMember})
		rooms = append(rooms, openRoom(t, key, alice.id.Public(), p.device(t)))
	}
	for _, r := range rooms[1:] { // through alice only: each says hello
		pull(t, r, a1)
		pull(t, a1, r)
	}
	gone := rooms[len(rooms)-1]
	mustWrite(t, a1, Op{Type: OpRemoveMember, Identity: gone.cfg.Self.Identity})
	after := mustWrite(t, a1, Op{Type: OpMessage, Text: "after"})
	for _, r := range rooms {
		pull(t, r, a1)
		if !holds(r, after) {
			t.Fatalf("device %s did not get the ciphertext", r.cfg.Self.Device.Public().Short())
		}
		_, ok := r.Message(after)
		if ok != (r != gone) {
			t.Fatalf("device %s reads the new epoch: %v", r.cfg.Self.Device.Public().Short(), ok)
		}
	}
}

// childOf is a device attested by parent's device key (as a device link
// does, or a thief holding parent's key).
func childOf(t *testing.T, parent Self, name string) Self {
	t.Helper()
	proof, err := identity.ParseProof(parent.Proof)
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := identity.GenerateSigningKey()
	seal, _ := identity.GenerateSealingKey()
	cp, err := proof.Attest(parent.Device, dev.Public())
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := cp.MarshalBinary()
	rec, err := identity.NewDeviceRecord(parent.Identity, dev, seal.Public(), name, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := rec.MarshalBinary()
	return Self{Identity: parent.Identity, Device: dev, Sealing: seal, Proof: pb, Record: rb}
}

// TestRevokedDeviceChildren: a thief holding alice's stolen phone key
// attests a key of their own before the revocation, and another after
// it. The revocation takes both: neither's entries count, the rotation
// seals nothing to them, and an entry sealed under an epoch key its
// device was never given is refused.
func TestRevokedDeviceChildren(t *testing.T) {
	h := newHousehold(t, 1)
	bob := h.rooms[1]
	phone := openRoom(t, h.key, h.alice.id.Public(), h.alice.device(t))
	syncAll(t, h.a1, bob, phone)
	mustWrite(t, phone, Op{Type: OpMessage, Text: "from the phone"})
	before := openRoom(t, h.key, h.alice.id.Public(), childOf(t, phone.cfg.Self, "thief's, before"))
	syncAll(t, h.a1, bob, phone, before)
	mustWrite(t, before, Op{Type: OpMessage, Text: "the thief, before"})
	syncAll(t, h.a1, bob, phone, before)
	f := forger{before}
	stale := f.deps()

	rv, _ := identity.NewRevocation(h.alice.id, phone.cfg.Self.Device.Public(), 1, time.Now())
	rb, _ := rv.MarshalBinary()
	mustWrite(t, h.a1, Op{Type: OpRevoke, Blob: rb})
	syncAll(t, h.a1, bob)
	var keyed bool
	h.a1.View(func(v *View) {
		if v.Epoch != 1 {
			t.Fatalf("epoch %d after the revocation", v.Epoch)
		}
		keyed = v.keyHolders[v.EpochKeyID][before.cfg.Self.Device.Public()]
		if !v.Devices[before.cfg.Self.Device.Public()].Revoked {
			t.Fatal("the device the phone attested before its revocation is not revoked")
		}
	})
	if keyed {
		t.Fatal("the new epoch's key was sealed to a device the revoked phone attested")
	}
	// The thief's pre-revocation child writes backdated, under the old key.
	forged := f.write(t, stale, 0, Op{Type: OpMessage, Text: "the thief, backdated"})
	// A child attested after the revocation, given the new epoch's key
	// by whatever means, says hello and writes.
	after := openRoom(t, h.key, h.alice.id.Public(), childOf(t, phone.cfg.Self, "thief's, after"))
	handKeys(h.a1, after) // the worst case: the thief holds the new key
	pull(t, after, h.a1)
	afterMsg, err := after.Write(Op{Type: OpMessage, Text: "the thief, after"})
	if err != nil {
		t.Fatalf("the thief's program could not even write: %v", err)
	}
	for _, r := range []*Room{h.a1, bob} {
		pull(t, r, before)
		pull(t, r, after)
		if !holds(r, forged[0]) || !holds(r, afterMsg) {
			t.Fatal("the thief's entries did not arrive")
		}
		if rejected(r, forged[0]) == "" || rejected(r, afterMsg) == "" {
			t.Fatal("an entry of a device the revoked phone attested counts")
		}
		got := messageTexts(r)
		slices.Sort(got)
		if !slices.Equal(got, []string{"from the phone", "the thief, before"}) {
			t.Fatalf("messages %q", got)
		}
	}
	sameView(t, h.a1, bob)
}

// TestKeyNeverGiven: carol's new device says hello while alice rotates
// the room's key (so the rotation does not seal it the key); a friend
// hands it the key outside the room and it writes at once. That entry is
// refused by every view: it was never given that key. Once an admin has
// shared the key with it, its entries count.
func TestKeyNeverGiven(t *testing.T) {
	h := newHousehold(t, 3)
	bob, carol, dave := h.rooms[1], h.rooms[2], h.rooms[3]
	mustWrite(t, h.a1, Op{Type: OpSetRole, Identity: bob.cfg.Self.Identity, Role: RoleAdmin})
	syncAll(t, h.rooms...)
	c2 := openRoom(t, h.key, h.alice.id.Public(), h.people[2].device(t))
	pull(t, c2, carol) // it says hello, in epoch 0
	mustWrite(t, h.a1, Op{Type: OpRemoveMember, Identity: dave.cfg.Self.Identity})
	pull(t, bob, h.a1)
	pull(t, c2, h.a1)
	handKeys(bob, c2) // outside the room
	early := mustWrite(t, c2, Op{Type: OpMessage, Text: "c2, with a key it was never given"})
	for _, r := range []*Room{h.a1, bob} {
		pull(t, r, c2)
		if !holds(r, early) || !strings.Contains(rejected(r, early), "never given") {
			t.Fatalf("held %v, refused %q", holds(r, early), rejected(r, early))
		}
	}
	// Alice shares the key with c2 (it is a member's device the rotation
	// missed); then it writes and counts.
	syncAll(t, h.a1, bob, carol, c2)
	later := mustWrite(t, c2, Op{Type: OpMessage, Text: "c2, given the key"})
	syncAll(t, h.a1, bob, carol, c2)
	for _, r := range []*Room{h.a1, bob, carol, c2} {
		if rejected(r, later) != "" || rejected(r, early) == "" {
			t.Fatalf("later refused %q, early refused %q", rejected(r, later), rejected(r, early))
		}
	}
	sameView(t, h.a1, bob, carol, c2)
}

// TestRestoreSupersedes: alice loses her phone and restores her phrase
// on a new device (a newer identity epoch). Once that device says hello,
// every view treats the phone as superseded: what it writes after
// without having seen the new device counts nowhere (backdated or not),
// the room's key rotates without it, and a key it attests later is
// superseded too.
func TestRestoreSupersedes(t *testing.T) {
	h := newHousehold(t, 1)
	bob := h.rooms[1]
	mustWrite(t, h.a1, Op{Type: OpSetRole, Identity: bob.cfg.Self.Identity, Role: RoleAdmin})
	phone := openRoom(t, h.key, h.alice.id.Public(), h.alice.device(t)) // epoch 1
	syncAll(t, h.a1, bob, phone)
	mustWrite(t, phone, Op{Type: OpMessage, Text: "from the phone"})
	syncAll(t, h.a1, bob, phone)
	stale := forger{phone}.deps()

	// The restore: a device of epoch 2, given the room's keys by bob
	// (as a join would).
	dev, _ := identity.GenerateSigningKey()
	seal, _ := identity.GenerateSealingKey()
	proof, _ := identity.NewProof(h.alice.id, dev.Public(), 2).MarshalBinary()
	rec, _ := identity.NewDeviceRecord(h.alice.id.Public(), dev, seal.Public(), "restored", time.Unix(2, 0))
	rb, _ := rec.MarshalBinary()
	restored := openRoom(t, h.key, h.alice.id.Public(), Self{Identity: h.alice.id.Public(), Device: dev, Sealing: seal, Proof: proof, Record: rb})
	handKeys(bob, restored)
	// Everything bob holds at once, so that its hello has seen it all.
	for _, hh := range bob.Heads() {
		_, blocks, _ := bob.Blocks(hh.Writer, 0, 1<<30)
		if err := restored.LoadLog(hh.Writer, []log.Head{hh}, blocks); err != nil {
			t.Fatal(err)
		}
	}
	restored.Process()
	mustWrite(t, restored, Op{Type: OpMessage, Text: "restored"})
	syncAll(t, h.a1, bob, restored)
	pull(t, phone, bob)

	forged := forger{phone}.write(t, stale, 0, Op{Type: OpMessage, Text: "the lost phone, backdated"})
	late := openRoom(t, h.key, h.alice.id.Public(), childOf(t, phone.cfg.Self, "attested by the lost phone"))
	handKeys(bob, late) // the worst case: the new key leaked to it
	pull(t, late, bob)
	lateMsg, err := late.Write(Op{Type: OpMessage, Text: "from a key the lost phone attested"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Room{h.a1, bob, restored} {
		pull(t, r, phone)
		pull(t, r, late)
	}
	syncAll(t, h.a1, bob, restored)
	// Alice's laptop (of the old epoch) is superseded too: checked below,
	// it no longer gets keys, so only bob and the restored device read on.
	for _, r := range []*Room{bob, restored} {
		r.View(func(v *View) {
			if !v.Devices[h.a1.cfg.Self.Device.Public()].Superseded {
				t.Fatal("the laptop of the old epoch is not superseded")
			}
		})
		if !holds(r, forged[0]) || rejected(r, forged[0]) == "" || !holds(r, lateMsg) || rejected(r, lateMsg) == "" {
			t.Fatalf("an entry of a superseded device counts: forged held %v refused %q, late held %v refused %q",
				holds(r, forged[0]), rejected(r, forged[0]), holds(r, lateMsg), rejected(r, lateMsg))
		}
		r.View(func(v *View) {
			d := v.Devices[phone.cfg.Self.Device.Public()]
			if !d.Superseded || !d.Revoked || v.Epoch == 0 || v.IdentityEpochs[h.alice.id.Public()] != 2 {
				t.Fatalf("the phone superseded %v, epoch %d", d.Superseded, v.Epoch)
			}
			if v.keyHolders[v.EpochKeyID][phone.cfg.Self.Device.Public()] {
				t.Fatal("the new key was sealed to the superseded phone")
			}
		})
		got := messageTexts(r)
		slices.Sort(got)
		if !slices.Equal(got, []string{"from the phone", "restored"}) {
			t.Fatalf("messages %q", got)
		}
	}
	sameView(t, bob, restored)
}
