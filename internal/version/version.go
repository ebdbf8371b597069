package version

import (
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
)

// Version and Commit are set at link time:
//
//	go build -ldflags "-X github.com/hearthp2p/hearth/internal/version.Version=0.1.0 -X ...Commit=abc123"
//
// Without them Version is "dev" and Commit comes from the build's VCS
// stamp, or "unknown".
var (
	Version = "dev"
	Commit  = ""
)

var (
	mu     sync.Mutex
	codecs []string
)

// RegisterCodec records that a media codec is compiled in. Codec packages
// built with their cgo build tags call it from init.
func RegisterCodec(name string) {
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(codecs, name) {
		codecs = append(codecs, name)
		slices.Sort(codecs)
	}
}

// Info describes this build.
type Info struct {
	Version string   `json:"version"`
	Commit  string   `json:"commit"`
	Go      string   `json:"go"`
	OS      string   `json:"os"`
	Arch    string   `json:"arch"`
	Codecs  []string `json:"codecs"`
}

// Get returns this build's Info. Codecs is empty, not nil, for a build
// without cgo codecs.
func Get() Info {
	mu.Lock()
	cs := append([]string{}, codecs...)
	mu.Unlock()
	commit := Commit
	if commit == "" {
		commit = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					commit = s.Value[:12]
				}
			}
		}
	}
	return Info{Version: Version, Commit: commit, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, Codecs: cs}
}
