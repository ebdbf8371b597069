//go:build !linux

package storage

func dropResident(string) error { return nil }
