package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/mirror"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// Blind pairing through mailboxes, for when no admin is online: see
// package mirror (Mailboxes) for the boxes, package pairing for the
// crypto.

// errPending: the request was left in a mailbox; the join finishes when an
// admin answers.
var errPending = errors.New("join pending")

var bucketPending = []byte("pending-joins")

// pendingJoin is a join waiting for an admin, kept in the home until it
// is settled or withdrawn: a request left in mailboxes (answered there),
// an admin's approval (this device asks the admins again until one has),
// or both.
type pendingJoin struct {
	Seed      [32]byte     `json:"seed"`
	Ephemeral []byte       `json:"ephemeral,omitempty"` // the HPKE private key a mailbox answer is sealed to
	AnswerBox mirror.BoxID `json:"answer_box"`
	Mailboxes []string     `json:"mailboxes"` // peer ids of the mirrors holding the request
	Created   int64        `json:"created"`   // unix seconds
	Tag       pairing.Tag  `json:"tag"`       // the room the link names
	// Link is the invite (a secret, as Seed is): set while an admin must
	// approve, to ask again. Admins are the peers that said so.
	Link   string   `json:"link,omitempty"`
	Admins []string `json:"admins,omitempty"`
	// Refused is the room's reason once it refused: kept to be shown
	// until the join is withdrawn.
	Refused string `json:"refused,omitempty"`
}

// approvalEvery is how often a join awaiting approval asks again (slower
// than an admin's limit on one identity's requests).
const approvalEvery = 15 * time.Second

// openMailboxes opens the invite's box on every mirror the room names, so
// that candidates can leave requests while no admin is online. It returns
// the peer ids of the mirrors that accepted.
func (rs *Invites) openMailboxes(ctx context.Context, r *room.Room, inv pairing.Invite, expires time.Time) []string {
	return rs.openBoxes(ctx, rs.Mirrors.RoomMirrors(r), mirror.BoxID(inv.ID()), expires, roomAdmins(r))
}

// roomAdmins returns the identities whose devices answer a room's join
// requests: its admins.
func roomAdmins(r *room.Room) []identity.PublicKey {
	var out []identity.PublicKey
	r.View(func(v *room.View) {
		for id := range v.Members {
			if v.Role(id) == room.RoleAdmin {
				out = append(out, id)
			}
		}
	})
	if len(out) > mirror.MaxAnswerers {
		out = out[:mirror.MaxAnswerers]
	}
	return out
}

// openBoxes opens box on each mirror (this daemon too, if it is one)
// until expires (zero: as long as mirrors allow), for the devices of
// answerers (and this identity's) to answer.
func (rs *Invites) openBoxes(ctx context.Context, mirrors []peer.ID, box mirror.BoxID, expires time.Time, answerers []identity.PublicKey) []string {
	if expires.IsZero() {
		expires = rs.now().Add(mirror.MaxBoxLife)
	}
	var opened []string
	for _, p := range mirrors {
		if p == rs.node.Host.ID() {
			if rs.mirror == nil {
				continue
			}
			if err := rs.mirror.boxes.Open(box, rs.self.Identity, p.String(), expires, answerers); err != nil {
				rs.log.Info("this mirror refused a mailbox", logattr.Err(err))
				continue
			}
			opened = append(opened, p.String())
			continue
		}
		if err := rs.node.Reach(ctx, p); err != nil {
			rs.log.Info("a mirror is unreachable: no mailbox there", logattr.Peer(p.String()), logattr.Err(err))
			continue
		}
		_, err := mirror.Ask(ctx, rs.node.Host, p, mirror.Request{Op: mirror.OpBoxOpen, Proof: rs.self.Proof, Revocations: rs.Devices.RevocationBlobs(),
			Box: box, Expires: expires.UnixMilli(), Answerers: answerers})
		if err != nil {
			rs.log.Info("a mirror refused a mailbox", logattr.Peer(p.String()), logattr.Err(err))
			continue
		}
		opened = append(opened, p.String())
	}
	return opened
}

// renewEvery is how often the boxes of live invites are opened again: a
// mirror this identity does not own keeps a box for a week at most, and
// the room's admins may have changed.
const renewEvery = 24 * time.Hour

// boxRequests fetches the requests in box from mirror p (this daemon
// itself when p is its own peer id).
func (rs *Invites) boxRequests(ctx context.Context, p peer.ID, box mirror.BoxID) []mirror.Entry {
	if p == rs.node.Host.ID() {
		if rs.mirror == nil {
			return nil
		}
		es, _ := rs.mirror.boxes.Requests(box)
		return es
	}
	if rs.node.Reach(ctx, p) != nil {
		return nil
	}
	resp, err := mirror.Ask(ctx, rs.node.Host, p, mirror.Request{Op: mirror.OpBoxRequests, Box: box})
	if err != nil {
		if !errors.Is(err, mirror.ErrNoBox) {
			rs.log.Debug("fetching a mailbox", logattr.Peer(p.String()), logattr.Err(err))
		}
		return nil
	}
	return resp.Entries
}

// leaveAnswer leaves a sealed answer in an answer box on mirror p.
func (rs *Invites) leaveAnswer(ctx context.Context, p peer.ID, box mirror.BoxID, sealed []byte) error {
	if p == rs.node.Host.ID() {
		if rs.mirror == nil {
			return ErrNotMirror
		}
		return rs.mirror.boxes.Answer(box, rs.self.Identity, sealed)
	}
	_, err := mirror.Ask(ctx, rs.node.Host, p, mirror.Request{Op: mirror.OpBoxAnswer, Proof: rs.self.Proof, Revocations: rs.Devices.RevocationBlobs(), Box: box, Sealed: sealed})
	return err
}

// RoomMirrors returns the peer ids of the mirrors a room names.
func (rs *Mirrors) RoomMirrors(r *room.Room) []peer.ID {
	var out []peer.ID
	r.View(func(v *room.View) {
		for _, m := range v.Mirrors {
			if p, err := peer.Decode(m.PeerID); err == nil {
				addMirrorAddrs(rs.Manager, p, m.Addrs)
				out = append(out, p)
			}
		}
	})
	return out
}

// pollMailboxes answers the requests left for the live invites of the
// rooms this device administers.
func (rs *Invites) pollMailboxes(ctx context.Context) {
	for _, r := range rs.List() {
		type live struct {
			id      pairing.ID
			inv     pairing.Invite
			expires time.Time
		}
		var invites []live
		r.View(func(v *room.View) {
			if v.Role(rs.self.Identity) != room.RoleAdmin {
				return
			}
			now := rs.now().UnixMilli()
			for id, in := range v.Invites {
				if (in.Expires != 0 && in.Expires <= now) || (in.Uses != 0 && in.Used >= in.Uses) {
					continue
				}
				l := live{id: pairing.ID(id), inv: pairing.FromSeed(in.Seed.Bytes())}
				if in.Expires != 0 {
					l.expires = time.UnixMilli(in.Expires)
				}
				invites = append(invites, l)
			}
		})
		if len(invites) == 0 {
			continue
		}
		admins := roomAdmins(r)
		for _, p := range rs.Mirrors.RoomMirrors(r) {
			for _, in := range invites {
				if rs.renewDue(p, mirror.BoxID(in.id)) {
					rs.openBoxes(ctx, []peer.ID{p}, mirror.BoxID(in.id), in.expires, admins)
				}
				rs.answerMailbox(ctx, r, p, in.id, in.inv)
			}
		}
	}
}

// renewDue reports whether the box on mirror p is due to be opened again,
// and if so marks it renewed now.
func (rs *Invites) renewDue(p peer.ID, box mirror.BoxID) bool {
	rs.renewMu.Lock()
	defer rs.renewMu.Unlock()
	if rs.renewed == nil {
		rs.renewed = map[renewKey]time.Time{}
	}
	k := renewKey{p, box}
	if t, ok := rs.renewed[k]; ok && rs.now().Sub(t) < renewEvery {
		return false
	}
	rs.renewed[k] = rs.now()
	return true
}

type renewKey struct {
	p   peer.ID
	box mirror.BoxID
}

// answerMailbox fetches the requests of one invite from one mirror and
// leaves an answer for each one not answered yet.
func (rs *Invites) answerMailbox(ctx context.Context, r *room.Room, p peer.ID, id pairing.ID, inv pairing.Invite) {
	entries := rs.boxRequests(ctx, p, mirror.BoxID(id))
	for _, e := range entries {
		if e.Answered {
			continue
		}
		req, a, err := rs.admit(r, inv, id, e.Sealed)
		if req == nil {
			// Not a request of this invite (forged, damaged): dropped.
			rs.log.Info("a mailbox request was dropped", logattr.Peer(p.String()), logattr.Err(err))
			continue
		}
		if mirror.AnswerBox(req.Ephemeral) != e.AnswerBox {
			rs.log.Info("a mailbox request names a foreign answer box: dropped", logattr.Peer(p.String()))
			continue
		}
		if errors.Is(err, ErrAwaiting) {
			continue // answered once an admin approves
		}
		if err != nil {
			a = &pairing.Answer{OK: false, Reason: err.Error(), Discovery: r.Discovery()}
		}
		sealed, err := pairing.SealAnswer(req, a)
		if err != nil {
			rs.log.Warn("sealing an answer", logattr.Err(err))
			continue
		}
		if err := rs.leaveAnswer(ctx, p, e.AnswerBox, sealed); err != nil {
			rs.log.Info("leaving an answer in a mailbox", logattr.Peer(p.String()), logattr.Err(err))
			continue
		}
		rs.log.Info("answered a join request left in a mailbox", logattr.Room(r.ID().String()), slog.Bool("admitted", a.OK),
			slog.String("identity", req.Identity.Short()))
	}
}

// deposit leaves a join request in the mailboxes of the invite: on the
// peers the link names and those the DHT knows for the invite's box. It
// saves the pending join and returns the mirrors that took it.
func (rs *Joins) deposit(ctx context.Context, inv pairing.Invite, hints []peer.ID) ([]string, error) {
	box := mirror.BoxID(inv.ID())
	cands := append([]peer.ID{}, hints...)
	for _, ai := range rs.node.FindPeers(ctx, mirror.MailboxTopic(box), 8) {
		rs.node.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
		cands = append(cands, ai.ID)
	}
	sealed, eph, err := pairing.NewRequest(inv, rs.self.Identity, rs.self.Device, rs.self.Proof, rs.self.Record, rs.id.Record.Name, rs.now())
	if err != nil {
		return nil, err
	}
	answer := mirror.AnswerBox(eph.Public().Bytes())
	pub, sig := inv.SignDeposit(answer, sealed)
	var took []string
	seen := map[peer.ID]bool{}
	for _, p := range cands {
		if seen[p] || p == rs.node.Host.ID() {
			continue
		}
		seen[p] = true
		if rs.node.Reach(ctx, p) != nil {
			continue
		}
		_, err := mirror.Ask(ctx, rs.node.Host, p, mirror.Request{Op: mirror.OpBoxPut, Box: box, Sealed: sealed, Answer: answer, InviteKey: pub, Sig: sig})
		if err != nil {
			rs.log.Debug("leaving a join request", logattr.Peer(p.String()), logattr.Err(err))
			continue
		}
		took = append(took, p.String())
	}
	if len(took) == 0 {
		return nil, nil
	}
	eb, err := eph.Bytes()
	if err != nil {
		return nil, err
	}
	id := inv.ID()
	err = rs.updatePending(id, func(pj *pendingJoin) {
		if pj.Created == 0 {
			pj.Seed, pj.Created, pj.Tag = inv.Seed(), rs.now().Unix(), inv.Tag()
		}
		pj.Ephemeral, pj.AnswerBox, pj.Mailboxes = eb, answer, took
	})
	return took, err
}

// updatePending changes (or makes) the pending join of invite id in one
// transaction.
func (rs *Joins) updatePending(id pairing.ID, fn func(*pendingJoin)) error {
	return rs.db.Update(func(tx *storage.Tx) error {
		var pj pendingJoin
		if b, err := tx.Get(bucketPending, id[:]); err == nil {
			if err := json.Unmarshal(b, &pj); err != nil {
				return fmt.Errorf("a pending join's record: %w", err)
			}
		}
		fn(&pj)
		b, err := json.Marshal(pj)
		if err != nil {
			return err
		}
		return tx.Put(bucketPending, id[:], b)
	})
}

// awaitApproval keeps a join that an admin must approve: the daemon asks
// the admins again (pollPending) until one has, across restarts.
func (rs *Joins) awaitApproval(inv pairing.Invite, link string, admins []peer.ID) error {
	var ps []string
	for _, p := range admins {
		ps = append(ps, p.String())
	}
	rs.liveMu.Lock()
	if rs.liveAsked == nil {
		rs.liveAsked = map[pairing.ID]time.Time{}
	}
	rs.liveAsked[inv.ID()] = rs.now()
	rs.liveMu.Unlock()
	return rs.updatePending(inv.ID(), func(pj *pendingJoin) {
		if pj.Created == 0 {
			pj.Seed, pj.Created, pj.Tag = inv.Seed(), rs.now().Unix(), inv.Tag()
		}
		pj.Link, pj.Admins, pj.Refused = link, ps, ""
	})
}

// forgetPending drops the pending join of invite id, if any.
func (rs *Joins) forgetPending(id pairing.ID) {
	if err := rs.db.Update(func(tx *storage.Tx) error { return tx.Delete(bucketPending, id[:]) }); err != nil {
		rs.log.Warn("forgetting a pending join", logattr.Err(err))
	}
}

// CancelPending withdraws the pending join of invite id: the daemon
// stops asking for it and forgets any answer. It reports whether there
// was one.
func (rs *Joins) CancelPending(id pairing.ID) (bool, error) {
	found := false
	err := rs.db.Update(func(tx *storage.Tx) error {
		if _, err := tx.Get(bucketPending, id[:]); err != nil {
			return nil
		}
		found = true
		return tx.Delete(bucketPending, id[:])
	})
	return found, err
}

// askAgain asks the admins of a join awaiting approval once more: the
// join is done when one has approved; a refusal is kept to be shown.
func (rs *Joins) askAgain(ctx context.Context, id pairing.ID, pj pendingJoin) {
	rs.liveMu.Lock()
	if rs.liveAsked == nil {
		rs.liveAsked = map[pairing.ID]time.Time{}
	}
	if rs.now().Sub(rs.liveAsked[id]) < approvalEvery {
		rs.liveMu.Unlock()
		return
	}
	rs.liveAsked[id] = rs.now()
	rs.liveMu.Unlock()
	inv, hint, err := pairing.ParseLink(pj.Link)
	if err != nil {
		rs.log.Warn("a pending join's link does not read: it waits for a mailbox answer only", logattr.Err(err))
		return
	}
	var cands []peer.ID
	seen := map[peer.ID]bool{}
	for _, s := range append(append([]string{}, pj.Admins...), strings.Split(hint, ",")...) {
		if p, err := peer.Decode(s); err == nil && !seen[p] && p != rs.node.Host.ID() {
			seen[p] = true
			cands = append(cands, p)
		}
	}
	for _, p := range cands {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		r, err := rs.ask(actx, p, inv)
		cancel()
		if err == nil {
			rs.forgetPending(id)
			rs.log.Info("room joined: an admin approved the request", logattr.Room(r.ID().String()))
			rs.Poke()
			return
		}
		var refused *pairing.RefusedError
		if errors.As(err, &refused) {
			switch refused.Reason {
			case pairing.AwaitingApproval, pairing.TooMany, pairing.NoSuchInvite:
				continue // not yet, or not this admin's device
			}
			rs.log.Warn("the room refused the join request", slog.String("reason", refused.Reason))
			if err := rs.updatePending(id, func(pj *pendingJoin) { pj.Refused = refused.Reason }); err != nil {
				rs.log.Warn("recording a refused join", logattr.Err(err))
			}
			return
		}
		rs.log.Debug("asking an admin again", logattr.Peer(p.String()), logattr.Err(err))
	}
}

// pending returns the joins waiting for an answer.
func (rs *Joins) pending() (map[pairing.ID]pendingJoin, error) {
	out := map[pairing.ID]pendingJoin{}
	err := rs.db.View(func(tx *storage.Tx) error {
		return tx.ForEach(bucketPending, func(k, v []byte) error {
			var pj pendingJoin
			if len(k) != len(pairing.ID{}) || json.Unmarshal(v, &pj) != nil {
				return nil // unreadable: skipped, left for inspection
			}
			out[pairing.ID(k)] = pj
			return nil
		})
	})
	return out, err
}

// pollPending fetches the answers to pending joins and finishes them.
func (rs *Joins) pollPending(ctx context.Context) {
	pjs, err := rs.pending()
	if err != nil {
		rs.log.Warn("reading pending joins", logattr.Err(err))
		return
	}
	for id, pj := range pjs {
		if pj.Refused != "" {
			continue
		}
		if pj.Link != "" {
			rs.askAgain(ctx, id, pj)
			if _, still := rs.pendingOne(id); !still {
				continue
			}
		}
		for _, s := range pj.Mailboxes {
			p, err := peer.Decode(s)
			if err != nil || rs.node.Reach(ctx, p) != nil {
				continue
			}
			resp, err := mirror.Ask(ctx, rs.node.Host, p, mirror.Request{Op: mirror.OpBoxFetch, Box: pj.AnswerBox})
			if err != nil {
				if errors.Is(err, mirror.ErrNoBox) {
					rs.log.Info("a mailbox of a pending join is gone (the invite expired?)", logattr.Peer(s))
				}
				continue
			}
			done := false
			for _, sealed := range resp.Answers {
				if done = rs.finishPending(ctx, id, pj, p, sealed); done {
					break
				}
			}
			if done {
				break
			}
		}
	}
}

// finishPending opens an answer and, if admitted, opens the room and
// syncs it from the mirror. It reports whether the join is settled.
func (rs *Joins) finishPending(ctx context.Context, id pairing.ID, pj pendingJoin, from peer.ID, sealed []byte) bool {
	eph, err := identity.ParseSealingKey(pj.Ephemeral)
	if err != nil {
		rs.log.Warn("a pending join has a damaged key: dropped", logattr.Err(err))
		rs.db.Update(func(tx *storage.Tx) error { return tx.Delete(bucketPending, id[:]) })
		return true
	}
	a, err := pairing.OpenAnswer(eph, id, sealed)
	if err != nil {
		rs.log.Info("an answer in a mailbox does not open: ignored", logattr.Peer(from.String()), logattr.Err(err))
		return false
	}
	if !answerMatches(a, pj.Tag) {
		rs.log.Warn("an answer in a mailbox is for another room than the link names (another holder of the invite made it): ignored", logattr.Peer(from.String()))
		return false
	}
	if !a.OK {
		rs.log.Warn("the room refused the join request", slog.String("reason", a.Reason))
		// Kept, to be shown (room list) until withdrawn.
		if err := rs.updatePending(id, func(pj *pendingJoin) { pj.Refused = a.Reason }); err != nil {
			rs.log.Warn("recording a refused join", logattr.Err(err))
		}
		return true
	}
	r, err := rs.accept(a, []string{"/p2p/" + from.String()})
	if err != nil {
		rs.log.Warn("opening the room of an answered join", logattr.Err(err))
		return false
	}
	rs.TrySync(ctx, from, r.Discovery())
	rs.log.Info("room joined through a mailbox", logattr.Room(r.ID().String()))
	rs.forgetPending(id)
	return true
}

// pendingOne returns the pending join of invite id, if it is still there.
func (rs *Joins) pendingOne(id pairing.ID) (pendingJoin, bool) {
	var pj pendingJoin
	b, err := rs.db.Get(bucketPending, id[:])
	if err != nil || json.Unmarshal(b, &pj) != nil {
		return pj, false
	}
	return pj, true
}

// PendingList describes the pending joins for room list.
func (rs *Joins) PendingList() []control.PendingJoin {
	pjs, _ := rs.pending()
	out := []control.PendingJoin{}
	for id, pj := range pjs {
		pl := control.PendingJoin{Invite: fmt.Sprintf("%x", id[:]), Since: control.Time(time.Unix(pj.Created, 0)),
			Mailboxes: strings.Join(pj.Mailboxes, " "), State: "in mailboxes"}
		switch {
		case pj.Refused != "":
			pl.State, pl.Reason = "refused", pj.Refused
		case pj.Link != "":
			pl.State = "awaiting approval"
		}
		out = append(out, pl)
	}
	return out
}
