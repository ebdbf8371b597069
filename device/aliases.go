package device

import (
	"github.com/hearthp2p/hearth/device/calls"
	"github.com/hearthp2p/hearth/device/door"
)

// CallConfig is how the daemon makes calls (see package calls).
type CallConfig = calls.Config

// DoorConfig makes the daemon a doorphone (see package door).
type DoorConfig = door.Config
