package rooms

import (
	"context"
	"encoding/json"
	"errors"
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

// Device linking, on the device that is already linked: 'device link'
// makes a one-use link; whoever presents it (directly, or through the
// mailboxes of the rooms' mirrors) gets a proof attested by this device and
// the identity's rooms with their keys.

var bucketDeviceInvites = []byte("device-invites")

// defaultLinkLife is how long a device link is valid unless told.
const defaultLinkLife = 24 * time.Hour

// deviceInvite is a device link made here.
type deviceInvite struct {
	Seed    [32]byte           `json:"seed"`
	Expires int64              `json:"expires"` // unix ms
	Device  identity.PublicKey `json:"device"`  // the device it linked, once used
	Name    string             `json:"name,omitempty"`
	Linked  int64              `json:"linked,omitempty"` // unix seconds
}

func (di *deviceInvite) used() bool { return di.Device != (identity.PublicKey{}) }

func (rs *Devices) deviceInvites() map[pairing.ID]*deviceInvite {
	out := map[pairing.ID]*deviceInvite{}
	rs.db.View(func(tx *storage.Tx) error {
		return tx.ForEach(bucketDeviceInvites, func(k, v []byte) error {
			var di deviceInvite
			if len(k) == len(pairing.ID{}) && json.Unmarshal(v, &di) == nil {
				out[pairing.ID(k)] = &di
			}
			return nil
		})
	})
	return out
}

func (rs *Devices) saveDeviceInvite(id pairing.ID, di *deviceInvite) error {
	b, err := json.Marshal(di)
	if err != nil {
		return err
	}
	return rs.db.Put(bucketDeviceInvites, id[:], b)
}

// allMirrors returns the mirrors of every room, each once.
func (rs *Devices) allMirrors() []peer.ID {
	seen := map[peer.ID]bool{}
	var out []peer.ID
	for _, r := range rs.List() {
		for _, p := range rs.Mirrors.RoomMirrors(r) {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// DeviceLink makes a device link valid for life.
func (rs *Devices) DeviceLink(ctx context.Context, life time.Duration) (string, time.Time, error) {
	if life <= 0 {
		life = defaultLinkLife
	}
	inv := pairing.NewInvite()
	exp := rs.now().Add(life)
	if err := rs.saveDeviceInvite(inv.ID(), &deviceInvite{Seed: inv.Seed(), Expires: exp.UnixMilli()}); err != nil {
		return "", time.Time{}, err
	}
	if err := rs.node.Announce(ctx, inv.Topic()); err != nil {
		rs.log.Debug("announcing a device link", logattr.Err(err))
	}
	hints := []string{rs.node.Host.ID().String()}
	hints = append(hints, rs.Invites.openBoxes(ctx, rs.allMirrors(), mirror.BoxID(inv.ID()), exp, nil)...)
	return inv.WithTag(pairing.IdentityTag(rs.self.Identity)).DeviceLink(strings.Join(hints, ",")), exp, nil
}

// answerLink admits a new device of this identity: it attests the device
// and hands over the identity's rooms and keys. A nil request means the
// request itself is invalid.
func (rs *Devices) answerLink(id pairing.ID, di *deviceInvite, sealed []byte) (*pairing.Request, *pairing.LinkAnswer, error) {
	inv := pairing.FromSeed(di.Seed)
	req, rec, err := pairing.OpenLinkRequest(inv, sealed)
	if err != nil {
		return nil, nil, err
	}
	// The request was signed by the device of its record (OpenLinkRequest
	// checks it), so a record read elsewhere (every member reads it in
	// the device's hello) gets nothing. A link answers one device, until
	// it expires: a second answer to the same device is for a retry whose
	// first answer was lost.
	rs.idMu.Lock()
	revoked := rs.id.IsRevoked(rec.Device)
	rs.idMu.Unlock()
	me := rs.self.Device.Public()
	for _, r := range rs.List() {
		r.View(func(v *room.View) {
			if _, ok := v.Revoked[rec.Device]; ok {
				revoked = true
			}
			if d, ok := v.Devices[me]; ok && d.Revoked {
				revoked = true // a revoked device attests nothing
			}
		})
	}
	var why string
	switch {
	case di.used() && di.Device != rec.Device:
		why = "this device link was used already"
	case di.Expires <= rs.now().UnixMilli():
		why = "this device link has expired"
	case revoked:
		why = "this device was revoked"
	}
	if why != "" {
		rs.log.Info("device link request refused", logattr.Dev(rec.Device), slog.String("why", why))
		return req, nil, errors.New(why)
	}
	proof, err := rs.id.Proof.Attest(rs.id.Device, rec.Device)
	if err != nil {
		return req, nil, err
	}
	pb, err := proof.MarshalBinary()
	if err != nil {
		return req, nil, err
	}
	a := &pairing.LinkAnswer{OK: true, Identity: rs.self.Identity, Proof: pb}
	for _, r := range rs.List() {
		lr := pairing.LinkRoom{Key: r.Key().Bytes(), Founder: r.Founder(), Name: NameOf(r)}
		for e, ks := range r.EpochKeys() {
			for _, k := range ks {
				lr.Keys = append(lr.Keys, pairing.EpochKey{Epoch: e, Key: k})
			}
		}
		r.View(func(v *room.View) {
			for _, m := range v.Mirrors {
				for _, a := range m.Addrs {
					lr.Peers = append(lr.Peers, a)
				}
			}
		})
		for _, a := range rs.Addrs() {
			lr.Peers = append(lr.Peers, a)
		}
		a.Rooms = append(a.Rooms, lr)
	}
	if !di.used() {
		di.Device, di.Name, di.Linked = rec.Device, req.Name, rs.now().Unix()
		if err := rs.saveDeviceInvite(id, di); err != nil {
			return req, nil, err
		}
		rs.log.Info("device linked", logattr.Dev(rec.Device), slog.String("name", req.Name), slog.Int("rooms", len(a.Rooms)))
	}
	return req, a, nil
}

// answerDeviceLink is the pairing handler's part for device links.
func (rs *Devices) answerDeviceLink(id pairing.ID, di *deviceInvite, sealed []byte) ([]byte, error) {
	req, a, err := rs.answerLink(id, di, sealed)
	if req == nil {
		return nil, errors.New("invalid request")
	}
	if err != nil {
		return nil, err
	}
	return pairing.SealLinkAnswer(req, a)
}

// pollDeviceLinks answers the link requests left in mailboxes for the live
// device links of this device.
func (rs *Devices) pollDeviceLinks(ctx context.Context) {
	var mirrors []peer.ID
	for id, di := range rs.deviceInvites() {
		if di.used() || di.Expires <= rs.now().UnixMilli() {
			continue
		}
		if mirrors == nil {
			mirrors = append(rs.allMirrors(), rs.node.Host.ID())
		}
		for _, p := range mirrors {
			for _, e := range rs.Invites.boxRequests(ctx, p, mirror.BoxID(id)) {
				if e.Answered {
					continue
				}
				req, a, err := rs.answerLink(id, di, e.Sealed)
				if req == nil {
					rs.log.Info("a device link request was dropped", logattr.Peer(p.String()), logattr.Err(err))
					continue
				}
				if mirror.AnswerBox(req.Ephemeral) != e.AnswerBox {
					continue
				}
				if err != nil {
					a = &pairing.LinkAnswer{Reason: err.Error(), Identity: rs.self.Identity}
				}
				sealed, err := pairing.SealLinkAnswer(req, a)
				if err == nil {
					err = rs.Invites.leaveAnswer(ctx, p, e.AnswerBox, sealed)
				}
				if err != nil {
					rs.log.Info("leaving a link answer in a mailbox", logattr.Peer(p.String()), logattr.Err(err))
				}
			}
		}
	}
}

// LinkedDevices lists the devices linked from here, for id devices. The
// caller holds rs.idMu.
func (rs *Devices) LinkedDevices() []control.Device {
	var out []control.Device
	for _, di := range rs.deviceInvites() {
		if di.used() {
			out = append(out, control.Device{Device: di.Device.String(), Name: di.Name, Revoked: rs.id.IsRevoked(di.Device),
				Added: control.Time(time.Unix(di.Linked, 0))})
		}
	}
	return out
}
