package device

import (
	"errors"
	"fmt"
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
		{"hub off a doorphone", "[hub]\nmqtt = \"mqtt://ha.local\"\n", "a doorphone's", 2},
		{"rtsp without a password", "role = \"doorphone\"\n[hub]\nrtsp = \"0.0.0.0:8554\"\nrtsp_user = \"r\"\n", "never served without", 3},
		{"bad broker", "role = \"doorphone\"\n[hub]\nmqtt = \"ha.local:1883\"\n", "a URL such as", 3},
		{"bad hours", "role = \"doorphone\"\n[hub]\nmqtt = \"mqtt://ha\"\nmqtt_unlock_hours = \"7-22\"\n", "time of day", 4},
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

// TestHubSettings: the bridge's passwords come from their files; RTSP of
// the synthetic camera needs it in H.264; a bridge on a doorphone
// resolves.
func TestHubSettings(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("camera pass\n"), 0o600)
	text := "role = \"doorphone\"\n[calls]\ncamera = \"synthetic\"\nvideo_codec = \"%s\"\n[hub]\nmqtt = \"mqtt://ha.local\"\nmqtt_password_file = \"" + pass +
		"\"\nmqtt_unlock = true\nmqtt_unlock_hours = \"22:00-06:00\"\nrtsp = \"0.0.0.0:8554\"\nrtsp_user = \"rec\"\nrtsp_password_file = \"" + pass + "\"\n"
	s, err := config.LoadSettings(writeConfig(t, fmt.Sprintf(text, "vp8")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(&s); err == nil || !strings.Contains(err.Error(), "H.264") {
		t.Fatalf("RTSP of a VP8 camera: %v", err)
	}
	if s, err = config.LoadSettings(writeConfig(t, fmt.Sprintf(text, "h264"))); err != nil {
		t.Fatal(err)
	}
	cfg, err := Resolve(&s)
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Hub
	if h == nil || h.Password != "camera pass" || h.RTSPPassword != "camera pass" || !h.Unlock || h.UnlockHours.String() != "22:00-06:00" || h.Prefix != "hearth" {
		t.Fatalf("resolved %+v", h)
	}
}
