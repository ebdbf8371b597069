package secfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Errors callers branch on.
var (
	// ErrTooOpen means a file or folder is readable or writable by others
	// than its owner, so a secret in it may already be known elsewhere.
	ErrTooOpen = errors.New("permissions too open")
	// ErrNotOwner means a file or folder belongs to another user.
	ErrNotOwner = errors.New("owned by another user")
	// ErrNotDir means a path that must be a folder is something else.
	ErrNotDir = errors.New("not a directory")
	// ErrInaccessible means the owner itself has no read, write and
	// search permission on a folder.
	ErrInaccessible = errors.New("not accessible")
)

// PermError says which path failed which check; it unwraps to one of the
// sentinels above.
type PermError struct {
	Path string
	Mode fs.FileMode
	Err  error
}

func (e *PermError) Error() string {
	s := fmt.Sprintf("%s: %v (mode %04o)", e.Path, e.Err, e.Mode.Perm())
	switch {
	case e.Err == ErrTooOpen && e.Mode.IsDir():
		s += fmt.Sprintf(": others must not read it; fix with chmod 700 %s", e.Path)
	case e.Err == ErrTooOpen:
		s += fmt.Sprintf(": it holds secret keys that others could read; fix with chmod 600 %s", e.Path)
	case e.Err == ErrInaccessible:
		s += fmt.Sprintf(": its owner needs read, write and search permission; fix with chmod 700 %s", e.Path)
	}
	return s
}

func (e *PermError) Unwrap() error { return e.Err }

// EnsureDir creates dir (and its parents) with mode 0700 if it does not
// exist, then checks it with CheckDir.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return CheckDir(dir)
}

// CheckDir checks that dir is a folder owned by the current user, that the
// owner can use it and that nobody else can write to it or read it.
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &PermError{Path: dir, Mode: fi.Mode(), Err: ErrNotDir}
	}
	if err := checkOwner(dir, fi); err != nil {
		return err
	}
	perm := fi.Mode().Perm()
	if perm&0o700 != 0o700 {
		return &PermError{Path: dir, Mode: fi.Mode(), Err: ErrInaccessible}
	}
	if perm&0o077 != 0 {
		return &PermError{Path: dir, Mode: fi.Mode(), Err: ErrTooOpen}
	}
	return nil
}

// Read returns the content of a secret file after checking that it belongs
// to the current user and that neither group nor others may read or write
// it. A missing file returns an error that matches fs.ErrNotExist.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if err := checkOwner(path, fi); err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, &PermError{Path: path, Mode: fi.Mode(), Err: ErrTooOpen}
	}
	const maxSecretFile = 1 << 20 // key files are a few KiB; refuse anything absurd
	if fi.Size() > maxSecretFile {
		return nil, fmt.Errorf("%s: %d bytes is too large for a key file", path, fi.Size())
	}
	buf := make([]byte, fi.Size())
	if _, err := readFull(f, buf); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return buf, nil
}

func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Write replaces path with data atomically: a temporary file in the same
// folder with mode 0600, written, synced, renamed over path, and the folder
// synced. After a crash either the old or the new content is there, never a
// mix. If exclusive is true and path already exists, Write fails with an
// error matching fs.ErrExist and changes nothing.
func Write(path string, data []byte, exclusive bool) error {
	dir := filepath.Dir(path)
	if exclusive {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s: %w", path, fs.ErrExist)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if exclusive {
		// Link fails if path appeared meanwhile, so two writers cannot
		// both believe they created it.
		if err := os.Link(tmpName, path); err != nil {
			return err
		}
		os.Remove(tmpName)
	} else if err := os.Rename(tmpName, path); err != nil {
		return err
	}
	ok = true
	return SyncDir(dir)
}

// SyncDir fsyncs a folder so that a rename or a new entry in it survives a
// power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(st.Uid) != os.Geteuid() {
		return &PermError{Path: path, Mode: fi.Mode(), Err: ErrNotOwner}
	}
	return nil
}
