// Package files sends, fetches and serves the files of the rooms: 'file
// send' encrypts a file into the chunk store and writes its manifest into
// the room; 'file get' fetches it from every peer that has it; a member
// serves what it sent or downloaded, and asks the room's mirrors to keep
// it. Files owns its transfers' goroutines: Close ends them.
//
// It may import rooms, config and control of device/ (internal/archtest).
package files
