package bench

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hearthp2p/hearth/device/control"
)

// hubPresses is how many presses the press → MQTT figure takes the
// median of.
const hubPresses = 5

// hubFigures measures the home hub's bridge on loopback, against Debian's
// mosquitto: a press to the ring event a subscriber gets, an RTSP client's
// first frame after it connects, and what the bridge adds to an idle
// doorphone's memory.
func hubFigures(ctx context.Context, bin string) (_ []Figure, err error) {
	if _, err := exec.LookPath("mosquitto"); err != nil {
		return nil, errors.New("mosquitto is not installed (apt install mosquitto): the hub's figures need a broker")
	}
	bin, home, cleanup, err := newHome(ctx, bin, "door")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	dir := filepath.Dir(home)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	c := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)
	if os.Geteuid() == 0 {
		c += "user root\n"
	}
	if err := os.WriteFile(conf, []byte(c), 0o600); err != nil {
		return nil, err
	}
	broker, err := startProcess(ctx, "mosquitto", "mosquitto", "-c", conf)
	if err != nil {
		return nil, err
	}
	defer broker.cmd.Process.Kill()
	pass := filepath.Join(dir, "rtsp.pass")
	os.WriteFile(pass, []byte("bench pass\n"), 0o600)
	rtspPort, err := freePort()
	if err != nil {
		return nil, err
	}
	base := []string{bin, "daemon", "--home", home, "--role", "doorphone", "--hal", "sim", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0",
		"--microphone", "none", "--speaker", "none", "--video-codec", "h264"}
	idleRSS := func(argv []string) (float64, error) {
		d, err := startProcess(ctx, "the doorphone daemon", argv...)
		if err != nil {
			return 0, err
		}
		defer d.stop()
		if err := waitDoor(ctx, home); err != nil {
			return 0, err
		}
		time.Sleep(5 * time.Second)
		return rss(d.cmd.Process.Pid)
	}
	without, err := idleRSS(base)
	if err != nil {
		return nil, err
	}
	with := append(base[:len(base):len(base)], "--mqtt", fmt.Sprintf("mqtt://127.0.0.1:%d", port),
		"--rtsp", fmt.Sprintf("127.0.0.1:%d", rtspPort), "--rtsp-user", "bench", "--rtsp-password-file", pass)
	d, err := startProcess(ctx, "the doorphone daemon with the bridge", with...)
	if err != nil {
		return nil, err
	}
	defer stopped(d, &err)
	if err := waitDoor(ctx, home); err != nil {
		return nil, err
	}
	cl := control.NewClient(filepath.Join(home, "hearth.sock"))
	var topics string
	if err := waitFor(ctx, time.Minute, func() bool {
		st, err := cl.Door.Status(ctx)
		if err == nil && st.Hub != nil && st.Hub.MQTT == "connected" {
			topics = st.Hub.Topics
			return true
		}
		return false
	}); err != nil {
		return nil, fmt.Errorf("the bridge did not connect: %w", err)
	}
	time.Sleep(5 * time.Second)
	withRSS, err := rss(d.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}

	// Press → the ring event, at a subscriber.
	rings := make(chan time.Time, 16)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", port)).SetClientID("bench"))
	if t := sub.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("the bench's MQTT client: %v", t.Error())
	}
	defer sub.Disconnect(100)
	if t := sub.Subscribe(topics+"/ring", 1, func(mqtt.Client, mqtt.Message) { rings <- time.Now() }); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("subscribing: %v", t.Error())
	}
	var lat []float64
	for range hubPresses {
		before, err := cl.Door.Status(ctx)
		if err != nil {
			return nil, err
		}
		// Wait for the door to be idle again (its cooldown).
		for before.State != "idle" {
			time.Sleep(100 * time.Millisecond)
			if before, err = cl.Door.Status(ctx); err != nil {
				return nil, err
			}
		}
		t0 := time.Now()
		if _, err := cl.Door.Press(ctx, control.DoorPress{Kind: "short"}); err != nil {
			return nil, err
		}
		select {
		case at := <-rings:
			// The simulated press holds the button 110 ms before the
			// door takes it: counted, as a finger's would be.
			lat = append(lat, ms(at.Sub(t0)))
		case <-time.After(10 * time.Second):
			return nil, errors.New("no ring event came for a press")
		}
	}

	// RTSP: connect to the first frame, a fresh camera.
	first, err := rtspFirstFrame(fmt.Sprintf("127.0.0.1:%d", rtspPort), "bench", "bench pass")
	if err != nil {
		return nil, fmt.Errorf("rtsp: %w", err)
	}
	return []Figure{
		{Name: "hub press → MQTT ring event", Value: median(lat), Unit: "ms",
			Note: fmt.Sprintf("median of %d presses: the simulated press (held 110 ms) to the event at a subscriber of mosquitto on loopback", hubPresses)},
		{Name: "hub RTSP first frame", Value: ms(first), Unit: "ms",
			Note: "an RTSP client's connect to its first whole H.264 frame (the synthetic camera started for it), loopback"},
		{Name: "hub added idle memory", Value: withRSS - without, Unit: "MiB",
			Note: fmt.Sprintf("an idle doorphone's RSS with MQTT and RTSP on (%.1f MiB) less without (%.1f MiB)", withRSS, without)},
	}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitDoor waits for the doorphone of home to be up and idle.
func waitDoor(ctx context.Context, home string) error {
	c := control.NewClient(filepath.Join(home, "hearth.sock"))
	return waitFor(ctx, 2*time.Minute, func() bool {
		st, err := c.Door.Status(ctx)
		return err == nil && st.State == "idle"
	})
}

// rtspFirstFrame connects to the door's RTSP server as a recorder does
// (Digest, SETUP over TCP, PLAY) and returns the time to the end of the
// first access unit (an RTP packet with the marker bit).
func rtspFirstFrame(addr, user, pass string) (time.Duration, error) {
	t0 := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	uri := "rtsp://" + addr + "/door"
	cseq := 0
	var nonce, session string
	ask := func(method, url string, hdr string) (int, string, error) {
		cseq++
		auth := ""
		if nonce != "" {
			md := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
			resp := md(md(user+":Hearth door:"+pass) + ":" + nonce + ":" + md(method+":"+url))
			auth = fmt.Sprintf("Authorization: Digest username=%q, realm=\"Hearth door\", nonce=%q, uri=%q, response=%q\r\n", user, nonce, url, resp)
		}
		if session != "" {
			hdr += "Session: " + session + "\r\n"
		}
		fmt.Fprintf(c, "%s %s RTSP/1.0\r\nCSeq: %d\r\n%s%s\r\n", method, url, cseq, auth, hdr)
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, "", err
		}
		var code int
		fmt.Sscanf(line, "RTSP/1.0 %d", &code)
		headers := ""
		length := 0
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return 0, "", err
			}
			if l == "\r\n" {
				break
			}
			headers += l
			if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
				fmt.Sscan(v, &length)
			}
		}
		if length > 0 {
			io.CopyN(io.Discard, r, int64(length))
		}
		return code, headers, nil
	}
	code, hdrs, err := ask("DESCRIBE", uri, "Accept: application/sdp\r\n")
	if err != nil {
		return 0, err
	}
	if code == 401 {
		_, rest, _ := strings.Cut(hdrs, `nonce="`)
		nonce, _, _ = strings.Cut(rest, `"`)
		if code, _, err = ask("DESCRIBE", uri, "Accept: application/sdp\r\n"); err != nil {
			return 0, err
		}
	}
	if code != 200 {
		return 0, fmt.Errorf("DESCRIBE: %d", code)
	}
	code, hdrs, err = ask("SETUP", uri+"/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
	if err != nil || code != 200 {
		return 0, fmt.Errorf("SETUP: %d %v", code, err)
	}
	_, rest, _ := strings.Cut(hdrs, "Session: ")
	session, _, _ = strings.Cut(strings.TrimSpace(rest), ";")
	session = strings.TrimSpace(strings.SplitN(session, "\r", 2)[0])
	if code, _, err = ask("PLAY", uri, ""); err != nil || code != 200 {
		return 0, fmt.Errorf("PLAY: %d %v", code, err)
	}
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, err
		}
		if hdr[0] != '$' {
			return 0, fmt.Errorf("not interleaved data: %q", hdr)
		}
		pkt := make([]byte, binary.BigEndian.Uint16(hdr[2:]))
		if _, err := io.ReadFull(r, pkt); err != nil {
			return 0, err
		}
		if len(pkt) > 1 && pkt[1]&0x80 != 0 { // the marker: the end of a frame
			return time.Since(t0), nil
		}
	}
}
