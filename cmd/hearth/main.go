// Command hearth is the one Hearth binary: the daemon and every command that
// talks to it. See docs/cli.md, or run 'hearth help'.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hearthp2p/hearth/device/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.OSEnv())
	stop()
	os.Exit(code)
}
