package test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// pebble is a local ACME server (Let's Encrypt's Pebble, a tool of the
// module), with its directory's URL and the PEM of the roots that its
// own HTTPS listener is signed by.
type pebble struct {
	dir, caFile, mgmt string
	client            *http.Client // trusts the listener's root
}

// startPebble builds and runs Pebble on loopback, validating every
// challenge (PEBBLE_VA_ALWAYS_VALID: the test has no DNS for its domain).
func startPebble(t *testing.T) *pebble {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "pebble")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble").CombinedOutput(); err != nil {
		t.Fatalf("building pebble: %v\n%s", err, out)
	}
	// Pebble's own listener gets a certificate of a CA made here.
	lc := newLoopbackCA(t, dir)
	ca := lc.ca
	p := &pebble{caFile: lc.caFile}
	ports := freePorts(t, 4)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"certificate":             lc.certFile,
		"privateKey":              lc.keyFile,
		"httpPort":                ports[2], "tlsPort": ports[3],
		"ocspResponderURL": "", "externalAccountBindingRequired": false, "keyAlgorithm": "ecdsa",
	}}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "pebble.json")
	os.WriteFile(cfgPath, b, 0o600)
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=100")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pebble's log:\n%s", logs.String())
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	p.dir = fmt.Sprintf("https://127.0.0.1:%d/dir", ports[0])
	p.mgmt = fmt.Sprintf("https://127.0.0.1:%d", ports[1])
	eventually(t, "pebble up", func() bool {
		resp, err := p.client.Get(p.dir)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// loopbackCA is a CA made for a test, and a server certificate it signed
// for 127.0.0.1 and localhost, as PEM files in a folder.
type loopbackCA struct {
	ca                        *x509.Certificate
	caFile, certFile, keyFile string
}

func newLoopbackCA(t *testing.T, dir string) loopbackCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hearth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &key.PublicKey, caKey)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return loopbackCA{ca: ca, caFile: write("ca.pem", "CERTIFICATE", caDER), certFile: write("cert.pem", "CERTIFICATE", leafDER),
		keyFile: write("key.pem", "PRIVATE KEY", keyDER)}
}

// issuer is the root that Pebble's certificates chain to.
func (p *pebble) issuer(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble's root: %q", b)
	}
	return pool
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// TestAppSiteACME: an always-on node given a domain obtains its
// certificate from the ACME server (Pebble here, Let's Encrypt by
// default) and serves the phone's app there over HTTPS, a chain that
// verifies for the domain; / leads to the app, another host name is
// refused, `hearth status` says the certificate is ok and `hearth device
// link` opens the app at the domain; a phone's browser opens it there and
// installs it (its service worker in control). Restarted with the ACME server gone,
// it serves the certificate it keeps. Bad settings stop it at once.
func TestAppSiteACME(t *testing.T) {
	// Its own ACME server, ports and daemon: it runs beside the other
	// parallel tests, once the serial ones are done.
	t.Parallel()
	p := startPebble(t)
	const domain = "home.hearth.test"
	port := freePorts(t, 1)[0]
	site := fmt.Sprintf("127.0.0.1:%d", port)
	node := newDaemon(t, "node", "--public", "--listen", "/ip4/127.0.0.1/udp/0/webrtc-direct", "--app-domain", domain, "--app-listen", site,
		"--acme-directory", p.dir, "--acme-ca", p.caFile, "--acme-email", "owner@hearth.test")
	var st struct {
		App            string
		AppCertificate string `json:"app_certificate"`
	}
	eventually(t, "the certificate from ACME", func() bool {
		node.json(&st, "status")
		return st.AppCertificate == "ok"
	})
	want := fmt.Sprintf("https://%s:%d/app/", domain, port)
	if st.App != want {
		t.Fatalf("status: the app at %q, want %q", st.App, want)
	}
	roots := p.issuer(t)
	client := func(host string) *http.Client {
		return &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, site)
				}}}
	}
	get := func(c *http.Client, url string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get(client(domain), want)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "hearth-app") && !strings.Contains(body, "app.js") {
		t.Fatalf("the app over HTTPS: %d %q", resp.StatusCode, body[:min(len(body), 200)])
	}
	if len(resp.TLS.PeerCertificates) == 0 || resp.TLS.PeerCertificates[0].VerifyHostname(domain) != nil {
		t.Fatal("the site's certificate does not name the domain")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "wasm-unsafe-eval") {
		t.Errorf("the app's policy: %q", csp)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts == "" {
		t.Error("no HSTS on the app site")
	}
	if resp, _ := get(client(domain), fmt.Sprintf("https://%s:%d/", domain, port)); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/app/" {
		t.Errorf("/ answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(client(domain), fmt.Sprintf("https://%s:%d/api/v1/status", domain, port)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the app site serves its daemon's API: %d", resp.StatusCode)
	}
	// Another name: no certificate for it (the ACME server is never
	// asked for names the owner did not give).
	if _, err := client("other.hearth.test").Get(fmt.Sprintf("https://other.hearth.test:%d/app/", port)); err == nil {
		t.Error("the site served a name it was not given")
	}
	var link struct{ App string }
	node.json(&link, "device", "link")
	if !strings.HasPrefix(link.App, want+"#") {
		t.Errorf("the app link %q does not open the app at the domain", link.App)
	}

	// A phone's browser opens the app at the domain and installs it: a
	// secure page, its service worker in control. (It trusts the site's
	// key as a browser trusts a public CA's certificates: there is no DNS
	// for the name, nor a public CA, here.)
	leaf := resp.TLS.PeerCertificates[0]
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	ctx := phone(t, chromedp.Flag("host-resolver-rules", "MAP "+domain+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))
	if err := waitFor(ctx, chromedp.Navigate(want)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the app installed from the domain", func() bool {
		return evalPage[bool](ctx, `window.isSecureContext && location.protocol === "https:" && navigator.serviceWorker.controller !== null`)
	})
	waitPage(t, ctx, "the app's link screen", func() bool {
		return evalPage[bool](ctx, `!document.getElementById("link").hidden`)
	})
	inst, err := chromedp.Call(ctx, page.GetInstallabilityErrors, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inst.InstallabilityErrors {
		t.Errorf("not installable from the domain: %s", e.ErrorID)
	}

	// Restarted with its ACME server gone, it serves the certificate it
	// keeps in its home.
	node.stop()
	p.client.CloseIdleConnections()
	node.args = []string{"--public", "--app-domain", domain, "--app-listen", site, "--acme-directory", "https://127.0.0.1:1/dir", "--acme-ca", p.caFile}
	node.start()
	resp, _ = get(client(domain), want)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after a restart without ACME: %d", resp.StatusCode)
	}
	node.stop()

	// Bad settings stop the daemon before it starts.
	for _, bad := range [][]string{
		{"--app-domain", "192.0.2.1"},
		{"--app-domain", "localhost"},
		{"--app-domain", "bad_name.example.org"},
		{"--app-domain", domain, "--acme-directory", "http://acme.example.org/dir"},
		{"--app-domain", domain, "--acme-ca", filepath.Join(t.TempDir(), "missing.pem")},
		{"--app-domain", domain, "--app-listen", "443"},
	} {
		_, stderr, code := hearth(t, "", append([]string{"daemon", "--home", node.home, "--no-mdns"}, bad...)...)
		if code == 0 || !strings.Contains(stderr, "network.") && !strings.Contains(stderr, "--app") && !strings.Contains(stderr, "--acme") {
			t.Errorf("daemon %v: exit %d, %q", bad, code, stderr)
		}
	}
}
