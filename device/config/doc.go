// Package config is the daemon's settings: hearth.toml (ExampleConfig is
// the commented example), command-line flags over it (Settings.From), and
// checks that name the key and the line of a bad value (ConfigError).
// Turning settings into what runs is device.Resolve.
//
// It owns no state and starts nothing; it imports no other package of
// device/ but control.
package config
