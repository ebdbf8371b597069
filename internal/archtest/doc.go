// Package archtest enforces the direction of dependencies that STYLE.md
// sets: cmd -> device -> call, p2p -> storage, hal -> internal/*. Code
// review does not catch a stray import; this test does.
package archtest
