package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/time/rate"

	"github.com/hearthp2p/hearth/device/api"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/secfile"
)

// The page on the LAN (network.web_lan): HTTPS with a certificate this
// device makes for itself (browsers give the camera and microphone only
// to secure pages), and a password the device's owner sets from the CLI
// (hearth web login). Until a password is set, nobody can log in. The
// password is kept as an Argon2id hash; a login gives a session token
// the page sends in its Authorization header, never a cookie (so no
// other site's page can make the browser use it) and never in a URL.

// WebLoginName and WebCertName are the password hash and the
// certificate (with its key) in the home.
const (
	WebLoginName = "web-login"
	WebCertName  = "web-tls.pem"
)

// MinPasswordLen is the shortest password the page's login takes.
const MinPasswordLen = 10

// Argon2id parameters: 32 MiB and two passes, a fraction of a second on
// a Raspberry Pi; logins are one at a time and rate-limited.
const (
	argonTime    = 2
	argonMemory  = 32 << 10 // KiB
	argonThreads = 2
	argonLen     = 32
)

// ErrNoLogin means no password was set for the page on the LAN.
var ErrNoLogin = errors.New("no login set for the page on the LAN: run 'hearth web login' on the device")

// SetWebLogin keeps the hash of a new password for the page on the LAN,
// replacing any before.
func SetWebLogin(home, password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fmt.Errorf("the password is too short: at least %d characters", MinPasswordLen)
	}
	if len(password) > 1024 {
		return errors.New("the password is over 1024 bytes")
	}
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return err
	}
	sum := argon2.IDKey([]byte(password), salt[:], argonTime, argonMemory, argonThreads, argonLen)
	line := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s\n", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt[:]), base64.RawStdEncoding.EncodeToString(sum))
	return secfile.Write(filepath.Join(home, WebLoginName), []byte(line), false)
}

// RemoveWebLogin forgets the password: nobody can log in on the LAN.
func RemoveWebLogin(home string) error {
	err := os.Remove(filepath.Join(home, WebLoginName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// HasWebLogin reports whether a password is set.
func HasWebLogin(home string) bool {
	_, err := os.Stat(filepath.Join(home, WebLoginName))
	return err == nil
}

// checkWebLogin compares a password with the kept hash. The file is read
// at each try, so a password set while the daemon runs counts at once.
func checkWebLogin(home, password string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(home, WebLoginName))
	if errors.Is(err, os.ErrNotExist) {
		return false, ErrNoLogin
	}
	if err != nil {
		return false, err
	}
	h, err := parseLoginHash(b)
	if err != nil {
		return false, fmt.Errorf("%s: %w: set the password again with 'hearth web login'", WebLoginName, err)
	}
	if len(password) > 1024 {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.sum)))
	return subtle.ConstantTimeCompare(got, h.sum) == 1, nil
}

// loginHash is a kept password hash: Argon2id's parameters, salt and sum.
type loginHash struct {
	memory, time uint32
	threads      uint8
	salt, sum    []byte
}

// parseLoginHash reads the PHC string SetWebLogin writes. Its parameters
// are bounded (at most 256 MiB and 10 passes), so a damaged file cannot
// make a login take minutes.
func parseLoginHash(b []byte) (loginHash, error) {
	var h loginHash
	var v, m, t, p int
	parts := strings.Split(strings.TrimSpace(string(b)), "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errors.New("not an Argon2id hash")
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return h, errors.New("an unknown Argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m < 8 || m > 256<<10 || t < 1 || t > 10 || p < 1 || p > 16 {
		return h, errors.New("bad Argon2 parameters")
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	sum, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(salt) > 64 || len(sum) < 16 || len(sum) > 64 {
		return h, errors.New("a damaged hash")
	}
	return loginHash{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, sum: sum}, nil
}

// WebCert loads the page's certificate from the home, making it on first
// use: ECDSA P-256, self-signed, naming this machine's host names and
// addresses. Its SHA-256 fingerprint is what a person compares with the
// one the browser shows.
func WebCert(home string) (tls.Certificate, string, error) {
	path := filepath.Join(home, WebCertName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if b, err = newWebCert(); err == nil {
			err = secfile.Write(path, b, false)
		}
	}
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("the page's certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(b, b)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("the page's certificate %s: %w (delete it to make a new one)", path, err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return cert, fingerprint(sum[:]), nil
}

// fingerprint prints a digest as browsers show it: hex pairs with colons.
func fingerprint(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var out strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			out.WriteByte(':')
		}
		out.WriteString(h[i : i+2])
	}
	return out.String()
}

func newWebCert() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	names := []string{"localhost"}
	if host != "" {
		names = append(names, host, host+".local")
	}
	var ips []net.IP
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ips = append(ips, n.IP)
			}
		}
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Hearth " + host, Organization: []string{"Hearth"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})...), nil
}

// A LAN session lasts loginFor; at most maxLogins are open at once (the
// oldest goes first).
const (
	loginFor  = 12 * time.Hour
	maxLogins = 32
)

// Logins are rate-limited per client address (loginBurst at once, then
// one every loginEvery) and from everywhere together.
// loginGeneration returns the SHA-256 of the kept password hash (zero
// without one). Sessions belong to the generation they were opened under:
// a new password, or none, ends them all at once, though it was set by
// the CLI while the daemon runs.
func loginGeneration(home string) [32]byte {
	b, err := os.ReadFile(filepath.Join(home, WebLoginName))
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}

// sessionsValidLocked ends every session if the password changed since
// they were opened; it reports whether the current one may be used.
func (w *lanLogin) sessionsValidLocked(gen [32]byte) bool {
	if gen == w.loginGen && gen != ([32]byte{}) {
		return true
	}
	if len(w.logins) > 0 {
		w.log.Info("web: the LAN password changed or was removed: every session ended", slog.Int("sessions", len(w.logins)))
	}
	clear(w.logins)
	w.loginGen = gen
	return false
}

// confirmPassword guards a route of powers over the whole identity on the
// LAN page: the request carries the password again (X-Hearth-Password),
// checked and rate-limited as a login is. A session alone, stolen or
// left open, cannot make a device link.
func (w *lanLogin) confirmPassword(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		pw := r.Header.Get("X-Hearth-Password")
		if pw == "" {
			api.WriteError(rw, http.StatusForbidden, "password required: this asks for the page's password again (X-Hearth-Password)")
			return
		}
		if !w.allowTry(r) {
			api.WriteError(rw, http.StatusTooManyRequests, "too many tries: wait a minute")
			return
		}
		w.loginMu.Lock()
		good, err := checkWebLogin(w.home, pw)
		w.loginMu.Unlock()
		if err != nil || !good {
			w.log.Warn("web: a wrong password for a device link or the identity's mirrors", slog.String("from", trimLog(r.RemoteAddr)))
			api.WriteError(rw, http.StatusForbidden, "wrong password")
			return
		}
		h(rw, r)
	}
}

// allowTry spends one password try of the request's client.
func (w *lanLogin) allowTry(r *http.Request) bool {
	client, _, _ := net.SplitHostPort(r.RemoteAddr)
	w.mu.Lock()
	defer w.mu.Unlock()
	lim, ok := w.tries[client]
	if !ok {
		if len(w.tries) >= 1024 {
			clear(w.tries)
		}
		lim = rate.NewLimiter(rate.Every(loginEvery), loginBurst)
		w.tries[client] = lim
	}
	return lim.Allow() && w.allTries.Allow()
}

const (
	loginBurst = 5
	loginEvery = 12 * time.Second
)

// handleLogin checks the password and opens a session: POST /api/login
// {"password"} → {"token","expires"}.
func (w *lanLogin) handleLogin(rw http.ResponseWriter, r *http.Request) {
	var req control.WebLogin
	if !api.Decode(rw, r, &req) {
		return
	}
	client, _, _ := net.SplitHostPort(r.RemoteAddr)
	if !w.allowTry(r) {
		w.log.Warn("web: a login refused: too many tries", slog.String("from", client))
		api.WriteError(rw, http.StatusTooManyRequests, "too many tries: wait a minute")
		return
	}
	w.loginMu.Lock()
	good, err := checkWebLogin(w.home, req.Password)
	w.loginMu.Unlock()
	switch {
	case errors.Is(err, ErrNoLogin):
		api.WriteError(rw, http.StatusServiceUnavailable, err.Error())
		return
	case err != nil:
		w.log.Error("web: the login file", logattr.Err(err))
		api.WriteError(rw, http.StatusInternalServerError, err.Error())
		return
	case !good:
		w.log.Warn("web: a wrong password", slog.String("from", client))
		api.WriteError(rw, http.StatusUnauthorized, "wrong password")
		return
	}
	var tok [24]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	until := time.Now().Add(loginFor)
	gen := loginGeneration(w.home)
	w.mu.Lock()
	w.sessionsValidLocked(gen)
	now := time.Now()
	for k, end := range w.logins {
		if now.After(end) {
			delete(w.logins, k)
		}
	}
	for len(w.logins) >= maxLogins {
		var oldest [32]byte
		first := true
		for k, end := range w.logins {
			if first || end.Before(w.logins[oldest]) {
				oldest, first = k, false
			}
		}
		delete(w.logins, oldest)
	}
	w.logins[sha256.Sum256([]byte(token))] = until
	w.mu.Unlock()
	w.log.Info("web: logged in on the LAN", slog.String("from", client))
	api.WriteJSON(rw, http.StatusOK, control.WebSession{Token: token, Expires: control.Time(until)})
}

// handleLogout ends the session of the request's token.
func (w *lanLogin) handleLogout(rw http.ResponseWriter, r *http.Request) {
	key := sha256.Sum256([]byte(bearer(r)))
	w.mu.Lock()
	delete(w.logins, key)
	w.mu.Unlock()
	api.WriteJSON(rw, http.StatusOK, map[string]bool{"ok": true})
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// guardLAN requires a session of the LAN page. Sessions are looked up by
// the token's hash, so the lookup tells nothing of a token's bytes.
func (w *lanLogin) guardLAN(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		key := sha256.Sum256([]byte(bearer(r)))
		gen := loginGeneration(w.home)
		w.mu.Lock()
		w.sessionsValidLocked(gen)
		end, ok := w.logins[key]
		if ok && time.Now().After(end) {
			delete(w.logins, key)
			ok = false
		}
		w.mu.Unlock()
		if !ok {
			http.Error(rw, "not logged in (or the session ended): log in again", http.StatusUnauthorized)
			return
		}
		h(rw, r)
	}
}
