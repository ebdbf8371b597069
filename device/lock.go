package device

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ErrDaemonRunning means another daemon holds the home.
var ErrDaemonRunning = errors.New("a hearth daemon is already running on this home")

// RunningError says which process holds the home; it unwraps to
// ErrDaemonRunning.
type RunningError struct {
	Home string
	PID  int // 0 if unknown
}

func (e *RunningError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%v (%s, pid %d)", ErrDaemonRunning, e.Home, e.PID)
	}
	return fmt.Sprintf("%v (%s)", ErrDaemonRunning, e.Home)
}

func (e *RunningError) Unwrap() error { return ErrDaemonRunning }

// homeLock is an exclusive flock on the home's lock file, held for the
// daemon's life. The kernel releases it when the process dies, so a crash
// never leaves a stale lock behind.
type homeLock struct {
	f *os.File
}

func acquireLock(home string) (*homeLock, error) {
	path := filepath.Join(home, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid := readPID(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &RunningError{Home: home, PID: pid}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &homeLock{f: f}, nil
}

func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, _ := strconv.Atoi(string(bytes.TrimSpace(buf[:n])))
	return pid
}

func (l *homeLock) release() {
	l.f.Truncate(0)
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// CheckNotRunning returns a *RunningError if a daemon holds home, and nil
// if none does (or the home does not exist yet). Commands that rewrite the
// identity call it first.
func CheckNotRunning(home string) error {
	if !homeExists(home) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(home, LockName)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	l, err := acquireLock(home)
	if err != nil {
		return err
	}
	l.f.Truncate(0)
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	return nil
}
