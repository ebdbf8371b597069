package archtest

import (
	"fmt"
	"slices"
	"strings"
)

// Module is the module whose packages the rules name.
const Module = "github.com/hearthp2p/hearth"

// Package is what the check reads of one package: the fields of the same
// names that go list -json prints (XTestImports folded into TestImports).
type Package struct {
	ImportPath string
	// Imports are the direct imports of the package's non-test files.
	Imports []string
	// TestImports are the direct imports of its _test.go files, in the
	// package and external (go list's TestImports and XTestImports).
	TestImports []string
	// Deps are every package its non-test files depend on, directly or
	// not.
	Deps []string
}

// Scope is which of a package's arrows a rule looks at.
type Scope int

// Scopes.
const (
	Imports     Scope = iota // Package.Imports: what its code names
	Deps                     // Package.Deps: what it pulls in, however far down
	TestImports              // Package.TestImports: what its tests name
)

func (s Scope) String() string {
	switch s {
	case Imports:
		return "imports"
	case Deps:
		return "depends on"
	case TestImports:
		return "has a test importing"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// A Rule forbids the packages matching Pkg (and none of Except) an arrow,
// in scope In, to a package matching Deny and none of Allow.
//
// A pattern names a package of the module by its path in the module
// ("device/rooms"), any other by its import path ("net/http"). A pattern
// ending in "/..." also matches every package under it; "..." alone
// matches every package of the module. A rule whose packages do not
// exist (yet) matches nothing and passes.
type Rule struct {
	Name   string
	Pkg    []string
	Except []string
	In     Scope
	Deny   []string
	Allow  []string
	Why    string // one line, printed with each violation
}

// The domain packages of device/, lowest first: each may import only
// those before it (and device/control, under them all).
var domain = []string{"device/config/...", "device/rooms/...", "device/files/...", "device/calls/...", "device/door/...", "device/hub/..."}

// Rules are the arrows the module must not have. Every rule is checked
// against every package; see Check.
var Rules = []Rule{
	// The layers (STYLE.md 1): cmd -> device -> call, p2p -> storage,
	// hal -> internal/*, over every package pulled in.
	{Name: "storage-layer", Pkg: []string{"storage/..."}, In: Deps,
		Deny: []string{"cmd/...", "device/...", "call/...", "p2p/...", "hal/..."},
		Why:  "storage imports only the standard library, its drivers and internal/"},
	{Name: "hal-layer", Pkg: []string{"hal/..."}, In: Deps,
		Deny: []string{"cmd/...", "device/...", "call/...", "p2p/...", "storage/..."},
		Why:  "hal is contracts and drivers: it imports only the standard library, its drivers and internal/"},
	{Name: "p2p-layer", Pkg: []string{"p2p/..."}, In: Deps,
		Deny: []string{"cmd/...", "device/...", "call/..."},
		Why:  "p2p sits under device and beside call: call and p2p do not import each other, nothing imports device or cmd"},
	{Name: "call-layer", Pkg: []string{"call/..."}, In: Deps,
		Deny: []string{"cmd/...", "device/...", "p2p/..."},
		Why:  "call sits under device and beside p2p: it declares the signalling interface it needs, device adapts a p2p stream to it"},
	{Name: "device-layer", Pkg: []string{"device/..."}, In: Deps,
		Deny: []string{"cmd/..."},
		Why:  "nothing imports cmd: it is the binary's flags and exit code"},
	{Name: "app-layer", Pkg: []string{"app/..."}, In: Deps,
		Deny: []string{"cmd/...", "device/...", "call/...", "hal/...", "storage/..."}, Allow: []string{"call"},
		Why: "the phone's app (app/) is a device of its own beside the daemon: it builds on p2p's protocols and call's signalling, never on the daemon's packages nor on pion's media (the browser has its own)"},
	{Name: "internal-layer", Pkg: []string{"internal/..."}, In: Deps,
		Deny: []string{"cmd/...", "device/...", "call/...", "p2p/...", "storage/...", "hal/..."},
		Why:  "internal/ is plumbing under every layer"},

	// The protocol the phone's app runs compiled to WebAssembly (GOOS=js):
	// the browser gives it the network (js-libp2p) and the storage
	// (IndexedDB) through interfaces, so it builds on neither. scripts/test
	// runs these packages' tests under Node.
	{Name: "portable-protocol", Pkg: []string{"p2p/room", "p2p/log", "p2p/identity", "p2p/blob/chunk", "p2p/blobwire", "p2p/proto", "p2p/replication", "p2p/pairing", "p2p/doorwire", "call", "app/..."}, In: Deps,
		Deny: []string{"p2p/net/...", "p2p/blob", "p2p/logdb/...", "p2p/mirror/...", "storage/...",
			"go.etcd.io/bbolt", "github.com/libp2p/go-libp2p", "github.com/libp2p/go-libp2p/p2p/...", "github.com/pion/webrtc/v4", "github.com/pion/ice/v4", "os/exec"},
		Why: "the room protocol is also compiled to WebAssembly for the phone: it reaches the network and the disk only through its interfaces"},

	// device/, split: the domain packages under the handlers, the tools
	// and the composition root.
	{Name: "domain-no-http", Pkg: domain, In: Imports,
		Deny: []string{"net/http"},
		Why:  "domain packages hold the logic, not HTTP: handlers go in device/api or device/web (net/http pulled in by a p2p library is fine)"},
	{Name: "domain-below", Pkg: domain, In: Deps,
		Deny: []string{"device", "device/api/...", "device/web/...", "device/cli/...", "device/bench/...", "device/demo/...", "hal/periph/...", "hal/sim/..."},
		Why:  "domain packages sit under the root, the handlers and the tools, and see the hardware only through hal's interfaces"},
	{Name: "config-order", Pkg: []string{"device/config/..."}, In: Imports,
		Deny: []string{"device/..."}, Allow: []string{"device/config/...", "device/control/..."},
		Why: "domain arrows run config <- rooms <- files <- calls <- door: device/config imports only device/control of device/"},
	{Name: "rooms-order", Pkg: []string{"device/rooms/..."}, In: Imports,
		Deny: []string{"device/..."}, Allow: []string{"device/rooms/...", "device/config/...", "device/control/..."},
		Why: "domain arrows run config <- rooms <- files <- calls <- door: device/rooms imports only config and control of device/"},
	{Name: "files-order", Pkg: []string{"device/files/..."}, In: Imports,
		Deny: []string{"device/..."}, Allow: []string{"device/files/...", "device/rooms/...", "device/config/...", "device/control/..."},
		Why: "domain arrows run config <- rooms <- files <- calls <- door: device/files imports only rooms, config and control of device/"},
	{Name: "calls-order", Pkg: []string{"device/calls/..."}, In: Imports,
		Deny: []string{"device/..."}, Allow: []string{"device/calls/...", "device/files/...", "device/rooms/...", "device/config/...", "device/control/..."},
		Why: "domain arrows run config <- rooms <- files <- calls <- door: device/calls imports only files, rooms, config and control of device/"},
	{Name: "door-order", Pkg: []string{"device/door/..."}, In: Imports,
		Deny: []string{"device/..."}, Allow: []string{"device/door/...", "device/calls/...", "device/files/...", "device/rooms/...", "device/config/...", "device/control/..."},
		Why: "domain arrows run config <- rooms <- files <- calls <- door: device/door imports only calls, files, rooms, config and control of device/"},
	{Name: "hub-beside-door", Pkg: []string{"device/hub/..."}, In: Imports,
		Deny: []string{"device/..."}, Allow: []string{"device/hub/...", "device/door/...", "device/calls/...", "device/files/...", "device/rooms/...", "device/config/...", "device/control/..."},
		Why: "the home hub's bridge (device/hub) sits beside the door, over it: it hears the door's events and asks it to unlock, and the door never imports it"},
	// Not in the list, but implied by it: config may import
	// control, so control importing any domain package is a cycle in
	// waiting; the CLI and the API both build on it.
	{Name: "control-leaf", Pkg: []string{"device/control/..."}, In: Imports,
		Deny: []string{"device/..."}, Allow: []string{"device/control/..."},
		Why: "device/control (wire types and client) sits under every other package of device/: it imports none of them"},
	{Name: "api-below-web", Pkg: []string{"device/api/..."}, In: Deps,
		Deny: []string{"device/web/..."},
		Why:  "the page (device/web) builds on the control API (device/api), never the reverse"},

	// The hardware drivers. Today (checked: grep for their import paths)
	// only device/board.go, in the root, imports hal/periph and hal/sim,
	// and no test outside hal/ imports either.
	{Name: "drivers-at-root", Pkg: []string{"..."}, Except: []string{"device"}, In: Imports,
		Deny: []string{"hal/periph/...", "hal/sim/..."},
		Why:  "the drivers are chosen at the composition root (device) alone: everything else sees hal's interfaces"},
	// Tests may import hal/sim: it is a first-class driver whose Press
	// and recorded transitions exist for tests (STYLE.md 2), and the
	// door's tests will need it once they leave the root. The real pins
	// stay with hal/periph's own tests (behind the hwtest tag).
	{Name: "tests-no-periph", Pkg: []string{"..."}, Except: []string{"device", "hal/periph/..."}, In: TestImports,
		Deny: []string{"hal/periph/..."},
		Why:  "tests drive the simulated hardware (hal/sim), never the real pins"},
}

// Violation is one forbidden arrow.
type Violation struct {
	Pkg  string // the package, in the module
	Dep  string // what it must not reach
	Rule *Rule
}

func (v Violation) String() string {
	return fmt.Sprintf("%s %s %s: %s [rule %s]", v.Pkg, v.Rule.In, v.Dep, v.Rule.Why, v.Rule.Name)
}

// Check returns every arrow of pkgs that a rule forbids, in the order of
// pkgs, then of rules. It reads nothing but its arguments. Paths of
// module, in pkgs, are the full import paths go list prints.
func Check(module string, pkgs []Package, rules []Rule) []Violation {
	var out []Violation
	for _, p := range pkgs {
		self, ok := inModule(module, p.ImportPath)
		if !ok {
			continue
		}
		for i := range rules {
			r := &rules[i]
			if !matchAny(r.Pkg, self, true) || matchAny(r.Except, self, true) {
				continue
			}
			var arrows []string
			switch r.In {
			case Imports:
				arrows = p.Imports
			case Deps:
				arrows = p.Deps
			case TestImports:
				arrows = p.TestImports
			}
			seen := map[string]bool{}
			for _, a := range arrows {
				dep, mod := inModule(module, a)
				if seen[dep] || !matchAny(r.Deny, dep, mod) || matchAny(r.Allow, dep, mod) {
					continue
				}
				seen[dep] = true
				out = append(out, Violation{Pkg: self, Dep: dep, Rule: r})
			}
		}
	}
	return out
}

// Applies says whether rule r matches any of pkgs: a rule whose packages
// do not exist yet passes without checking anything.
func Applies(module string, pkgs []Package, r Rule) bool {
	return slices.ContainsFunc(pkgs, func(p Package) bool {
		self, ok := inModule(module, p.ImportPath)
		return ok && matchAny(r.Pkg, self, true) && !matchAny(r.Except, self, true)
	})
}

// inModule gives path relative to module, and whether it is in it; a
// path outside is returned whole. The root package is ".".
func inModule(module, path string) (string, bool) {
	if path == module {
		return ".", true
	}
	if rel, ok := strings.CutPrefix(path, module+"/"); ok {
		return rel, true
	}
	return path, false
}

func matchAny(patterns []string, path string, mod bool) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return match(pat, path, mod) })
}

// match reports whether path (relative to the module if mod) matches pat.
func match(pat, path string, mod bool) bool {
	if pat == "..." {
		return mod
	}
	if base, ok := strings.CutSuffix(pat, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pat
}
