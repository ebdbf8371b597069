package rooms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/rooms/roomdb"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/mirror"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/replication"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// Errors of the room manager that the API maps to statuses.
var (
	ErrNoRoom        = errors.New("no such room")
	ErrAmbiguousRoom = errors.New("several rooms match")
	ErrNoAdmin       = errors.New("no admin of the room could be reached")
)

// How often the connector looks for the peers of every room, and how
// often rooms are announced in the DHT.
const (
	connectEvery  = 10 * time.Second
	announceEvery = 10 * time.Minute
	FindTimeout   = 10 * time.Second
	JoinTimeout   = 60 * time.Second
)

// Manager holds every room of the daemon and keeps them in sync with
// their peers.
//
// Lock order: idMu (id's revocations), then mu (the rooms), then a
// room's own lock (r.View, r.Write); changeMu and the parts' locks are
// leaves.
type Manager struct {
	log   *slog.Logger
	self  room.Self
	id    *identity.Local
	idMu  sync.Mutex // guards id's revocations (the control API adds some)
	store roomdb.Store
	db    *storage.DB
	node  *hnet.Node
	sync  *replication.Service
	pair  *pairing.Service
	now   func() time.Time
	// mirror is set on a daemon started with --mirror.
	mirror *mirrorState

	// The parts (each has this Manager).
	Devices *Devices
	Joins   *Joins
	Invites *Invites
	Mirrors *Mirrors

	changeMu  sync.Mutex
	onChanges []func(room.ID)

	mu     sync.Mutex
	byID   map[room.ID]*room.Room
	byDisc map[log.Discovery]*room.Room
	hints  map[log.Discovery][]string // peers known to hold a room, from its record

	kick chan struct{}

	// ctx ends at Close: the work rooms start on their own (a kept
	// room's first sync, a mailbox's announce, a founding's announce);
	// wg counts those goroutines.
	ctx     context.Context
	cancel  context.CancelFunc
	spawnMu sync.Mutex // guards closed and wg.Add against Close's wait
	closed  bool
	wg      sync.WaitGroup
}

// Config is what New needs.
type Config struct {
	Logger *slog.Logger
	ID     *identity.Local
	DB     *storage.DB
	Node   *hnet.Node
	// Mirror is the store of kept rooms, on a daemon started with
	// --mirror (else nil); StartMirror serves it.
	Mirror *mirror.Store
	Now    func() time.Time
}

// New opens every room the database holds. Sync and pairing are served
// from here on; Run keeps the rooms connected.
func New(cfg Config) (*Manager, error) {
	logger, id, node, mstore, now := cfg.Logger, cfg.ID, cfg.Node, cfg.Mirror, cfg.Now
	store := roomdb.New(cfg.DB)
	proof, err := id.Proof.MarshalBinary()
	if err != nil {
		return nil, err
	}
	rec, err := id.Record.MarshalBinary()
	if err != nil {
		return nil, err
	}
	rs := &Manager{
		log:    logger,
		self:   room.Self{Identity: id.Identity, Device: id.Device, Sealing: id.Sealing, Proof: proof, Record: rec},
		id:     id,
		store:  store,
		db:     cfg.DB,
		node:   node,
		now:    now,
		byID:   map[room.ID]*room.Room{},
		byDisc: map[log.Discovery]*room.Room{},
		hints:  map[log.Discovery][]string{},
		kick:   make(chan struct{}, 1),
	}
	rs.Devices, rs.Joins, rs.Invites, rs.Mirrors = &Devices{rs}, &Joins{Manager: rs}, &Invites{Manager: rs}, &Mirrors{Manager: rs}
	if mstore != nil {
		boxes, err := mirror.OpenMailboxes(cfg.DB, mstore.IsOwner, now, logger)
		if err != nil {
			return nil, err
		}
		rs.mirror = &mirrorState{store: mstore, boxes: boxes, find: map[log.Discovery]time.Time{}}
	}
	rs.ctx, rs.cancel = context.WithCancel(context.Background())
	rs.sync = replication.New(replication.Config{
		Host:   node.Host,
		Logger: logger,
		Lookup: func(d log.Discovery) (replication.Room, bool) {
			if r, ok := rs.ByDiscovery(d); ok {
				return r, true
			}
			if rs.mirror != nil {
				return rs.mirror.store.Lookup(d)
			}
			return nil, false
		},
		OnFork: rs.onFork,
	})
	rs.pair = pairing.NewService(node.Host, rs.Invites.answer, logger)
	node.Host.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		rs.Poke()
		rs.reserveHousehold(c.RemotePeer(), c.RemoteMultiaddr())
	}})
	recs, err := store.Records()
	if err != nil {
		rs.Close()
		return nil, err
	}
	for rid, rec := range recs {
		r, err := rs.open(rec)
		if err != nil {
			rs.Close()
			return nil, err
		}
		if r.ID() != rid {
			rs.Close()
			return nil, fmt.Errorf("room record %s holds the key of %s", rid, r.ID())
		}
		if err := store.Load(r); err != nil {
			rs.Close()
			return nil, err
		}
	}
	return rs, nil
}

// spawn runs f in a goroutine of the Manager's, with its ctx (which ends
// at Close; Close waits for f). After Close it runs nothing.
func (rs *Manager) spawn(f func(ctx context.Context)) {
	rs.spawnMu.Lock()
	defer rs.spawnMu.Unlock()
	if rs.closed {
		return
	}
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		f(rs.ctx)
	}()
}

// Close stops serving sync and pairing and ends the work rooms started.
func (rs *Manager) Close() {
	rs.spawnMu.Lock()
	rs.closed = true
	rs.spawnMu.Unlock()
	rs.cancel()
	rs.wg.Wait()
	if rs.mirror != nil && rs.mirror.svc != nil {
		rs.mirror.svc.Close()
	}
	rs.pair.Close()
	rs.sync.Close()
}

func (rs *Manager) Poke() {
	select {
	case rs.kick <- struct{}{}:
	default:
	}
}

// open makes a room live (not yet loaded).
func (rs *Manager) open(rec roomdb.Record) (*room.Room, error) {
	key := room.KeyFromBytes(rec.Key)
	d := key.Discovery()
	r, err := room.Open(room.Config{
		Key:     key,
		Founder: rec.Founder,
		Self:    rs.self,
		Store:   rs.store,
		Now:     rs.now,
		Logger:  rs.log,
		OnChange: func([]log.Head) {
			rs.sync.Changed(d)
			rs.Poke()
			rs.notifyChange(key.ID())
		},
	})
	if err != nil {
		return nil, err
	}
	rs.mu.Lock()
	rs.byID[r.ID()] = r
	rs.byDisc[d] = r
	if len(rec.Peers) > 0 {
		rs.hints[d] = rec.Peers
	}
	rs.mu.Unlock()
	return r, nil
}

func (rs *Manager) Count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.byID)
}

// reserveHousehold gives the address a device of the household connected
// from reserved handshake slots (hnet.Node.Household): a stranger who
// fills the common ones does not lock it out.
func (rs *Manager) reserveHousehold(p peer.ID, addr ma.Multiaddr) {
	dev, err := proto.DeviceOf(p)
	if err != nil {
		return
	}
	for _, r := range rs.List() {
		ok := false
		r.View(func(v *room.View) {
			info, found := v.Devices[dev]
			if found && !info.Revoked && !info.Forked {
				_, ok = v.Members[info.Identity]
			}
		})
		if ok {
			rs.node.Household(p, addr)
			return
		}
	}
}

// reserveConnected reserves the addresses of the household devices
// connected now: a device that became a member over a connection it had
// already (pairing) is reserved from then on.
func (rs *Manager) reserveConnected() {
	for _, c := range rs.node.Host.Network().Conns() {
		rs.reserveHousehold(c.RemotePeer(), c.RemoteMultiaddr())
	}
}

func (rs *Manager) List() []*room.Room {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]*room.Room, 0, len(rs.byID))
	for _, r := range rs.byID {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *room.Room) int { return strings.Compare(NameOf(a), NameOf(b)) })
	return out
}

func NameOf(r *room.Room) (n string) {
	r.View(func(v *room.View) { n = v.Name })
	return n
}

// Resolve finds a room by id (or a prefix of at least 8 hex digits) or by
// an unambiguous name.
func (rs *Manager) Resolve(arg string) (*room.Room, error) {
	var found []*room.Room
	lower := strings.ToLower(arg)
	for _, r := range rs.List() {
		id := r.ID().String()
		if id == lower {
			return r, nil
		}
		if len(arg) >= 8 && strings.HasPrefix(id, lower) || strings.EqualFold(NameOf(r), arg) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: %q", ErrNoRoom, arg)
	case 1:
		return found[0], nil
	}
	var ids []string
	for _, r := range found {
		ids = append(ids, r.ID().String())
	}
	return nil, fmt.Errorf("%w %q: use the id, one of %s", ErrAmbiguousRoom, arg, strings.Join(ids, ", "))
}

// Create founds a room.
func (rs *Manager) Create(ctx context.Context, name string) (*room.Room, error) {
	if name == "" || len(name) > room.MaxNameLen {
		return nil, fmt.Errorf("a room name has 1 to %d bytes", room.MaxNameLen)
	}
	key := room.NewKey()
	rec := roomdb.Record{Key: key.Bytes(), Founder: rs.self.Identity, Name: name, Joined: rs.now().Unix()}
	if err := rs.store.SaveRecord(key.ID(), rec); err != nil {
		return nil, err
	}
	r, err := rs.open(rec)
	if err != nil {
		return nil, err
	}
	if err := r.Create(name); err != nil {
		rs.drop(r)
		return nil, err
	}
	rs.announce(ctx, r)
	return r, nil
}

// OnChange has f hear that a room's view may have changed (the web page
// does); f must not block. It may be called at any time, from any
// goroutine.
func (rs *Manager) OnChange(f func(room.ID)) {
	rs.changeMu.Lock()
	rs.onChanges = append(rs.onChanges, f)
	rs.changeMu.Unlock()
}

func (rs *Manager) notifyChange(id room.ID) {
	rs.changeMu.Lock()
	fs := rs.onChanges
	rs.changeMu.Unlock()
	for _, f := range fs {
		f(id)
	}
}

// drop forgets a room and its data.
func (rs *Manager) drop(r *room.Room) error {
	rs.mu.Lock()
	delete(rs.byID, r.ID())
	delete(rs.byDisc, r.Discovery())
	rs.mu.Unlock()
	return rs.store.DeleteRoom(r.ID(), r.Discovery())
}

// Leave writes a leave entry, lets peers fetch it for a moment, then drops
// the room.
func (rs *Manager) Leave(ctx context.Context, r *room.Room) error {
	if _, err := r.Write(room.Op{Type: room.OpLeave}); err != nil && !errors.Is(err, room.ErrNotMember) {
		return err
	}
	// Give connected peers a moment to fetch the leave entry.
	if rs.sync.Sessions(r.Discovery()) > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return rs.drop(r)
}

func (rs *Manager) onFork(d log.Discovery, fp *log.ForkProof) {
	rs.mu.Lock()
	r, ok := rs.byDisc[d]
	rs.mu.Unlock()
	if !ok {
		return
	}
	var proven bool
	r.View(func(v *room.View) { _, proven = v.Forked[fp.A.Writer] })
	if proven {
		return // written before (by this device before a restart, or by another)
	}
	blob, err := fp.MarshalBinary()
	if err != nil {
		return
	}
	rs.log.Warn("a device signed two histories of its log", logattr.Room(r.ID().String()), logattr.Dev(fp.A.Writer))
	if _, err := r.Write(room.Op{Type: room.OpFork, Blob: blob}); err != nil {
		rs.log.Debug("recording fork proof", logattr.Err(err))
	}
}

// Run keeps every room connected to its peers until ctx ends.
func (rs *Manager) Run(ctx context.Context) {
	tick := time.NewTicker(connectEvery)
	defer tick.Stop()
	lastAnnounce := time.Time{}
	for {
		announce := time.Since(lastAnnounce) > announceEvery
		if announce {
			for _, r := range rs.List() {
				rs.announce(ctx, r)
			}
			rs.Devices.TellMirrors(ctx)
			lastAnnounce = time.Now()
		}
		rs.Devices.PublishRevocations()
		for _, r := range rs.List() {
			rs.connect(ctx, r)
		}
		rs.Mirrors.publishWriters(ctx)
		rs.reserveConnected()
		rs.Mirrors.runMirror(ctx, announce)
		rs.Invites.pollMailboxes(ctx)
		rs.Devices.pollDeviceLinks(ctx)
		rs.Joins.pollPending(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-rs.kick:
		}
	}
}

func (rs *Manager) announce(ctx context.Context, r *room.Room) {
	ctx, cancel := context.WithTimeout(ctx, FindTimeout)
	defer cancel()
	if err := rs.node.Announce(ctx, room.AnnounceTopic(r.Discovery())); err != nil {
		rs.log.Debug("announcing room", logattr.Room(r.ID().String()), logattr.Err(err))
	}
}

// connect opens a sync session with every device of the room that is
// reachable and not yet syncing.
func (rs *Manager) connect(ctx context.Context, r *room.Room) {
	var devs []identity.PublicKey
	known := 0
	r.View(func(v *room.View) {
		known = len(v.Devices)
		for d, info := range v.Devices {
			if !info.Revoked && d != rs.self.Device.Public() {
				devs = append(devs, d)
			}
		}
	})
	if known == 0 {
		// A new member or device knows no device yet: the peers its
		// record names (the room's mirrors) and whoever it is connected
		// to may hold the room.
		rs.mu.Lock()
		hints := rs.hints[r.Discovery()]
		rs.mu.Unlock()
		for _, h := range hints {
			if ai, err := peer.AddrInfoFromString(h); err == nil && ai.ID != rs.node.Host.ID() {
				rs.node.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
				rs.TrySync(ctx, ai.ID, r.Discovery())
			}
		}
		for _, p := range rs.node.Peers() {
			rs.TrySync(ctx, p, r.Discovery())
		}
	}
	for _, d := range devs {
		p, err := proto.PeerOf(d)
		if err != nil {
			continue
		}
		rs.TrySync(ctx, p, r.Discovery())
	}
	rs.Mirrors.syncMirrors(ctx, r)
}

// TrySync opens a sync session for the room of d with p, reaching p
// first if needed.
func (rs *Manager) TrySync(ctx context.Context, p peer.ID, d log.Discovery) {
	if err := rs.node.Reach(ctx, p); err != nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, FindTimeout)
	defer cancel()
	if err := rs.sync.Sync(sctx, p, d); err != nil {
		rs.log.Debug("sync not started", logattr.Peer(p.String()), logattr.Room(d), logattr.Err(err))
	}
}

// Invite makes an invite in the room and returns its link.
func (rs *Invites) Invite(ctx context.Context, r *room.Room, expires time.Duration, uses uint64, approve bool) (string, time.Time, error) {
	inv := pairing.NewInvite()
	var exp time.Time
	op := room.Op{Type: room.OpInvite, Invite: room.InviteID(inv.ID()), Seed: room.SecretFrom(inv.Seed()), Uses: uses, Role: room.RoleMember, Approve: approve}
	if expires > 0 {
		exp = rs.now().Add(expires)
		op.Expires = exp.UnixMilli()
	}
	if _, err := r.Write(op); err != nil {
		return "", time.Time{}, err
	}
	var ok bool
	r.View(func(v *room.View) { _, ok = v.Invites[room.InviteID(inv.ID())] })
	if !ok {
		return "", time.Time{}, errors.New("only admins can invite to this room")
	}
	ctx, cancel := context.WithTimeout(ctx, JoinTimeout)
	defer cancel()
	if err := rs.node.Announce(ctx, inv.Topic()); err != nil {
		rs.log.Debug("announcing invite", logattr.Err(err))
	}
	// The link names this device, then the mirrors holding a mailbox for
	// the invite: a candidate who finds no admin online leaves its
	// request there.
	hints := append([]string{rs.node.Host.ID().String()}, rs.openMailboxes(ctx, r, inv, exp)...)
	return inv.WithTag(pairing.RoomTag(r.Discovery())).Link(strings.Join(hints, ",")), exp, nil
}

// answer is the pairing handler: admit a candidate that holds an invite of
// one of our rooms.
func (rs *Invites) answer(ctx context.Context, from peer.ID, id pairing.ID, sealed []byte) ([]byte, error) {
	if di, ok := rs.Devices.deviceInvites()[id]; ok {
		return rs.Devices.answerDeviceLink(id, di, sealed)
	}
	var target *room.Room
	var seed room.Secret32
	for _, r := range rs.List() {
		r.View(func(v *room.View) {
			if inv, ok := v.Invites[room.InviteID(id)]; ok {
				target, seed = r, inv.Seed
			}
		})
		if target != nil {
			break
		}
	}
	if target == nil {
		return nil, errors.New(pairing.NoSuchInvite)
	}
	req, a, err := rs.admit(target, pairing.FromSeed(seed.Bytes()), id, sealed)
	if req == nil {
		rs.log.Debug("pairing request refused", logattr.Peer(from.String()), logattr.Err(err))
		return nil, errors.New("invalid request")
	}
	if err != nil {
		return nil, err
	}
	return pairing.SealAnswer(req, a)
}

// admit opens a sealed request for invite inv (id) of target, admits the
// candidate and returns the request and the answer. A nil request means
// the request itself is invalid; a request with an error means the room
// refused the candidate (the error says why).
func (rs *Invites) admit(target *room.Room, inv pairing.Invite, id pairing.ID, sealed []byte) (*pairing.Request, *pairing.Answer, error) {
	req, err := pairing.OpenRequest(inv, sealed)
	if err != nil {
		return nil, nil, err
	}
	// Who may have an answer: the room key and every epoch key. Every
	// member reads every invite's seed and every member's proof, so the
	// request alone proves little: the device must have signed it (its
	// key, bound to this request's ephemeral key), and the room must not
	// have shut it or its identity out.
	var already, manual, former, revoked, superseded bool
	var invalid string
	target.View(func(v *room.View) {
		m, ok := v.Members[req.Identity]
		already = ok
		_, former = v.Former[req.Identity]
		revoked = v.ChainRevoked(req.Chain) // the device, or one that attested it
		if newest, ok := v.IdentityEpochs[req.Identity]; ok && req.Epoch < newest {
			superseded = true // the phrase was restored since its proof was made
		}
		in, ok := v.Invites[room.InviteID(id)]
		if !ok {
			invalid = "no such invite in this room"
			return
		}
		manual = in.Approve
		retry := already && m.Invite == room.InviteID(id) // its answer may have been lost
		switch {
		case retry:
		case in.Expires > 0 && rs.now().UnixMilli() > in.Expires:
			invalid = "this invite has expired"
		case in.Uses > 0 && in.Used >= in.Uses:
			invalid = "this invite is used up"
		}
	})
	refuse := func(why string) (*pairing.Request, *pairing.Answer, error) {
		rs.log.Info("join request refused", logattr.Room(target.ID().String()), slog.String("identity", req.Identity.Short()),
			logattr.Dev(req.Device), slog.String("why", why))
		return req, nil, errors.New(why)
	}
	switch {
	case revoked:
		return refuse("this device was revoked")
	case superseded:
		return refuse("this device's identity was restored from its phrase since: it is superseded")
	case invalid != "":
		return refuse(invalid)
	case !already && former:
		// A removed member comes back only if an admin says so.
		rs.log.Info("a former member asks to join again", logattr.Room(target.ID().String()), slog.String("identity", req.Identity.Short()))
		return req, nil, rs.hold(target, id, req)
	case !already && manual:
		return req, nil, rs.hold(target, id, req)
	}
	var added *room.Ref
	if !already {
		ref, err := target.Write(room.Op{Type: room.OpAddMember, Identity: req.Identity, Role: room.RoleMember, Invite: room.InviteID(id)})
		if err != nil {
			return req, nil, errors.New("this device cannot admit members")
		}
		added = &ref
		rs.Mirrors.nameNow(rs.ctx, target)
	}
	a := &pairing.Answer{RoomKey: target.Key().Bytes(), Founder: target.Founder(), Discovery: target.Discovery()}
	target.View(func(v *room.View) {
		a.Name = v.Name
		_, a.OK = v.Members[req.Identity]
	})
	if !a.OK {
		reason := "not admitted"
		if added != nil {
			if rj, ok := target.Rejection(*added); ok {
				reason = rj.Reason
			}
		} else {
			target.Rejections(func(rj room.Rejection) bool {
				if rj.Op != room.OpAddMember {
					return true
				}
				reason = rj.Reason
				return false
			})
		}
		return req, nil, errors.New(reason)
	}
	for e, ks := range target.EpochKeys() {
		for _, k := range ks {
			a.Keys = append(a.Keys, pairing.EpochKey{Epoch: e, Key: k})
		}
	}
	if !already {
		rs.log.Info("member admitted", logattr.Room(target.ID().String()), slog.String("identity", req.Identity.Short()), slog.String("name", req.Name))
	}
	return req, a, nil
}

// Join asks the peers that may hold an invite to admit this device, then
// opens the room and syncs it.
func (rs *Joins) Join(ctx context.Context, link string) (*room.Room, error) {
	inv, hint, err := pairing.ParseLink(link)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, JoinTimeout)
	defer cancel()
	var candidates, hints []peer.ID
	for _, h := range strings.Split(hint, ",") {
		if p, err := peer.Decode(h); err == nil {
			hints = append(hints, p)
		}
	}
	candidates = append(candidates, hints...)
	for _, ai := range rs.node.FindPeers(ctx, inv.Topic(), 8) {
		rs.node.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
		candidates = append(candidates, ai.ID)
	}
	candidates = append(candidates, rs.node.Peers()...)
	var lastErr error = ErrNoAdmin
	var awaiting []peer.ID // admins who said one of them must approve
	tried := map[peer.ID]bool{}
	for _, p := range candidates {
		if tried[p] || p == rs.node.Host.ID() {
			continue
		}
		tried[p] = true
		r, err := rs.ask(ctx, p, inv)
		if err == nil {
			rs.forgetPending(inv.ID()) // joined: a request left before is settled
			return r, nil
		}
		var refused *pairing.RefusedError
		if errors.As(err, &refused) && refused.Reason == pairing.AwaitingApproval {
			// An admin must approve: the daemon asks again until one has
			// (pollPending), and leaves the request in the invite's
			// mailboxes too, for an answer while this admin is offline.
			awaiting = append(awaiting, p)
			lastErr = ErrAwaiting
			break
		}
		if errors.As(err, &refused) && refused.Reason != pairing.NoSuchInvite && refused.Reason != pairing.TooMany {
			return nil, fmt.Errorf("the room refused: %s", refused.Reason)
		}
		lastErr = err
	}
	// No admin online, or one must approve: leave the request in the
	// invite's mailboxes.
	dctx, dcancel := context.WithTimeout(rs.ctx, 25*time.Second)
	defer dcancel()
	took, err := rs.deposit(dctx, inv, hints)
	if err != nil && len(awaiting) == 0 {
		return nil, fmt.Errorf("leaving the request in a mailbox: %w", err)
	}
	if len(awaiting) > 0 {
		if err := rs.awaitApproval(inv, link, awaiting); err != nil {
			return nil, fmt.Errorf("keeping the join: %w", err)
		}
		rs.log.Info("join request waits for an admin's approval: this device asks again until one has", slog.Int("mailboxes", len(took)))
		return nil, &PendingError{Mailboxes: took, Awaiting: true, Invite: inv.ID()}
	}
	if len(took) > 0 {
		rs.log.Info("no admin online: join request left in mailboxes", slog.Any("mirrors", took))
		return nil, &PendingError{Mailboxes: took, Invite: inv.ID()}
	}
	var refused *pairing.RefusedError
	if errors.As(lastErr, &refused) {
		switch refused.Reason {
		case pairing.NoSuchInvite:
			return nil, fmt.Errorf("%w: a device of the room was reached and does not know this invite (revoked, used up, or the link is damaged): ask for a new invite", control.ErrRefused)
		case pairing.TooMany:
			return nil, fmt.Errorf("%w: a device of the room was reached and asks to wait (too many requests): try again in a minute", control.ErrRefused)
		}
	}
	return nil, fmt.Errorf("%w (%v), and no mirror holds a mailbox for the invite; ask an admin to be online, or for a new invite", ErrNoAdmin, lastErr)
}

// PendingError: the join waits for an admin (its approval, or an answer
// in mailboxes).
type PendingError struct {
	Mailboxes []string
	Awaiting  bool
	Invite    pairing.ID
}

func (e *PendingError) Error() string {
	if e.Awaiting {
		return fmt.Sprintf("%v: an admin must approve the request", errPending)
	}
	return fmt.Sprintf("%v: request left with %d mirror(s)", errPending, len(e.Mailboxes))
}
func (e *PendingError) Unwrap() error { return errPending }

func (rs *Joins) ask(ctx context.Context, p peer.ID, inv pairing.Invite) (*room.Room, error) {
	if err := rs.node.Reach(ctx, p); err != nil {
		return nil, err
	}
	sealed, eph, err := pairing.NewRequest(inv, rs.self.Identity, rs.self.Device, rs.self.Proof, rs.self.Record, rs.id.Record.Name, rs.now())
	if err != nil {
		return nil, err
	}
	sa, err := pairing.Ask(ctx, rs.node.Host, p, inv.ID(), sealed)
	if err != nil {
		return nil, err
	}
	a, err := pairing.OpenAnswer(eph, inv.ID(), sa)
	if err != nil {
		return nil, err
	}
	if !answerMatches(a, inv.Tag()) {
		return nil, pairing.ErrWrongAnswer
	}
	r, err := rs.accept(a, nil)
	if err != nil {
		return nil, err
	}
	if err := rs.sync.Sync(ctx, p, r.Discovery()); err != nil {
		rs.log.Debug("first sync", logattr.Err(err))
	}
	// Wait until the admission has reached us and we said hello.
	for ctx.Err() == nil {
		var member bool
		r.View(func(v *room.View) { _, member = v.Devices[rs.self.Device.Public()] })
		if member {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	rs.announce(ctx, r)
	return r, nil
}

// accept opens the room an admin's answer admits this device to (or the
// room held already).
func (rs *Joins) accept(a *pairing.Answer, peers []string) (*room.Room, error) {
	key := room.KeyFromBytes(a.RoomKey)
	rs.mu.Lock()
	existing, have := rs.byID[key.ID()]
	rs.mu.Unlock()
	if have {
		return existing, nil
	}
	rec := roomdb.Record{Key: a.RoomKey, Founder: a.Founder, Name: a.Name, Joined: rs.now().Unix(), Peers: peers}
	if err := rs.store.SaveRecord(key.ID(), rec); err != nil {
		return nil, err
	}
	r, err := rs.open(rec)
	if err != nil {
		return nil, err
	}
	for _, k := range a.Keys {
		r.LoadKey(k.Epoch, k.Key)
		rs.store.SaveKey(r.Discovery(), k.Epoch, k.Key)
	}
	return r, nil
}

// Addrs returns the node's full multiaddrs, loopback last.
func (rs *Manager) Addrs() []string {
	out := rs.node.Addrs()
	slices.SortStableFunc(out, func(a, b string) int {
		la, lb := isLoopback(a), isLoopback(b)
		switch {
		case la == lb:
			return 0
		case la:
			return 1
		}
		return -1
	})
	return out
}

func isLoopback(s string) bool {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return false
	}
	v, err := m.ValueForProtocol(ma.P_IP4)
	return err == nil && strings.HasPrefix(v, "127.") || strings.Contains(s, "/ip6/::1/")
}

// Connections lists the connected peers, how each is reached (a relayed
// connection counts only while no direct one exists) and whether it is a
// device of one of our rooms.
func (rs *Manager) Connections() []control.Connection {
	devices := map[peer.ID]bool{}
	for _, r := range rs.List() {
		r.View(func(v *room.View) {
			for d := range v.Devices {
				if p, err := proto.PeerOf(d); err == nil {
					devices[p] = true
				}
			}
		})
	}
	out := []control.Connection{}
	for _, p := range rs.node.Peers() {
		c := control.Connection{PeerID: p.String(), Path: "relay", Device: devices[p]}
		for _, conn := range rs.node.Host.Network().ConnsToPeer(p) {
			addr := conn.RemoteMultiaddr().String()
			if c.Addr == "" || !strings.Contains(addr, "/p2p-circuit") {
				c.Addr = addr
			}
			if !strings.Contains(addr, "/p2p-circuit") {
				c.Path = "direct"
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b control.Connection) int { return strings.Compare(a.PeerID, b.PeerID) })
	return out
}

// answerMatches reports whether an answer is for the room the link's tag
// names: an admission by the discovery key of its room key, a refusal by
// the discovery key it states.
func answerMatches(a *pairing.Answer, tag pairing.Tag) bool {
	if a.OK {
		return pairing.RoomTag(room.KeyFromBytes(a.RoomKey).Discovery()) == tag
	}
	return pairing.RoomTag(a.Discovery) == tag
}

// Get is the room of an id, if this device is in it.
func (rs *Manager) Get(id room.ID) (*room.Room, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.byID[id]
	return r, ok
}

// Sessions is how many peers a room is syncing with now.
func (rs *Manager) Sessions(d log.Discovery) int { return rs.sync.Sessions(d) }

// The parts of the rooms' work besides the rooms themselves; each part
// has the Manager (its rooms, node and store) and its own state, whose
// locks are leaves.
type (
	// Devices are this identity's other devices: links and revocations.
	Devices struct{ *Manager }

	// Joins are this device's joins of rooms, those waiting included.
	Joins struct {
		*Manager
		liveMu    sync.Mutex
		liveAsked map[pairing.ID]time.Time // joins awaiting approval: when last asked
	}

	// Invites are the invites this device gives and answers, and the
	// requests it holds for its admins.
	Invites struct {
		*Manager
		renewMu sync.Mutex
		renewed map[renewKey]time.Time // mailboxes renewed on each mirror
	}

	// Mirrors are the mirrors of the rooms, and the mirror this daemon is
	// (started with --mirror).
	Mirrors struct {
		*Manager
		namedMu sync.Mutex
		named   map[namedKey]namedAt // writers named on each mirror
	}
)
