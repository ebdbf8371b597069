package web

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// The page's servers are reachable by whoever reaches the machine (the
// LAN page) or runs on it (the loopback page): neither may let idle or
// slow connections pile up until the daemon runs out of descriptors.
const (
	webMaxConns      = 256 // connections open at once, per server
	webMaxConnsPerIP = 32  // from one address
	webHeaderTimeout = 5 * time.Second
	webIdleTimeout   = 30 * time.Second // a kept-alive connection with no request
	webReadIdle      = 30 * time.Second // a request body that stops arriving
	webWriteIdle     = 60 * time.Second // an answer the client stops reading
)

// capListener accepts at most max connections at once, perIP of them
// from one address; it closes the others as they arrive.
type capListener struct {
	net.Listener
	max, perIP int
	log        *slog.Logger

	mu     sync.Mutex
	total  int
	byIP   map[string]int
	warned time.Time
}

func newCapListener(ln net.Listener, max, perIP int, log *slog.Logger) *capListener {
	return &capListener{Listener: ln, max: max, perIP: perIP, log: log, byIP: map[string]int{}}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		if l.total >= l.max || l.byIP[ip] >= l.perIP {
			now := time.Now()
			warn := now.Sub(l.warned) > time.Minute
			if warn {
				l.warned = now
			}
			total, mine := l.total, l.byIP[ip]
			l.mu.Unlock()
			c.Close()
			if warn {
				l.log.Warn("web: a connection refused: too many open", slog.String("from", ip), slog.Int("from_there", mine), slog.Int("open", total))
			}
			continue
		}
		l.total++
		l.byIP[ip]++
		l.mu.Unlock()
		return &capConn{Conn: c, release: sync.OnceFunc(func() {
			l.mu.Lock()
			l.total--
			if l.byIP[ip]--; l.byIP[ip] <= 0 {
				delete(l.byIP, ip)
			}
			l.mu.Unlock()
		})}, nil
	}
}

type capConn struct {
	net.Conn
	release func()
}

func (c *capConn) Close() error {
	c.release()
	return c.Conn.Close()
}
