package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// mosquitto is Debian's MQTT broker, run by the test on loopback, with
// users and passwords and no persistence (a restart forgets everything).
type mosquitto struct {
	t    *testing.T
	conf string
	port int
	cmd  *exec.Cmd
	logs bytes.Buffer
}

// startMosquitto starts a broker for users (name → password); extra
// lines go to its listener's configuration (its TLS files).
func startMosquitto(t *testing.T, users map[string]string, extra ...string) *mosquitto {
	t.Helper()
	if _, err := exec.LookPath("mosquitto"); err != nil {
		t.Fatal("mosquitto is not installed, and the home hub's bridge is tested against it: run scripts/setup --test")
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	for u, p := range users {
		args := []string{"-b", pw, u, p}
		if _, err := os.Stat(pw); err != nil {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	m := &mosquitto{t: t, conf: filepath.Join(dir, "mosquitto.conf"), port: freePorts(t, 1)[0]}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\npersistence false\n", m.port, pw)
	if os.Geteuid() == 0 {
		// As root it would become the user mosquitto, who cannot read the
		// test's files.
		conf += "user root\n"
	}
	for _, l := range extra {
		conf += l + "\n"
	}
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(m.kill)
	return m
}

func (m *mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command("mosquitto", "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = &m.logs, &m.logs
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() {
		if m.t.Failed() {
			m.t.Logf("mosquitto's log:\n%s", m.logs.String())
		}
	})
	eventually(m.t, "mosquitto listening", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", m.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (m *mosquitto) kill() {
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
		m.cmd = nil
	}
}

func (m *mosquitto) url() string { return fmt.Sprintf("mqtt://127.0.0.1:%d", m.port) }

// mqttMsg is one message a watcher got, and when.
type mqttMsg struct {
	topic    string
	payload  []byte
	retained bool
	at       time.Time
}

// mqttWatcher is Home Assistant's side, as far as MQTT goes: it
// subscribes to everything (again after each reconnection) and keeps
// what comes.
type mqttWatcher struct {
	c    mqtt.Client
	mu   sync.Mutex
	msgs []mqttMsg
}

func watchMQTT(t *testing.T, m *mosquitto, id, user, pass string) *mqttWatcher {
	t.Helper()
	w := &mqttWatcher{}
	opts := mqtt.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", m.port)).SetClientID(id).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(time.Second).
		SetOnConnectHandler(func(c mqtt.Client) {
			c.Subscribe("#", 1, func(_ mqtt.Client, msg mqtt.Message) {
				w.mu.Lock()
				w.msgs = append(w.msgs, mqttMsg{topic: msg.Topic(), payload: append([]byte(nil), msg.Payload()...), retained: msg.Retained(), at: time.Now()})
				w.mu.Unlock()
			})
		})
	w.c = mqtt.NewClient(opts)
	if tok := w.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("the watcher's connection: %v", tok.Error())
	}
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w
}

// since returns the messages on topics with prefix got at or after from.
func (w *mqttWatcher) since(from time.Time, prefix string) []mqttMsg {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []mqttMsg
	for _, m := range w.msgs {
		if !m.at.Before(from) && strings.HasPrefix(m.topic, prefix) {
			out = append(out, m)
		}
	}
	return out
}

func (w *mqttWatcher) publish(t *testing.T, topic, payload string) {
	t.Helper()
	if tok := w.c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publishing %s: %v", topic, tok.Error())
	}
}

// haSchema is what Home Assistant's MQTT integration documents for each
// entity's discovery message: the keys it takes (every other is an error
// to it) and those it requires.
var haCommon = []string{"availability", "availability_mode", "availability_template", "availability_topic", "device",
	"enabled_by_default", "entity_category", "entity_picture", "icon", "json_attributes_template", "json_attributes_topic", "name",
	"object_id", "default_entity_id", "origin", "payload_available", "payload_not_available", "qos", "unique_id", "encoding", "platform"}

var haSchema = map[string]struct{ keys, required []string }{
	"event": {[]string{"state_topic", "event_types", "device_class", "value_template"}, []string{"state_topic", "event_types"}},
	"image": {[]string{"image_topic", "url_topic", "content_type", "image_encoding", "url_template"}, []string{"image_topic"}},
	"binary_sensor": {[]string{"state_topic", "device_class", "expire_after", "force_update", "off_delay", "payload_on", "payload_off", "value_template"},
		[]string{"state_topic"}},
	"lock": {[]string{"command_topic", "command_template", "state_topic", "optimistic", "payload_lock", "payload_unlock", "payload_open",
		"payload_reset", "state_locked", "state_locking", "state_unlocked", "state_unlocking", "state_jammed", "state_open", "state_opening",
		"code_format", "retain", "value_template"}, []string{"command_topic"}},
}

var haDeviceKeys = []string{"identifiers", "connections", "name", "manufacturer", "model", "model_id", "sw_version", "hw_version",
	"serial_number", "configuration_url", "suggested_area", "via_device"}

// checkDiscovery checks one discovery message field by field.
func checkDiscovery(t *testing.T, component string, cfg map[string]any, base string) {
	t.Helper()
	sc, ok := haSchema[component]
	if !ok {
		t.Errorf("an entity of component %q, which the door should not announce", component)
		return
	}
	for k := range cfg {
		if !slices.Contains(haCommon, k) && !slices.Contains(sc.keys, k) {
			t.Errorf("%s: key %q is not in Home Assistant's schema", component, k)
		}
	}
	for _, k := range sc.required {
		switch v := cfg[k].(type) {
		case string:
			if v != "" {
				continue
			}
		case []any:
			if len(v) > 0 {
				continue
			}
		}
		t.Errorf("%s: the required %q is missing", component, k)
	}
	str := func(k string) string { s, _ := cfg[k].(string); return s }
	if str("unique_id") == "" || str("name") == "" || str("availability_topic") != base+"/availability" {
		t.Errorf("%s: unique_id %q, name %q, availability %q", component, str("unique_id"), str("name"), str("availability_topic"))
	}
	dev, _ := cfg["device"].(map[string]any)
	ids, _ := dev["identifiers"].([]any)
	if len(ids) == 0 {
		t.Errorf("%s: the device has no identifiers", component)
	}
	for k := range dev {
		if !slices.Contains(haDeviceKeys, k) {
			t.Errorf("%s: device key %q is not in Home Assistant's schema", component, k)
		}
	}
	if o, _ := cfg["origin"].(map[string]any); o["name"] == nil {
		t.Errorf("%s: the origin has no name", component)
	}
	switch component {
	case "event":
		types, _ := cfg["event_types"].([]any)
		if len(types) != 1 || types[0] != "ring" || str("device_class") != "doorbell" || str("state_topic") != base+"/ring" {
			t.Errorf("event: %v", cfg)
		}
	case "image":
		if str("image_topic") != base+"/snapshot" || str("content_type") != "image/jpeg" {
			t.Errorf("image: %v", cfg)
		}
	case "binary_sensor":
		if str("device_class") != "motion" || str("payload_on") != "ON" || str("payload_off") != "OFF" {
			t.Errorf("binary_sensor: %v", cfg)
		}
		if d, ok := cfg["off_delay"].(float64); !ok || d <= 0 {
			t.Errorf("binary_sensor: off_delay %v (a motion sensor that only says ON needs one)", cfg["off_delay"])
		}
	case "lock":
		if str("command_topic") != base+"/lock/set" || str("state_topic") != base+"/lock" || str("payload_unlock") != "UNLOCK" ||
			str("state_locked") != "LOCKED" || str("state_unlocked") != "UNLOCKED" {
			t.Errorf("lock: %v", cfg)
		}
	}
}

// TestHomeHub: a doorphone with the bridge on, against Debian's mosquitto
// (with a password) and ffmpeg: it announces itself to Home Assistant by
// discovery, four entities that match the integration's schema field by
// field; a press gives exactly one ring event and its picture; the hub's
// unlock, off by default, is refused and the household room says so; the
// lock follows the relay when a member unlocks; the broker is killed and
// started again (forgetting everything) and the door announces itself
// and its state again; `hearth door status` shows the bridge. The camera
// goes to the recorder over RTSP, read and decoded by ffmpeg; wrong
// credentials are refused. Then the owner turns the hub's unlock on for
// hours that hold now: it opens, and the room says the home hub did;
// hours that do not hold: refused.
func TestHomeHub(t *testing.T) {
	// Its own broker, ports and daemons: it runs beside the other
	// parallel tests, once the serial ones are done.
	t.Parallel()
	requireFFmpeg(t)
	broker := startMosquitto(t, map[string]string{"hearth-door": "door pass", "ha": "ha pass"})
	dir := t.TempDir()
	secret := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	camera := filepath.Join(dir, "camera")
	os.WriteFile(camera, []byte("#!/bin/sh\nexec ffmpeg -nostdin -loglevel error -re -f lavfi -i testsrc=size=320x240:rate=30 -pix_fmt yuv420p "+
		"-c:v libx264 -preset ultrafast -tune zerolatency -threads 1 -profile:v baseline -g 30 -flush_packets 1 -f h264 -\n"), 0o755)
	rtspPort := freePorts(t, 1)[0]
	still := filepath.Join(dir, "still")
	os.WriteFile(still, []byte("#!/bin/sh\nexec ffmpeg -nostdin -loglevel error -f lavfi -i testsrc=size=320x240:rate=1 -frames:v 1 -f image2 -c:v mjpeg -\n"), 0o755)
	hubArgs := []string{"--role", "doorphone", "--hal", "sim", "--camera", camera, "--still", still,
		"--mqtt", broker.url(), "--mqtt-user", "hearth-door", "--mqtt-password-file", secret("mqtt.pass", "door pass"),
		"--rtsp", fmt.Sprintf("127.0.0.1:%d", rtspPort), "--rtsp-user", "recorder", "--rtsp-password-file", secret("rtsp.pass", "rec pass"),
		"--web", "127.0.0.1:0"}
	door := newDaemon(t, "door", hubArgs...)
	door.holds("the broker's password", "door pass")
	door.holds("the recorder's password", "rec pass")
	alice := newDaemon(t, "alice", "--bootstrap", tcpAddr(t, door))
	room := joinHousehold(t, door, alice, "admin")
	ha := watchMQTT(t, broker, "ha", "ha", "ha pass")

	var st struct {
		RelayPulses int `json:"relay_pulses"`
		Hub         struct {
			MQTT, Broker, Topics, RTSP, Unlock string
			LastError                          string `json:"last_error"`
			RingsPublished                     int    `json:"rings_published"`
		}
	}
	eventually(t, "the bridge connected", func() bool {
		door.json(&st, "door", "status")
		return st.Hub.MQTT == "connected"
	})
	base := st.Hub.Topics
	if !strings.HasPrefix(base, "hearth/door_") || st.Hub.Unlock != "off" || strings.Contains(st.Hub.Broker, "pass") {
		t.Fatalf("the bridge's status: %+v", st.Hub)
	}
	checkAnnounced := func(from time.Time) {
		t.Helper()
		eventually(t, "the discovery messages, the availability and the lock's state", func() bool {
			return len(ha.since(from, "homeassistant/")) >= 4 && len(ha.since(from, base+"/lock")) > 0 && len(ha.since(from, base+"/availability")) > 0
		})
		seen := map[string]bool{}
		for _, m := range ha.since(from, "homeassistant/") {
			parts := strings.Split(m.topic, "/")
			if len(parts) != 5 || parts[4] != "config" {
				t.Errorf("a discovery message on %s", m.topic)
				continue
			}
			var cfg map[string]any
			if err := json.Unmarshal(m.payload, &cfg); err != nil {
				t.Errorf("%s: %v", m.topic, err)
				continue
			}
			checkDiscovery(t, parts[1], cfg, base)
			seen[parts[1]] = true
		}
		if len(seen) != 4 {
			t.Errorf("announced %v, want event, image, binary_sensor and lock", seen)
		}
		av := ha.since(from, base+"/availability")
		if last := av[len(av)-1]; string(last.payload) != "online" {
			t.Errorf("availability %q", last.payload)
		}
		if l := ha.since(from, base+"/lock"); string(l[len(l)-1].payload) != "LOCKED" {
			t.Errorf("the lock's state: %q", l[len(l)-1].payload)
		}
	}
	checkAnnounced(time.Time{})

	// A press: one ring event, and the ring's picture.
	pressed := time.Now()
	door.run(0, "", "door", "press")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the door's log:\n%s", door.logs.String())
		}
	})
	eventually(t, "the ring event and the picture", func() bool {
		return len(ha.since(pressed, base+"/ring")) > 0 && len(ha.since(pressed, base+"/snapshot")) > 0
	})
	time.Sleep(2 * time.Second)
	rings := ha.since(pressed, base+"/ring")
	if len(rings) != 1 || string(rings[0].payload) != `{"event_type":"ring"}` {
		t.Fatalf("a press gave %d ring events: %v", len(rings), rings)
	}
	if snap := ha.since(pressed, base+"/snapshot"); !bytes.HasPrefix(snap[0].payload, []byte{0xff, 0xd8}) {
		t.Fatalf("the snapshot is not a JPEG (%d bytes)", len(snap[0].payload))
	}
	// What the broker keeps for Home Assistant when it starts: the
	// entities, the availability, the lock, the picture.
	late := watchMQTT(t, broker, "ha-late", "ha", "ha pass")
	eventually(t, "the retained messages, to a new subscriber", func() bool {
		kept := map[string]bool{}
		for _, m := range late.since(time.Time{}, "") {
			if m.retained {
				kept[m.topic] = true
			}
		}
		return kept[base+"/availability"] && kept[base+"/lock"] && kept[base+"/snapshot"] && len(kept) >= 7
	})
	for _, m := range late.since(time.Time{}, base+"/ring") {
		t.Errorf("a ring event is kept by the broker (retained %v): it would ring again at each start of Home Assistant", m.retained)
	}
	alice.run(0, "", "hangup") // alice declines the ring

	// The hub's unlock, off: refused, and the room says so.
	ha.publish(t, base+"/lock/set", "UNLOCK")
	doorEntry := func(event, detail string) bool {
		var h struct {
			Messages []struct {
				Door *struct{ Event, Detail string }
			}
		}
		door.json(&h, "room", "history", room)
		for _, m := range h.Messages {
			if m.Door != nil && m.Door.Event == event && strings.Contains(m.Door.Detail, detail) {
				return true
			}
		}
		return false
	}
	eventually(t, "the refusal in the room", func() bool { return doorEntry("unlock refused", "home hub") })
	var off struct {
		RelayPulses int `json:"relay_pulses"`
	}
	if door.json(&off, "door", "status"); off.RelayPulses != 0 {
		t.Fatalf("the relay pulsed for the hub's unlock while it is off")
	}

	// A member unlocks: the lock follows the relay.
	unlocked := time.Now()
	alice.run(0, "", "door", "unlock", room)
	eventually(t, "UNLOCKED then LOCKED", func() bool {
		var states []string
		for _, m := range ha.since(unlocked, base+"/lock") {
			states = append(states, string(m.payload))
		}
		i := slices.Index(states, "UNLOCKED")
		return i >= 0 && slices.Contains(states[i:], "LOCKED")
	})

	// The camera for the recorder.
	url := fmt.Sprintf("rtsp://recorder:rec%%20pass@127.0.0.1:%d/door", rtspPort)
	if door.json(&st, "door", "status"); !strings.HasSuffix(st.Hub.RTSP, fmt.Sprintf(":%d/door", rtspPort)) {
		t.Errorf("status: rtsp %q", st.Hub.RTSP)
	}
	if n, out := ffmpegFrames(t, url, 30); n < 30 {
		t.Fatalf("ffmpeg decoded %d frames from the door's RTSP:\n%s", n, out)
	}
	if n, out := ffmpegFrames(t, fmt.Sprintf("rtsp://recorder:guess@127.0.0.1:%d/door", rtspPort), 5); n != 0 || !strings.Contains(out, "401") {
		t.Fatalf("wrong credentials: %d frames:\n%s", n, out)
	}

	// The page shows the bridge.
	var web struct{ Web string }
	door.json(&web, "status")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(web.Web), chromedp.WaitVisible(chromedp.CSS(`#door-hub`))); err != nil {
		t.Fatal(err)
	}
	if s := evalPage[string](ctx, `document.getElementById("door-hub").textContent`); !strings.Contains(s, "Home hub (MQTT): connected") ||
		!strings.Contains(s, "unlock from the hub off") || !strings.Contains(s, fmt.Sprintf(":%d/door", rtspPort)) {
		t.Errorf("the page says of the bridge: %q", s)
	}

	// The broker dies and comes back, empty: the door says it all again.
	broker.kill()
	eventually(t, "the bridge sees the broker gone", func() bool {
		door.json(&st, "door", "status")
		return st.Hub.MQTT != "connected"
	})
	restarted := time.Now()
	broker.start()
	checkAnnounced(restarted)
	eventually(t, "the picture published again", func() bool { return len(ha.since(restarted, base+"/snapshot")) > 0 })

	// The owner lets the hub unlock, in hours that hold now.
	now := time.Now()
	hours := func(from, to time.Time) string { return from.Format("15:04") + "-" + to.Format("15:04") }
	door.stop()
	door.args = append(slices.Clone(hubArgs), "--mqtt-unlock", "--mqtt-unlock-hours", hours(now.Add(-time.Hour), now.Add(time.Hour)))
	door.start()
	eventually(t, "the bridge connected again", func() bool {
		door.json(&st, "door", "status")
		return st.Hub.MQTT == "connected" && strings.HasPrefix(st.Hub.Unlock, "on ")
	})
	ha.publish(t, base+"/lock/set", "UNLOCK")
	eventually(t, "the hub's unlock", func() bool {
		door.json(&st, "door", "status")
		return st.RelayPulses == 1
	})
	eventually(t, "the room says the home hub opened", func() bool { return doorEntry("unlocked", "home hub") })

	// Hours that do not hold now: refused.
	door.stop()
	door.args = append(slices.Clone(hubArgs), "--mqtt-unlock", "--mqtt-unlock-hours", hours(now.Add(2*time.Hour), now.Add(3*time.Hour)))
	door.start()
	eventually(t, "the bridge connected again", func() bool {
		door.json(&st, "door", "status")
		return st.Hub.MQTT == "connected"
	})
	ha.publish(t, base+"/lock/set", "OPEN")
	eventually(t, "the refusal outside the hours", func() bool { return doorEntry("unlock refused", "outside the hours") })
	var after struct {
		RelayPulses int `json:"relay_pulses"`
	}
	if door.json(&after, "door", "status"); after.RelayPulses != 0 {
		t.Fatal("the relay pulsed outside the hub's hours")
	}
}

// ffmpegFrames has ffmpeg read n frames of an RTSP url and decode them.
func ffmpegFrames(t *testing.T, url string, n int) (int, string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-rtsp_transport", "tcp", "-i", url, "-frames:v", fmt.Sprint(n), "-f", "null", "-")
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	m := regexp.MustCompile(`frame=\s*(\d+)`).FindAllStringSubmatch(string(out), -1)
	if len(m) == 0 {
		return 0, string(out)
	}
	var got int
	fmt.Sscan(m[len(m)-1][1], &got)
	return got, string(out)
}

// TestHomeHubTLS: the bridge reaches a broker over TLS (mqtts://), its
// certificate checked against the roots the settings name; against other
// roots it does not connect, and the status says why.
func TestHomeHubTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lc := newLoopbackCA(t, dir)
	broker := startMosquitto(t, map[string]string{"hearth-door": "door pass"},
		"cafile "+lc.caFile, "certfile "+lc.certFile, "keyfile "+lc.keyFile)
	pass := filepath.Join(dir, "mqtt.pass")
	os.WriteFile(pass, []byte("door pass\n"), 0o600)
	url := fmt.Sprintf("mqtts://127.0.0.1:%d", broker.port)
	var st struct {
		Hub struct {
			MQTT      string
			LastError string `json:"last_error"`
		}
	}
	door := newDaemon(t, "door", "--role", "doorphone", "--hal", "sim", "--mqtt", url, "--mqtt-user", "hearth-door",
		"--mqtt-password-file", pass, "--mqtt-ca", lc.caFile)
	eventually(t, "connected over TLS", func() bool {
		door.json(&st, "door", "status")
		return st.Hub.MQTT == "connected"
	})
	other := newLoopbackCA(t, t.TempDir())
	stranger := newDaemon(t, "stranger-ca", "--role", "doorphone", "--hal", "sim", "--mqtt", url, "--mqtt-user", "hearth-door",
		"--mqtt-password-file", pass, "--mqtt-ca", other.caFile)
	eventually(t, "refused: another CA's certificate", func() bool {
		stranger.json(&st, "door", "status")
		return st.Hub.MQTT != "connected" && strings.Contains(st.Hub.LastError, "certificate")
	})
}
