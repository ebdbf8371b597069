package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/hearthp2p/hearth/internal/leakcheck"
)

// process is a hearth daemon the bench runs as a process of its own. Its
// output is kept whole and read when it ends: a figure measured on a
// daemon that raced, panicked or died is no figure.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *leakcheck.Output
	once sync.Once
	err  error
}

// startProcess starts argv (a daemon, or a prefix such as qemu then one)
// named name in the bench's reports.
func startProcess(ctx context.Context, name string, argv ...string) (*process, error) {
	p := &process{name: name, cmd: exec.CommandContext(ctx, argv[0], argv[1:]...), out: &leakcheck.Output{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// A context that ends kills it; give it a moment to stop by itself
	// first.
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(os.Interrupt) }
	p.cmd.WaitDelay = 10 * time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// stop interrupts the process, waits for it and says what went wrong: an
// exit other than a clean one, a data race, a panic or a fatal error in
// its output. It may be called again; it stops once.
func (p *process) stop() error {
	p.once.Do(func() {
		p.cmd.Process.Signal(os.Interrupt)
		err := p.cmd.Wait()
		out := p.out.String()
		if mark, excerpt := leakcheck.Crash(out); mark != "" {
			p.err = fmt.Errorf("%s: %q in its output:\n%s", p.name, mark, excerpt)
		} else if err != nil {
			p.err = fmt.Errorf("%s exited with %v:\n%s", p.name, err, tail(out))
		}
	})
	return p.err
}

// tail is the end of a process's output, for an error.
func tail(out string) string {
	if len(out) > 4000 {
		return "..." + out[len(out)-4000:]
	}
	return out
}

// stopped stops p when a bench function returns, and makes what went
// wrong with it the function's error if it had none: defer stopped(p, &err).
func stopped(p *process, err *error) {
	if e := p.stop(); e != nil && *err == nil {
		*err = e
	}
}

// newHome makes an identity's home in a temporary folder with bin (this
// executable when empty), as a new user's `hearth id create` would. It
// returns bin, the home, and the function that deletes the folder.
func newHome(ctx context.Context, bin, name string) (string, string, func(), error) {
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return "", "", nil, err
		}
	}
	tmp, err := os.MkdirTemp("", "hearth-bench-")
	if err != nil {
		return "", "", nil, err
	}
	done := func() { os.RemoveAll(tmp) }
	home := filepath.Join(tmp, name)
	if out, err := exec.CommandContext(ctx, bin, "id", "create", "--home", home).CombinedOutput(); err != nil {
		done()
		return "", "", nil, fmt.Errorf("id create: %v: %s", err, out)
	}
	return bin, home, done, nil
}
