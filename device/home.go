package device

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hearthp2p/hearth/internal/secfile"
)

// Files of a home.
const (
	SocketName = "hearth.sock"
	LockName   = "daemon.lock"
	DBName     = "hearth.db"
	ChunksName = "chunks"
	LogName    = "daemon.log"
)

// maxSocketPath is the longest unix socket path Linux accepts (108 bytes of
// sun_path, one kept for the terminating zero).
const maxSocketPath = 107

// ResolveHome returns the home folder as an absolute path: flag if not
// empty, then $HEARTH_HOME, then $STATE_DIRECTORY (under systemd), then
// $XDG_DATA_HOME/hearth, then $HOME/.local/share/hearth. getenv is
// os.Getenv in production.
func ResolveHome(flag string, getenv func(string) string) (string, error) {
	dir := flag
	if dir == "" {
		dir = getenv("HEARTH_HOME")
	}
	if dir == "" {
		// systemd may pass several folders separated by colons; the first
		// is ours.
		if sd := getenv("STATE_DIRECTORY"); sd != "" {
			dir = filepath.SplitList(sd)[0]
		}
	}
	if dir == "" {
		if x := getenv("XDG_DATA_HOME"); x != "" {
			dir = filepath.Join(x, "hearth")
		}
	}
	if dir == "" {
		h := getenv("HOME")
		if h == "" {
			return "", errors.New("cannot tell where the home is: set --home or HEARTH_HOME")
		}
		dir = filepath.Join(h, ".local", "share", "hearth")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("home %s: %w", dir, err)
	}
	return abs, nil
}

// SocketPath returns the control socket of a home.
func SocketPath(home string) string { return filepath.Join(home, SocketName) }

func checkSocketPath(p string) error {
	if len(p) > maxSocketPath {
		return fmt.Errorf("control socket path %s is %d bytes, longer than the %d a unix socket allows: use a shorter --home", p, len(p), maxSocketPath)
	}
	return nil
}

// homeExists reports whether home is there at all (for clearer errors).
func homeExists(home string) bool {
	_, err := os.Stat(home)
	return err == nil
}

// CheckHome checks that an existing home is a folder of this user that
// nobody else can read or write, as ssh checks ~/.ssh.
func CheckHome(home string) error {
	if err := secfile.CheckDir(home); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	return nil
}
