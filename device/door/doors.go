package door

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/room"
)

// Which devices are a room's doors is the room's own record: an admin
// makes a device a door (room.OpSetDoor), and only a door's entries count
// as door events in every member's view. A door revoked, or whose
// identity left or was removed, stops counting.

// DoorsOf are the devices that are doors of a room now, in a stable order.
func DoorsOf(rm *room.Room) []identity.PublicKey {
	var out []identity.PublicKey
	rm.View(func(v *room.View) {
		for dev := range v.Doors {
			if _, ok := v.Door(dev); ok {
				out = append(out, dev)
			}
		}
	})
	slices.SortFunc(out, func(a, b identity.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// ListDoors describes a room's doors, those that no longer count included.
func ListDoors(rm *room.Room) control.Doors {
	out := control.Doors{Room: rm.ID().String(), Doors: []control.DoorDevice{}}
	rm.View(func(v *room.View) {
		for dev, d := range v.Doors {
			dd := control.DoorDevice{Device: dev.String(), Name: d.Name, By: d.By.Writer.String()}
			if info, ok := v.Devices[dev]; ok {
				dd.Identity = info.Identity.String()
			}
			if by, ok := v.Devices[d.By.Writer]; ok {
				dd.By = by.Identity.String()
			}
			_, dd.Counts = v.Door(dev)
			out.Doors = append(out.Doors, dd)
		}
	})
	slices.SortFunc(out.Doors, func(a, b control.DoorDevice) int { return strings.Compare(a.Device, b.Device) })
	return out
}

// DeviceOfRoom finds a device of the room by its hex key or a prefix of 8
// or more digits.
func DeviceOfRoom(rm *room.Room, s string) (identity.PublicKey, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 8 {
		return identity.PublicKey{}, fmt.Errorf("%w: device %q: give its key, or 8 or more of its first hex digits", control.ErrBadArg, s)
	}
	if _, err := hex.DecodeString(s[:len(s)/2*2]); err != nil {
		return identity.PublicKey{}, fmt.Errorf("%w: device %q: not hex", control.ErrBadArg, s)
	}
	var found []identity.PublicKey
	rm.View(func(v *room.View) {
		for dev := range v.Devices {
			if strings.HasPrefix(dev.String(), s) {
				found = append(found, dev)
			}
		}
	})
	switch len(found) {
	case 0:
		return identity.PublicKey{}, fmt.Errorf("%w: no device %s in this room ('hearth room members ROOM' lists them)", rooms.ErrNoRoom, s)
	case 1:
		return found[0], nil
	}
	return identity.PublicKey{}, fmt.Errorf("%w: %d devices start with %s: give more digits", control.ErrBadArg, len(found), s)
}

// ensureDoor makes this doorphone a door of its household room when it
// may (it founded the room, or is an admin of it) and is not one yet;
// otherwise it says, once, who must.
func (d *Door) ensureDoor() {
	self := d.id.Device.Public()
	var isDoor bool
	var role room.Role
	d.room.View(func(v *room.View) {
		_, isDoor = v.Door(self)
		role = v.Role(d.id.Identity)
	})
	if isDoor {
		return
	}
	if role < room.RoleAdmin {
		d.mu.Lock()
		told := d.notDoorTold
		d.notDoorTold = true
		d.mu.Unlock()
		if !told {
			d.log.Warn("this doorphone is not a door of its household room: an admin of the room makes it one",
				slog.String("command", "hearth door add "+d.room.ID().String()+" "+self.String()))
		}
		return
	}
	if _, err := d.room.Write(room.Op{Type: room.OpSetDoor, Identity: self, Text: d.id.Record.Name}); err != nil {
		d.log.Warn("this doorphone could not make itself a door of its household", logattr.Err(err))
		return
	}
	d.log.Info("this doorphone is a door of its household room now", logattr.Room(d.room.ID().String()))
}

// outsiders keeps account of what devices that are not the household's
// (strangers, removed members, revoked devices) ask of the door: nothing
// of it goes into the room, each device is answered a few times a minute
// at most (the rest is reset unread), and the log sums it up once a
// minute rather than a line per request.
type outsiders struct {
	mu       sync.Mutex
	byDev    map[identity.PublicKey]*rate.Limiter
	n        int    // refused since the last log line
	last     string // the last reason
	loggedAt time.Time
}

const (
	outsiderEvery = 10 * time.Second // an outsider's requests answered, one per
	outsiderBurst = 3
	outsidersLog  = time.Minute
)

// allow says whether dev's request is read and answered now.
func (o *outsiders) allow(dev identity.PublicKey, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byDev == nil {
		o.byDev = map[identity.PublicKey]*rate.Limiter{}
	}
	lim, ok := o.byDev[dev]
	if !ok {
		if len(o.byDev) >= 1024 {
			clear(o.byDev)
		}
		lim = rate.NewLimiter(rate.Every(outsiderEvery), outsiderBurst)
		o.byDev[dev] = lim
	}
	return lim.AllowN(now, 1)
}

// refused counts one refusal, and logs the sum once a minute.
func (o *outsiders) refused(log *slog.Logger, what string, dev identity.PublicKey, reason string, now time.Time) {
	o.mu.Lock()
	o.n++
	o.last = what + ": " + reason
	if now.Sub(o.loggedAt) < outsidersLog {
		o.mu.Unlock()
		return
	}
	n, last := o.n, o.last
	o.n, o.loggedAt = 0, now
	o.mu.Unlock()
	log.Warn("door requests refused from devices that are not the household's", slog.Int("refused", n),
		slog.String("last", last), logattr.Dev(dev), slog.Duration("period", outsidersLog))
}

// memberDevice reports whether dev is a device of a member of the
// household room now (neither revoked nor forked).
func (d *answers) memberDevice(dev identity.PublicKey) bool {
	ok := false
	d.room.View(func(v *room.View) {
		info, found := v.Devices[dev]
		if found && !info.Revoked && !info.Forked {
			_, ok = v.Members[info.Identity]
		}
	})
	return ok
}

// admitRequest decides whether a request on a door protocol from dev is
// read at all: a member's device always is; an outsider's a few times a
// minute, the rest reset unread and counted.
func (d *answers) admitRequest(what string, dev identity.PublicKey) bool {
	if d.memberDevice(dev) {
		return true
	}
	now := d.now()
	if d.outsiders.allow(dev, now) {
		return true
	}
	d.outsiders.refused(d.log, what, dev, "too many requests", now)
	d.mu.Lock()
	d.refusals++
	d.mu.Unlock()
	return false
}
