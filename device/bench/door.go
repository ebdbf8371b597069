package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/demo"
)

// doorFigures measures the doorphone: the demo's story in this process
// (button press to ring on the phone, answer to the door's first frame),
// then a doorphone daemon process on the simulated board, idle: its
// memory and processor time. cmd runs the daemon (default: bin); a
// prefix such as qemu-aarch64-static measures another architecture's
// binary under emulation.
func doorFigures(ctx context.Context, bin string, cmd []string) ([]Figure, error) {
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	if len(cmd) == 0 {
		cmd = []string{bin}
	}
	fig, err := demo.Run(ctx, demo.Config{Story: true, Once: true})
	if err != nil {
		return nil, fmt.Errorf("the story: %w", err)
	}
	out := []Figure{
		{Name: "door press → ring", Value: ms(fig.PressToRing), Unit: "ms", Note: "the phone rings; from the simulated press, which holds the button 110 ms"},
		{Name: "door answer → first frame", Value: ms(fig.AnswerToFrame), Unit: "ms", Note: "the door's first video frame on the phone after it answers"},
		{Name: "door live view → first frame", Value: ms(fig.ViewToFrame), Unit: "ms", Note: "the phone asks, the door calls it back, the phone answers: its first video frame"},
	}
	idle, cpu, err := doorIdle(ctx, cmd)
	if err != nil {
		return out, err
	}
	who := strings.Join(cmd, " ")
	return append(out,
		Figure{Name: "doorphone RSS idle", Value: idle, Unit: "MiB", Note: who},
		Figure{Name: "doorphone CPU idle", Value: cpu, Unit: "% core", Note: "over 10 s, " + who},
	), nil
}

// doorIdle starts a doorphone daemon on the simulated board and measures
// it idle.
func doorIdle(ctx context.Context, cmd []string) (rssMiB, cpuPct float64, err error) {
	dir, err := os.MkdirTemp("", "hearth-bench-door-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	home := filepath.Join(dir, "h")
	run := func(args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, cmd[0], append(append(cmd[1:len(cmd):len(cmd)], args...), "--home", home)...)
	}
	if out, err := run("id", "create", "--phrase-out", filepath.Join(dir, "phrase")).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("id create: %v: %s", err, out)
	}
	d, err := startProcess(ctx, "the doorphone daemon", append(cmd[:len(cmd):len(cmd)], "daemon", "--home", home, "--role", "doorphone", "--hal", "sim", "--no-mdns",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--microphone", "synthetic", "--speaker", "none")...)
	if err != nil {
		return 0, 0, err
	}
	defer stopped(d, &err)
	c := control.NewClient(filepath.Join(home, "hearth.sock"))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if st, err := c.Door.Status(ctx); err == nil && st.State == "idle" {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, errors.New("the doorphone daemon did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	t0, err := cpuTicks(d.cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	time.Sleep(10 * time.Second)
	t1, err := cpuTicks(d.cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	// Linux counts in clock ticks of 1/100 s (USER_HZ).
	cpuPct = float64(t1-t0) / 100 / time.Since(start).Seconds() * 100
	rssMiB, err = rss(d.cmd.Process.Pid)
	return rssMiB, cpuPct, err
}

// cpuTicks is a process's user and system time in clock ticks.
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields count from after ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	k, _ := strconv.ParseUint(f[12], 10, 64)
	return u + k, nil
}
