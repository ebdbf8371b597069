package device

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hearthp2p/hearth/device/config"
)

// FuzzSettings: any settings file is either taken (and resolves or says
// why not) or refused with an error naming the file; never a panic.
func FuzzSettings(f *testing.F) {
	f.Add([]byte(config.ExampleConfig))
	f.Add([]byte("role = \"doorphone\"\n[doorphone]\nroom = \"Home\"\nadmins = [\"zz\"]\n"))
	f.Add([]byte("[network]\nweb = \"0.0.0.0:1\"\n[mirror]\nbudget = \"-1GiB\"\n"))
	f.Add([]byte("[calls]\nring_timeout = \"1ns\"\n[hal]\ndebounce = \"9999h\"\n"))
	f.Add([]byte("[[network]]\nx = {a = [1, 2.5, 1979-05-27T07:32:00Z]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := config.ParseSettings("fuzz.toml", b)
		if err != nil {
			var ce *config.ConfigError
			if !errors.As(err, &ce) && !bytes.Contains([]byte(err.Error()), []byte("fuzz.toml")) {
				t.Fatalf("an error that does not name the file: %v", err)
			}
			return
		}
		// Programs named by the settings are looked up, never run.
		s.Calls.Speaker = "none"
		_, _ = Resolve(&s)
	})
}
