package secfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	if err := EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "k")
	if err := Write(p, []byte("secret"), true); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o, want 0600", fi.Mode().Perm())
	}
	got, err := Read(p)
	if err != nil || string(got) != "secret" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if err := Write(p, []byte("other"), true); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("exclusive write over existing file: %v, want ErrExist", err)
	}
	if got, _ := Read(p); string(got) != "secret" {
		t.Fatalf("exclusive write changed the file: %q", got)
	}
	if err := Write(p, []byte("other"), false); err != nil {
		t.Fatal(err)
	}
	if got, _ := Read(p); string(got) != "other" {
		t.Fatalf("got %q after replace", got)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestRefusesOpenPermissions(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "k")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	if _, err := Read(p); !errors.Is(err, ErrTooOpen) {
		t.Fatalf("Read of 0644 file: %v, want ErrTooOpen", err)
	}
	tests := []struct {
		name string
		mode fs.FileMode
		want error
	}{
		{"group readable", 0o750, ErrTooOpen},
		{"world writable", 0o707, ErrTooOpen},
		{"no owner access", 0o000, ErrInaccessible},
		{"owner read only", 0o500, ErrInaccessible},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "h")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(d, tc.mode); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(d, 0o700) })
			if err := CheckDir(d); !errors.Is(err, tc.want) {
				t.Fatalf("CheckDir: %v, want %v", err, tc.want)
			}
		})
	}
	f := filepath.Join(dir, "file")
	os.WriteFile(f, nil, 0o600)
	if err := CheckDir(f); !errors.Is(err, ErrNotDir) {
		t.Fatalf("CheckDir(file): %v", err)
	}
}
