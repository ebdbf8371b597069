package web

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoginHash: whatever is in the page's password file, it is read or
// refused, never a panic, and what is read is within bounds (a login never
// takes minutes).
func FuzzLoginHash(f *testing.F) {
	dir := f.TempDir()
	if err := SetWebLogin(dir, "a long enough password"); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, WebLoginName))
	f.Add(good)
	f.Add([]byte("$argon2id$v=19$m=1048576,t=16,p=16$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"))
	f.Add([]byte("$argon2id$v=19$m=8,t=1,p=1$$"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseLoginHash(b)
		if err != nil {
			return
		}
		if h.memory > 256<<10 || h.time > 10 || h.threads == 0 || len(h.sum) < 16 || len(h.salt) < 8 {
			t.Fatalf("out of bounds: %+v", h)
		}
	})
}
