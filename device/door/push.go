package door

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/webpush"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// Rings while the app is closed: a ring is also pushed (Web Push, RFC
// 8030) to every rung device that gave a subscription in the household
// room (room.OpPush), encrypted to it (RFC 8291) and signed with the
// room's VAPID key (RFC 8292; room.OpVAPID, which the door sets as an
// admin when the room has none). The push service sees only that a push
// happened, to which subscription, and its size.

// Push is what a ring's push carries, as JSON: the app's service worker
// shows it and opens the app into the call.
type Push struct {
	Type string `json:"type"` // "ring"
	Call string `json:"call"`
	Room string `json:"room"`
	Door string `json:"door"`      // the door's device, hex
	Name string `json:"door_name"` // the name the room gives the door
	Time int64  `json:"time"`      // unix milliseconds
}

// The browsers' own push services: a subscription's endpoint must be on
// one of them (or on an origin the settings add, PushServices), so that
// no member makes the door post to an address of their choosing.
var knownPushHosts = []string{"fcm.googleapis.com", "updates.push.services.mozilla.com", "web.push.apple.com"}
var knownPushSuffixes = []string{".push.apple.com", ".notify.windows.com"}

// pushAllowed reports whether the door may post to endpoint.
func (d *Door) pushAllowed(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	origin := u.Scheme + "://" + u.Host
	for _, o := range d.cfg.PushServices {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	if u.Scheme != "https" || u.Port() != "" {
		return false
	}
	h := strings.ToLower(u.Hostname())
	for _, k := range knownPushHosts {
		if h == k {
			return true
		}
	}
	for _, s := range knownPushSuffixes {
		if strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// CheckPushServices checks the settings' push service origins.
func CheckPushServices(origins []string) error {
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("push service %q: want an origin, scheme://host[:port]", o)
		}
	}
	return nil
}

// ensureVAPID gives the household room its push key, as an admin, if it
// has none.
func (d *Door) ensureVAPID() {
	var has bool
	var role room.Role
	d.room.View(func(v *room.View) {
		has = v.VAPID != nil
		role = v.Role(d.id.Identity)
	})
	if has || role < room.RoleAdmin {
		return
	}
	k, err := webpush.NewVAPID()
	if err != nil {
		d.log.Warn("no push key", logattr.Err(err))
		return
	}
	b, err := k.Bytes()
	if err != nil {
		return
	}
	if _, err := d.room.Write(room.Op{Type: room.OpVAPID, Blob: b}); err != nil {
		d.log.Warn("the household room's push key not written", logattr.Err(err))
		return
	}
	d.log.Info("the household room has a push key now: its members' apps can be rung while closed")
}

// pushTimeout bounds the pushes of one ring.
const pushTimeout = 15 * time.Second

// pushRing pushes the ring of call id to the rung devices that gave a
// subscription, each once, in the background.
func (d *Door) pushRing(id string, targets []peer.ID) {
	var subs []*room.PushSub
	var key []byte
	var name string
	self := d.id.Device.Public()
	d.room.View(func(v *room.View) {
		key = v.VAPID
		if dr, ok := v.Door(self); ok {
			name = dr.Name
		}
		for _, p := range targets {
			dev, err := proto.DeviceOf(p)
			if err != nil {
				continue
			}
			if s, ok := v.PushOf(dev); ok {
				subs = append(subs, s)
			}
		}
	})
	if len(subs) == 0 || key == nil {
		return
	}
	vapid, err := webpush.ParseVAPID(key)
	if err != nil {
		d.log.Warn("the household room's push key", logattr.Err(err))
		return
	}
	payload, _ := json.Marshal(Push{Type: "ring", Call: id, Room: d.room.ID().String(), Door: self.String(), Name: name, Time: d.now().UnixMilli()})
	msg := webpush.Message{Payload: payload, TTL: time.Minute, Urgency: "high", Topic: "ring"}
	// The contact push services may write to about this sender.
	contact := "mailto:doorphone@" + d.id.Device.Public().String()[:16] + ".hearth.invalid"
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(d.ctx, pushTimeout)
		defer cancel()
		var wg sync.WaitGroup
		for _, s := range subs {
			if !d.pushAllowed(s.Endpoint) {
				d.log.Warn("a ring not pushed: the subscription's push service is not a known one (doorphone.push_services adds one)",
					logattr.Dev(s.Device), slog.String("service", originOf(s.Endpoint)))
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := webpush.Send(ctx, pushClient, webpush.Subscription{Endpoint: s.Endpoint, P256dh: s.P256DH, Auth: s.Auth}, msg, vapid, contact)
				switch {
				case err == nil:
					d.log.Info("ring pushed", logattr.Call(id), logattr.Dev(s.Device))
				case errors.Is(err, webpush.ErrGone):
					d.log.Info("a push subscription is gone: its device subscribes again when its app opens", logattr.Dev(s.Device))
				default:
					d.log.Warn("ring not pushed", logattr.Call(id), logattr.Dev(s.Device), logattr.Err(err))
				}
			}()
		}
		wg.Wait()
	}()
}

// pushClient posts pushes: no redirects, and a bounded time.
var pushClient = webpush.NewClient(pushTimeout)

// originOf is an endpoint's origin, for the log (its path names the
// subscription).
func originOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}
