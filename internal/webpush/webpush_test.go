package webpush

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func b64d(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC8291Vector: the sender's encryption gives RFC 8291 appendix A's
// message byte for byte from its keys and salt, and the user agent's side
// opens it to its plaintext.
func TestRFC8291Vector(t *testing.T) {
	as, err := ecdh.P256().NewPrivateKey(b64d(t, "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(as.PublicKey().Bytes(), b64d(t, "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8")) {
		t.Fatal("as_public is not the vector's")
	}
	uaPublic := b64d(t, "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4")
	auth := b64d(t, "BTBZMqHH6r4Tts7J_aSIgg")
	salt := b64d(t, "DGv6ra1nlYgDCS1FRnbzlw")
	plaintext := []byte("When I grow up, I want to be a watermelon")
	got, err := encrypt(plaintext, uaPublic, auth, as, salt)
	if err != nil {
		t.Fatal(err)
	}
	want := b64d(t, "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
	if !bytes.Equal(got, want) {
		t.Fatalf("encrypt:\n got %x\nwant %x", got, want)
	}
	ua, err := ecdh.P256().NewPrivateKey(b64d(t, "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ua.PublicKey().Bytes(), uaPublic) {
		t.Fatal("ua_public is not the vector's")
	}
	opened, err := Decrypt(want, ua, auth)
	if err != nil || !bytes.Equal(opened, plaintext) {
		t.Fatalf("decrypt: %q, %v", opened, err)
	}
}

// newClient is a browser's subscription: its keys, as PushManager makes
// them.
func newClient(t *testing.T, endpoint string) (Subscription, *ecdh.PrivateKey) {
	t.Helper()
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return Subscription{Endpoint: endpoint, P256dh: ua.PublicKey().Bytes(), Auth: auth}, ua
}

// TestRoundTripAndTampering: what Encrypt seals, Decrypt opens, for every
// size up to the largest; a flipped byte, another subscription's key or
// auth secret, or a truncated message do not open.
func TestRoundTripAndTampering(t *testing.T) {
	s, ua := newClient(t, "https://push.example/x")
	for _, n := range []int{0, 1, 100, MaxPayload} {
		p := make([]byte, n)
		rand.Read(p)
		body, err := Encrypt(s, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(body) > headerLen+recordSize {
			t.Fatalf("%d bytes of payload make %d, more than a record", n, len(body))
		}
		got, err := Decrypt(body, ua, s.Auth)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if n == 0 {
			continue
		}
		for _, i := range []int{0, 20, headerLen, len(body) - 1} {
			bad := bytes.Clone(body)
			bad[i] ^= 1
			if _, err := Decrypt(bad, ua, s.Auth); err == nil {
				t.Fatalf("byte %d flipped: opened", i)
			}
		}
		if _, err := Decrypt(body[:len(body)-1], ua, s.Auth); err == nil {
			t.Fatal("a truncated message opened")
		}
		other, oua := newClient(t, s.Endpoint)
		if _, err := Decrypt(body, oua, other.Auth); err == nil {
			t.Fatal("opened with another subscription's keys")
		}
		if _, err := Decrypt(body, ua, other.Auth); err == nil {
			t.Fatal("opened with another auth secret")
		}
	}
	if _, err := Encrypt(s, make([]byte, MaxPayload+1)); err == nil {
		t.Fatal("a payload over one record sealed")
	}
	for _, bad := range []Subscription{
		{Endpoint: s.Endpoint, P256dh: s.P256dh[:64], Auth: s.Auth},
		{Endpoint: s.Endpoint, P256dh: s.P256dh, Auth: s.Auth[:8]},
		{Endpoint: "http://push.example/x", P256dh: s.P256dh, Auth: s.Auth},
		{Endpoint: "ftp://push.example/x", P256dh: s.P256dh, Auth: s.Auth},
	} {
		if bad.Check() == nil {
			t.Errorf("subscription %+v passes", bad)
		}
	}
}

// TestVAPID: a token verifies for its endpoint's origin and key, and no
// other: another origin, an expired token, a forged signature.
func TestVAPID(t *testing.T) {
	v, err := NewVAPID()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := v.Bytes()
	v2, err := ParseVAPID(raw)
	if err != nil || !bytes.Equal(v2.Public(), v.Public()) {
		t.Fatalf("the key does not survive storing: %v", err)
	}
	now := time.Now()
	h, err := v.Authorization("https://push.example:8443/send/abc", "mailto:door@example.org", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := VerifyAuthorization(h, "https://push.example:8443/other", now)
	if err != nil || !bytes.Equal(key, v.Public()) {
		t.Fatalf("verify: %v", err)
	}
	if _, err := VerifyAuthorization(h, "https://evil.example/send/abc", now); err == nil {
		t.Fatal("a token for another origin verified")
	}
	if _, err := VerifyAuthorization(h, "https://push.example:8443/x", now.Add(2*time.Hour)); err == nil {
		t.Fatal("an expired token verified")
	}
	forged := strings.Replace(h, "k="+b64.EncodeToString(v.Public()), "k="+b64.EncodeToString(mustVAPID(t).Public()), 1)
	if _, err := VerifyAuthorization(forged, "https://push.example:8443/x", now); err == nil {
		t.Fatal("a token under another key verified")
	}
	if _, err := ParseVAPID([]byte{1, 2, 3}); err == nil {
		t.Fatal("a 3-byte key parsed")
	}
}

func mustVAPID(t *testing.T) *VAPID {
	v, err := NewVAPID()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// pushService is an RFC 8030 push service on loopback: it takes a message
// for a subscription it knows (checking its VAPID key, as a real one
// does), and answers 410 for one it forgot.
type pushService struct {
	*httptest.Server
	app  []byte // the applicationServerKey subscriptions were made with
	got  chan []byte
	gone bool
}

func newPushService(t *testing.T, app []byte) *pushService {
	ps := &pushService{app: app, got: make(chan []byte, 4)}
	ps.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method != http.MethodPost || r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") == "":
			http.Error(w, "not a push message", http.StatusBadRequest)
			return
		case ps.gone:
			http.Error(w, "no such subscription", http.StatusGone)
			return
		}
		key, err := VerifyAuthorization(r.Header.Get("Authorization"), ps.URL+r.URL.Path, time.Now())
		if err != nil || !bytes.Equal(key, ps.app) {
			http.Error(w, "vapid", http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8192))
		ps.got <- body
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(ps.Close)
	return ps
}

// TestSend: a message reaches the push service and opens with the
// subscription's keys; a key the subscription was not made with is
// refused; a gone subscription is ErrGone.
func TestSend(t *testing.T) {
	v := mustVAPID(t)
	ps := newPushService(t, v.Public())
	s, ua := newClient(t, ps.URL+"/push/1")
	ctx := context.Background()
	m := Message{Payload: []byte(`{"ring":"Front door"}`), TTL: time.Minute, Urgency: "high"}
	if err := Send(ctx, nil, s, m, v, "mailto:door@example.org"); err != nil {
		t.Fatal(err)
	}
	got, err := Decrypt(<-ps.got, ua, s.Auth)
	if err != nil || string(got) != string(m.Payload) {
		t.Fatalf("delivered: %q, %v", got, err)
	}
	if err := Send(ctx, nil, s, m, mustVAPID(t), "mailto:x@example.org"); err == nil {
		t.Fatal("a message under another VAPID key was taken")
	}
	ps.gone = true
	if err := Send(ctx, nil, s, m, v, "mailto:door@example.org"); !errors.Is(err, ErrGone) {
		t.Fatalf("a gone subscription: %v", err)
	}
}

// FuzzDecrypt: no message, however malformed, panics the user agent's
// side, and none opens under keys it was not sealed to.
func FuzzDecrypt(f *testing.F) {
	ua, _ := ecdh.P256().GenerateKey(rand.Reader)
	auth := make([]byte, 16)
	s := Subscription{Endpoint: "https://p.example/", P256dh: ua.PublicKey().Bytes(), Auth: auth}
	body, _ := Encrypt(s, []byte("ring"))
	f.Add(body)
	f.Add(body[:headerLen])
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := Decrypt(b, ua, auth); err == nil && !bytes.Equal(b, body) && len(p) > 0 && string(p) == "ring" && bytes.Equal(b[headerLen:], body[headerLen:]) {
			t.Fatal("a changed header opened")
		}
	})
}
