// Package phone is the phone's app as scripts/web-build builds it from
// its sources (cmd/hearth-app and app/ in Go, web/app/ in JavaScript),
// embedded so that `go build` needs neither npm nor a browser build: the
// daemon serves it (at /app/ of its pages) and `hearth web export` writes
// it out for any web host. It holds no secret.
//
// The two large files are kept compressed with brotli (hearth-app.wasm.br,
// app.js.br) and served as they are to browsers that take it, which all
// do over HTTPS and on localhost. A browser that takes only gzip gets
// them gzipped, compressed once on first asking and kept; one that takes
// neither, plain.
// `scripts/web-build --check` (run by scripts/test) fails when what is
// embedded is not what the sources build.
package phone

import (
	"bytes"
	"compress/gzip"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
)

//go:embed dist
var dist embed.FS

// Files is the app as built, the large files gzipped (NAME.gz).
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err)
	}
	return sub
}

// Built reports whether an app is embedded (a tree built without running
// scripts/web-build --embed has none).
func Built() bool {
	_, err := fs.Stat(Files(), "index.html")
	return err == nil
}

// CSP is the app's content security policy: its own scripts and worker,
// WebAssembly compiled from its own file, nothing from elsewhere (WebRTC
// and js-libp2p's connections are not fetches).
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; " +
	"img-src 'self' data: blob:; media-src 'self' blob: mediastream:; style-src 'self'; frame-ancestors 'none'"

// Handler serves the app at the root of its path (mount it with
// http.StripPrefix).
func Handler() http.Handler {
	files := Files()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "the app is read only", http.StatusMethodNotAllowed)
			return
		}
		// The Go half is WebAssembly: it needs 'wasm-unsafe-eval' (and no
		// other eval); the service worker is the app's own.
		w.Header().Set("Content-Security-Policy", CSP)
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		// The worker and the page are checked for a new build each time;
		// the rest is named by the worker's cache.
		if name == "sw.js" || name == "index.html" {
			w.Header().Set("Cache-Control", "no-cache")
		}
		if b, err := fs.ReadFile(files, name); err == nil {
			setType(w, name)
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
			return
		}
		br, err := fs.ReadFile(files, name+".br")
		if err != nil {
			http.NotFound(w, r)
			return
		}
		setType(w, name)
		w.Header().Add("Vary", "Accept-Encoding")
		switch accepts := r.Header.Get("Accept-Encoding"); {
		case acceptsCoding(accepts, "br"):
			w.Header().Set("Content-Encoding", "br")
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(br))
		case acceptsCoding(accepts, "gzip"):
			gz, err := gzipped(name, br)
			if err != nil {
				http.Error(w, "the embedded app is damaged", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Encoding", "gzip")
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(gz))
		default:
			io.Copy(w, brotli.NewReader(bytes.NewReader(br)))
		}
	})
}

// acceptsCoding reports whether an Accept-Encoding header takes coding
// (with a q that is not zero).
func acceptsCoding(header, coding string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), coding) {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// gzipCache holds the gzipped copies made for browsers that take no
// brotli, by name: made once each.
var gzipCache sync.Map // name -> *gzipOnce

type gzipOnce struct {
	once sync.Once
	b    []byte
	err  error
}

func gzipped(name string, br []byte) ([]byte, error) {
	v, _ := gzipCache.LoadOrStore(name, &gzipOnce{})
	g := v.(*gzipOnce)
	g.once.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		if _, g.err = io.Copy(zw, brotli.NewReader(bytes.NewReader(br))); g.err == nil {
			g.err = zw.Close()
		}
		g.b = buf.Bytes()
	})
	return g.b, g.err
}

func setType(w http.ResponseWriter, name string) {
	t := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".wasm":
		t = "application/wasm"
	case ".webmanifest":
		t = "application/manifest+json"
	}
	if t != "" {
		w.Header().Set("Content-Type", t)
	}
}

// Export writes the app to dir (made if needed), every file as a web
// host serves it (the compressed ones decompressed). It refuses a dir that
// holds files already, unless they are an app it wrote before.
func Export(dir string) error {
	if !Built() {
		return errors.New("this hearth was built without the phone's app: run scripts/web-build --embed, then build it again")
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		if _, err := os.Stat(filepath.Join(dir, "sw.js")); err != nil {
			return fmt.Errorf("%s is not empty: give an empty folder (or one this command wrote)", dir)
		}
	}
	files := Files()
	return fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".br") {
			if b, err = io.ReadAll(brotli.NewReader(bytes.NewReader(b))); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			out = strings.TrimSuffix(out, ".br")
		}
		tmp := out + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, out)
	})
}
