//go:build race

package test

// raceFlags build the hearth binary with the race detector when the tests
// run with it, so the daemons of the whole-binary tests are checked too.
var raceFlags = []string{"-race"}
