package phone

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/andybalholm/brotli"
)

// TestServeAndExport: the embedded app is served with the types a
// browser needs (application/wasm, the manifest's), its large files
// as brotli to a browser that takes it, gzipped to one that takes only
// gzip, and plain to one that takes neither;
// Export writes the same bytes a web host serves, and refuses a folder of
// other files.
func TestServeAndExport(t *testing.T) {
	if !Built() {
		t.Fatal("no app is embedded: run scripts/web-build --embed")
	}
	srv := httptest.NewServer(http.StripPrefix("/app", Handler()))
	defer srv.Close()
	getWith := func(t *testing.T, url, accept string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept-Encoding", accept)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	get := func(path string, gz bool) (*http.Response, []byte) {
		return getWith(t, srv.URL+path, map[bool]string{true: "gzip, deflate, br, zstd", false: "identity"}[gz])
	}
	resp, page := get("/app/", true)
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("manifest.webmanifest")) || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("the page: %d %q", resp.StatusCode, resp.Header)
	}
	resp, _ = get("/app/manifest.webmanifest", true)
	if ct := resp.Header.Get("Content-Type"); ct != "application/manifest+json" {
		t.Errorf("the manifest is served as %q", ct)
	}
	resp, packed := get("/app/hearth-app.wasm", true)
	if resp.Header.Get("Content-Type") != "application/wasm" || resp.Header.Get("Content-Encoding") != "br" {
		t.Fatalf("the wasm to a brotli browser: %q", resp.Header)
	}
	wasm, err := io.ReadAll(brotli.NewReader(bytes.NewReader(packed)))
	if err != nil {
		t.Fatal(err)
	}
	for _, accept := range []string{"gzip", "gzip, br;q=0", "deflate, gzip;q=0.5"} {
		resp, zipped := getWith(t, srv.URL+"/app/hearth-app.wasm", accept)
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("the wasm to a browser taking %q: %q", accept, resp.Header)
		}
		zr, err := gzip.NewReader(bytes.NewReader(zipped))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(zr); !bytes.Equal(got, wasm) {
			t.Fatalf("the gzipped wasm (%q) is not the wasm", accept)
		}
	}
	resp, plain := get("/app/hearth-app.wasm", false)
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(plain, wasm) || !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		t.Fatalf("the wasm, plain: %q, %d bytes", resp.Header, len(plain))
	}
	if resp, _ := get("/app/../../etc/passwd", true); resp.StatusCode != 404 && resp.StatusCode != 301 {
		t.Fatalf("a path out of the app: %d", resp.StatusCode)
	}

	dir := t.TempDir()
	if err := Export(dir); err != nil {
		t.Fatal(err)
	}
	if err := Export(dir); err != nil {
		t.Fatalf("exporting again over its own export: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "hearth-app.wasm"))
	if err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("the exported wasm differs: %v", err)
	}
	fs.WalkDir(Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() || filepath.Ext(p) == ".br" {
			return nil
		}
		b, _ := fs.ReadFile(Files(), p)
		if e, err := os.ReadFile(filepath.Join(dir, p)); err != nil || !bytes.Equal(e, b) {
			t.Errorf("%s exported differs: %v", p, err)
		}
		return nil
	})
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o600)
	if err := Export(other); err == nil {
		t.Fatal("exported over a folder of other files")
	}
}
