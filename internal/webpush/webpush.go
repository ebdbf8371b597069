// Package webpush sends Web Push messages: the payload encrypted to the
// subscription (RFC 8291, "aes128gcm" of RFC 8188), the application
// server identified by a VAPID token (RFC 8292), delivered by an HTTP
// POST to the subscription's push service (RFC 8030). Only the standard
// library's cryptography is used (ECDH and ECDSA on P-256, HKDF and
// AES-128-GCM).
//
// The push service learns that a message went to a subscription, its size
// and when; never what it says.
package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Subscription is what a browser's PushManager.subscribe gives: where to
// send, and the keys to encrypt to (p256dh: an uncompressed P-256 point;
// auth: 16 random bytes).
type Subscription struct {
	Endpoint string
	P256dh   []byte
	Auth     []byte
}

// Limits of RFC 8291 and of push services.
const (
	recordSize = 4096 // the one record a push message is
	// MaxPayload is the most plaintext one message carries: a record of
	// 4096 bytes less the tag, the delimiter and the header push services
	// count.
	MaxPayload = 3993
	saltLen    = 16
	authLen    = 16
	keyLen     = 65 // an uncompressed P-256 point
	headerLen  = saltLen + 4 + 1 + keyLen
	tagLen     = 16
)

// ErrSubscription is a subscription that cannot be encrypted to.
var ErrSubscription = errors.New("webpush: bad subscription")

// Check reports whether s can be sent to: an https endpoint (http only
// for loopback, in tests: see Endpoint) and keys of the right form.
func (s Subscription) Check() error {
	if _, err := ecdh.P256().NewPublicKey(s.P256dh); err != nil {
		return fmt.Errorf("%w: p256dh: %v", ErrSubscription, err)
	}
	if len(s.Auth) != authLen {
		return fmt.Errorf("%w: an auth secret of %d bytes, not %d", ErrSubscription, len(s.Auth), authLen)
	}
	if _, err := endpointOrigin(s.Endpoint); err != nil {
		return err
	}
	return nil
}

// Encrypt seals plaintext to the subscription, with a fresh ephemeral key
// and salt: the body of the push message.
func Encrypt(s Subscription, plaintext []byte) ([]byte, error) {
	as, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	return encrypt(plaintext, s.P256dh, s.Auth, as, salt)
}

// keys derives the content key and nonce (RFC 8291 section 3.4).
func keys(ecdhSecret, auth, uaPublic, asPublic, salt []byte) (cek, nonce []byte, err error) {
	info := append(append([]byte("WebPush: info\x00"), uaPublic...), asPublic...)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, auth, string(info), 32)
	if err != nil {
		return nil, nil, err
	}
	if cek, err = hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16); err != nil {
		return nil, nil, err
	}
	nonce, err = hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	return cek, nonce, err
}

func encrypt(plaintext, uaPublic, auth []byte, as *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	if len(plaintext) > MaxPayload {
		return nil, fmt.Errorf("webpush: a payload of %d bytes, at most %d", len(plaintext), MaxPayload)
	}
	ua, err := ecdh.P256().NewPublicKey(uaPublic)
	if err != nil {
		return nil, fmt.Errorf("%w: p256dh: %v", ErrSubscription, err)
	}
	if len(auth) != authLen || len(salt) != saltLen {
		return nil, fmt.Errorf("%w: auth secret or salt of the wrong size", ErrSubscription)
	}
	secret, err := as.ECDH(ua)
	if err != nil {
		return nil, err
	}
	asPublic := as.PublicKey().Bytes()
	cek, nonce, err := keys(secret, auth, uaPublic, asPublic, salt)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, headerLen+len(plaintext)+1+tagLen)
	out = append(out, salt...)
	out = binary.BigEndian.AppendUint32(out, recordSize)
	out = append(out, byte(len(asPublic)))
	out = append(out, asPublic...)
	// One record, the last: the plaintext, then the delimiter 2.
	padded := append(append(make([]byte, 0, len(plaintext)+1), plaintext...), 2)
	return gcm.Seal(out, nonce, padded, nil), nil
}

// ErrDecrypt is a message that does not open.
var ErrDecrypt = errors.New("webpush: the message does not open")

// Decrypt opens a message sealed to the subscription whose private key is
// ua and auth secret auth: what a browser's push client does before the
// service worker sees the payload. Hearth's tests stand in for that
// client with it.
func Decrypt(body []byte, ua *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < headerLen+tagLen+1 {
		return nil, fmt.Errorf("%w: %d bytes", ErrDecrypt, len(body))
	}
	salt := body[:saltLen]
	rs := binary.BigEndian.Uint32(body[saltLen:])
	idlen := int(body[saltLen+4])
	if idlen != keyLen || rs < 18 || len(body) > headerLen+int(rs) {
		return nil, fmt.Errorf("%w: header", ErrDecrypt)
	}
	asPublic := body[saltLen+5 : headerLen]
	as, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, fmt.Errorf("%w: the sender's key", ErrDecrypt)
	}
	secret, err := ua.ECDH(as)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	cek, nonce, err := keys(secret, auth, ua.PublicKey().Bytes(), asPublic, salt)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, body[headerLen:], nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	// Strip the padding: zeros after the delimiter 2 of the last record.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, fmt.Errorf("%w: no last-record delimiter", ErrDecrypt)
	}
	return plain[:i], nil
}
