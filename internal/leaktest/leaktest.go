// Package leaktest holds what Hearth's goroutine-leak checks share: the
// process-wide goroutines of libp2p's dependencies that outlive any host
// and are not leaks of ours.
package leaktest

import (
	"testing"

	"go.uber.org/goleak"
)

// Ignore are goroutines started once per process by quic-go's connection
// reuse, go-log and OpenCensus; the one the Go runtime keeps for the
// JavaScript host's events under WebAssembly (GOOS=js); and pion/sctp's
// read-deadline timer, which a closed WebRTC stream leaves running until
// the deadline it was set for (it ends then, on its own).
var Ignore = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
	goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
	goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
	goleak.IgnoreAnyFunction("runtime.handleEvent"),
	goleak.IgnoreTopFunction("github.com/pion/sctp.(*Stream).SetReadDeadline.func1"),
}

// Main runs the tests of a package and fails if they leave goroutines.
func Main(m *testing.M) { goleak.VerifyTestMain(m, Ignore...) }
