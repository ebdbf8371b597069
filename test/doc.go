// Package test holds Hearth's whole-binary tests: they build cmd/hearth and
// drive it as a user and a script would (signals, exit codes, logs). Tests
// of a single package live beside it.
package test
