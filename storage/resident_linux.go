//go:build linux

package storage

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// dropResident unmaps from this process's resident set the pages of its
// mappings of the file at path (MADV_DONTNEED: for a shared mapping of a
// file the pages stay in the page cache, and reading them again maps them
// from there).
func dropResident(path string) error {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	for line := range bytes.Lines(maps) {
		f := bytes.Fields(line)
		if len(f) < 6 || string(bytes.Join(f[5:], []byte(" "))) != path {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); errno != 0 {
			return errno
		}
	}
	return nil
}
