package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
)

// VAPID is an application server's key (RFC 8292): a P-256 key pair. Its
// public key is the applicationServerKey a subscription is made with, so
// only this key's holder can send to that subscription.
type VAPID struct {
	key *ecdsa.PrivateKey
}

// NewVAPID makes a key.
func NewVAPID() (*VAPID, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &VAPID{key: k}, nil
}

// ParseVAPID reads a key from its 32-byte private scalar (Bytes).
func ParseVAPID(b []byte) (*VAPID, error) {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
	if err != nil {
		return nil, fmt.Errorf("webpush: a VAPID key: %w", err)
	}
	return &VAPID{key: k}, nil
}

// Bytes is the private scalar, to store the key.
func (v *VAPID) Bytes() ([]byte, error) { return v.key.Bytes() }

// Public is the public key, uncompressed: the applicationServerKey.
func (v *VAPID) Public() []byte {
	b, _ := v.key.PublicKey.Bytes()
	return b
}

var b64 = base64.RawURLEncoding

// Authorization is the header value for a message to endpoint, valid for
// ttl (at most 24 hours, RFC 8292 section 2): "vapid t=JWT, k=KEY". sub is
// a contact for the push service's operator (a mailto: or https: URL).
func (v *VAPID) Authorization(endpoint, sub string, now time.Time, ttl time.Duration) (string, error) {
	aud, err := endpointOrigin(endpoint)
	if err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > 24*time.Hour {
		ttl = 12 * time.Hour
	}
	head := b64.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`))
	claims, err := json.Marshal(map[string]any{"aud": aud, "exp": now.Add(ttl).Unix(), "sub": sub})
	if err != nil {
		return "", err
	}
	signing := head + "." + b64.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, v.key, sum[:])
	if err != nil {
		return "", err
	}
	// JWS's ES256 signature: r and s, 32 bytes each, big-endian.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return "vapid t=" + signing + "." + b64.EncodeToString(sig) + ", k=" + b64.EncodeToString(v.Public()), nil
}

// VerifyAuthorization checks a VAPID header as a push service does: the
// token signed by the key it names, for the endpoint's origin, not
// expired. It returns the key (to compare with the subscription's
// applicationServerKey).
func VerifyAuthorization(header, endpoint string, now time.Time) ([]byte, error) {
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return nil, errors.New("webpush: not a vapid authorization")
	}
	var t, k string
	for _, part := range strings.Split(rest, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "t":
			t = value
		case "k":
			k = value
		}
	}
	key, err := b64.DecodeString(k)
	if err != nil {
		return nil, errors.New("webpush: the vapid key")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), key)
	if err != nil {
		return nil, errors.New("webpush: the vapid key")
	}
	parts := strings.Split(t, ".")
	if len(parts) != 3 {
		return nil, errors.New("webpush: the vapid token")
	}
	head, body, sig := parts[0], parts[1], parts[2]
	raw, err := b64.DecodeString(sig)
	if err != nil || len(raw) != 64 {
		return nil, errors.New("webpush: the vapid signature")
	}
	sum := sha256.Sum256([]byte(head + "." + body))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])) {
		return nil, errors.New("webpush: the vapid signature does not verify")
	}
	cb, err := b64.DecodeString(body)
	if err != nil {
		return nil, errors.New("webpush: the vapid claims")
	}
	var claims struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(cb, &claims); err != nil {
		return nil, errors.New("webpush: the vapid claims")
	}
	aud, err := endpointOrigin(endpoint)
	if err != nil {
		return nil, err
	}
	switch {
	case claims.Aud != aud:
		return nil, fmt.Errorf("webpush: a vapid token for %q, not %q", claims.Aud, aud)
	case !now.Before(time.Unix(claims.Exp, 0)):
		return nil, errors.New("webpush: the vapid token expired")
	case claims.Exp > now.Add(24*time.Hour).Unix():
		return nil, errors.New("webpush: a vapid token valid for more than 24 hours")
	}
	return key, nil
}

// endpointOrigin is the origin of a push endpoint: https, or http on a
// loopback address (a push service in a test).
func endpointOrigin(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: endpoint %q", ErrSubscription, endpoint)
	}
	switch u.Scheme {
	case "https":
	case "http":
		ip := net.ParseIP(u.Hostname())
		if ip == nil || !ip.IsLoopback() {
			return "", fmt.Errorf("%w: endpoint %q is not https", ErrSubscription, endpoint)
		}
	default:
		return "", fmt.Errorf("%w: endpoint %q is not https", ErrSubscription, endpoint)
	}
	return u.Scheme + "://" + u.Host, nil
}
