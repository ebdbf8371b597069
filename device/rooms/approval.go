package rooms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// Manual approval: an invite made with --approve admits nobody by itself.
// Each request (live or from a mailbox) is kept here until an admin of
// this device approves it (an add-member entry, checked by every member
// against the invite) or declines it.

var bucketRequests = []byte("join-requests")

// ErrAwaiting: the request waits for an admin's approval.
var ErrAwaiting = errors.New(pairing.AwaitingApproval)

// ErrNoRequest: no such join request waits here.
var ErrNoRequest = errors.New("no join request")

// errDeclined: an admin declined the request.
var errDeclined = errors.New("an admin declined the request")

// joinRequest is a request waiting for approval.
type joinRequest struct {
	Room     string             `json:"room"`
	Invite   pairing.ID         `json:"invite"`
	Identity identity.PublicKey `json:"identity"`
	Name     string             `json:"name"`
	Time     int64              `json:"time"` // unix seconds, first seen
	Declined bool               `json:"declined"`
}

func requestID(inv pairing.ID, id identity.PublicKey) string {
	h := sha256.Sum256(append(inv[:], id[:]...))
	return hex.EncodeToString(h[:8])
}

func (rs *Invites) joinRequest(key string) (*joinRequest, bool) {
	b, err := rs.db.Get(bucketRequests, []byte(key))
	if err != nil {
		return nil, false
	}
	var jr joinRequest
	if json.Unmarshal(b, &jr) != nil {
		return nil, false
	}
	return &jr, true
}

func (rs *Invites) saveJoinRequest(key string, jr *joinRequest) error {
	b, err := json.Marshal(jr)
	if err != nil {
		return err
	}
	return rs.db.Put(bucketRequests, []byte(key), b)
}

// hold keeps a request of an invite that needs approval, and says whether
// an admin declined it.
func (rs *Invites) hold(r *room.Room, id pairing.ID, req *pairing.Request) error {
	key := requestID(id, req.Identity)
	if jr, ok := rs.joinRequest(key); ok {
		if jr.Declined {
			return errDeclined
		}
		return ErrAwaiting
	}
	jr := &joinRequest{Room: r.ID().String(), Invite: id, Identity: req.Identity, Name: req.Name, Time: rs.now().Unix()}
	if err := rs.saveJoinRequest(key, jr); err != nil {
		return err
	}
	rs.log.Info("a join request waits for approval", logattr.Room(r.ID().String()), slog.String("request", key), slog.String("name", req.Name))
	return ErrAwaiting
}

// Requests lists the requests of a room waiting for approval.
func (rs *Invites) Requests(r *room.Room) []control.ApprovalRequest {
	out := []control.ApprovalRequest{}
	rs.db.View(func(tx *storage.Tx) error {
		return tx.ForEach(bucketRequests, func(k, v []byte) error {
			var jr joinRequest
			if json.Unmarshal(v, &jr) != nil || jr.Room != r.ID().String() || jr.Declined {
				return nil
			}
			out = append(out, control.ApprovalRequest{Request: string(k), Identity: jr.Identity.String(), Name: jr.Name,
				Invite: hex.EncodeToString(jr.Invite[:]), Time: control.Time(time.Unix(jr.Time, 0))})
			return nil
		})
	})
	slices.SortFunc(out, func(a, b control.ApprovalRequest) int { return strings.Compare(a.Time, b.Time) })
	return out
}

// Decide approves or declines a request of room r.
func (rs *Invites) Decide(ctx context.Context, r *room.Room, key string, approve bool) error {
	jr, ok := rs.joinRequest(key)
	if !ok || jr.Room != r.ID().String() {
		return fmt.Errorf("%w %q in this room ('hearth room requests' lists them)", ErrNoRequest, key)
	}
	if !approve {
		jr.Declined = true
		return rs.saveJoinRequest(key, jr)
	}
	ref, err := r.Write(room.Op{Type: room.OpAddMember, Identity: jr.Identity, Role: room.RoleMember, Invite: room.InviteID(jr.Invite)})
	if err != nil {
		return err
	}
	rs.Mirrors.nameNow(ctx, r)
	var member bool
	r.View(func(v *room.View) { _, member = v.Members[jr.Identity] })
	if !member {
		reason := "not admitted"
		if rj, ok := r.Rejection(ref); ok {
			reason = rj.Reason
		}
		return fmt.Errorf("%w: %s", control.ErrRefused, reason)
	}
	rs.log.Info("join request approved", logattr.Room(r.ID().String()), slog.String("request", key))
	return rs.db.Update(func(tx *storage.Tx) error { return tx.Delete(bucketRequests, []byte(key)) })
}
