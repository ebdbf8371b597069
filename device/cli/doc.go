// Package cli is the hearth command line: global flags, the command tree,
// help for every command, output as text or one JSON object, and exit
// codes (0 ok, 1 failure, 2 usage error). cmd/hearth only calls Main.
//
// docs/cli.md documents every command and JSON field.
package cli
