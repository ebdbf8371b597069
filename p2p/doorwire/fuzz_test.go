package doorwire

import (
	"bytes"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
)

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
	f.Add(ViewAnswer{Call: [16]byte{1}}.Marshal())
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
