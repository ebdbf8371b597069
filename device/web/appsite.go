package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/hearthp2p/hearth/device/web/phone"
	"github.com/hearthp2p/hearth/internal/logattr"
)

// LetsEncrypt is the ACME directory an app site uses unless told another.
const LetsEncrypt = acme.LetsEncryptURL

// AppSiteConfig is what an app site needs.
type AppSiteConfig struct {
	// Domain is the name the site is served at: its owner points it at
	// this node.
	Domain string
	// Listen is the TCP address to serve HTTPS on (":443" for browsers;
	// the ACME server checks the domain there, by TLS-ALPN-01).
	Listen string
	// Directory is the ACME server's directory URL; "" is Let's Encrypt.
	Directory string
	// Email, if set, is given to the ACME server as the account's
	// contact (it mails about expiring certificates).
	Email string
	// CAFile, if set, is a PEM file of roots to trust for the ACME server
	// itself (a private ACME server; the system's roots otherwise).
	CAFile string
	// Home is where the account key and the certificates are kept
	// (acme/, 0700).
	Home   string
	Logger *slog.Logger
}

// AppSite serves the phone's app (and only it) on its owner's domain,
// over HTTPS with a certificate it obtains and renews by ACME: the page a
// phone away from home opens and installs. It serves no API and holds no
// secret but its TLS keys.
type AppSite struct {
	srv     *http.Server
	addr    string
	log     *slog.Logger
	failed  chan error
	serving sync.WaitGroup

	mu      sync.Mutex
	certErr error     // the last attempt's failure
	certAt  time.Time // when a certificate was last obtained or loaded
}

// AppSiteStatus is what `hearth status` says of the site.
type AppSiteStatus struct {
	URL         string
	Certificate string // "ok", or why there is none
}

// StartAppSite starts serving and asks for the certificate at once, so
// that a domain or a directory that is wrong shows in the log now rather
// than at a phone's first visit.
func StartAppSite(cfg AppSiteConfig) (*AppSite, error) {
	if err := CheckDomain(cfg.Domain); err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.Home, "acme")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("app site: %w", err)
	}
	client := &acme.Client{DirectoryURL: cfg.Directory}
	if client.DirectoryURL == "" {
		client.DirectoryURL = LetsEncrypt
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("app site: the ACME server's roots: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("app site: %s holds no PEM certificate", cfg.CAFile)
		}
		client.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, Proxy: http.ProxyFromEnvironment}}
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(dir),
		HostPolicy: autocert.HostWhitelist(cfg.Domain),
		Email:      cfg.Email,
		Client:     client,
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("app site on %s: %w", cfg.Listen, err)
	}
	s := &AppSite{addr: ln.Addr().String(), log: logattr.OrDiscard(cfg.Logger), failed: make(chan error, 1)}
	tlsCfg := m.TLSConfig()
	tlsCfg.MinVersion = tls.VersionTLS12
	get := tlsCfg.GetCertificate
	tlsCfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := get(hello)
		if hello.ServerName == cfg.Domain && !isChallenge(hello) {
			s.noteCert(err)
		}
		return c, err
	}
	s.srv = &http.Server{Handler: appSiteHandler(cfg.Domain), TLSConfig: tlsCfg, ReadHeaderTimeout: webHeaderTimeout, IdleTimeout: webIdleTimeout,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := s.srv.ServeTLS(newCapListener(ln, webMaxConns, webMaxConnsPerIP, s.log), "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("app site: the server stopped", logattr.Err(err))
			s.failed <- err
		}
	}()
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_, err := tlsCfg.GetCertificate(&tls.ClientHelloInfo{ServerName: cfg.Domain,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
			SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256}, SupportedCurves: []tls.CurveID{tls.CurveP256}})
		if err != nil {
			s.log.Warn("app site: no certificate yet (it is asked again at a browser's visit)", slog.String("domain", cfg.Domain),
				slog.String("acme", client.DirectoryURL), logattr.Err(err))
			return
		}
		s.log.Info("app site: the phone's app is served", slog.String("url", s.URL(cfg.Domain)), slog.String("acme", client.DirectoryURL))
	}()
	return s, nil
}

// isChallenge reports whether hello is the ACME server's TLS-ALPN-01
// check rather than a browser.
func isChallenge(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto
}

func (s *AppSite) noteCert(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.certErr = err
	if err == nil {
		s.certAt = time.Now()
	}
}

// URL is the site's address for domain: https://domain, with the port
// when it is not 443.
func (s *AppSite) URL(domain string) string {
	_, port, _ := net.SplitHostPort(s.addr)
	if port == "443" || port == "" {
		return "https://" + domain
	}
	return "https://" + net.JoinHostPort(domain, port)
}

// Addr is the address the site listens on.
func (s *AppSite) Addr() string { return s.addr }

// Status says whether the site has its certificate.
func (s *AppSite) Status(domain string) AppSiteStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := AppSiteStatus{URL: s.URL(domain), Certificate: "not asked for yet"}
	switch {
	case s.certErr != nil:
		st.Certificate = s.certErr.Error()
	case !s.certAt.IsZero():
		st.Certificate = "ok"
	}
	return st
}

// Failed reports the server's failure, if it stops.
func (s *AppSite) Failed() <-chan error { return s.failed }

// Close stops the site.
func (s *AppSite) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	s.serving.Wait()
}

// appSiteHandler serves the app under /app/, sends / there, and nothing
// else; a request for another host is refused.
func appSiteHandler(domain string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /app/", http.StripPrefix("/app", phone.Handler()))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/app/", http.StatusFound)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !strings.EqualFold(host, domain) {
			http.Error(w, "unknown host", http.StatusMisdirectedRequest)
			return
		}
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		mux.ServeHTTP(w, r)
	})
}

// CheckDomain checks an app site's domain: a DNS name of two labels or
// more, not an address (ACME gives certificates to names).
func CheckDomain(d string) error {
	if d == "" {
		return errors.New("the app site needs a domain")
	}
	if net.ParseIP(d) != nil {
		return fmt.Errorf("domain %q: a name, not an address (ACME certifies names)", d)
	}
	if len(d) > 253 || !strings.Contains(d, ".") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
		return fmt.Errorf("domain %q: a DNS name such as home.example.org", d)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("domain %q: label %q is not a DNS label", d, label)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("domain %q: %q is not allowed in a DNS name", d, c)
			}
		}
	}
	return nil
}
