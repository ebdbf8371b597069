package device

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/p2p/identity"
)

// FuzzSettings: any settings file is either taken (and resolves or says
// why not) or refused with an error naming the file; never a panic.
func FuzzSettings(f *testing.F) {
	f.Add([]byte(ExampleConfig))
	f.Add([]byte("role = \"doorphone\"\n[doorphone]\nroom = \"Home\"\nadmins = [\"zz\"]\n"))
	f.Add([]byte("[network]\nweb = \"0.0.0.0:1\"\n[mirror]\nbudget = \"-1GiB\"\n"))
	f.Add([]byte("[calls]\nring_timeout = \"1ns\"\n[hal]\ndebounce = \"9999h\"\n"))
	f.Add([]byte("[[network]]\nx = {a = [1, 2.5, 1979-05-27T07:32:00Z]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSettings("fuzz.toml", b)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) && !bytes.Contains([]byte(err.Error()), []byte("fuzz.toml")) {
				t.Fatalf("an error that does not name the file: %v", err)
			}
			return
		}
		// Programs named by the settings are looked up, never run.
		s.Calls.Speaker = "none"
		_, _ = s.Resolve()
	})
}

// FuzzUnlockRequest: a door reads any bytes as a request without a
// panic, and a request it reads encodes back to the same bytes.
func FuzzUnlockRequest(f *testing.F) {
	key, _ := identity.GenerateSigningKey()
	u := &UnlockRequest{Room: [16]byte{1}, Door: identity.PublicKey{2}, Counter: 3, Time: 4}
	u.Sign(key)
	f.Add(u.Marshal())
	f.Add([]byte{UnlockVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		if u, err := ParseUnlock(b); err == nil {
			if !bytes.Equal(u.Marshal(), b) {
				t.Fatal("re-encoded differently")
			}
			_ = u.Verify(key.Public())
		}
		if a, err := ParseUnlockAnswer(b); err == nil {
			if b2 := a.Marshal(); !bytes.Equal(b2, b) {
				if a2, err := ParseUnlockAnswer(b2); err != nil || a2 != a {
					t.Fatal("answer round trip")
				}
			}
		}
	})
}

// FuzzViewRequest: the live view's request and answer.
func FuzzViewRequest(f *testing.F) {
	f.Add(ViewRequest([16]byte{7}))
	f.Add(ViewAnswer{Call: call.ID{1}}.Marshal())
	f.Add(ViewAnswer{Reason: "another member is watching"}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		if rm, err := ParseViewRequest(b); err == nil && !bytes.Equal(ViewRequest(rm), b) {
			t.Fatal("request re-encoded differently")
		}
		if a, err := ParseViewAnswer(b); err == nil {
			if a2, err := ParseViewAnswer(a.Marshal()); err != nil || a2 != a {
				t.Fatal("answer round trip")
			}
		}
	})
}

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
		h, err := ParseLoginHash(b)
		if err != nil {
			return
		}
		if h.memory > 256<<10 || h.time > 10 || h.threads == 0 || len(h.sum) < 16 || len(h.salt) < 8 {
			t.Fatalf("out of bounds: %+v", h)
		}
	})
}
