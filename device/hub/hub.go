// Package hub is the doorphone in the home it lives in: a local, opt-in
// bridge to the home's own hub, beside the door (never inside it). Home
// Assistant hears the door over MQTT, announced by discovery: the bell
// (an event entity, device class doorbell), the latest picture (an image
// entity), the motion sensor and the lock (the relay); the house's
// recorder (go2rtc, Frigate) reads the camera over RTSP. The rooms stay
// end-to-end encrypted: what goes to the hub is what the owner turned on,
// on their own network.
package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hearthp2p/hearth/call/av"
	"github.com/hearthp2p/hearth/call/av/rtsp"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/door"
	"github.com/hearthp2p/hearth/internal/logattr"
)

// Config is the bridge's settings ([hub] in hearth.toml).
type Config struct {
	// MQTT is the broker's URL (mqtt://host:1883, mqtts://host:8883, or
	// tcp://, ssl://, ws://, wss://); "" is no MQTT.
	MQTT     string
	User     string
	Password string
	// CAFile, if set, is a PEM file of the roots the broker's TLS
	// certificate must chain to (the system's otherwise).
	CAFile string
	// Prefix is where the door's topics go ("hearth"); Discovery is Home
	// Assistant's discovery prefix ("homeassistant").
	Prefix, Discovery string
	// Unlock lets the hub open the door (off by default); UnlockHours,
	// if set, limits it to a time of day, the door's local time.
	Unlock      bool
	UnlockHours Hours
	// RTSP, if set, serves the camera to the house's recorder on this
	// address, to RTSPUser and RTSPPassword (both required).
	RTSP                   string
	RTSPUser, RTSPPassword string
}

// Deps is what the bridge works with.
type Deps struct {
	Door *door.Door
	// Video opens the camera's video, shared with the calls (an av.Tee).
	Video func() (av.Stream, error)
	// Device is this device's key (hex): the entities' ids derive from it.
	Device  string
	Name    string // the door's name in Home Assistant
	Version string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Hub is the running bridge.
type Hub struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	base string // the door's topics: Prefix/door_<device>
	node string

	client mqtt.Client
	rtsp   *rtsp.Server
	stop   func()
	events chan door.Event
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	state     string // off, connecting, connected
	lastErr   string
	since     time.Time
	snapshot  []byte // the latest picture, published again on a reconnect
	unlocked  bool   // the relay is closed
	published int    // ring events published
}

// Start connects to the broker (in the background: a broker that is down
// is tried again, with backoff) and starts the RTSP server.
func Start(cfg Config, deps Deps) (*Hub, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "hearth"
	}
	if cfg.Discovery == "" {
		cfg.Discovery = "homeassistant"
	}
	dev := deps.Device
	if len(dev) > 12 {
		dev = dev[:12]
	}
	h := &Hub{cfg: cfg, deps: deps, log: logattr.OrDiscard(deps.Logger), node: "door_" + dev, state: "off",
		events: make(chan door.Event, 32)}
	h.base = cfg.Prefix + "/" + h.node
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if cfg.RTSP != "" {
		s, err := rtsp.Start(rtsp.Config{Listen: cfg.RTSP, User: cfg.RTSPUser, Password: cfg.RTSPPassword, Video: deps.Video, Logger: h.log})
		if err != nil {
			return nil, err
		}
		h.rtsp = s
		h.log.Info("rtsp: the camera is served to the house's recorder", slog.String("url", s.URL("")))
	}
	if cfg.MQTT != "" {
		opts, err := h.options()
		if err != nil {
			h.Close()
			return nil, err
		}
		h.client = mqtt.NewClient(opts)
		h.setState("connecting", "")
		h.wg.Add(1)
		go h.connect()
		h.stop = deps.Door.Watch(func(ev door.Event) {
			select {
			case h.events <- ev:
			default:
				h.log.Warn("mqtt: a door event dropped: the broker is slow")
			}
		})
		h.wg.Add(1)
		go h.forward()
	}
	return h, nil
}

// brokerURL is the broker's URL as paho takes it, and as the logs show it
// (no password).
func brokerURL(raw string) (dial, shown string, tlsOn bool, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", false, fmt.Errorf("mqtt broker %q: a URL such as mqtt://host:1883", raw)
	}
	u.User = nil
	switch u.Scheme {
	case "mqtt", "tcp":
		u.Scheme = "tcp"
		if u.Port() == "" {
			u.Host += ":1883"
		}
	case "mqtts", "ssl", "tls":
		u.Scheme, tlsOn = "ssl", true
		if u.Port() == "" {
			u.Host += ":8883"
		}
	case "ws", "wss":
		tlsOn = u.Scheme == "wss"
	default:
		return "", "", false, fmt.Errorf("mqtt broker %q: the scheme is mqtt, mqtts, tcp, ssl, ws or wss", raw)
	}
	return u.String(), u.String(), tlsOn, nil
}

// CheckConfig checks the settings before anything starts.
func CheckConfig(cfg Config) error {
	if cfg.MQTT != "" {
		if _, _, _, err := brokerURL(cfg.MQTT); err != nil {
			return err
		}
		for _, p := range []string{cfg.Prefix, cfg.Discovery} {
			if strings.ContainsAny(p, "#+\x00") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
				return fmt.Errorf("mqtt topic prefix %q: no wildcards, no leading or trailing /", p)
			}
		}
	}
	if cfg.RTSP != "" && (cfg.RTSPUser == "" || cfg.RTSPPassword == "") {
		return errors.New("rtsp: set a user and a password file: the camera is never served without them")
	}
	return nil
}

func (h *Hub) options() (*mqtt.ClientOptions, error) {
	dial, shown, tlsOn, err := brokerURL(h.cfg.MQTT)
	if err != nil {
		return nil, err
	}
	opts := mqtt.NewClientOptions().AddBroker(dial).SetClientID("hearth-"+h.node).
		SetUsername(h.cfg.User).SetPassword(h.cfg.Password).
		SetKeepAlive(30*time.Second).SetPingTimeout(10*time.Second).SetConnectTimeout(10*time.Second).
		SetAutoReconnect(true).SetMaxReconnectInterval(30*time.Second).
		SetCleanSession(true).SetOrderMatters(false).
		SetWill(h.base+"/availability", "offline", 1, true).
		SetOnConnectHandler(h.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			h.setState("connecting", err.Error())
			h.log.Warn("mqtt: the broker connection was lost; trying again", slog.String("broker", shown), logattr.Err(err))
		}).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) { h.setState("connecting", "") })
	if tlsOn || h.cfg.CAFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if h.cfg.CAFile != "" {
			pem, err := os.ReadFile(h.cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("mqtt: the broker's roots: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("mqtt: %s holds no PEM certificate", h.cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		opts.SetTLSConfig(tc)
	}
	return opts, nil
}

// connect makes the first connection, trying again after 2 s, then up to
// every 30 s, and saying why each try failed (the status's last error);
// once connected, paho reconnects by itself.
func (h *Hub) connect() {
	defer h.wg.Done()
	wait := 2 * time.Second
	told := ""
	for {
		t := h.client.Connect()
		t.Wait()
		err := t.Error()
		if err == nil {
			return
		}
		h.setState("connecting", err.Error())
		if err.Error() != told {
			told = err.Error()
			h.log.Warn("mqtt: no connection to the broker; trying again", logattr.Err(err))
		}
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (h *Hub) setState(state, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != state {
		h.since = h.deps.Now()
	}
	h.state = state
	if why != "" {
		h.lastErr = why
	}
}

// onConnect announces the door and publishes its state: at the first
// connection and after every reconnection (a broker that restarted
// without persistence forgot it all).
func (h *Hub) onConnect(c mqtt.Client) {
	h.setState("connected", "")
	h.log.Info("mqtt: connected to the broker; the door is announced to Home Assistant")
	h.publish(h.base+"/availability", true, []byte("online"))
	h.announce()
	h.publishState()
	c.Subscribe(h.base+"/lock/set", 1, func(_ mqtt.Client, m mqtt.Message) { h.command(string(m.Payload())) })
	// Home Assistant says "online" when it starts: it is told again.
	c.Subscribe(h.cfg.Discovery+"/status", 1, func(_ mqtt.Client, m mqtt.Message) {
		if string(m.Payload()) == "online" {
			h.announce()
			h.publishState()
		}
	})
}

// publish sends a message at QoS 1, waiting 10 s at most.
func (h *Hub) publish(topic string, retained bool, payload []byte) {
	t := h.client.Publish(topic, 1, retained, payload)
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		err := t.Error()
		if err == nil {
			err = errors.New("no answer from the broker in 10 s")
		}
		h.setState(h.stateNow(), err.Error())
		h.log.Info("mqtt: not published", slog.String("topic", topic), logattr.Err(err))
	}
}

func (h *Hub) stateNow() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// publishState sends the state the broker keeps: the lock, the latest
// picture.
func (h *Hub) publishState() {
	h.mu.Lock()
	unlocked, snap := h.unlocked, h.snapshot
	h.mu.Unlock()
	h.publish(h.base+"/lock", true, []byte(lockState(unlocked)))
	if snap != nil {
		h.publish(h.base+"/snapshot", true, snap)
	}
}

func lockState(unlocked bool) string {
	if unlocked {
		return "UNLOCKED"
	}
	return "LOCKED"
}

// forward publishes the door's events.
func (h *Hub) forward() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case ev := <-h.events:
			switch ev.Kind {
			case door.EventRing:
				h.publish(h.base+"/ring", false, []byte(`{"event_type":"ring"}`))
				h.mu.Lock()
				h.published++
				h.mu.Unlock()
			case door.EventPicture:
				h.mu.Lock()
				h.snapshot = ev.Picture
				h.mu.Unlock()
				h.publish(h.base+"/snapshot", true, ev.Picture)
			case door.EventMotion:
				h.publish(h.base+"/motion", false, []byte("ON"))
			case door.EventRelay:
				h.mu.Lock()
				h.unlocked = ev.Open
				h.mu.Unlock()
				h.publish(h.base+"/lock", true, []byte(lockState(ev.Open)))
			}
		}
	}
}

// command takes what Home Assistant's lock sends: UNLOCK or OPEN opens
// the door if the owner allows it now, else the room records the
// refusal; LOCK has nothing to do (the strike locks again by itself).
func (h *Hub) command(payload string) {
	switch strings.ToUpper(strings.TrimSpace(payload)) {
	case "UNLOCK", "OPEN":
	case "LOCK":
		h.mu.Lock()
		unlocked := h.unlocked
		h.mu.Unlock()
		h.publish(h.base+"/lock", true, []byte(lockState(unlocked)))
		return
	default:
		h.log.Info("mqtt: an unknown lock command ignored")
		return
	}
	allowed, why := h.unlockAllowed()
	if opened, reason := h.deps.Door.HubUnlock(allowed, why); !opened {
		h.log.Info("mqtt: the hub's unlock was refused", slog.String("reason", reason))
	}
}

// unlockAllowed is the owner's settings' answer to an unlock now.
func (h *Hub) unlockAllowed() (bool, string) {
	if !h.cfg.Unlock {
		return false, "unlocking from the home hub is off (hub.unlock)"
	}
	if !h.cfg.UnlockHours.Contains(h.deps.Now()) {
		return false, "outside the hours the home hub may unlock (" + h.cfg.UnlockHours.String() + ")"
	}
	return true, ""
}

// Status is the bridge's state for `hearth door status` and the page.
func (h *Hub) Status() *control.Hub {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := &control.Hub{MQTT: h.state, LastError: h.lastErr, Topics: h.base, RingsPublished: h.published, Unlock: "off"}
	if !h.since.IsZero() {
		st.Since = control.Time(h.since)
	}
	if h.cfg.MQTT != "" {
		_, shown, _, _ := brokerURL(h.cfg.MQTT)
		st.Broker = shown
	}
	if h.cfg.Unlock {
		st.Unlock = "on"
		if !h.cfg.UnlockHours.Always() {
			st.Unlock = "on " + h.cfg.UnlockHours.String()
		}
	}
	if h.rtsp != nil {
		st.RTSP = h.rtsp.URL("")
		st.RTSPClients = h.rtsp.Clients()
	}
	return st
}

// RTSPURL is where the recorder reads the camera ("" without RTSP).
func (h *Hub) RTSPURL() string {
	if h.rtsp == nil {
		return ""
	}
	return h.rtsp.URL("")
}

// Close says the door is offline and stops the bridge.
func (h *Hub) Close() {
	if h.stop != nil {
		h.stop()
	}
	h.cancel()
	if h.client != nil {
		if h.client.IsConnected() {
			h.client.Publish(h.base+"/availability", 1, true, []byte("offline")).WaitTimeout(2 * time.Second)
		}
		// Also ends a connection attempt under way, and the publishes
		// waiting for the broker.
		h.client.Disconnect(500)
	}
	h.wg.Wait()
	if h.rtsp != nil {
		h.rtsp.Close()
	}
}

// announce publishes Home Assistant's discovery messages, retained: the
// door as a device with four entities.
func (h *Hub) announce() {
	for _, m := range h.discovery() {
		b, err := json.Marshal(m.config)
		if err != nil {
			continue
		}
		h.publish(m.topic, true, b)
	}
}

// discoveryMsg is one entity's discovery message.
type discoveryMsg struct {
	topic  string
	config map[string]any
}

// discovery are the entities, as Home Assistant's MQTT integration
// documents them (event, image, binary_sensor, lock).
func (h *Hub) discovery() []discoveryMsg {
	dev := map[string]any{
		"identifiers":  []string{"hearth_" + h.node},
		"name":         h.deps.Name,
		"manufacturer": "Hearth",
		"model":        "Doorphone",
		"sw_version":   h.deps.Version,
	}
	origin := map[string]any{"name": "Hearth", "sw_version": h.deps.Version}
	entity := func(component, object, name string, fields map[string]any) discoveryMsg {
		c := map[string]any{
			"name":               name,
			"unique_id":          "hearth_" + h.node + "_" + object,
			"availability_topic": h.base + "/availability",
			"device":             dev,
			"origin":             origin,
		}
		for k, v := range fields {
			c[k] = v
		}
		return discoveryMsg{topic: h.cfg.Discovery + "/" + component + "/" + h.node + "/" + object + "/config", config: c}
	}
	return []discoveryMsg{
		entity("event", "ring", "Doorbell", map[string]any{
			"state_topic": h.base + "/ring", "event_types": []string{"ring"}, "device_class": "doorbell"}),
		entity("image", "snapshot", "Snapshot", map[string]any{
			"image_topic": h.base + "/snapshot", "content_type": "image/jpeg"}),
		entity("binary_sensor", "motion", "Motion", map[string]any{
			"state_topic": h.base + "/motion", "device_class": "motion", "payload_on": "ON", "payload_off": "OFF", "off_delay": 10}),
		entity("lock", "lock", "Door", map[string]any{
			"command_topic": h.base + "/lock/set", "state_topic": h.base + "/lock",
			"payload_lock": "LOCK", "payload_unlock": "UNLOCK", "payload_open": "OPEN",
			"state_locked": "LOCKED", "state_unlocked": "UNLOCKED", "optimistic": false, "qos": 1}),
	}
}
