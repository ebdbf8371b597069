package door

import (
	"encoding/binary"
	"time"
)

// The door's unlock protocol is p2p/doorwire's: a member's device sends
// one signed request (proto.Door) and reads one answer. The doorphone
// opens only for a device of an admin of its household room, and only for
// a request that is fresh (its time within unlockSkew of the door's clock)
// and newer than every request it took from that device before (its
// counter; the last one is kept on disk), so a request recorded and sent
// again, or held back and sent after a newer one, is refused.

// unlockSkew bounds the difference between a request's time and the
// door's clock.
const unlockSkew = 30 * time.Second

// counterBytes is the on-disk form of the last counter taken from a
// device.
func counterBytes(c uint64) []byte { return binary.BigEndian.AppendUint64(nil, c) }
