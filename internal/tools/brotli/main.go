// Command brotli compresses files for the phone's app as the binary
// embeds them (scripts/web-build): each FILE becomes FILE.br, at a fixed
// quality and window, so that the same input gives the same bytes on any
// machine (the encoder is pure Go, github.com/andybalholm/brotli). The
// input is removed, as gzip does.
//
//	go run ./internal/tools/brotli FILE...
package main

import (
	"fmt"
	"os"

	"github.com/andybalholm/brotli"
)

// Quality 9 with a 16 MiB window: within a few percent of quality 11 on
// the app's WebAssembly, in a tenth of the time (the suite builds it).
const (
	quality = 9
	window  = 24
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: brotli FILE...")
		os.Exit(2)
	}
	for _, name := range os.Args[1:] {
		if err := compress(name); err != nil {
			fmt.Fprintf(os.Stderr, "brotli: %v\n", err)
			os.Exit(1)
		}
	}
}

func compress(name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	tmp := name + ".br.tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := brotli.NewWriterOptions(f, brotli.WriterOptions{Quality: quality, LGWin: window})
	_, err = w.Write(b)
	if err == nil {
		err = w.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name+".br")
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", name, err)
	}
	return os.Remove(name)
}
