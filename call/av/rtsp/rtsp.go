// Package rtsp serves a camera's H.264 to the house's recorder (go2rtc,
// Frigate, ffmpeg) over RTSP 1.0 (RFC 2326): DESCRIBE, SETUP, PLAY and
// TEARDOWN, the media interleaved on the request's TCP connection
// (RTP/AVP/TCP), packetized per RFC 6184 as the camera made it, never
// decoded nor re-encoded. A client proves the user and password by HTTP
// Digest (RFC 2617, as cameras do); nothing is served without them.
package rtsp

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"github.com/hearthp2p/hearth/call/av"
	"github.com/hearthp2p/hearth/internal/logattr"
)

// Config is what a Server needs.
type Config struct {
	// Listen is the TCP address to serve on (e.g. 0.0.0.0:8554).
	Listen string
	// Path is the stream's path ("/door" if empty).
	Path string
	// User and Password are what a client must prove; both are required.
	User, Password string
	// Video opens the camera's video (an av.Tee's reader: the camera is
	// shared with the calls). It must be H.264.
	Video  func() (av.Stream, error)
	Logger *slog.Logger
}

// Limits.
const (
	maxClients     = 8
	maxRequest     = 8 << 10 // a request's line and headers
	requestTimeout = 30 * time.Second
	writeTimeout   = 10 * time.Second
	mtu            = 1400
	realm          = "Hearth door"
)

// Server is an RTSP server of one stream.
type Server struct {
	cfg   Config
	log   *slog.Logger
	ln    net.Listener
	nonce string

	clients atomic.Int32
	played  atomic.Int64 // frames sent, all clients

	mu     sync.Mutex
	conns  map[net.Conn]bool
	tries  map[string]*rate.Limiter // failed logins, by address
	closed bool
	wg     sync.WaitGroup

	firstFrame func(time.Duration) // test hook: connect → first frame written
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.User == "" || cfg.Password == "" {
		return nil, errors.New("rtsp: a user and a password are required")
	}
	if cfg.Path == "" {
		cfg.Path = "/door"
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("rtsp: %w", err)
	}
	n := make([]byte, 16)
	rand.Read(n)
	s := &Server{cfg: cfg, log: logattr.OrDiscard(cfg.Logger), ln: ln, nonce: hex.EncodeToString(n),
		conns: map[net.Conn]bool{}, tries: map[string]*rate.Limiter{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the stream's address for a client, at host (the listener's
// when empty), without credentials.
func (s *Server) URL(host string) string {
	_, port, _ := net.SplitHostPort(s.Addr())
	if host == "" {
		host, _, _ = net.SplitHostPort(s.Addr())
	}
	return "rtsp://" + net.JoinHostPort(host, port) + s.cfg.Path
}

// Clients is how many clients play the stream now.
func (s *Server) Clients() int { return int(s.clients.Load()) }

// Close stops the server and its clients.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed || len(s.conns) >= maxClients {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			defer func() {
				if r := recover(); r != nil {
					s.log.Error("rtsp: a connection failed", slog.Any("panic", r))
				}
			}()
			s.serve(c)
		}()
	}
}

// request is one RTSP request.
type request struct {
	method, uri string
	header      textproto.MIMEHeader
}

// readRequest reads a request (its body, if any, is read and dropped).
func readRequest(r *bufio.Reader) (*request, error) {
	lr := &io.LimitedReader{R: r, N: maxRequest}
	tp := textproto.NewReader(bufio.NewReader(lr))
	line, err := tp.ReadLine()
	if err != nil {
		return nil, err
	}
	parts := strings.Fields(line)
	if len(parts) != 3 || parts[2] != "RTSP/1.0" {
		return nil, fmt.Errorf("not an RTSP/1.0 request: %q", line)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	return &request{method: parts[0], uri: parts[1], header: h}, nil
}

// session is a client's state on its connection.
type session struct {
	id      string
	setup   bool
	channel byte // the RTP channel of the interleaving
	playing chan struct{}
}

func (s *Server) serve(c net.Conn) {
	// A request is read a byte at a time past its end: an RTSP client
	// may send interleaved data too (RTCP receiver reports), which is
	// skipped.
	br := bufio.NewReaderSize(c, 4096)
	var wmu sync.Mutex // the RTP writer and the answers share the connection
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := c.Write(b)
		return err
	}
	var sess *session
	stop := func() {}
	defer func() { stop() }()
	for {
		c.SetReadDeadline(time.Now().Add(requestTimeout * 4))
		b, err := br.Peek(1)
		if err != nil {
			return
		}
		if b[0] == '$' { // interleaved data from the client (RTCP)
			var hdr [4]byte
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				return
			}
			if _, err := br.Discard(int(binary.BigEndian.Uint16(hdr[2:]))); err != nil {
				return
			}
			continue
		}
		c.SetReadDeadline(time.Now().Add(requestTimeout))
		req, err := readRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				write([]byte("RTSP/1.0 400 Bad Request\r\n\r\n"))
			}
			return
		}
		cseq := req.header.Get("CSeq")
		reply := func(code int, status string, hdrs map[string]string, body string) error {
			var sb strings.Builder
			fmt.Fprintf(&sb, "RTSP/1.0 %d %s\r\nCSeq: %s\r\nServer: Hearth\r\n", code, status, cseq)
			for k, v := range hdrs {
				fmt.Fprintf(&sb, "%s: %s\r\n", k, v)
			}
			if body != "" {
				fmt.Fprintf(&sb, "Content-Length: %d\r\n", len(body))
			}
			sb.WriteString("\r\n")
			sb.WriteString(body)
			return write([]byte(sb.String()))
		}
		if req.method == "OPTIONS" {
			reply(200, "OK", map[string]string{"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"}, "")
			continue
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		if code := s.authorize(req, host); code != 0 {
			if code == 429 {
				reply(503, "Service Unavailable", map[string]string{"Retry-After": "12"}, "")
				return
			}
			reply(401, "Unauthorized", map[string]string{"WWW-Authenticate": fmt.Sprintf("Digest realm=%q, nonce=%q", realm, s.nonce)}, "")
			continue
		}
		if !s.pathOK(req.uri) {
			reply(404, "Not Found", nil, "")
			continue
		}
		switch req.method {
		case "DESCRIBE":
			sdp, err := s.describe()
			if err != nil {
				reply(503, "Service Unavailable", nil, "")
				s.log.Warn("rtsp: the camera", logattr.Err(err))
				continue
			}
			base := strings.TrimSuffix(req.uri, "/") + "/"
			reply(200, "OK", map[string]string{"Content-Type": "application/sdp", "Content-Base": base}, sdp)
		case "SETUP":
			tr := req.header.Get("Transport")
			ch, ok := interleaved(tr)
			if !ok {
				reply(461, "Unsupported Transport", nil, "")
				continue
			}
			if sess == nil {
				id := make([]byte, 8)
				rand.Read(id)
				sess = &session{id: hex.EncodeToString(id)}
			}
			sess.setup, sess.channel = true, ch
			reply(200, "OK", map[string]string{"Session": sess.id + ";timeout=60",
				"Transport": fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", ch, ch+1)}, "")
		case "PLAY":
			if sess == nil || !sess.setup || !strings.HasPrefix(req.header.Get("Session"), sess.id) {
				reply(454, "Session Not Found", nil, "")
				continue
			}
			if sess.playing != nil {
				reply(200, "OK", map[string]string{"Session": sess.id}, "")
				continue
			}
			st, err := s.cfg.Video()
			if err != nil || st == nil {
				reply(503, "Service Unavailable", nil, "")
				continue
			}
			if !strings.EqualFold(st.Codec().MimeType, webrtc.MimeTypeH264) {
				st.Close()
				reply(415, "Unsupported Media Type", nil, "")
				s.log.Warn("rtsp: the camera does not send H.264 (RTSP serves H.264 only)", slog.String("codec", st.Codec().MimeType))
				continue
			}
			sess.playing = make(chan struct{})
			if err := reply(200, "OK", map[string]string{"Session": sess.id, "Range": "npt=0.000-"}, ""); err != nil {
				st.Close()
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			stop = func() { cancel(); st.Close(); <-done }
			s.clients.Add(1)
			s.log.Info("rtsp: a client plays the stream", slog.String("from", host))
			go func() {
				defer close(done)
				defer s.clients.Add(-1)
				if err := s.play(ctx, st, sess.channel, write); err != nil && ctx.Err() == nil {
					s.log.Info("rtsp: a client stopped", slog.String("from", host), logattr.Err(err))
					c.Close()
				}
			}()
		case "TEARDOWN":
			reply(200, "OK", nil, "")
			return
		case "GET_PARAMETER", "SET_PARAMETER":
			reply(200, "OK", nil, "")
		default:
			reply(405, "Method Not Allowed", map[string]string{"Allow": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"}, "")
		}
	}
}

// pathOK reports whether uri names the stream (or its track).
func (s *Server) pathOK(uri string) bool {
	p := uri
	if i := strings.Index(p, "://"); i >= 0 {
		p = p[i+3:]
		if j := strings.IndexByte(p, '/'); j >= 0 {
			p = p[j:]
		} else {
			p = "/"
		}
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	p = strings.TrimSuffix(p, "/")
	return p == s.cfg.Path || p == s.cfg.Path+"/trackID=0"
}

// interleaved reads a Transport header that asks for RTP over the
// connection, and its RTP channel.
func interleaved(tr string) (byte, bool) {
	for _, spec := range strings.Split(tr, ",") {
		if !strings.HasPrefix(strings.TrimSpace(spec), "RTP/AVP/TCP") {
			continue
		}
		ch := 0
		for _, p := range strings.Split(spec, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "interleaved="); ok {
				first, _, _ := strings.Cut(v, "-")
				n, err := strconv.Atoi(first)
				if err != nil || n < 0 || n > 254 {
					return 0, false
				}
				ch = n
			}
		}
		return byte(ch), true
	}
	return 0, false
}

// authorize checks a request's Digest credentials; 0 if they are good,
// 401 if not, 429 when the address tried too often.
func (s *Server) authorize(req *request, host string) int {
	s.mu.Lock()
	lim, ok := s.tries[host]
	if !ok {
		if len(s.tries) > 1024 {
			clear(s.tries)
		}
		lim = rate.NewLimiter(rate.Every(12*time.Second), 5)
		s.tries[host] = lim
	}
	s.mu.Unlock()
	if s.digestOK(req) {
		return 0
	}
	if req.header.Get("Authorization") == "" {
		return 401 // the first ask: a challenge, not a failure
	}
	if !lim.Allow() {
		return 429
	}
	s.log.Info("rtsp: wrong credentials", slog.String("from", host))
	return 401
}

func (s *Server) digestOK(req *request) bool {
	h := req.header.Get("Authorization")
	params, ok := strings.CutPrefix(h, "Digest ")
	if !ok {
		return false
	}
	p := parseParams(params)
	if p["username"] != s.cfg.User || p["realm"] != realm || p["nonce"] != s.nonce || p["uri"] == "" {
		return false
	}
	md := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	ha1 := md(s.cfg.User + ":" + realm + ":" + s.cfg.Password)
	ha2 := md(req.method + ":" + p["uri"])
	var want string
	if p["qop"] == "auth" {
		want = md(ha1 + ":" + s.nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	} else {
		want = md(ha1 + ":" + s.nonce + ":" + ha2)
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(p["response"])) == 1
}

// parseParams reads a Digest header's key="value" pairs.
func parseParams(s string) map[string]string {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				break
			}
			v, rest = rest[1:1+end], rest[2+end:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			v = strings.TrimSpace(v)
			rest = "," + rest
		}
		out[k] = v
		rest = strings.TrimSpace(rest)
		s = strings.TrimPrefix(rest, ",")
	}
	return out
}

// describe is the stream's SDP.
func (s *Server) describe() (string, error) {
	return "v=0\r\n" +
		"o=- 0 0 IN IP4 0.0.0.0\r\n" +
		"s=Hearth door\r\n" +
		"c=IN IP4 0.0.0.0\r\n" +
		"t=0 0\r\n" +
		"a=control:*\r\n" +
		"m=video 0 RTP/AVP 96\r\n" +
		"a=rtpmap:96 H264/90000\r\n" +
		"a=fmtp:96 packetization-mode=1\r\n" +
		"a=control:trackID=0\r\n", nil
}

// play sends the camera's access units as RTP, interleaved on channel,
// from its next key frame, until ctx ends or a write fails.
func (s *Server) play(ctx context.Context, st av.Stream, channel byte, write func([]byte) error) error {
	ssrc := make([]byte, 4)
	rand.Read(ssrc)
	pk := rtp.NewPacketizer(mtu, 96, binary.BigEndian.Uint32(ssrc), &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	started := time.Now()
	first := true
	keyed := false
	for ctx.Err() == nil {
		sample, err := st.Read()
		if err != nil {
			return err
		}
		if !keyed {
			if !av.IsKeyFrame(webrtc.MimeTypeH264, sample.Data) {
				continue
			}
			keyed = true
		}
		samples := uint32(sample.Duration.Seconds() * 90000)
		if samples == 0 {
			samples = 3000
		}
		for _, p := range pk.Packetize(sample.Data, samples) {
			b, err := p.Marshal()
			if err != nil {
				return err
			}
			frame := make([]byte, 4+len(b))
			frame[0], frame[1] = '$', channel
			binary.BigEndian.PutUint16(frame[2:], uint16(len(b)))
			copy(frame[4:], b)
			if err := write(frame); err != nil {
				return err
			}
		}
		s.played.Add(1)
		if first {
			first = false
			if s.firstFrame != nil {
				s.firstFrame(time.Since(started))
			}
		}
	}
	return ctx.Err()
}
