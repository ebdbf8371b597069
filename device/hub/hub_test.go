package hub

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestHours: a time of day, past midnight too; a bad one is refused.
func TestHours(t *testing.T) {
	at := func(hm string) time.Time {
		c, _ := time.Parse("15:04", hm)
		return time.Date(2026, 12, 7, c.Hour(), c.Minute(), 0, 0, time.Local)
	}
	day, err := ParseHours("07:00-22:00")
	if err != nil || day.String() != "07:00-22:00" {
		t.Fatal(day, err)
	}
	night, _ := ParseHours("22:00-06:30")
	for hm, want := range map[string][2]bool{"06:59": {false, false}, "06:29": {false, true}, "07:00": {true, false}, "21:59": {true, false},
		"22:00": {false, true}, "03:00": {false, true}, "06:30": {false, false}} {
		if got := [2]bool{day.Contains(at(hm)), night.Contains(at(hm))}; got != want {
			t.Errorf("%s: day, night %v, want %v", hm, got, want)
		}
	}
	if any, _ := ParseHours(""); !any.Always() || !any.Contains(at("03:00")) {
		t.Error("empty hours are not any time")
	}
	for _, bad := range []string{"7-22", "07:00", "25:00-26:00", "07:00-07:00", "07:00-22:00-23:00"} {
		if _, err := ParseHours(bad); err == nil {
			t.Errorf("%q taken", bad)
		}
	}
}

// TestBrokerURL: the schemes paho takes, default ports, and the password
// never in what is shown.
func TestBrokerURL(t *testing.T) {
	for in, want := range map[string]string{
		"mqtt://ha.local":                  "tcp://ha.local:1883",
		"mqtts://u:secret@ha.local":        "ssl://ha.local:8883",
		"tcp://10.0.0.2:1884":              "tcp://10.0.0.2:1884",
		"wss://ha.local/mqtt":              "wss://ha.local/mqtt",
		"mqtt://user:p%40ss@ha.local:1883": "tcp://ha.local:1883",
	} {
		dial, shown, _, err := brokerURL(in)
		if err != nil || dial != want || strings.Contains(shown, "secret") || strings.Contains(shown, "p%40ss") {
			t.Errorf("%s: %s %s %v", in, dial, shown, err)
		}
	}
	for _, bad := range []string{"ha.local:1883", "http://ha.local", "mqtt://", ""} {
		if _, _, _, err := brokerURL(bad); err == nil {
			t.Errorf("%q taken", bad)
		}
	}
	if CheckConfig(Config{MQTT: "mqtt://ha", Prefix: "hearth/#"}) == nil || CheckConfig(Config{RTSP: ":8554", RTSPUser: "r"}) == nil {
		t.Error("a wildcard prefix, or RTSP without a password, taken")
	}
}

// TestDiscoveryHoldsNoSecret: what goes to the broker names topics and
// the device, never a password.
func TestDiscoveryHoldsNoSecret(t *testing.T) {
	h := &Hub{cfg: Config{Password: "broker secret", RTSPPassword: "camera secret", Prefix: "hearth", Discovery: "homeassistant"},
		deps: Deps{Name: "Front door", Version: "1.0"}, node: "door_abc", base: "hearth/door_abc"}
	for _, m := range h.discovery() {
		if strings.Contains(m.topic+toJSON(m.config), "secret") {
			t.Errorf("%s holds a secret", m.topic)
		}
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
