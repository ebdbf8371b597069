package device

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/device/config"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), config.ConfigName)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigExample(t *testing.T) {
	// The example shipped with the package (and in docs/config.md)
	// loads and resolves as it is.
	s, err := config.LoadSettings(writeConfig(t, config.ExampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	s.Calls.Camera, s.Calls.Microphone, s.Calls.Speaker = "synthetic", "synthetic", "none" // no rpicam-vid here
	cfg, err := Resolve(&s)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Door == nil || cfg.Door.Room != "Home" || !cfg.Mirror || cfg.Door.UnlockPulse != 3*time.Second {
		t.Fatalf("resolved %+v door %+v", cfg, cfg.Door)
	}
}

func TestConfigErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, text, want string
		line             int
	}{
		{"syntax", "role = \"doorphone\"\n[network\n", "", 2},
		{"unknown key", "role = \"device\"\n\n[calls]\nring_timout = \"30s\"\n", "calls.ring_timout: no such setting", 4},
		{"unknown table", "[door]\nroom = \"x\"\n", "door", 1},
		{"bad duration", "[calls]\nring_timeout = \"soon\"\n", "not a duration", 2},
		{"wrong type", "[network]\nmdns = \"yes\"\n", "", 2},
		{"bad size", "[mirror]\nbudget = \"lots\"\n", "positive size", 2},
		{"bad role", "\nrole = \"toaster\"\n", "want device, doorphone", 2},
		{"short ring", "[calls]\nring_timeout = \"100ms\"\n", "between 1s and 10m", 2},
		{"bad codec", "[calls]\nvideo_codec = \"av1\"\n", "vp8 or h264", 2},
		{"bad owner", "[mirror]\nowners = [\"abc\"]\n", "mirror.owners", 2},
		{"web off loopback", "[network]\nweb = \"0.0.0.0:80\"\n", "loopback", 2},
		{"no driver", "role = \"doorphone\"\n[hal]\ndriver = \"arduino\"\n", "periph (GPIO pins) or sim", 3},
		{"long pulse", "role = \"doorphone\"\n[doorphone]\nunlock_pulse = \"1h\"\n", "at most 30s", 3},
		{"missing program", "[calls]\ncamera = \"no-such-camera-program --x\"\n", "not installed", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.text)
			s, err := config.LoadSettings(p)
			if err == nil {
				_, err = Resolve(&s)
			}
			if err == nil {
				t.Fatal("taken")
			}
			var ce *config.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%v: not a ConfigError", err)
			}
			if ce.Line != tc.line || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("%v: want line %d and %q", err, tc.line, tc.want)
			}
		})
	}
}

func TestConfigFlagsWin(t *testing.T) {
	s, err := config.LoadSettings(writeConfig(t, "[calls]\nvideo_codec = \"h264\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	s.Calls.VideoCodec = "vp9"
	s.From("calls.video_codec", "--video-codec")
	_, err = Resolve(&s)
	if err == nil || !strings.HasPrefix(err.Error(), "--video-codec: ") {
		t.Fatalf("a bad flag over the file: %v", err)
	}
	// Without a file or flags, the defaults resolve: a member device.
	d := config.DefaultSettings()
	cfg, err := Resolve(&d)
	if err != nil || cfg.Door != nil || cfg.Mirror || cfg.NoMDNS {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
}
