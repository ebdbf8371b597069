package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// browser is headless Chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: messages of JSON, each ended by a NUL
// byte). The phone section needs only a few commands, so the bench speaks
// them itself rather than bring a DevTools library into the binary.
type browser struct {
	cmd *exec.Cmd
	w   io.WriteCloser
	dir string

	mu      sync.Mutex
	next    int
	pending map[int]chan cdpMsg
	events  []func(cdpMsg)
	done    chan struct{}
	err     error
}

type cdpMsg struct {
	ID      int             `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *cdpError       `json:"error,omitempty"`
	Session string          `json:"sessionId,omitempty"`
}

type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// chromiumNames are where Debian and others put Chromium.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// startBrowser starts Chromium headless with a fresh profile, a fake
// camera and microphone, and the extra flags.
func startBrowser(ctx context.Context, extra ...string) (*browser, error) {
	var bin string
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		return nil, errNoBrowser
	}
	dir, err := os.MkdirTemp("", "hearth-bench-chromium-")
	if err != nil {
		return nil, err
	}
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
		"--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection", "--remote-debugging-pipe",
		"--user-data-dir=" + dir}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, "about:blank")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	toR, toW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fromR, fromW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{toR, fromW} // fd 3: what it reads, fd 4: what it writes
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("chromium: %w", err)
	}
	toR.Close()
	fromW.Close()
	b := &browser{cmd: cmd, w: toW, dir: dir, pending: map[int]chan cdpMsg{}, done: make(chan struct{})}
	go b.read(bufio.NewReader(fromR))
	return b, nil
}

// errNoBrowser: the phone section needs Chromium.
var errNoBrowser = errors.New("chromium is not installed (the phone section drives it headless: apt-get install chromium)")

func (b *browser) read(r *bufio.Reader) {
	defer close(b.done)
	for {
		line, err := r.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.err = fmt.Errorf("chromium's DevTools pipe: %w", err)
			for _, ch := range b.pending {
				close(ch)
			}
			b.pending = map[int]chan cdpMsg{}
			b.mu.Unlock()
			return
		}
		var m cdpMsg
		if json.Unmarshal(line[:len(line)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				delete(b.pending, m.ID)
				ch <- m
			}
		}
		events := b.events
		b.mu.Unlock()
		if m.Method != "" {
			for _, f := range events {
				f(m)
			}
		}
	}
}

// on calls f with every event (in the reading goroutine: f must not call
// the browser).
func (b *browser) on(f func(cdpMsg)) {
	b.mu.Lock()
	b.events = append(b.events, f)
	b.mu.Unlock()
}

// call runs method with params on session ("" for the browser) and reads
// its result into result (if not nil).
func (b *browser) call(ctx context.Context, session, method string, params, result any) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	ch := make(chan cdpMsg, 1)
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return b.err
	}
	b.next++
	id := b.next
	b.pending[id] = ch
	msg, _ := json.Marshal(cdpMsg{ID: id, Method: method, Params: p, Session: session})
	_, err = b.w.Write(append(msg, 0))
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		switch {
		case !ok:
			return fmt.Errorf("%s: chromium went away", method)
		case m.Error != nil:
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		case result != nil:
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// attach attaches to a target (a page or a worker) and returns its
// session.
func (b *browser) attach(ctx context.Context, target string) (string, error) {
	var r struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target, "flatten": true}, &r); err != nil {
		return "", err
	}
	// A worker may wait for its debugger before it runs again.
	b.call(ctx, r.SessionID, "Runtime.runIfWaitingForDebugger", map[string]any{}, nil)
	return r.SessionID, nil
}

type targetInfo struct {
	ID   string `json:"targetId"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

func (b *browser) targets(ctx context.Context) ([]targetInfo, error) {
	var r struct {
		Infos []targetInfo `json:"targetInfos"`
	}
	err := b.call(ctx, "", "Target.getTargets", map[string]any{}, &r)
	return r.Infos, err
}

// page opens a new tab at url and returns its session.
func (b *browser) page(ctx context.Context, url string) (string, error) {
	var r struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": url}, &r); err != nil {
		return "", err
	}
	return b.attach(ctx, r.TargetID)
}

// eval evaluates expr in session, awaits its promise, and reads its value
// into v (if not nil).
func (b *browser) eval(ctx context.Context, session, expr string, v any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(ctx, session, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &r); err != nil {
		return err
	}
	if e := r.Exception; e != nil {
		if e.Exception != nil {
			return errors.New(e.Exception.Description)
		}
		return errors.New(e.Text)
	}
	if v != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, v)
	}
	return nil
}

// until evaluates expr (a boolean) every 5 ms until it holds, for at
// most d.
func (b *browser) until(ctx context.Context, session, what, expr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var ok bool
		err := b.eval(ctx, session, expr, &ok)
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return fmt.Errorf("%s: not within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *browser) close() {
	b.call(context.Background(), "", "Browser.close", map[string]any{}, nil)
	b.w.Close()
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
	}
	b.cmd.Wait()
	os.RemoveAll(b.dir)
}
