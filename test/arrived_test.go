package test

import "testing"

// What a daemon holds, readable or not: a check that something does not
// show (a removed member reads nothing new, a revoked device's message
// counts nowhere) first proves that its bytes arrived, so that it cannot
// pass because they never came.

// device returns d's device key.
func (d *daemon) device() string {
	var id struct{ Device string }
	d.json(&id, "id", "show")
	return id.Device
}

// held returns how many entries of each member device's log (by device
// key) d holds of room, whether it can read them or not.
func (d *daemon) held(room string) map[string]uint64 {
	var m struct {
		Members []struct {
			Devices []struct {
				Device  string
				Entries uint64
			}
		}
	}
	d.json(&m, "room", "members", room)
	out := map[string]uint64{}
	for _, mi := range m.Members {
		for _, dv := range mi.Devices {
			out[dv.Device] = dv.Entries
		}
	}
	return out
}

// waitHeld waits until d holds at least n entries of dev's log of room.
func waitHeld(t *testing.T, d *daemon, room, dev string, n uint64) {
	t.Helper()
	eventually(t, d.name+" holding "+dev[:min(12, len(dev))]+"'s entries", func() bool { return d.held(room)[dev] >= n })
}
