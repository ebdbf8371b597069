package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearthp2p/hearth/internal/secfile"
)

// The loopback page's link carries a token. It is kept in the home (0600),
// so a bookmark of the link keeps working across restarts, until the owner
// makes a new one ('hearth web token --new'): the page then takes only the
// new one, at once. The page's port is kept too: asked for any free port
// (port 0), the daemon takes the one it had before when it is free.

// Files of the home.
const (
	WebTokenName = "web-token"
	webPortName  = "web-port"
)

// webToken returns the page's token, making it on first use.
func webToken(home string) (string, error) {
	path := filepath.Join(home, WebTokenName)
	b, err := secfile.Read(path)
	if err == nil {
		if tok := strings.TrimSpace(string(b)); len(tok) >= 32 {
			return tok, nil
		}
		return "", fmt.Errorf("%s holds no token: remove it, or make a new one with 'hearth web token --new'", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return NewWebToken(home)
}

// NewWebToken makes a new token for the loopback page: the link with the
// old one no longer opens it, in a running daemon too.
func NewWebToken(home string) (string, error) {
	var b [24]byte
	rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	if err := secfile.Write(filepath.Join(home, WebTokenName), []byte(tok+"\n"), false); err != nil {
		return "", fmt.Errorf("keeping the page's token: %w", err)
	}
	return tok, nil
}

// tokenFile follows the token file of a running daemon: the token is
// read again when the file changed.
type tokenFile struct {
	path string

	mu    sync.Mutex
	tok   string
	mtime time.Time
}

func (t *tokenFile) current() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.path)
	if err != nil || fi.ModTime().Equal(t.mtime) {
		return t.tok
	}
	if b, err := secfile.Read(t.path); err == nil {
		if tok := strings.TrimSpace(string(b)); len(tok) >= 32 {
			t.tok, t.mtime = tok, fi.ModTime()
		}
	}
	return t.tok
}

// listenWeb listens on addr; asked for any free port, it tries the port
// it had before first, and keeps the one it gets.
func listenWeb(home, addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if port != "0" {
		return net.Listen("tcp", addr)
	}
	path := filepath.Join(home, webPortName)
	if b, err := os.ReadFile(path); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && p < 65536 {
			if ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
				return ln, nil
			}
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	_, got, _ := net.SplitHostPort(ln.Addr().String())
	os.WriteFile(path, []byte(got+"\n"), 0o600) // a hint for next time: losing it costs a new port
	return ln, nil
}
