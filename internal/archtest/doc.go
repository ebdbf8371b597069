// Package archtest enforces the direction of dependencies that STYLE.md
// sets: cmd -> device -> call, p2p -> storage, hal -> internal/*, and,
// inside device/, the split of issue 24: the domain packages
// (device/config, rooms, files, calls, door, in that order) under the
// handlers (device/api, device/web), the tools and the composition root
// (device), which alone imports the hardware drivers (hal/periph,
// hal/sim). Code review does not catch a stray import; this test does.
//
// # Rules
//
// The rules are data (Rules): a package pattern, the imports or
// dependencies it must not have, the exceptions, and a one-line reason
// printed with each violation. Check applies them to a list of packages
// as go list -json prints them, and nothing else, so it is tested on
// made-up package lists as well as on the module (TestCheckOverlay adds
// files to the module through go list -overlay, leaving the tree alone).
// A rule whose packages do not exist yet passes: the split adds them.
//
// To change a rule, change its row and its reason; TestCheckEachRule
// builds an offence for every row and fails on a row whose own Except
// or Allow covers its first pattern (a row that cannot fire).
package archtest
