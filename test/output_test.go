package test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tyler-smith/go-bip39"
	bolt "go.etcd.io/bbolt"

	"github.com/hearthp2p/hearth/internal/leakcheck"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/room"
)

// checkOutput fails the test if a process's output (its whole stderr, or
// stdout and stderr) shows a data race, a panic or a fatal runtime error,
// however the process ended: stopped, killed or exited by itself.
func checkOutput(t testing.TB, who, out string) {
	t.Helper()
	if mark, excerpt := leakcheck.Crash(out); mark != "" {
		t.Errorf("%s's output holds %q:\n%s", who, mark, excerpt)
	}
}

// homeSecrets returns every secret a stopped daemon's home holds, by what
// it is: the device and sealing secret keys, the web page's token and
// certificate key, every room's key, the epoch key derived from it and
// every epoch key learnt. A phrase (given when known: the home keeps none)
// adds its words, its BIP39 seed and the identity key derived from it.
func homeSecrets(t testing.TB, home, phrase string) map[string]leakcheck.Secret {
	t.Helper()
	secrets := map[string]leakcheck.Secret{}
	if phrase != "" {
		secrets = leakcheck.Phrase(phrase)
		seed := bip39.NewSeed(phrase, "")
		secrets["the BIP39 seed"] = leakcheck.Key(seed)
		if s, err := identity.SeedFromBytes(seed); err == nil {
			secrets["the identity secret key"] = leakcheck.Key(identity.DeriveIdentity(s).Seed())
		}
	}
	var id struct {
		DeviceSecret  string `json:"device_secret"`
		SealingSecret string `json:"sealing_secret"`
	}
	if b, err := os.ReadFile(filepath.Join(home, "identity.json")); err == nil && json.Unmarshal(b, &id) == nil {
		for what, s := range map[string]string{"the device secret key": id.DeviceSecret, "the sealing secret key": id.SealingSecret} {
			if raw, err := decodeAny(s); err == nil && len(raw) > 0 {
				secrets[what] = leakcheck.Key(raw)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(home, "web-token")); err == nil && len(bytes.TrimSpace(b)) > 0 {
		secrets["the web page's token"] = leakcheck.Text(string(bytes.TrimSpace(b)))
	}
	if b, err := os.ReadFile(filepath.Join(home, "web-tls.pem")); err == nil {
		if i := bytes.Index(b, []byte("PRIVATE KEY-----")); i >= 0 {
			body := bytes.Fields(b[i+len("PRIVATE KEY-----"):])
			if len(body) > 0 && len(body[0]) >= 24 {
				secrets["the web certificate's key"] = leakcheck.Text(string(body[0][len(body[0])/2:]))
			}
		}
	}
	for what, key := range dbSecrets(t, filepath.Join(home, "hearth.db")) {
		secrets[what] = key
	}
	return secrets
}

// dbSecrets reads every room key and epoch key from a daemon's database
// (the daemon has stopped: its lock is free).
func dbSecrets(t testing.TB, path string) map[string]leakcheck.Secret {
	t.Helper()
	out := map[string]leakcheck.Secret{}
	if _, err := os.Stat(path); err != nil {
		return out
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Errorf("reading the secrets of %s: %v", path, err)
		return out
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			switch {
			case string(name) == "rooms":
				return b.ForEach(func(k, v []byte) error {
					var rec struct{ Key [32]byte }
					if json.Unmarshal(v, &rec) == nil && rec.Key != ([32]byte{}) {
						id := hex.EncodeToString(k)[:8]
						out["the key of room "+id] = leakcheck.Key(rec.Key[:])
						e0 := room.KeyFromBytes(rec.Key).EpochZero().Bytes()
						out["the key of epoch 0 of room "+id] = leakcheck.Key(e0[:])
					}
					return nil
				})
			case strings.HasPrefix(string(name), "keys/"):
				return b.ForEach(func(k, v []byte) error {
					if len(v) == 32 {
						out[fmt.Sprintf("an epoch key (%x) of %s", k[:8], name[5:min(len(name), 13)])] = leakcheck.Key(append([]byte{}, v...))
					}
					return nil
				})
			}
			return nil
		})
	})
	return out
}

// decodeAny decodes the text forms a key is kept in.
func decodeAny(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// checkLeaks fails the test if out holds any of the secrets.
func checkLeaks(t testing.TB, who, out string, secrets map[string]leakcheck.Secret) {
	t.Helper()
	for _, what := range leakcheck.Leaks(out, secrets) {
		t.Errorf("%s's log holds %s", who, what)
	}
}
