package calls

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

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/webpush"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// Rings while the app is closed: a door's ring is also pushed (Web Push,
// RFC 8030) to the rung devices that gave a subscription in the household
// room (room.OpPush), encrypted to each (RFC 8291) and signed with the
// room's VAPID key (RFC 8292; room.OpVAPID). The door pushes; so does
// every household device the door rings, once a ring, so that a ring
// still reaches a closed app when the door's own way to the push service
// fails. The push service sees only that a push happened, to which
// subscription, and its size; it keeps one message a subscription
// ("ring" is the topic), and the app shows one notification a ring.

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
// one of them (or on an origin the settings add, Config.PushServices), so
// that no member makes a device post to an address of their choosing.
var knownPushHosts = []string{"fcm.googleapis.com", "updates.push.services.mozilla.com", "web.push.apple.com"}
var knownPushSuffixes = []string{".push.apple.com", ".notify.windows.com"}

// pushAllowed reports whether a push may be posted to endpoint, given the
// origins the settings add.
func pushAllowed(services []string, endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	origin := u.Scheme + "://" + u.Host
	for _, o := range services {
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

// pushTimeout bounds the pushes of one ring.
const pushTimeout = 15 * time.Second

// pushClient posts pushes: no redirects, and a bounded time.
var pushClient = webpush.NewClient(pushTimeout)

// pushRecipients are the subscriptions a ring of door in the room of v is
// pushed to: those of targets if given, else of every member device but
// this one's (self) and the door's identity's. A revoked device, or one
// whose member left, has none (View.PushOf).
func pushRecipients(v *room.View, door identity.PublicKey, self identity.PublicKey, targets []peer.ID) []*room.PushSub {
	var out []*room.PushSub
	if targets != nil {
		for _, p := range targets {
			if dev, err := proto.DeviceOf(p); err == nil {
				if s, ok := v.PushOf(dev); ok {
					out = append(out, s)
				}
			}
		}
		return out
	}
	doorDev, ok := v.MemberDevice(door)
	if !ok {
		return nil
	}
	for dev := range v.Push {
		d, ok := v.MemberDevice(dev)
		if !ok || dev == self || d.Identity == doorDev.Identity {
			continue
		}
		if s, ok := v.PushOf(dev); ok {
			out = append(out, s)
		}
	}
	return out
}

// PushRing pushes the ring of call id, rung by door in r, to the
// subscriptions of targets (nil: see pushRecipients), each once, in the
// background.
func (c *Calls) PushRing(r *room.Room, id string, door identity.PublicKey, targets []peer.ID) {
	var subs []*room.PushSub
	var key []byte
	var name string
	r.View(func(v *room.View) {
		key = v.VAPID
		if dr, ok := v.Door(door); ok {
			name = dr.Name
		}
		subs = pushRecipients(v, door, c.device, targets)
	})
	if len(subs) == 0 || key == nil {
		return
	}
	vapid, err := webpush.ParseVAPID(key)
	if err != nil {
		c.log.Warn("the household room's push key", logattr.Err(err))
		return
	}
	payload, _ := json.Marshal(Push{Type: "ring", Call: id, Room: r.ID().String(), Door: door.String(), Name: name, Time: time.Now().UnixMilli()})
	msg := webpush.Message{Payload: payload, TTL: time.Minute, Urgency: "high", Topic: "ring"}
	// The contact push services may write to about this sender.
	contact := "mailto:hearth@" + c.device.String()[:16] + ".hearth.invalid"
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, pushTimeout)
		defer cancel()
		var wg sync.WaitGroup
		for _, s := range subs {
			if !pushAllowed(c.pushServices, s.Endpoint) {
				c.log.Warn("a ring not pushed: the subscription's push service is not a known one (doorphone.push_services adds one)",
					logattr.Dev(s.Device), slog.String("service", originOf(s.Endpoint)))
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := webpush.Send(ctx, pushClient, webpush.Subscription{Endpoint: s.Endpoint, P256dh: s.P256DH, Auth: s.Auth}, msg, vapid, contact)
				switch {
				case err == nil:
					c.log.Info("ring pushed", logattr.Call(id), logattr.Dev(s.Device))
				case errors.Is(err, webpush.ErrGone):
					c.log.Info("a push subscription is gone: its device subscribes again when its app opens", logattr.Dev(s.Device))
				default:
					c.log.Warn("ring not pushed", logattr.Call(id), logattr.Dev(s.Device), logattr.Err(err))
				}
			}()
		}
		wg.Wait()
	}()
}

// relayPush pushes, once, the ring of a door that rings this device: the
// household's apps then hear of it even when the door's own pushes do
// not reach their push service.
func (c *Calls) relayPush(s call.Status) {
	if s.Direction != call.Incoming || s.State != call.StateRinging || s.Peer == nil {
		return
	}
	id, err := call.ParseID(s.ID)
	if err != nil {
		return
	}
	c.mu.Lock()
	done := c.pushed[id]
	c.pushed[id] = true
	c.mu.Unlock()
	if done {
		return
	}
	door, err := identity.ParsePublicKey(s.Peer.Device)
	if err != nil {
		return
	}
	r, err := c.rooms.Resolve(s.Room)
	if err != nil {
		return
	}
	isDoor := false
	r.View(func(v *room.View) { _, isDoor = v.Door(door) })
	if isDoor {
		c.PushRing(r, s.ID, door, nil)
	}
}

// originOf is an endpoint's origin, for the log (its path names the
// subscription).
func originOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}
