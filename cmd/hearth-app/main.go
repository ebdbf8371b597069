//go:build js && wasm

// Command hearth-app is the phone's app's Go half, built as WebAssembly
// (GOOS=js GOARCH=wasm) by scripts/web-build. It gives the page
// globalThis.hearthCore (see app/js.go) and runs until the page closes.
package main

import "github.com/hearthp2p/hearth/app"

func main() {
	app.Export()
	select {}
}
