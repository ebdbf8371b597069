package device

import (
	_ "embed"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hearthp2p/hearth/call/av"
	"github.com/hearthp2p/hearth/device/calls"
	"github.com/hearthp2p/hearth/device/config"
	"github.com/hearthp2p/hearth/device/hub"
	"github.com/hearthp2p/hearth/device/web"
	"github.com/hearthp2p/hearth/hal"
)

// Resolve checks the settings s and makes the daemon's Config (without
// Home, Logger and the other fields a caller sets). Nothing is started:
// a bad setting never leaves a half-started daemon.
func Resolve(s *config.Settings) (Config, error) {
	var cfg Config
	switch s.Role {
	case "device", "doorphone", "mirror", "both":
	default:
		return cfg, s.Bad("role", "%q: want device, doorphone, mirror or both", s.Role)
	}
	cfg.Listen, cfg.Bootstrap, cfg.NoMDNS, cfg.Public, cfg.Web = s.Network.Listen, s.Network.Bootstrap, !s.Network.MDNS, s.Network.Public, s.Network.Web
	for _, b := range s.Network.Bootstrap {
		if !strings.Contains(b, "/p2p/") {
			return cfg, s.Bad("network.bootstrap", "%q: a full multiaddr ending in /p2p/PEERID", b)
		}
	}
	cfg.WebLAN = s.Network.WebLAN
	if w := s.Network.WebLAN; w != "" {
		if _, _, err := net.SplitHostPort(w); err != nil {
			return cfg, s.Bad("network.web_lan", "%q: HOST:PORT, e.g. 0.0.0.0:8443", w)
		}
	}
	if n := s.Network; n.AppDomain != "" {
		if err := web.CheckDomain(n.AppDomain); err != nil {
			return cfg, s.Bad("network.app_domain", "%v", err)
		}
		if _, _, err := net.SplitHostPort(n.AppListen); err != nil {
			return cfg, s.Bad("network.app_listen", "%q: HOST:PORT, e.g. :443", n.AppListen)
		}
		if u, err := url.Parse(n.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			return cfg, s.Bad("network.acme_directory", "%q: an https:// URL", n.ACMEDirectory)
		}
		if n.ACMEEmail != "" && !strings.Contains(n.ACMEEmail, "@") {
			return cfg, s.Bad("network.acme_email", "%q: an email address", n.ACMEEmail)
		}
		if n.ACMECA != "" {
			if _, err := os.Stat(n.ACMECA); err != nil {
				return cfg, s.Bad("network.acme_ca", "%v", err)
			}
		}
		cfg.AppSite = &web.AppSiteConfig{Domain: n.AppDomain, Listen: n.AppListen, Directory: n.ACMEDirectory, Email: n.ACMEEmail, CAFile: n.ACMECA}
	}
	if w := s.Network.Web; w != "" {
		host, _, err := net.SplitHostPort(w)
		if err != nil {
			return cfg, s.Bad("network.web", "%q: HOST:PORT, e.g. 127.0.0.1:8080", w)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return cfg, s.Bad("network.web", "%q: the page is served on loopback only (127.0.0.1 or [::1])", w)
		}
	}

	cfg.Mirror = s.IsMirror()
	cfg.MirrorBudget, cfg.MirrorQuota = int64(s.Mirror.Budget), int64(s.Mirror.Quota)
	var err error
	if cfg.MirrorOwners, err = s.Identities("mirror.owners", s.Mirror.Owners); err != nil {
		return cfg, err
	}

	c := &cfg.Calls
	// The push origins: the door pushes its rings there, and so does each
	// household device it rings.
	if err := calls.CheckPushServices(s.Doorphone.PushServices); err != nil {
		return cfg, s.Bad("doorphone.push_services", "%v", err)
	}
	c.PushServices = s.Doorphone.PushServices
	if rt := time.Duration(s.Calls.RingTimeout); rt < time.Second || rt > 10*time.Minute {
		return cfg, s.Bad("calls.ring_timeout", "%s: between 1s and 10m", rt)
	}
	c.RingTimeout = time.Duration(s.Calls.RingTimeout)
	switch cam := s.Calls.Camera; cam {
	case "synthetic", "":
	case "rpicam":
		c.Camera = av.RPiCamCommand(1280, 720, 30, 2_500_000)
		c.Still = av.RPiStillCommand(1280, 720)
	default:
		c.Camera = strings.Fields(cam)
	}
	if st := strings.Fields(s.Calls.Still); len(st) > 0 {
		c.Still = st
	}
	switch mic := s.Calls.Microphone; {
	case mic == "synthetic" || mic == "":
	case mic == "none":
		c.NoAudio = true
	case mic == "alsa" || strings.HasPrefix(mic, "alsa:"):
		c.Microphone = av.ARecordCommand(strings.TrimPrefix(strings.TrimPrefix(mic, "alsa"), ":"))
	default:
		c.Microphone = strings.Fields(mic)
	}
	switch sp := s.Calls.Speaker; sp {
	case "none", "":
	case "auto":
		c.Speaker = autoSpeaker()
	default:
		c.Speaker = strings.Fields(sp)
	}
	for _, p := range []struct {
		key, hint string
		cmd       []string
	}{{"calls.camera", " (on Raspberry Pi OS: apt install rpicam-apps)", c.Camera},
		{"calls.microphone", " (for alsa: apt install alsa-utils)", c.Microphone},
		{"calls.still", "", c.Still},
		{"calls.speaker", "", c.Speaker}} {
		if len(p.cmd) > 0 {
			if _, err := exec.LookPath(p.cmd[0]); err != nil {
				return cfg, s.Bad(p.key, "%s is not installed or not on PATH%s", p.cmd[0], p.hint)
			}
		}
	}
	if v := s.Calls.VideoCodec; v != "vp8" && v != "h264" {
		return cfg, s.Bad("calls.video_codec", "%q: vp8 or h264", v)
	}
	c.VideoCodec = s.Calls.VideoCodec
	for _, u := range s.Calls.STUN {
		if !strings.HasPrefix(u, "stun:") {
			return cfg, s.Bad("calls.stun", "%q: a URL stun:HOST:PORT", u)
		}
	}
	c.STUN = s.Calls.STUN
	if s.Calls.Record != "" {
		if c.RecordDir, err = filepath.Abs(s.Calls.Record); err != nil {
			return cfg, s.Bad("calls.record", "%v", err)
		}
	}

	if s.TURN.PublicIP != "" {
		if c.TURNPublic = net.ParseIP(s.TURN.PublicIP); c.TURNPublic == nil {
			return cfg, s.Bad("turn.public_ip", "%q: an IP address", s.TURN.PublicIP)
		}
	}
	if l := s.TURN.Listen; l != "" {
		host, _, err := net.SplitHostPort(l)
		if err != nil {
			return cfg, s.Bad("turn.listen", "%q: HOST:PORT", l)
		}
		if ip := net.ParseIP(host); (ip == nil || ip.IsUnspecified()) && c.TURNPublic == nil {
			return cfg, s.Bad("turn.listen", "%s listens everywhere: say with turn.public_ip (--turn-public) which IP devices reach it at", l)
		}
		c.TURNListen = l
	}
	if c.TURNUsers, err = s.Identities("turn.users", s.TURN.Users); err != nil {
		return cfg, err
	}

	if s.IsDoorphone() {
		d, err := resolveDoor(s)
		if err != nil {
			return cfg, err
		}
		cfg.Door = &d
	}
	h, err := resolveHub(s)
	if err != nil {
		return cfg, err
	}
	cfg.Hub = h
	return cfg, nil
}

// resolveHub checks the [hub] table: nil when no bridge is set. The
// passwords are read from their files here, so that a missing one stops
// the daemon before it starts.
func resolveHub(s *config.Settings) (*hub.Config, error) {
	hs := s.Hub
	if hs.MQTT == "" && hs.RTSP == "" {
		return nil, nil
	}
	if !s.IsDoorphone() {
		key := "hub.mqtt"
		if hs.MQTT == "" {
			key = "hub.rtsp"
		}
		return nil, s.Bad(key, "the bridge to the home hub is a doorphone's: set role doorphone (or both)")
	}
	secret := func(key, path string) (string, error) {
		if path == "" {
			return "", nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", s.Bad(key, "%v", err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", s.Bad(key, "%s is empty", path)
		}
		return p, nil
	}
	c := &hub.Config{MQTT: hs.MQTT, User: hs.MQTTUser, CAFile: hs.MQTTCA, Prefix: hs.MQTTPrefix, Discovery: hs.MQTTDiscovery,
		Unlock: hs.MQTTUnlock, RTSP: hs.RTSP, RTSPUser: hs.RTSPUser}
	var err error
	if c.Password, err = secret("hub.mqtt_password_file", hs.MQTTPasswordFile); err != nil {
		return nil, err
	}
	if c.RTSPPassword, err = secret("hub.rtsp_password_file", hs.RTSPPasswordFile); err != nil {
		return nil, err
	}
	if c.UnlockHours, err = hub.ParseHours(hs.MQTTUnlockHours); err != nil {
		return nil, s.Bad("hub.mqtt_unlock_hours", "%v", err)
	}
	if hs.MQTTCA != "" {
		if _, err := os.Stat(hs.MQTTCA); err != nil {
			return nil, s.Bad("hub.mqtt_ca", "%v", err)
		}
	}
	if hs.RTSP != "" {
		if _, _, err := net.SplitHostPort(hs.RTSP); err != nil {
			return nil, s.Bad("hub.rtsp", "%q: HOST:PORT, e.g. 0.0.0.0:8554", hs.RTSP)
		}
		if hs.RTSPUser == "" || c.RTSPPassword == "" {
			return nil, s.Bad("hub.rtsp", "the camera is never served without a user and a password: set rtsp_user and rtsp_password_file")
		}
		if cam := s.Calls.Camera; (cam == "" || cam == "synthetic") && s.Calls.VideoCodec != "h264" {
			return nil, s.Bad("hub.rtsp", "RTSP serves H.264, and the synthetic camera sends %s: set calls.video_codec = \"h264\" (--video-codec h264), or a camera", s.Calls.VideoCodec)
		}
	}
	if err := hub.CheckConfig(*c); err != nil {
		key := "hub.mqtt"
		if strings.Contains(err.Error(), "prefix") {
			key = "hub.mqtt_prefix"
		}
		return nil, s.Bad(key, "%v", err)
	}
	return c, nil
}

func resolveDoor(s *config.Settings) (DoorConfig, error) {
	d := s.Doorphone
	var cfg DoorConfig
	if strings.TrimSpace(d.Room) == "" {
		return cfg, s.Bad("doorphone.room", "the household room is required: the room to ring")
	}
	var err error
	if cfg.Admins, err = s.Identities("doorphone.admins", d.Admins); err != nil {
		return cfg, err
	}
	if p := time.Duration(d.UnlockPulse); p <= 0 || p > hal.MaxPulse {
		return cfg, s.Bad("doorphone.unlock_pulse", "%s: more than 0 and at most %s", p, hal.MaxPulse)
	}
	if c := time.Duration(d.Clip); c > time.Minute {
		return cfg, s.Bad("doorphone.clip", "%s: at most 1m (a clip is a short look at the door)", c)
	}
	if p := time.Duration(d.Pairing); p < 10*time.Second || p > time.Hour {
		return cfg, s.Bad("doorphone.pairing", "%s: between 10s and 1h", p)
	}
	if c := time.Duration(d.Cooldown); c > 10*time.Minute {
		return cfg, s.Bad("doorphone.cooldown", "%s: at most 10m", c)
	}
	cfg.Room, cfg.Cooldown, cfg.UnlockPulse = d.Room, time.Duration(d.Cooldown), time.Duration(d.UnlockPulse)
	cfg.Clip, cfg.Pairing, cfg.MotionEvery = time.Duration(d.Clip), time.Duration(d.Pairing), time.Duration(d.MotionEvery)
	h := s.HAL
	switch h.Driver {
	case "periph", "sim":
	default:
		return cfg, s.Bad("hal.driver", "%q: periph (GPIO pins) or sim (simulated, for the demo and tests)", h.Driver)
	}
	if h.Driver == "periph" && h.Button == "" {
		return cfg, s.Bad("hal.button", "the button's pin is required, e.g. GPIO17")
	}
	if lp := time.Duration(h.LongPress); lp < 500*time.Millisecond || lp > time.Minute {
		return cfg, s.Bad("hal.long_press", "%s: between 500ms and 1m", lp)
	}
	if db := time.Duration(h.Debounce); db <= 0 || db > time.Second {
		return cfg, s.Bad("hal.debounce", "%s: more than 0 and at most 1s", db)
	}
	cfg.HAL = h
	return cfg, nil
}

// autoSpeaker is aplay on the default sound card, if there are both.
func autoSpeaker() []string {
	cards, err := os.ReadFile("/proc/asound/cards")
	if err != nil || strings.Contains(string(cards), "no soundcards") || len(strings.TrimSpace(string(cards))) == 0 {
		return nil
	}
	if _, err := exec.LookPath("aplay"); err != nil {
		return nil
	}
	return []string{"aplay", "-q", "-t", "raw", "-f", "S16_LE", "-r", "48000", "-c", "1"}
}
