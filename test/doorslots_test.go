package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	hnet "github.com/hearthp2p/hearth/p2p/net"
)

// hold is a stranger's program: it keeps HEARTH_TEST_HOLD_N silent TCP
// connections open to HEARTH_TEST_HOLD (host:port), from the addresses of
// HEARTH_TEST_HOLD_SRC in turn (if set), opening a new one
// whenever the other side closes one, until SIGTERM; then it writes how
// many it opened and how many the other side closed to
// HEARTH_TEST_HOLD_OUT. Meanwhile HEARTH_TEST_HOLD_OUT.now says, every
// 100 ms, how many of its connections are open and were for over 300 ms
// (held, not refused at once).
func hold(target string) {
	n, _ := strconv.Atoi(os.Getenv("HEARTH_TEST_HOLD_N"))
	var srcs []string
	if v := os.Getenv("HEARTH_TEST_HOLD_SRC"); v != "" {
		srcs = strings.Split(v, ",")
	}
	var opened, closed, held, longest atomic.Int64
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	var mu sync.Mutex
	var conns []net.Conn
	since := map[net.Conn]time.Time{} // the open ones
	go func() {
		for {
			time.Sleep(100 * time.Millisecond)
			n := 0
			mu.Lock()
			for _, at := range since {
				if time.Since(at) > 300*time.Millisecond {
					n++
				}
			}
			mu.Unlock()
			os.WriteFile(os.Getenv("HEARTH_TEST_HOLD_OUT")+".now", []byte(strconv.Itoa(n)), 0o644)
		}
	}()
	for i := range n {
		d := net.Dialer{Timeout: 5 * time.Second}
		if len(srcs) > 0 {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(srcs[i%len(srcs)])}
		}
		go func() {
			for {
				c, err := d.Dial("tcp", target)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				opened.Add(1)
				at := time.Now()
				mu.Lock()
				conns = append(conns, c)
				since[c] = at
				mu.Unlock()
				io.Copy(io.Discard, c) // says nothing; returns when closed
				mu.Lock()
				delete(since, c)
				mu.Unlock()
				closed.Add(1)
				c.Close()
				if d := time.Since(at); d > time.Second {
					held.Add(1) // held, then closed by the other side
					for {
						l := longest.Load()
						if int64(d) <= l || longest.CompareAndSwap(l, int64(d)) {
							break
						}
					}
				} else {
					time.Sleep(100 * time.Millisecond) // refused at once
				}
			}
		}()
	}
	<-stop
	os.WriteFile(os.Getenv("HEARTH_TEST_HOLD_OUT"), []byte(fmt.Sprintf("%d %d %d %d", opened.Load(), closed.Load(), held.Load(), longest.Load())), 0o644)
}

// TestStrangerHoldsHandshakeSlots: four LAN addresses of a stranger keep
// 32 silent TCP connections open to a doorphone (8 per address, what
// libp2p allows), re-opening each as it is closed: the slots of
// connections in their handshake are full. The household's admin phone,
// which came from its address before, goes away and comes home: it gets
// in and opens the door. The stranger's connections are closed by the
// door within its handshake timeout, over and over.
func TestStrangerHoldsHandshakeSlots(t *testing.T) {
	requireNetns(t)
	hosts := lan(t, 5, 6)
	// No mDNS: the door cannot find the phone's new address when it comes
	// home (a new port), so only the phone's own, inbound, connection
	// brings it in.
	door := newDaemonIn(t, hosts[0], "door", "--role", "doorphone", "--hal", "sim", "--no-mdns")
	doorAddr := ""
	for _, a := range door.addrs {
		if strings.HasPrefix(a, "/ip4/10.77.5.1/tcp/") {
			doorAddr = a
		}
	}
	if doorAddr == "" {
		t.Fatalf("no TCP address of the door on the LAN: %v", door.addrs)
	}
	phone := newDaemonIn(t, hosts[1], "phone", "--no-mdns", "--bootstrap", doorAddr)
	door.run(0, "", "door", "press", "long")
	var st struct {
		Room, Pairing string
	}
	eventually(t, "pairing mode", func() bool {
		door.json(&st, "door", "status")
		return st.Pairing != ""
	})
	phone.run(0, "", "room", "join", st.Pairing)
	door.run(0, "", "door", "press", "long")
	door.run(0, "", "room", "role", st.Room, phone.identity(), "admin")
	eventually(t, "the phone an admin", func() bool {
		var ms struct {
			Members []struct{ Identity, Role string }
		}
		phone.json(&ms, "room", "members", st.Room)
		for _, m := range ms.Members {
			if m.Identity == phone.identity() {
				return m.Role == "admin"
			}
		}
		return false
	})
	unlock := func() bool {
		out, _, code := hearth(t, "", "door", "unlock", st.Room, "--json", "--home", phone.home)
		var u struct{ Opened bool }
		json.Unmarshal([]byte(out), &u)
		return code == 0 && u.Opened
	}
	eventually(t, "the phone opens the door", unlock)

	// The stranger fills the handshake slots.
	target := "10.77.5.1:" + strings.Split(doorAddr, "/")[4]
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Four stranger hosts, each with 10 addresses of the LAN, 8
	// connections per address: 320 silent connections wanted, far more
	// than the 32 slots, so that libp2p's per-address rate limit alone
	// does not leave gaps.
	var holders []*exec.Cmd
	var outs []string
	for i, ns := range hosts[2:] {
		var srcs []string
		for j := range 10 {
			ip := fmt.Sprintf("10.77.5.%d", 100+10*i+j)
			sh(t, "ip", "-n", ns, "addr", "add", ip+"/24", "dev", "eth0")
			srcs = append(srcs, ip)
		}
		out := filepath.Join(t.TempDir(), fmt.Sprintf("hold-%d", i))
		cmd := exec.Command("ip", "netns", "exec", ns, self)
		cmd.Env = append(os.Environ(), "HEARTH_TEST_HOLD="+target, "HEARTH_TEST_HOLD_N=80", "HEARTH_TEST_HOLD_OUT="+out,
			"HEARTH_TEST_HOLD_SRC="+strings.Join(srcs, ","))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		holders = append(holders, cmd)
		outs = append(outs, out)
	}
	defer func() {
		for _, h := range holders {
			h.Process.Kill()
			h.Wait()
		}
	}()
	// The slots fill: the stranger holds 32 connections (each open over
	// 300 ms, not refused at once).
	holding := func() (n int) {
		for _, o := range outs {
			b, _ := os.ReadFile(o + ".now")
			k, _ := strconv.Atoi(string(b))
			n += k
		}
		return n
	}
	eventually(t, "the stranger holding the 32 slots", func() bool { return holding() >= 32 })

	// The phone goes away and comes home while they are held.
	phone.stop()
	phone.start()
	start := time.Now()
	eventually(t, "the phone opens the door while a stranger holds the slots", unlock)
	// And still holds them (the door closes them all at its handshake
	// timeout, and the stranger opens them again at once).
	eventually(t, "the stranger holding the 32 slots after", func() bool { return holding() >= 32 })
	t.Logf("the phone came home and opened the door in %s while 32 silent connections were held", time.Since(start).Round(time.Millisecond))
	time.Sleep(6 * time.Second) // past the handshake timeout once more
	var opened, closed, held int
	var longest time.Duration
	for i, h := range holders {
		h.Process.Signal(syscall.SIGTERM)
		h.Wait()
		b, err := os.ReadFile(outs[i])
		if err != nil {
			t.Fatal(err)
		}
		var o, c, h int
		var l int64
		fmt.Sscanf(string(b), "%d %d %d %d", &o, &c, &h, &l)
		opened, closed, held = opened+o, closed+c, held+h
		longest = max(longest, time.Duration(l))
	}
	holders = nil
	t.Logf("the stranger opened %d connections; the door closed %d, %d of them after holding them (the longest %s), the rest at once",
		opened, closed, held, longest.Round(10*time.Millisecond))
	if held < 32 || longest > hnet.HandshakeTimeout+3*time.Second {
		t.Fatalf("the stranger's silent connections: %d held and closed, the longest %s: its hold does not end by itself", held, longest)
	}
}
