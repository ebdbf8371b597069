package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Flags are the daemon's command-line flags: each one given wins over the
// settings file (Settings).
type Flags struct {
	config       string
	role         string
	listen       multiFlag
	bootstrap    multiFlag
	noMDNS       bool
	public       bool
	mirror       bool
	mirrorOwners multiFlag
	mirrorBudget string
	mirrorQuota  string
	recordCalls  string
	web          string
	webLAN       string
	appDomain    string
	appListen    string
	acmeDir      string
	acmeEmail    string
	acmeCA       string
	camera       string
	still        string
	microphone   string
	speaker      string
	videoCodec   string
	stun         multiFlag
	turnListen   string
	turnPublic   string
	turnUsers    multiFlag
	ringTimeout  time.Duration
	doorRoom     string
	pushServices multiFlag
	mqtt         string
	mqttUser     string
	mqttPassFile string
	mqttCA       string
	mqttPrefix   string
	mqttDisc     string
	mqttUnlock   bool
	mqttHours    string
	rtsp         string
	rtspUser     string
	rtspPassFile string
	hal          string
	logLevel     string
	logFormat    string
	fs           *flag.FlagSet // tells the flags given from their defaults
}

// Define declares the flags on fs.
func (a *Flags) Define(fs *flag.FlagSet) {
	a.fs = fs
	def := DefaultSettings()
	fs.StringVar(&a.config, "config", "", "read the settings from `FILE` (default: hearth.toml in the home, if there is one); flags given win over it")
	fs.StringVar(&a.role, "role", def.Role, "what this device is: device, doorphone, mirror or both (doorphone and mirror)")
	fs.Var(&a.listen, "listen", "listen on `MADDR` (repeatable; default: every interface, free TCP and QUIC ports)")
	fs.Var(&a.bootstrap, "bootstrap", "an always-on node, as a full multiaddr with /p2p/ (`MADDR`, repeatable)")
	fs.BoolVar(&a.noMDNS, "no-mdns", false, "do not look for peers on the LAN")
	fs.BoolVar(&a.public, "public", false, "this node is publicly reachable: serve the DHT and relay for others")
	fs.BoolVar(&a.mirror, "mirror", false, "also be a blind mirror: keep rooms others ask to keep (ciphertext only)")
	fs.Var(&a.mirrorOwners, "mirror-owner", "an `IDENTITY` (64 hex digits) that may keep, pin and drop without limit, besides this one (repeatable)")
	fs.StringVar(&a.mirrorBudget, "mirror-budget", "8GiB", "bytes kept at most, pinned rooms included (`SIZE`, e.g. 500MiB); the least recently used unpinned room goes first, strangers' before owners'")
	fs.StringVar(&a.mirrorQuota, "mirror-quota", "256MiB", "bytes kept for one identity that is not an owner (`SIZE`)")
	fs.StringVar(&a.recordCalls, "record-calls", "", "record what each call receives (video.ivf, audio.ogg) into a folder per call under `DIR`")
	fs.StringVar(&a.web, "web", "", "serve the web page (calls from this browser) on loopback `ADDR`, e.g. 127.0.0.1:8080; 'hearth status' prints its link")
	fs.StringVar(&a.webLAN, "web-lan", "", "serve the web page on the LAN at `ADDR` (e.g. 0.0.0.0:8443) over HTTPS, behind the password 'hearth web login' sets")
	fs.StringVar(&a.appDomain, "app-domain", "", "serve the phone's app at https://`DOMAIN`/app/ (a name pointed at this node) with a certificate from ACME")
	fs.StringVar(&a.appListen, "app-listen", def.Network.AppListen, "where the app's HTTPS site listens (`ADDR`; the ACME server checks the domain on port 443)")
	fs.StringVar(&a.acmeDir, "acme-directory", def.Network.ACMEDirectory, "the ACME server's directory `URL` the app site's certificate comes from")
	fs.StringVar(&a.acmeEmail, "acme-email", "", "a contact `EMAIL` for the ACME account (told of expiring certificates)")
	fs.StringVar(&a.acmeCA, "acme-ca", "", "a PEM `FILE` of roots to trust for a private ACME server (default: the system's)")
	fs.StringVar(&a.camera, "camera", def.Calls.Camera, "what calls send as video: synthetic (a test pattern), rpicam (a Raspberry Pi camera's hardware H.264 through rpicam-vid, 1280x720 at 30 fps), or `COMMAND` writing H.264 on stdout")
	fs.StringVar(&a.still, "still", "", "a `COMMAND` writing one JPEG of the camera on stdout: the door's pictures with a --camera command (rpicam has its own)")
	fs.StringVar(&a.microphone, "microphone", def.Calls.Microphone, "what calls send as sound: synthetic (a tone), none, alsa or alsa:DEVICE (arecord), or a `COMMAND` writing 48 kHz mono S16LE PCM on stdout")
	fs.StringVar(&a.speaker, "speaker", def.Calls.Speaker, "where the other side's voice plays in calls the daemon answers itself: auto (aplay, when there is a sound card), none, or a `COMMAND` reading 48 kHz mono S16LE PCM on stdin")
	fs.StringVar(&a.videoCodec, "video-codec", def.Calls.VideoCodec, "the `CODEC` of the video this device sends: vp8 or h264")
	fs.Var(&a.stun, "stun", "a STUN server for calls, `URL` stun:HOST:PORT (repeatable)")
	fs.DurationVar(&a.ringTimeout, "ring-timeout", time.Duration(def.Calls.RingTimeout), "how long a call rings before it is missed (`DURATION`)")
	fs.StringVar(&a.turnListen, "turn", "", "run a STUN/TURN server for calls on UDP and TCP `ADDR` (e.g. 0.0.0.0:3478) for the devices of this identity, --mirror-owner and --turn-user identities")
	fs.StringVar(&a.turnPublic, "turn-public", "", "the `IP` devices reach the TURN server at (default: the one of --turn)")
	fs.Var(&a.turnUsers, "turn-user", "an `IDENTITY` (64 hex digits) whose devices may use the TURN server (repeatable)")
	fs.StringVar(&a.doorRoom, "door-room", def.Doorphone.Room, "a doorphone's household `ROOM` (name or id): rung on a press, founded if missing")
	fs.Var(&a.pushServices, "push-service", "a Web Push service `ORIGIN` (https://host) a doorphone pushes rings to, besides the browsers' own (repeatable)")
	fs.StringVar(&a.mqtt, "mqtt", "", "a doorphone announces itself to Home Assistant on the MQTT broker at `URL` (mqtt://host:1883, mqtts://host:8883)")
	fs.StringVar(&a.mqttUser, "mqtt-user", "", "the MQTT broker's `USER`")
	fs.StringVar(&a.mqttPassFile, "mqtt-password-file", "", "a `FILE` holding the MQTT broker's password")
	fs.StringVar(&a.mqttCA, "mqtt-ca", "", "a PEM `FILE` of roots the MQTT broker's TLS certificate chains to (default: the system's)")
	fs.StringVar(&a.mqttPrefix, "mqtt-prefix", def.Hub.MQTTPrefix, "the `PREFIX` of the door's MQTT topics")
	fs.StringVar(&a.mqttDisc, "mqtt-discovery", def.Hub.MQTTDiscovery, "Home Assistant's MQTT discovery `PREFIX`")
	fs.BoolVar(&a.mqttUnlock, "mqtt-unlock", false, "let the home hub open the door (every unlock goes into the household room)")
	fs.StringVar(&a.mqttHours, "mqtt-unlock-hours", "", "limit the hub's unlock to `HH:MM-HH:MM`, the door's local time")
	fs.StringVar(&a.rtsp, "rtsp", "", "serve the camera's H.264 to the house's recorder over RTSP on `ADDR` (e.g. 0.0.0.0:8554), behind --rtsp-user and --rtsp-password-file")
	fs.StringVar(&a.rtspUser, "rtsp-user", "", "the `USER` an RTSP client gives")
	fs.StringVar(&a.rtspPassFile, "rtsp-password-file", "", "a `FILE` holding the password an RTSP client gives")
	fs.StringVar(&a.hal, "hal", def.HAL.Driver, "a doorphone's hardware `DRIVER`: periph (GPIO pins of [hal] in the config) or sim (simulated: the web page and 'hearth door press' press the button)")
	fs.StringVar(&a.logLevel, "log-level", def.Log.Level, "`LEVEL` of logs: debug, info, warn or error")
	fs.StringVar(&a.logFormat, "log-format", def.Log.Format, "`FORMAT` of logs: text, json, journald, or auto (journald under systemd, text on a terminal, else json)")
}

// given is the set of the flags given on the command line.
func (a *Flags) given() map[string]bool {
	set := map[string]bool{}
	a.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// Settings reads the settings file (--config, or hearth.toml in home
// when there is one) and puts the flags given on top. A bad value of a
// flag is a *FlagError.
func (a *Flags) Settings(home string) (Settings, error) {
	s := DefaultSettings()
	path := a.config
	if path == "" {
		if p := filepath.Join(home, ConfigName); fileExists(p) {
			path = p
		}
	}
	if path != "" {
		var err error
		if s, err = LoadSettings(path); err != nil {
			return s, err
		}
	}
	given := a.given()
	set := func(flag, key string, apply func()) {
		if given[flag] {
			apply()
			s.From(key, "--"+flag)
		}
	}
	set("role", "role", func() { s.Role = a.role })
	set("mirror", "role", func() {
		switch {
		case !a.mirror:
		case s.Role == "doorphone" || s.Role == "both":
			s.Role = "both"
		default:
			s.Role = "mirror"
		}
	})
	set("listen", "network.listen", func() { s.Network.Listen = a.listen })
	set("bootstrap", "network.bootstrap", func() { s.Network.Bootstrap = a.bootstrap })
	set("no-mdns", "network.mdns", func() { s.Network.MDNS = !a.noMDNS })
	set("public", "network.public", func() { s.Network.Public = a.public })
	set("web", "network.web", func() { s.Network.Web = a.web })
	set("web-lan", "network.web_lan", func() { s.Network.WebLAN = a.webLAN })
	set("app-domain", "network.app_domain", func() { s.Network.AppDomain = a.appDomain })
	set("app-listen", "network.app_listen", func() { s.Network.AppListen = a.appListen })
	set("acme-directory", "network.acme_directory", func() { s.Network.ACMEDirectory = a.acmeDir })
	set("acme-email", "network.acme_email", func() { s.Network.ACMEEmail = a.acmeEmail })
	set("acme-ca", "network.acme_ca", func() { s.Network.ACMECA = a.acmeCA })
	set("mirror-owner", "mirror.owners", func() { s.Mirror.Owners = a.mirrorOwners })
	var errs []error
	size := func(flag, key, v string, dst *Size) {
		set(flag, key, func() {
			n, err := ParseSize(v)
			if err != nil {
				errs = append(errs, &FlagError{Flag: flag, Err: err})
			}
			*dst = Size(n)
		})
	}
	size("mirror-budget", "mirror.budget", a.mirrorBudget, &s.Mirror.Budget)
	size("mirror-quota", "mirror.quota", a.mirrorQuota, &s.Mirror.Quota)
	set("record-calls", "calls.record", func() { s.Calls.Record = a.recordCalls })
	set("camera", "calls.camera", func() { s.Calls.Camera = a.camera })
	set("still", "calls.still", func() { s.Calls.Still = a.still })
	set("microphone", "calls.microphone", func() { s.Calls.Microphone = a.microphone })
	set("speaker", "calls.speaker", func() { s.Calls.Speaker = a.speaker })
	set("video-codec", "calls.video_codec", func() { s.Calls.VideoCodec = a.videoCodec })
	set("stun", "calls.stun", func() { s.Calls.STUN = a.stun })
	set("ring-timeout", "calls.ring_timeout", func() { s.Calls.RingTimeout = Duration(a.ringTimeout) })
	set("turn", "turn.listen", func() { s.TURN.Listen = a.turnListen })
	set("turn-public", "turn.public_ip", func() { s.TURN.PublicIP = a.turnPublic })
	set("turn-user", "turn.users", func() { s.TURN.Users = a.turnUsers })
	set("door-room", "doorphone.room", func() { s.Doorphone.Room = a.doorRoom })
	set("push-service", "doorphone.push_services", func() { s.Doorphone.PushServices = a.pushServices })
	set("mqtt", "hub.mqtt", func() { s.Hub.MQTT = a.mqtt })
	set("mqtt-user", "hub.mqtt_user", func() { s.Hub.MQTTUser = a.mqttUser })
	set("mqtt-password-file", "hub.mqtt_password_file", func() { s.Hub.MQTTPasswordFile = a.mqttPassFile })
	set("mqtt-ca", "hub.mqtt_ca", func() { s.Hub.MQTTCA = a.mqttCA })
	set("mqtt-prefix", "hub.mqtt_prefix", func() { s.Hub.MQTTPrefix = a.mqttPrefix })
	set("mqtt-discovery", "hub.mqtt_discovery", func() { s.Hub.MQTTDiscovery = a.mqttDisc })
	set("mqtt-unlock", "hub.mqtt_unlock", func() { s.Hub.MQTTUnlock = a.mqttUnlock })
	set("mqtt-unlock-hours", "hub.mqtt_unlock_hours", func() { s.Hub.MQTTUnlockHours = a.mqttHours })
	set("rtsp", "hub.rtsp", func() { s.Hub.RTSP = a.rtsp })
	set("rtsp-user", "hub.rtsp_user", func() { s.Hub.RTSPUser = a.rtspUser })
	set("rtsp-password-file", "hub.rtsp_password_file", func() { s.Hub.RTSPPasswordFile = a.rtspPassFile })
	set("hal", "hal.driver", func() { s.HAL.Driver = a.hal })
	set("log-level", "log.level", func() { s.Log.Level = a.logLevel })
	set("log-format", "log.format", func() { s.Log.Format = a.logFormat })
	if len(errs) > 0 {
		return s, errs[0]
	}
	return s, nil
}

// FlagError is a flag given a value it cannot take.
type FlagError struct {
	Flag string
	Err  error
}

func (e *FlagError) Error() string { return "--" + e.Flag + ": " + e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
