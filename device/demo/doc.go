// Package demo is 'hearth demo': a doorphone and a phone on loopback,
// paired, rung, answered and unlocked, with the figures of each step.
package demo
