package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/device/api"
	"github.com/hearthp2p/hearth/device/calls"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/files"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/device/web/phone"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/room"
)

// The web page: served by the daemon on a loopback address (--web), for
// the person at this machine. Its assets are embedded. Every API request
// carries the per-start token (the page reads it from the URL's fragment,
// which browsers never send to a server or log) in its Authorization
// header; the Host must be this address and an Origin, if any, this
// origin: no other site can read or drive it (CSRF, DNS rebinding).

//go:embed webui
var webAssets embed.FS

// pageSession is the tag of a call whose media is in a page: the page's
// session.
type pageSession string

// Server serves the page: on loopback (with a token) and on the LAN
// (HTTPS, behind a login). It owns its servers' goroutines.
//
// Lock order: loginMu, then mu.
type Server struct {
	home  string
	api   *api.Server
	rooms *rooms.Manager
	files *files.Files
	calls *calls.Calls
	token *tokenFile // of the loopback page
	addr  string     // host:port, as listened ("" without a loopback page)
	srv   *http.Server
	log   *slog.Logger

	lanAddr string       // the LAN page's host:port ("" without one)
	lan     *http.Server // HTTPS
	certFP  string       // its certificate's SHA-256

	// The parts of the page: its calls, its files, its login on the LAN.
	pc    *pageCalls
	pf    *pageFiles
	login *lanLogin

	mu       sync.Mutex
	sessions map[string]chan pageEvent
	bound    map[call.ID]*browserEndpoint
	dirty    map[string]bool // rooms changed since the last flush

	stop    chan struct{}   // closed at Close
	ctx     context.Context // ends at Close
	cancel  context.CancelFunc
	done    chan struct{}
	serving sync.WaitGroup // the servers' goroutines
	failed  chan error     // a server that stopped on its own
}

// Config is what Start needs.
type Config struct {
	Home   string
	Logger *slog.Logger
	API    *api.Server
	Rooms  *rooms.Manager
	Files  *files.Files
	Calls  *calls.Calls
	// Addr, if set, is the loopback address of the page; LANAddr, if
	// set, the LAN's.
	Addr, LANAddr string
}

// roomFlush is how often the pages hear which rooms changed: a catch-up of
// thousands of entries is a handful of events.
const roomFlush = 200 * time.Millisecond

// roomChanged notes a room whose view changed.
func (w *Server) roomChanged(id room.ID) {
	w.mu.Lock()
	if len(w.dirty) < 4096 {
		w.dirty[id.String()] = true
	}
	w.mu.Unlock()
}

// flushRooms tells the pages which rooms changed, every roomFlush.
func (w *Server) flushRooms() {
	defer close(w.done)
	t := time.NewTicker(roomFlush)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		w.mu.Lock()
		ids := make([]string, 0, len(w.dirty))
		for id := range w.dirty {
			ids = append(ids, id)
		}
		clear(w.dirty)
		w.mu.Unlock()
		for _, id := range ids {
			w.send("", pageEvent{Type: "room", Room: id})
		}
	}
}

// maxSessions bounds the pages open at once.
const maxSessions = 8

// Start serves the page on a loopback address (addr, with a per-start
// token) and, if lanAddr is set, on the LAN over HTTPS behind a login.
func Start(cfg Config) (*Server, error) {
	addr, lanAddr := cfg.Addr, cfg.LANAddr
	w := &Server{home: cfg.Home, api: cfg.API, rooms: cfg.Rooms, files: cfg.Files, calls: cfg.Calls, log: cfg.Logger, failed: make(chan error, 2),
		sessions: map[string]chan pageEvent{}, bound: map[call.ID]*browserEndpoint{}, dirty: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.pc, w.pf = &pageCalls{w}, &pageFiles{w}
	w.login = &lanLogin{Server: w, logins: map[[32]byte]time.Time{}, tries: map[string]*rate.Limiter{}, allTries: rate.NewLimiter(rate.Every(time.Second), 10)}
	errLog := slog.NewLogLogger(w.log.Handler(), slog.LevelDebug)
	if addr != "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("--web %q: HOST:PORT", addr)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("--web %s: the page is served on a loopback address only (127.0.0.1:PORT); for the LAN, see --web-lan", addr)
		}
		tok, err := webToken(w.home)
		if err != nil {
			return nil, fmt.Errorf("web page: %w", err)
		}
		ln, err := listenWeb(w.home, addr)
		if err != nil {
			return nil, fmt.Errorf("web page: %w", err)
		}
		w.token = &tokenFile{path: filepath.Join(w.home, WebTokenName), tok: tok}
		w.token.current() // its file's time
		w.addr = ln.Addr().String()
		w.srv = &http.Server{Handler: w.checkHost(w.handler(false)), ReadHeaderTimeout: webHeaderTimeout, IdleTimeout: webIdleTimeout, ErrorLog: errLog}
		w.serving.Add(1)
		go w.serve(w.srv, newCapListener(ln, webMaxConns, webMaxConnsPerIP, w.log), false)
	}
	if lanAddr != "" {
		cert, fp, err := WebCert(w.home)
		if err != nil {
			w.closeServers()
			return nil, err
		}
		ln, err := net.Listen("tcp", lanAddr)
		if err != nil {
			w.closeServers()
			return nil, fmt.Errorf("web page on the LAN: %w", err)
		}
		w.lanAddr, w.certFP = ln.Addr().String(), fp
		w.lan = &http.Server{Handler: w.checkLANHost(w.handler(true)), ReadHeaderTimeout: webHeaderTimeout, IdleTimeout: webIdleTimeout, ErrorLog: errLog,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
		w.serving.Add(1)
		go w.serve(w.lan, newCapListener(ln, webMaxConns, webMaxConnsPerIP, w.log), true)
		login := "set"
		if !HasWebLogin(w.home) {
			login = "not set: nobody can log in until 'hearth web login' sets a password"
		}
		w.log.Info("web page on the LAN", slog.String("addr", "https://"+w.lanAddr+"/"), slog.String("certificate", fp), slog.String("login", login))
	}
	w.rooms.OnChange(w.roomChanged)
	w.calls.OnChange(func(call.Status) { w.pc.CallsChanged() })
	w.calls.Endpoints(func(tag any) bool { _, ok := tag.(pageSession); return ok },
		func(c *call.Call, ev call.EndpointEvents) (call.Endpoint, error) {
			return w.pc.NewBrowserEndpoint(string(c.Tag().(pageSession)), c, ev)
		})
	go w.flushRooms()
	if w.addr != "" {
		w.log.Info("web page on", slog.String("addr", "http://"+w.addr+"/"), slog.String("link", "'hearth status' prints it with its token"))
	}
	return w, nil
}

// handler is the page and its API; lan says which guard it has.
func (w *Server) handler(lan bool) http.Handler {
	sub, _ := fs.Sub(webAssets, "webui")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(sub))
	// The phone's app: static, public (it holds no secret; a phone that
	// opens it makes its own device and is linked by a link).
	mux.Handle("GET /app/", http.StripPrefix("/app", phone.Handler()))
	guard := w.guard
	if lan {
		guard = w.login.guardLAN
		mux.HandleFunc("POST /api/login", w.login.handleLogin)
		mux.HandleFunc("POST /api/logout", guard(w.login.handleLogout))
	}
	for _, r := range w.pageRoutes() {
		if h := w.forPage(r, lan); h != nil {
			mux.HandleFunc(r.Method+" "+r.Path, guard(h))
		}
	}
	for _, m := range []string{"GET", "POST"} {
		mux.Handle(m+" /api/v1/", guard(w.controlForPage(lan).ServeHTTP))
	}
	return idleDeadlines(mux)
}

// pageRoutes are the page's own routes (the control API is under
// /api/v1, see controlForPage).
func (w *Server) pageRoutes() []api.Route {
	var out []api.Route
	route := func(method, path string, a api.Access, h http.HandlerFunc) {
		out = append(out, api.Route{Method: method, Path: path, Access: a, Handler: h})
	}
	route("GET", "/api/events", api.AccessRead, w.handleEvents)
	route("GET", "/api/me", api.AccessRead, w.api.HandleMe)
	route("GET", "/api/rooms", api.AccessRead, w.handleRooms)
	route("POST", "/api/rooms/{room}/calls", api.AccessWrite, w.pc.handlePlace)
	route("POST", "/api/calls/{call}/answer", api.AccessWrite, w.pc.handleAnswer)
	route("POST", "/api/calls/{call}/hangup", api.AccessWrite, w.pc.handleHangup)
	route("POST", "/api/calls/{call}/signal", api.AccessWrite, w.pc.handleSignal)
	w.api.DoorRoutes(route, true)
	route("POST", "/api/rooms/{room}/upload", api.AccessWrite, w.pf.handleUpload)
	route("POST", "/api/rooms/{room}/files/{file}/fetch", api.AccessWrite, w.pf.handleFetch)
	route("GET", "/api/rooms/{room}/files/{file}/content", api.AccessRead, w.pf.handleContent)
	route("POST", "/api/qr", api.AccessRead, w.pf.handleQR)
	route("GET", "/api/wordlist", api.AccessRead, w.pf.handleWordlist)
	return out
}

// serve runs one of the page's servers until it is closed; any other end
// is logged.
func (w *Server) serve(s *http.Server, ln net.Listener, tls bool) {
	defer w.serving.Done()
	var err error
	if tls {
		err = s.ServeTLS(ln, "", "")
	} else {
		err = s.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		w.log.Error("web: the page's server stopped", logattr.Err(err))
		w.failed <- err
	}
}

// idleDeadlines bounds how long a request may stall: its body must keep
// arriving (webReadIdle between reads) and its answer keep being read
// (webWriteIdle between writes). Uploads and streams of any length go
// on while they move.
func idleDeadlines(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(rw)
		rc.SetWriteDeadline(time.Now().Add(webWriteIdle))
		// A request without a body has been read whole: no read deadline
		// (it would cut a stream's answer short).
		if r.Body != nil && r.Body != http.NoBody {
			rc.SetReadDeadline(time.Now().Add(webReadIdle))
			r.Body = &idleBody{ReadCloser: r.Body, rc: rc}
		}
		h.ServeHTTP(&idleWriter{ResponseWriter: rw, rc: rc}, r)
	})
}

type idleBody struct {
	io.ReadCloser
	rc *http.ResponseController
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.rc.SetReadDeadline(time.Time{}) // read whole
	case n > 0:
		b.rc.SetReadDeadline(time.Now().Add(webReadIdle))
	}
	return n, err
}

type idleWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (w *idleWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(webWriteIdle))
	return w.ResponseWriter.Write(p)
}

func (w *idleWriter) Flush() {
	w.rc.SetWriteDeadline(time.Now().Add(webWriteIdle))
	w.rc.Flush()
}

func (w *idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// URL is the page's address with its token ("" without a loopback page).
func (w *Server) URL() string {
	if w.addr == "" {
		return ""
	}
	return "http://" + w.addr + "/#token=" + w.token.current()
}

// LANURL is the page's address on the LAN ("" without one).
func (w *Server) LANURL() string {
	if w.lanAddr == "" {
		return ""
	}
	return "https://" + w.lanAddr + "/"
}

func (w *Server) closeServers() {
	for _, s := range []*http.Server{w.srv, w.lan} {
		if s != nil {
			s.Close()
		}
	}
	w.serving.Wait()
}

// Failed hears of a server of the page that stopped on its own (the
// daemon stops then, as for its control API).
func (w *Server) Failed() <-chan error { return w.failed }

// Status is where the page is, for 'hearth status'.
func (w *Server) Status() api.WebStatus {
	return api.WebStatus{URL: w.URL(), LANURL: w.LANURL(), CertFP: w.certFP}
}

// Close stops serving the page.
func (w *Server) Close() {
	close(w.stop)
	w.cancel()
	<-w.done
	w.closeServers()
}

// securityHeaders are set on every answer of both pages.
func securityHeaders(rw http.ResponseWriter) {
	rw.Header().Set("X-Frame-Options", "DENY")
	rw.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' blob:; media-src 'self' blob: mediastream:; img-src 'self' data: blob:")
	rw.Header().Set("Referrer-Policy", "no-referrer")
	rw.Header().Set("Cache-Control", "no-store")
}

// checkHost refuses a request whose Host or Origin is not this page's:
// another site's page (through DNS rebinding or a form) cannot reach it.
func (w *Server) checkHost(h http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(w.addr)
	hosts := map[string]bool{w.addr: true, "127.0.0.1:" + port: true, "localhost:" + port: true, "[::1]:" + port: true}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !hosts[r.Host] {
			w.log.Info("web: a request for a foreign host refused", slog.String("host", trimLog(r.Host)))
			http.Error(rw, "wrong host", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !hosts[strings.TrimPrefix(o, "http://")] {
			w.log.Info("web: a request from a foreign origin refused", slog.String("origin", trimLog(o)))
			http.Error(rw, "foreign origin", http.StatusForbidden)
			return
		}
		securityHeaders(rw)
		h.ServeHTTP(rw, r)
	})
}

// checkLANHost is checkHost for the LAN page: the Host must be an address
// (of any interface: DHCP may move it) or this machine's name, with the
// page's port; an Origin must be this very https origin. A name another
// site controls (DNS rebinding) is refused.
func (w *Server) checkLANHost(h http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(w.lanAddr)
	name, _ := os.Hostname()
	names := map[string]bool{"localhost": true}
	if name != "" {
		names[strings.ToLower(name)] = true
		names[strings.ToLower(name)+".local"] = true
	}
	ok := func(hostport string) bool {
		host, p, err := net.SplitHostPort(hostport)
		if err != nil || p != port {
			return false
		}
		return net.ParseIP(host) != nil || names[strings.ToLower(host)]
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !ok(r.Host) {
			w.log.Info("web: a request for a foreign host refused", slog.String("host", trimLog(r.Host)))
			http.Error(rw, "wrong host", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "https://"+r.Host {
			w.log.Info("web: a request from a foreign origin refused", slog.String("origin", trimLog(o)))
			http.Error(rw, "foreign origin", http.StatusForbidden)
			return
		}
		securityHeaders(rw)
		rw.Header().Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(rw, r)
	})
}

func trimLog(s string) string {
	if len(s) > 80 {
		return s[:80]
	}
	return s
}

// guard requires the token.
func (w *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		got := bearer(r)
		if subtle.ConstantTimeCompare([]byte(got), []byte(w.token.current())) != 1 {
			http.Error(rw, "no or wrong token: open the link 'hearth status' prints", http.StatusUnauthorized)
			return
		}
		h(rw, r)
	}
}

func (w *Server) hasSession(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.sessions[s]
	return ok
}

// send queues an event for one session ("" for all).
func (w *Server) send(sess string, e pageEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, ch := range w.sessions {
		if sess != "" && id != sess {
			continue
		}
		select {
		case ch <- e:
		default: // a page that does not read: it gets the next snapshot
		}
	}
}

func (w *pageCalls) bind(id call.ID, b *browserEndpoint) {
	w.mu.Lock()
	w.bound[id] = b
	w.mu.Unlock()
}

func (w *pageCalls) unbind(id call.ID) {
	w.mu.Lock()
	delete(w.bound, id)
	w.mu.Unlock()
}

// CallsChanged tells every page the calls now.
func (w *pageCalls) CallsChanged() {
	w.send("", pageEvent{Type: "calls", List: w.calls.Manager().Calls()})
}

// handleEvents streams events to a page, one JSON object a line: first
// its session, then the calls, then whatever happens.
func (w *Server) handleEvents(rw http.ResponseWriter, r *http.Request) {
	fl, ok := rw.(http.Flusher)
	if !ok {
		http.Error(rw, "no streaming", http.StatusInternalServerError)
		return
	}
	var sb [8]byte
	rand.Read(sb[:])
	sess := hex.EncodeToString(sb[:])
	ch := make(chan pageEvent, 64)
	w.mu.Lock()
	if len(w.sessions) >= maxSessions {
		w.mu.Unlock()
		http.Error(rw, "too many pages open", http.StatusTooManyRequests)
		return
	}
	w.sessions[sess] = ch
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.sessions, sess)
		var orphans []*browserEndpoint
		for _, b := range w.bound {
			if b.sess == sess {
				orphans = append(orphans, b)
			}
		}
		w.mu.Unlock()
		for _, b := range orphans {
			b.c.Hangup("the page was closed")
		}
	}()
	rw.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(rw)
	enc.Encode(map[string]string{"type": "session", "session": sess})
	enc.Encode(pageEvent{Type: "calls", List: w.calls.Manager().Calls()})
	fl.Flush()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	rc := http.NewResponseController(rw)
	for {
		select {
		case <-r.Context().Done():
			return
		case e := <-ch:
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if enc.Encode(e) != nil {
				return
			}
		case <-tick.C:
			// The calls' figures, and a heartbeat.
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if enc.Encode(pageEvent{Type: "calls", List: w.calls.Manager().Calls()}) != nil {
				return
			}
		}
		fl.Flush()
	}
}

func (w *Server) handleRooms(rw http.ResponseWriter, r *http.Request) { w.api.HandleListRooms(rw, r) }

// session is the page's session, from its header.
func (w *Server) session(r *http.Request) (pageSession, error) {
	s := r.Header.Get("X-Hearth-Session")
	if !w.hasSession(s) {
		return "", errors.New("no such page session: reload the page")
	}
	return pageSession(s), nil
}

func (w *pageCalls) handlePlace(rw http.ResponseWriter, r *http.Request) {
	sess, err := w.session(r)
	if err != nil {
		api.WriteError(rw, http.StatusBadRequest, err.Error())
		return
	}
	var req control.CallPlace
	if !api.Decode(rw, r, &req) {
		return
	}
	rm, err := w.rooms.Resolve(r.PathValue("room"))
	if err != nil {
		api.Fail(rw, err)
		return
	}
	api.PlaceCall(rw, r, w.calls, rm, req, sess)
}

func (w *pageCalls) findCall(rw http.ResponseWriter, r *http.Request) (*call.Call, bool) {
	c, err := w.calls.Find(r.PathValue("call"))
	if err != nil {
		api.WriteError(rw, http.StatusNotFound, err.Error())
		return nil, false
	}
	return c, true
}

func (w *pageCalls) handleAnswer(rw http.ResponseWriter, r *http.Request) {
	sess, err := w.session(r)
	if err != nil {
		api.WriteError(rw, http.StatusBadRequest, err.Error())
		return
	}
	var req control.CallAnswer
	if !api.Decode(rw, r, &req) {
		return
	}
	c, ok := w.findCall(rw, r)
	if !ok {
		return
	}
	if err := c.AnswerTagged(calls.Media(req.AudioOnly), sess); err != nil {
		api.WriteError(rw, http.StatusConflict, err.Error())
		return
	}
	api.WriteJSON(rw, http.StatusOK, c.Status())
}

func (w *pageCalls) handleHangup(rw http.ResponseWriter, r *http.Request) {
	c, ok := w.findCall(rw, r)
	if !ok {
		return
	}
	c.Hangup("")
	api.WriteJSON(rw, http.StatusOK, c.Status())
}

func (w *pageCalls) handleSignal(rw http.ResponseWriter, r *http.Request) {
	var s pageSignal
	if !api.Decode(rw, r, &s) {
		return
	}
	id, err := call.ParseID(r.PathValue("call"))
	if err != nil {
		api.WriteError(rw, http.StatusBadRequest, err.Error())
		return
	}
	w.mu.Lock()
	b, ok := w.bound[id]
	w.mu.Unlock()
	if !ok || string(b.sess) != r.Header.Get("X-Hearth-Session") {
		api.WriteError(rw, http.StatusNotFound, "this page has no media of that call")
		return
	}
	if err := b.fromPage(s); err != nil {
		w.log.Info("web: a bad signal from the page", logattr.Err(err))
		api.WriteError(rw, http.StatusBadRequest, err.Error())
		return
	}
	api.WriteJSON(rw, http.StatusOK, control.OK{OK: true})
}

// The parts of the page; each has the Server.
type (
	// pageCalls are the calls placed and answered on the page, whose
	// media is in the browser.
	pageCalls struct{ *Server }
	// pageFiles are the page's uploads, downloads and pictures.
	pageFiles struct{ *Server }
	// lanLogin is the login of the page on the LAN.
	lanLogin struct {
		*Server
		loginMu  sync.Mutex               // one password check at a time
		logins   map[[32]byte]time.Time   // SHA-256 of a LAN session token -> its end
		loginGen [32]byte                 // SHA-256 of the password file the sessions were opened under
		tries    map[string]*rate.Limiter // logins per client address
		allTries *rate.Limiter            // logins from everywhere
	}
)
