package calls

import "testing"

// TestPushAllowed: a device posts a ring only to the browsers' own push
// services over HTTPS, or to the origins its settings add, exactly: a
// member's subscription cannot point it at the LAN, at loopback, at
// another port, or at a look-alike host.
func TestPushAllowed(t *testing.T) {
	services := []string{"http://127.0.0.1:8088", "https://push.example.org/"}
	for endpoint, ok := range map[string]bool{
		"https://fcm.googleapis.com/fcm/send/abc":              true,
		"https://updates.push.services.mozilla.com/wpush/v2/x": true,
		"https://web.push.apple.com/QGx":                       true,
		"https://api.push.apple.com/3/device/x":                true,
		"https://wns2-by3p.notify.windows.com/w/?token=x":      true,
		"http://127.0.0.1:8088/push/x":                         true,
		"https://push.example.org/sub/1":                       true,
		"http://fcm.googleapis.com/fcm/send/abc":               false, // not https
		"https://fcm.googleapis.com:8443/fcm/send/abc":         false, // another port
		"https://fcm.googleapis.com.evil.example/x":            false,
		"https://evilnotify.windows.com/x":                     false,
		"https://user@fcm.googleapis.com/x":                    false,
		"http://127.0.0.1:8089/push/x":                         false, // not the origin given
		"http://192.168.1.1/admin":                             false,
		"https://10.0.0.1/x":                                   false,
		"https://push.example.org:444/x":                       false,
		"file:///etc/passwd":                                   false,
		"":                                                     false,
	} {
		if got := pushAllowed(services, endpoint); got != ok {
			t.Errorf("%q: allowed %v, want %v", endpoint, got, ok)
		}
	}
	for _, bad := range [][]string{{"push.example.org"}, {"https://push.example.org/path"}, {"ftp://push.example.org"}, {"https://u@push.example.org"}} {
		if CheckPushServices(bad) == nil {
			t.Errorf("push_services %q taken", bad)
		}
	}
	if err := CheckPushServices([]string{"https://push.example.org", "http://127.0.0.1:8088/"}); err != nil {
		t.Fatal(err)
	}
}
