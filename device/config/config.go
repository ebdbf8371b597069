package config

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hearthp2p/hearth/p2p/identity"
)

// ConfigName is the daemon's configuration file in the home.
const ConfigName = "hearth.toml"

// ExampleConfig is a configuration with every setting and its meaning:
// an appliance's first-boot file, and the reference of docs/config.md.
//
//go:embed hearth.example.toml
var ExampleConfig string

// Settings is the daemon's configuration as a person writes it: the TOML
// file (see docs/config.md and the example of ExampleConfig), then the
// daemon's flags on top. Resolve checks it and turns it into a Config.
type Settings struct {
	// Role is what this device is: "device" (a member device: rooms,
	// files, calls), "doorphone", "mirror" or "both" (doorphone and
	// mirror).
	Role      string            `toml:"role"`
	Network   NetworkSettings   `toml:"network"`
	Calls     CallSettings      `toml:"calls"`
	TURN      TURNSettings      `toml:"turn"`
	Mirror    MirrorSettings    `toml:"mirror"`
	Doorphone DoorphoneSettings `toml:"doorphone"`
	HAL       HALSettings       `toml:"hal"`
	Hub       HubSettings       `toml:"hub"`
	Log       LogSettings       `toml:"log"`

	file  string         // the file read, if any
	lines map[string]int // key -> line in file
	flags map[string]string
}

// NetworkSettings is the [network] table.
type NetworkSettings struct {
	Listen    []string `toml:"listen"`
	Bootstrap []string `toml:"bootstrap"`
	MDNS      bool     `toml:"mdns"`
	Public    bool     `toml:"public"`
	Web       string   `toml:"web"`
	WebLAN    string   `toml:"web_lan"`
	// AppDomain, if set, serves the phone's app at https://AppDomain/app/
	// on AppListen, with a certificate from the ACME server of
	// ACMEDirectory (Let's Encrypt unless told another).
	AppDomain     string `toml:"app_domain"`
	AppListen     string `toml:"app_listen"`
	ACMEDirectory string `toml:"acme_directory"`
	ACMEEmail     string `toml:"acme_email"`
	// ACMECA, if set, is a PEM file of roots to trust for the ACME server
	// (a private one); the system's roots otherwise.
	ACMECA string `toml:"acme_ca"`
}

// CallSettings is the [calls] table.
type CallSettings struct {
	RingTimeout Duration `toml:"ring_timeout"`
	Camera      string   `toml:"camera"`
	// Still is a command writing one JPEG on stdout: the door's picture
	// with a camera command (rpicam has its own); "" takes none.
	Still      string   `toml:"still"`
	Microphone string   `toml:"microphone"`
	Speaker    string   `toml:"speaker"`
	VideoCodec string   `toml:"video_codec"`
	Record     string   `toml:"record"`
	STUN       []string `toml:"stun"`
}

// TURNSettings is the [turn] table.
type TURNSettings struct {
	Listen   string   `toml:"listen"`
	PublicIP string   `toml:"public_ip"`
	Users    []string `toml:"users"`
}

// MirrorSettings is the [mirror] table.
type MirrorSettings struct {
	Budget Size     `toml:"budget"`
	Quota  Size     `toml:"quota"`
	Owners []string `toml:"owners"`
}

// DoorphoneSettings is the [doorphone] table.
type DoorphoneSettings struct {
	// Room is the household room, by name or id: where rings are posted
	// and whose members are rung. The doorphone creates it when it has
	// no room of that name.
	Room string `toml:"room"`
	// Admins are identities made admins of the household room when they
	// join: they may unlock the door.
	Admins []string `toml:"admins"`
	// Cooldown is how long after a call or a missed ring the button is
	// ignored.
	Cooldown Duration `toml:"cooldown"`
	// UnlockPulse is how long the relay closes on an unlock.
	UnlockPulse Duration `toml:"unlock_pulse"`
	// Clip is how much video of the door a missed ring keeps.
	Clip Duration `toml:"clip"`
	// Pairing is how long pairing mode (a long press) lasts.
	Pairing Duration `toml:"pairing"`
	// MotionEvery is the least time between two motion snapshots; zero
	// posts none.
	MotionEvery Duration `toml:"motion_every"`
	// PushServices are the origins (scheme://host[:port]) of Web Push
	// services a ring is pushed to besides the browsers' own (Google's,
	// Mozilla's, Apple's and Microsoft's): a subscription whose endpoint
	// is elsewhere gets nothing, so that no member can make the door post
	// to an address of their choosing.
	PushServices []string `toml:"push_services"`
}

// HALSettings is the [hal] table: the door's hardware.
type HALSettings struct {
	// Driver is "periph" (GPIO pins) or "sim" (in memory: the web page
	// and the control API press the button).
	Driver           string   `toml:"driver"`
	Button           string   `toml:"button"`
	ButtonActiveHigh bool     `toml:"button_active_high"`
	LED              string   `toml:"led"`
	Relay            string   `toml:"relay"`
	RelayActiveLow   bool     `toml:"relay_active_low"`
	Motion           string   `toml:"motion"`
	LongPress        Duration `toml:"long_press"`
	Debounce         Duration `toml:"debounce"`
}

// HubSettings is the [hub] table: the bridge to the home's own hub
// (MQTT for Home Assistant, RTSP for the recorder), off unless set.
type HubSettings struct {
	MQTT             string `toml:"mqtt"`
	MQTTUser         string `toml:"mqtt_user"`
	MQTTPasswordFile string `toml:"mqtt_password_file"`
	MQTTCA           string `toml:"mqtt_ca"`
	MQTTPrefix       string `toml:"mqtt_prefix"`
	MQTTDiscovery    string `toml:"mqtt_discovery"`
	// MQTTUnlock lets the hub open the door; MQTTUnlockHours limits it
	// to a time of day (HH:MM-HH:MM).
	MQTTUnlock       bool   `toml:"mqtt_unlock"`
	MQTTUnlockHours  string `toml:"mqtt_unlock_hours"`
	RTSP             string `toml:"rtsp"`
	RTSPUser         string `toml:"rtsp_user"`
	RTSPPasswordFile string `toml:"rtsp_password_file"`
}

// LogSettings is the [log] table.
type LogSettings struct {
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
	// Format is text, json, journald or auto (journald under systemd,
	// text on a terminal, else json).
	Format string `toml:"format"`
}

// Duration is a time.Duration written as "30s" or "5m".
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 30s or 5m", b)
	}
	if v < 0 {
		return fmt.Errorf("%q: a duration cannot be negative", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Size is a number of bytes written as "500MiB" or "8GiB".
type Size int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// ParseSize reads a size such as 500MiB, 8GiB or 1.5GB.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}[strings.ToUpper(unit)]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v <= 0 || v*mult > 1<<62 {
		return 0, errors.New("want a positive size such as 500MiB or 8GiB, got " + strconv.Quote(s))
	}
	return int64(v * mult), nil
}

// DefaultSettings are the settings without a file or flags: a member
// device on every interface, LAN discovery on.
func DefaultSettings() Settings {
	return Settings{
		Role:    "device",
		Network: NetworkSettings{MDNS: true, AppListen: ":443", ACMEDirectory: "https://acme-v02.api.letsencrypt.org/directory"},
		Calls:   CallSettings{RingTimeout: Duration(30 * time.Second), Camera: "synthetic", Microphone: "synthetic", Speaker: "auto", VideoCodec: "vp8"},
		Mirror:  MirrorSettings{Budget: 8 << 30, Quota: 256 << 20},
		Doorphone: DoorphoneSettings{Room: "Home", Cooldown: Duration(5 * time.Second), UnlockPulse: Duration(3 * time.Second),
			Clip: Duration(5 * time.Second), Pairing: Duration(5 * time.Minute), MotionEvery: Duration(time.Minute)},
		HAL: HALSettings{Driver: "periph", Button: "GPIO17", LED: "GPIO27", Relay: "GPIO22", LongPress: Duration(3 * time.Second), Debounce: Duration(30 * time.Millisecond)},
		Hub: HubSettings{MQTTPrefix: "hearth", MQTTDiscovery: "homeassistant"},
		Log: LogSettings{Level: "info", Format: "auto"},
	}
}

// ConfigError is a bad setting, with where it came from.
type ConfigError struct {
	File string // the file, or "" for a flag
	Line int    // the line in File; 0 when unknown
	Key  string // the setting (table.key) or the flag (--name)
	Err  error
}

func (e *ConfigError) Error() string {
	switch {
	case e.File == "":
		return fmt.Sprintf("%s: %v", e.Key, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("%s line %d: %s: %v", e.File, e.Line, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.File, e.Key, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// LoadSettings reads a configuration file over the defaults. Unknown keys,
// wrong types and bad values are refused with the line they are on.
func LoadSettings(path string) (Settings, error) {
	f, err := os.Open(path)
	if err != nil {
		return DefaultSettings(), fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSettings+1))
	if err != nil {
		return DefaultSettings(), fmt.Errorf("config: %w", err)
	}
	return ParseSettings(path, data)
}

// MaxSettings bounds a settings file: it is a page of text.
const MaxSettings = 1 << 20

// ParseSettings reads settings from data (the file at path) over the
// defaults.
func ParseSettings(path string, data []byte) (Settings, error) {
	s := DefaultSettings()
	if len(data) > MaxSettings {
		return s, fmt.Errorf("%s: over %d bytes: not a settings file", path, MaxSettings)
	}
	s.file, s.lines = path, keyLines(data)
	md, err := toml.Decode(string(data), &s)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			line := pe.Position.Line
			if strings.Contains(pe.Message, `got '\n'`) && line > 1 {
				line-- // the line that ended too early, not the next one
			}
			return s, &ConfigError{File: path, Line: line, Key: keyOr(pe.LastKey), Err: errors.New(pe.Message)}
		}
		// Type errors come as plain errors: "toml: line N (last key K): ...".
		if m := tomlTypeErr.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return s, &ConfigError{File: path, Line: line, Key: m[2], Err: errors.New(m[3])}
		}
		return s, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		return s, &ConfigError{File: path, Line: s.lines[k], Key: k, Err: errors.New("no such setting (see the example in docs/config.md)")}
	}
	return s, nil
}

var tomlTypeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

func keyOr(k string) string {
	if k == "" {
		return "syntax"
	}
	return k
}

// keyLines finds the line of each key: "table.key" for keys under a
// [table] header, "key" at the top. Good enough for a flat file of
// tables, which is what the daemon's configuration is.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") && !strings.HasPrefix(l, "[[") {
			table = strings.TrimSpace(strings.Trim(l, "[]"))
			lines[table] = n
			continue
		}
		k, _, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		k = strings.Trim(strings.TrimSpace(k), `"`)
		if table != "" {
			k = table + "." + k
		}
		if _, seen := lines[k]; !seen {
			lines[k] = n
		}
	}
	return lines
}

// From records that a flag set key, so that a bad value names the flag.
func (s *Settings) From(key, flag string) {
	if s.flags == nil {
		s.flags = map[string]string{}
	}
	s.flags[key] = flag
}

// Bad is an error about key, naming the flag or the file line it came
// from.
func (s *Settings) Bad(key string, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if f, ok := s.flags[key]; ok {
		return &ConfigError{Key: f, Err: err}
	}
	if s.file != "" {
		if line, ok := s.lines[key]; ok {
			return &ConfigError{File: s.file, Line: line, Key: key, Err: err}
		}
	}
	return &ConfigError{Key: key, Err: err}
}

// IsDoorphone says whether the role makes this device a doorphone.
func (s *Settings) IsDoorphone() bool { return s.Role == "doorphone" || s.Role == "both" }

// IsMirror says whether the role makes this device a mirror.
func (s *Settings) IsMirror() bool { return s.Role == "mirror" || s.Role == "both" }

func (s *Settings) Identities(key string, hexes []string) ([]identity.PublicKey, error) {
	var out []identity.PublicKey
	for _, h := range hexes {
		id, err := identity.ParsePublicKey(h)
		if err != nil {
			// Identities parses the identities a setting (key) lists.
			return nil, s.Bad(key, "%q: %v", h, err)
		}
		out = append(out, id)
	}
	return out, nil
}
