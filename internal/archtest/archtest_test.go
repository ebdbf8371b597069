package archtest

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/hearthp2p/hearth"

// forbidden maps a package prefix (within the module) to the module
// prefixes its packages must never depend on, directly or not.
var forbidden = map[string][]string{
	"storage":  {"cmd", "device", "call", "p2p", "hal"},
	"hal":      {"cmd", "device", "call", "p2p", "storage"},
	"p2p":      {"cmd", "device", "call"},
	"call":     {"cmd", "device", "p2p"},
	"device":   {"cmd"},
	"internal": {"cmd", "device", "call", "p2p", "storage", "hal"},
}

type pkg struct {
	ImportPath string
	Deps       []string
}

func TestDependencyDirection(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Deps", module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	checked := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		top, _, _ := strings.Cut(rel, "/")
		if top == "internal" && strings.HasPrefix(rel, "internal/archtest") {
			continue
		}
		bad := forbidden[top]
		checked++
		for _, d := range p.Deps {
			if !strings.HasPrefix(d, module+"/") {
				continue
			}
			drel := strings.TrimPrefix(d, module+"/")
			dtop, _, _ := strings.Cut(drel, "/")
			for _, b := range bad {
				if dtop == b {
					t.Errorf("%s depends on %s: %s must not depend on %s", rel, drel, top, b)
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages", checked)
	}
}
