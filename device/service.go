package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
)

// ServiceConfig runs the daemon as a service (Serve).
type ServiceConfig struct {
	// Load reads the settings (the file and the flags) into a Config,
	// Logger included. It is called at start and on each reload.
	Load func() (Config, error)
	// Reload delivers reload requests (SIGHUP); nil: none.
	Reload <-chan struct{}
	// Notify sends a state to the service manager (sd_notify); nil: to
	// systemd when NOTIFY_SOCKET is set, else nowhere.
	Notify func(state string) error
	// Watchdog is how often systemd wants to hear the daemon is alive;
	// zero: what systemd says (WATCHDOG_USEC), or none.
	Watchdog time.Duration
}

// Serve runs the daemon until ctx is done. It tells the service manager
// when the daemon is ready (the control API answers), reloading and
// stopping; it pets the watchdog while the control API answers, so a
// daemon that hangs is restarted. A reload reads the settings again: good
// ones restart the daemon in the process with them, bad ones are logged
// and the running daemon goes on.
func Serve(ctx context.Context, sc ServiceConfig) error {
	notify := sc.Notify
	if notify == nil {
		notify = func(state string) error { _, err := sddaemon.SdNotify(false, state); return err }
	}
	wd := sc.Watchdog
	if wd == 0 {
		wd, _ = sddaemon.SdWatchdogEnabled(false)
	}
	cfg, err := sc.Load()
	if err != nil {
		return err
	}
	for {
		log := logattr.OrDiscard(cfg.Logger)
		rctx, cancel := context.WithCancel(ctx)
		ready := make(chan struct{})
		c := cfg
		c.Ready = func() {
			close(ready)
			notify("READY=1\nSTATUS=serving")
			if cfg.Ready != nil {
				cfg.Ready()
			}
		}
		done := make(chan error, 1)
		go func() { done <- Run(rctx, c) }()
		wdDone := make(chan struct{})
		go func() {
			defer close(wdDone)
			petWatchdog(rctx, wd, ready, c.Home, notify, log)
		}()
		stop := func() error {
			cancel()
			<-wdDone
			return <-done
		}
	wait:
		select {
		case err := <-done:
			cancel()
			<-wdDone
			if err != nil {
				notify("STATUS=failed: " + oneLine(err.Error()))
			}
			return err
		case <-ctx.Done():
			notify("STOPPING=1")
			return stop()
		case <-sc.Reload:
			next, err := sc.Load()
			if err != nil {
				log.Error("reload refused: the settings are bad; the daemon goes on with the ones it has", logattr.Err(err))
				notify("STATUS=reload refused: " + oneLine(err.Error()))
				goto wait
			}
			log.Info("reloading")
			notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%s", sddaemon.SdNotifyMonotonicUsec()))
			if err := stop(); err != nil {
				return fmt.Errorf("stopping for a reload: %w", err)
			}
			cfg = next
		}
	}
}

// petWatchdog tells systemd the daemon is alive every half interval, as
// long as the control API answers.
func petWatchdog(ctx context.Context, every time.Duration, ready <-chan struct{}, home string, notify func(string) error, log *slog.Logger) {
	if every <= 0 {
		return
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	c := control.NewClient(SocketPath(home))
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, every/2)
		_, err := c.Status(hctx)
		cancel()
		if err != nil {
			if !errors.Is(ctx.Err(), context.Canceled) {
				log.Warn("watchdog: the control API does not answer", logattr.Err(err))
			}
			continue
		}
		notify("WATCHDOG=1")
	}
}

func oneLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
