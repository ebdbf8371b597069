package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/files"
)

func fileCommands() *command {
	return &command{name: "file", summary: "send and receive files of any size, never recompressed", subs: []*command{
		{name: "send", args: "ROOM PATH", nargs: 2, flags: withFlags((*fileSendArgs).define, runFileSend), summary: "send a file into a room; prints its id",
			long: `Send a file into a room. The daemon reads it once, encrypting it into chunks
in its chunk store, and writes its manifest (name, size, type, key) into the
room as soon as that is done; members fetch the chunks from this device, from
each other and from the room's mirrors. The bytes are never recompressed: a
member receives exactly this file. The daemon must be able to read PATH. On a
terminal it shows the encryption's progress; with --json it writes progress
as JSON lines on stderr and the result on stdout.`},
		{name: "list", args: "ROOM", nargs: 1, summary: "list a room's files", run: runFileList},
		{name: "get", args: "ROOM FILE", nargs: 2, flags: withFlags((*fileGetArgs).define, runFileGet), summary: "receive a file (resumes if interrupted)",
			long: `Receive a file of a room (FILE is its id, as 'hearth file list' prints). The
daemon fetches it from every peer that has it at once, verifies every chunk,
and writes it to --out (a path, or a folder; default: the downloads folder of
the home), through a .part file renamed when complete. Interrupted (a crash,
a network break, a full disk), it keeps what was verified: run the same
command again to fetch only the rest. On a terminal it shows a progress bar;
with --json it writes progress as JSON lines on stderr and the result on
stdout.`},
	}}
}

// fileSendArgs are the flags of file send.
type fileSendArgs struct {
	mediaType string
	caption   string
}

func (a *fileSendArgs) define(fs *flag.FlagSet) {
	fs.StringVar(&a.mediaType, "type", "", "the media `TYPE` (default: from the file's extension)")
	fs.StringVar(&a.caption, "caption", "", "a `TEXT` shown with the file")
}

// fileGetArgs are the flags of file get.
type fileGetArgs struct{ out string }

func (a *fileGetArgs) define(fs *flag.FlagSet) {
	fs.StringVar(&a.out, "out", "", "write the file to `PATH` (a file or a folder)")
}

func absPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	return filepath.Abs(p)
}

func runFileSend(ctx context.Context, r *runner, a *fileSendArgs, args []string) error {
	path, err := absPath(args[1])
	if err != nil {
		return err
	}
	c, err := r.api()
	if err != nil {
		return err
	}
	dl, err := c.Files.StartSend(ctx, args[0], control.FileSend{Path: path, Type: a.mediaType, Caption: a.caption})
	if err != nil {
		return err
	}
	if dl, err = follow(ctx, r, c, dl); err != nil {
		return err
	}
	if dl.State == "failed" {
		return errors.New(dl.Error)
	}
	out := control.FileSent{ID: dl.File, Name: dl.Name, Size: dl.Size, Type: dl.Type}
	return r.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "%s\n%s sent (%s, %s)\n", out.ID, out.Name, human(out.Size), orDash(out.Type))
	})
}

// follow polls a transfer job until it ends, with a progress bar on a
// terminal or JSON lines on stderr with --json.
func follow(ctx context.Context, r *runner, c *control.Client, dl *control.Download) (*control.Download, error) {
	bar := isTerminal(r.env.Stderr) && !r.json
	enc := json.NewEncoder(r.env.Stderr)
	var err error
	for dl.State == "running" {
		select {
		case <-ctx.Done():
			if bar {
				fmt.Fprintln(r.env.Stderr) // the message goes below the bar
			}
			if dl.Kind == "send" {
				return nil, fmt.Errorf("stopped following; the daemon goes on encrypting %s and sends it when done", dl.Path)
			}
			return nil, fmt.Errorf("stopped; the daemon keeps fetching %s (run the command again to follow it)", dl.Path)
		case <-time.After(200 * time.Millisecond):
		}
		if dl, err = c.Files.Download(ctx, dl.Job); err != nil {
			return nil, err
		}
		switch {
		case r.json:
			enc.Encode(dl)
		case bar:
			fmt.Fprintf(r.env.Stderr, "\r%s", progressLine(dl))
		}
	}
	if bar {
		fmt.Fprintln(r.env.Stderr)
	}
	return dl, nil
}

func runFileList(ctx context.Context, r *runner, args []string) error {
	c, err := r.api()
	if err != nil {
		return err
	}
	out, err := c.Files.List(ctx, args[0])
	if err != nil {
		return err
	}
	return r.emit(out, func(w io.Writer) {
		if len(out.Files) == 0 {
			fmt.Fprintln(w, "no files in this room yet: 'hearth file send ROOM PATH'")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "FILE\tNAME\tSIZE\tTYPE\tTIME\n")
		for _, f := range out.Files {
			name := f.Name
			if f.Deleted {
				name += " (deleted)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.ID, name, human(f.Size), orDash(f.Type), f.Time)
		}
		tw.Flush()
	})
}

func runFileGet(ctx context.Context, r *runner, a *fileGetArgs, args []string) error {
	out, err := absPath(a.out)
	if err != nil {
		return err
	}
	c, err := r.api()
	if err != nil {
		return err
	}
	dl, err := c.Files.Get(ctx, args[0], args[1], control.FileGet{Out: out})
	if err != nil {
		return err
	}
	if dl, err = follow(ctx, r, c, dl); err != nil {
		return err
	}
	if dl.State == "failed" {
		return errors.New(dl.Error + " (what was verified is kept: run the same command again to resume)")
	}
	return r.emit(dl, func(w io.Writer) {
		if dl.Resumed == dl.Size && dl.Rate == 0 {
			fmt.Fprintf(w, "%s (%s): received already\n", dl.Path, human(dl.Size))
			return
		}
		fmt.Fprintf(w, "%s (%s) received\n", dl.Path, human(dl.Size))
	})
}

// progressLine is a one-line progress bar: bytes, rate, ETA, sources.
func progressLine(d *control.Download) string {
	const width = 24
	frac := 1.0
	if d.Size > 0 {
		frac = float64(d.Done) / float64(d.Size)
	}
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if float64(i+1) <= frac*width {
			bar[i] = '#'
		}
	}
	eta := "--"
	if d.Rate > 0 {
		eta = (time.Duration(float64(d.Size-d.Done)/d.Rate) * time.Second).Round(time.Second).String()
	}
	if d.Kind == "send" {
		return fmt.Sprintf("encrypting [%s] %5.1f%%  %s / %s  %s/s  ETA %s   ", bar, 100*frac, human(d.Done), human(d.Size), human(int64(d.Rate)), eta)
	}
	srcs := fmt.Sprintf("%d source(s)", d.Sources)
	if d.State == "done" {
		srcs = "done"
	}
	return fmt.Sprintf("[%s] %5.1f%%  %s / %s  %s/s  ETA %s  %s   ", bar, 100*frac, human(d.Done), human(d.Size), human(int64(d.Rate)), eta, srcs)
}

// human prints a byte count with a binary unit.
func human(n int64) string { return files.HumanSize(n) }
