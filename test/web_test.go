package test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// webClient calls a daemon's page API with its token.
type webClient struct {
	t     *testing.T
	base  string // http://127.0.0.1:PORT
	token string
}

func newWebClient(t *testing.T, d *daemon) *webClient {
	var st struct{ Web string }
	d.json(&st, "status")
	u, err := url.Parse(st.Web)
	if err != nil || st.Web == "" {
		t.Fatalf("web link %q: %v", st.Web, err)
	}
	tok := strings.TrimPrefix(u.Fragment, "token=")
	return &webClient{t: t, base: u.Scheme + "://" + u.Host, token: tok}
}

func (c *webClient) do(method, path string, body io.Reader, hdr map[string]string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestWebAPI: the page's API serves the control API behind its token, but
// never the routes that name paths on the daemon's machine; uploads of
// any size become file messages (a cut upload leaves nothing behind);
// contents come back byte for byte; QR codes are bounded.
func TestWebAPI(t *testing.T) {
	d := newDaemon(t, "alice", "--web", "127.0.0.1:0")
	c := newWebClient(t, d)
	var created struct{ Room string }
	d.json(&created, "room", "create", "kitchen")
	rm := created.Room

	if code, _ := c.do("GET", "/api/v1/status", nil, nil); code != 200 {
		t.Fatalf("status through the page: %d", code)
	}
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		want               int
	}{
		{"no token", "GET", "/api/v1/status", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"foreign origin", "GET", "/api/v1/status", map[string]string{"Origin": "http://evil.example"}, 403},
		{"foreign host", "GET", "/api/v1/status", map[string]string{"Host": "evil.example:80"}, 403},
		{"send by path", "POST", "/api/v1/rooms/" + rm + "/files", nil, 403},
		{"get to a path", "POST", "/api/v1/rooms/" + rm + "/files/0123456789abcdef-1/get", nil, 403},
		{"upload without a token", "POST", "/api/rooms/" + rm + "/upload?name=x", map[string]string{"Authorization": ""}, 401},
	} {
		code, body := c.do(tc.method, tc.path, strings.NewReader(`{"path":"/etc/passwd"}`), tc.hdr)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}

	// The local routes through crafted paths: a room named "x/y" reached
	// as x%2Fy (the router decodes it, a pattern on the path would not),
	// odd spellings, dot segments. The daemon's secret keys never go into
	// a room, and nothing is written to a path.
	var slashed struct{ Room string }
	d.json(&slashed, "room", "create", "x/y")
	legit := filepath.Join(t.TempDir(), "menu.txt")
	os.WriteFile(legit, []byte("soup"), 0o644)
	var sent struct{ ID string }
	d.json(&sent, "file", "send", slashed.Room, legit)
	secret := filepath.Join(d.home, "identity.json")
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("the daemon's identity file: %v", err)
	}
	pwned := filepath.Join(d.home, "pwned")
	send := `{"path":"` + secret + `"}`
	get := `{"out":"` + pwned + `"}`
	for _, a := range []struct{ path, body string }{
		{"/api/v1/rooms/x%2Fy/files", send}, {"/api/v1/rooms/x%2fy/files", send}, {"/api/v1/rooms/x%2Fy/files/", send},
		{"/api/v1/rooms/" + slashed.Room + "/files", send}, {"/api/v1/rooms/" + rm + "/./files", send},
		{"/api/v1/rooms/x/../" + rm + "/files", send}, {"//api/v1/rooms/" + rm + "/files", send},
		{"/api/v1/rooms/x%2Fy/files/" + sent.ID + "/get", get}, {"/api/v1/rooms/x%2Fy/files/" + sent.ID + "/get/", get},
		{"/api/v1/rooms/" + slashed.Room + "/files/" + sent.ID + "/get", get},
	} {
		code, b := c.do("POST", a.path, strings.NewReader(a.body), nil)
		if code == 200 || code == 202 {
			t.Errorf("POST %s from the page: %d %s", a.path, code, b)
		}
	}
	for r, want := range map[string]int{slashed.Room: 1, rm: 0} {
		var files struct{ Files []struct{ Name string } }
		d.json(&files, "file", "list", r)
		if len(files.Files) != want {
			t.Fatalf("a file reached room %s through the page: %+v", r, files.Files)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("the page wrote a path on the daemon's machine")
	}

	// Bad uploads: no name, empty, cut short. Nothing stays in uploads/.
	if code, _ := c.do("POST", "/api/rooms/"+rm+"/upload", strings.NewReader("x"), nil); code != 400 {
		t.Errorf("an upload without a name: %d", code)
	}
	if code, _ := c.do("POST", "/api/rooms/"+rm+"/upload?name=e.txt", strings.NewReader(""), nil); code != 400 {
		t.Errorf("an empty upload: %d", code)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /api/rooms/%s/upload?name=cut.bin HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 1000000\r\n\r\n", rm, strings.TrimPrefix(c.base, "http://"), c.token)
	conn.Write(bytes.Repeat([]byte{7}, 4096))
	conn.Close()
	uploads := filepath.Join(d.home, "uploads")
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, _ := os.ReadDir(uploads)
		if len(ents) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a cut upload left %d entries in uploads/", len(ents))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A real upload of 3 MiB and a bit: a job, then a file message whose
	// contents come back as sent.
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	code, body := c.do("POST", "/api/rooms/"+rm+"/upload?name=r%C3%A9sum%C3%A9.bin&type=application/octet-stream", bytes.NewReader(data), nil)
	if code != 202 {
		t.Fatalf("upload: %d %s", code, body)
	}
	var job struct{ Job, State, File string }
	json.Unmarshal(body, &job)
	for job.State == "running" {
		time.Sleep(50 * time.Millisecond)
		_, b := c.do("GET", "/api/v1/downloads/"+job.Job, nil, nil)
		json.Unmarshal(b, &job)
	}
	if job.State != "done" || job.File == "" {
		t.Fatalf("the upload's job: %+v", job)
	}
	code, got := c.do("GET", "/api/rooms/"+rm+"/files/"+job.File+"/content", nil, nil)
	if code != 200 || !bytes.Equal(got, data) {
		t.Fatalf("contents: %d, %d bytes, equal %v", code, len(got), bytes.Equal(got, data))
	}
	if ents, _ := os.ReadDir(uploads); len(ents) != 0 {
		t.Fatalf("the upload's file was left in uploads/")
	}
	var files struct{ Files []struct{ Name string } }
	d.json(&files, "file", "list", rm)
	if len(files.Files) != 1 || files.Files[0].Name != "résumé.bin" {
		t.Fatalf("files: %+v", files)
	}
	if code, _ := c.do("GET", "/api/rooms/"+rm+"/files/0123456789abcdef-9/content", nil, nil); code != 404 {
		t.Errorf("contents of an unknown message: %d", code)
	}

	// QR codes.
	if code, b := c.do("POST", "/api/qr", strings.NewReader(`{"text":"hearth://join/x"}`), nil); code != 200 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("qr: %d", code)
	}
	if code, _ := c.do("POST", "/api/qr", strings.NewReader(`{"text":"`+strings.Repeat("a", 5000)+`"}`), nil); code != 400 {
		t.Errorf("a huge qr: %d", code)
	}
}

// TestWebConnectionFlood: connections to the page that say nothing (on
// the loopback page and the LAN page, from many addresses, more than the
// daemon has descriptors for) neither hold the daemon's descriptors nor
// stop its other duties: the control socket answers, another daemon joins
// a room over libp2p, and the flood's connections are closed within the
// page's header timeout.
func TestWebConnectionFlood(t *testing.T) {
	d := newDaemon(t, "appliance", "--web", "127.0.0.1:0", "--web-lan", "127.0.0.1:0")
	var st struct {
		Web    string `json:"web"`
		WebLAN string `json:"web_lan"`
		PID    int    `json:"pid"`
	}
	d.json(&st, "status")
	// Fewer descriptors than the flood has connections.
	const limit, flood = 1024, 1200
	if err := unix.Prlimit(st.PID, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Fatal(err)
	}
	fds := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", st.PID))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, page := range []string{st.Web, st.WebLAN} {
		u, err := url.Parse(page)
		if err != nil {
			t.Fatal(err)
		}
		for i := range flood {
			// 40 addresses of 127/8, 30 connections from each.
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 1+byte(i/30/250), 1+byte(i/30%250))}
			dl := net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}
			c, err := dl.Dial("tcp", u.Host)
			if err != nil {
				t.Fatalf("connection %d to %s: %v", i, u.Host, err)
			}
			if u.Scheme == "http" {
				fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n", u.Host) // and then nothing
			}
			conns = append(conns, c)
		}
	}
	held := fds()
	t.Logf("the daemon's descriptors: %d before, %d with %d silent connections open against it", before, held, len(conns))
	if held > before+2*256+16 {
		t.Errorf("the flood holds %d of the daemon's descriptors", held-before)
	}
	// Its other duties go on: the control socket, and libp2p.
	d.run(0, "", "status")
	room := shareRoom(t, "porch", d, newDaemon(t, "bob", "--bootstrap", tcpAddr(t, d)))
	if room == "" {
		t.Fatal("no room")
	}
	// The page closes what says nothing within its header timeout, and
	// then serves whoever comes.
	eventually(t, "the silent connections closed", func() bool { return fds() <= before+64 })
	c := newWebClient(t, d)
	if code, body := c.do("GET", "/api/v1/status", nil, nil); code != 200 {
		t.Fatalf("the page after the flood: %d %s", code, body)
	}
	d.stop() // its log is whole once it has stopped
	if strings.Contains(d.logs.String(), "too many open files") {
		t.Error("the daemon ran out of descriptors")
	}
}

// TestWebLinkStable: the page's link (port and token) stays the same
// across restarts, so a bookmark works; 'web token --new' ends the old
// link at once in the running daemon.
func TestWebLinkStable(t *testing.T) {
	d := newDaemon(t, "alice", "--web", "127.0.0.1:0")
	var st struct{ Web string }
	d.json(&st, "status")
	first := st.Web
	d.stop()
	d.start()
	d.json(&st, "status")
	if st.Web != first {
		t.Fatalf("the link changed across a restart: %s, then %s", first, st.Web)
	}
	if fi, err := os.Stat(filepath.Join(d.home, "web-token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the token file: %v", err)
	}
	old := newWebClient(t, d)
	d.holds("the page's old token", old.token)
	if code, _ := old.do("GET", "/api/v1/status", nil, nil); code != 200 {
		t.Fatalf("the bookmarked link: %d", code)
	}
	d.run(0, "", "web", "token", "--new")
	if code, _ := old.do("GET", "/api/v1/status", nil, nil); code != 401 {
		t.Fatalf("the old token after a new one: %d", code)
	}
	fresh := newWebClient(t, d)
	if fresh.token == old.token {
		t.Fatal("status prints the old token")
	}
	if code, _ := fresh.do("GET", "/api/v1/status", nil, nil); code != 200 {
		t.Fatalf("the new link: %d", code)
	}
}
