package archtest

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// goList lists every package of the module as the check reads them, with
// the go command's -overlay file overlay when not empty.
func goList(t *testing.T, overlay string) []Package {
	t.Helper()
	args := []string{"list", "-json=ImportPath,Imports,Deps,TestImports,XTestImports"}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.Command("go", append(args, Module+"/...")...)
	cmd.Dir = root(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Package
			XTestImports []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		p.TestImports = append(p.TestImports, p.XTestImports...)
		pkgs = append(pkgs, p.Package)
	}
	return pkgs
}

// root is the module's directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDependencyDirection checks the module's packages as they are
// against Rules.
func TestDependencyDirection(t *testing.T) {
	pkgs := goList(t, "")
	if len(pkgs) < 5 {
		t.Fatalf("go list gave only %d packages", len(pkgs))
	}
	for _, r := range Rules {
		if !Applies(Module, pkgs, r) {
			t.Logf("rule %s: none of its packages %v exists yet", r.Name, r.Pkg)
		}
	}
	for _, v := range Check(Module, pkgs, Rules) {
		t.Error(v)
	}
}

// example is a path that pattern matches: a package that is not in the
// module when pattern is "...".
func example(pattern string) string {
	if pattern == "..." {
		return "zz/anything"
	}
	return strings.TrimSuffix(pattern, "/...")
}

// full is the import path of rel, a path in the module or net/http.
func full(rel string) string {
	if rel == "net/http" {
		return rel
	}
	return Module + "/" + rel
}

// offending builds, for rule r, a package that breaks it (and only
// through one arrow): its first package pattern, reaching its first
// denied pattern. It fails the test if that is not an offence by the
// rule's own Except and Allow.
func offending(t *testing.T, r Rule) (Package, string, string) {
	t.Helper()
	self, dep := example(r.Pkg[0]), example(r.Deny[0])
	if matchAny(r.Except, self, true) || matchAny(r.Allow, dep, true) {
		t.Fatalf("rule %s: no example of an offence from %s to %s", r.Name, self, dep)
	}
	p := Package{ImportPath: Module + "/" + self}
	d := full(dep)
	switch r.In {
	case Imports:
		p.Imports, p.Deps = []string{d}, []string{d}
	case Deps:
		p.Deps = []string{d}
	case TestImports:
		p.TestImports = []string{d}
	}
	return p, self, dep
}

// TestCheckEachRule: for every rule of Rules, a package breaking it is
// reported by that rule, with its reason; so is a package breaking every
// rule at once.
func TestCheckEachRule(t *testing.T) {
	var all []Package
	for _, r := range Rules {
		t.Run(r.Name, func(t *testing.T) {
			p, self, dep := offending(t, r)
			all = append(all, p)
			got := Check(Module, []Package{p}, Rules)
			if !slices.ContainsFunc(got, func(v Violation) bool {
				return v.Rule.Name == r.Name && v.Pkg == self && v.Dep == dep
			}) {
				t.Errorf("%s reaching %s (%s): rule %s not reported; got %v", self, dep, r.In, r.Name, got)
			}
			for _, v := range got {
				if !strings.Contains(v.String(), v.Rule.Why) {
					t.Errorf("the message %q does not give the rule's reason", v)
				}
			}
		})
	}
	got := Check(Module, all, Rules)
	for _, r := range Rules {
		if !slices.ContainsFunc(got, func(v Violation) bool { return v.Rule.Name == r.Name }) {
			t.Errorf("rule %s not reported among every offence at once", r.Name)
		}
	}
}

// TestCheckCases: the arrows the issue names, one way and the other.
func TestCheckCases(t *testing.T) {
	cases := []struct {
		name string
		pkg  string
		in   Scope
		dep  string
		rule string // "" : allowed
	}{
		{"domain imports net/http", "device/files", Imports, "net/http", "domain-no-http"},
		{"domain pulls net/http in through p2p", "device/rooms", Deps, "net/http", ""},
		{"domain imports the API", "device/door", Deps, "device/api", "domain-below"},
		{"domain imports the page", "device/config", Deps, "device/web", "domain-below"},
		{"domain imports the CLI", "device/calls", Deps, "device/cli", "domain-below"},
		{"domain imports the bench", "device/rooms", Deps, "device/bench", "domain-below"},
		{"domain imports the demo", "device/files", Deps, "device/demo", "domain-below"},
		{"domain imports the root", "device/door", Deps, "device", "domain-below"},
		{"domain imports the real pins", "device/door", Deps, "hal/periph", "domain-below"},
		{"domain imports the simulator", "device/door", Deps, "hal/sim", "domain-below"},
		{"domain imports hal's interfaces", "device/door", Imports, "hal", ""},
		{"config imports control", "device/config", Imports, "device/control", ""},
		{"config imports rooms", "device/config", Imports, "device/rooms", "config-order"},
		{"rooms imports config", "device/rooms", Imports, "device/config", ""},
		{"rooms imports files", "device/rooms", Imports, "device/files", "rooms-order"},
		{"files imports rooms", "device/files", Imports, "device/rooms", ""},
		{"files imports calls", "device/files", Imports, "device/calls", "files-order"},
		{"calls imports files", "device/calls", Imports, "device/files", ""},
		{"calls imports door", "device/calls", Imports, "device/door", "calls-order"},
		{"door imports calls", "device/door", Imports, "device/calls", ""},
		{"door imports an unknown device package", "device/door", Imports, "device/whatever", "door-order"},
		{"control imports config", "device/control", Imports, "device/config", "control-leaf"},
		{"the API imports a domain package", "device/api", Imports, "device/door", ""},
		{"the page imports the API", "device/web", Deps, "device/api", ""},
		{"the API imports the page", "device/api", Deps, "device/web", "api-below-web"},
		{"the root imports the real pins", "device", Imports, "hal/periph", ""},
		{"the root imports the simulator", "device", Imports, "hal/sim", ""},
		{"the bench imports the simulator", "device/bench", Imports, "hal/sim", "drivers-at-root"},
		{"cmd imports the real pins", "cmd/hearth", Imports, "hal/periph", "drivers-at-root"},
		{"the CLI depends on the root and its drivers", "device/cli", Deps, "hal/periph", ""},
		{"a test imports the simulator", "device/door", TestImports, "hal/sim", ""},
		{"a test imports the real pins", "device/door", TestImports, "hal/periph", "tests-no-periph"},
		{"the real pins' own tests", "hal/periph", TestImports, "hal/periph", ""},
		{"p2p depends on the control client", "p2p/room", Deps, "device/control", "p2p-layer"},
		{"call depends on p2p", "call", Deps, "p2p/net", "call-layer"},
		{"storage depends on hal", "storage", Deps, "hal", "storage-layer"},
		{"hal depends on storage", "hal/sim", Deps, "storage", "hal-layer"},
		{"device depends on cmd", "device/web", Deps, "cmd/hearth", "device-layer"},
		{"internal depends on p2p", "internal/wire", Deps, "p2p/log", "internal-layer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Package{ImportPath: Module + "/" + tc.pkg}
			d := full(tc.dep)
			switch tc.in {
			case Imports:
				p.Imports, p.Deps = []string{d}, []string{d}
			case Deps:
				p.Deps = []string{d}
			case TestImports:
				p.TestImports = []string{d}
			}
			got := Check(Module, []Package{p}, Rules)
			if tc.rule == "" {
				if len(got) != 0 {
					t.Fatalf("an allowed arrow reported: %v", got)
				}
				return
			}
			if !slices.ContainsFunc(got, func(v Violation) bool { return v.Rule.Name == tc.rule && v.Dep == tc.dep }) {
				t.Fatalf("rule %s not reported; got %v", tc.rule, got)
			}
		})
	}
}

// TestCheckOverlay runs the check on the module as go list sees it with
// one file added (by -overlay: the tree is not touched), and requires
// exactly the offences that file brings.
func TestCheckOverlay(t *testing.T) {
	base := Check(Module, goList(t, ""), Rules)
	if len(base) != 0 {
		t.Fatalf("the tree breaks the rules already: %v", base)
	}
	type offence struct{ pkg, dep, rule string }
	cases := []struct {
		name, file, src string
		want            []offence
	}{
		{"p2p imports the control client", "p2p/room/zz_overlay.go",
			"package room\n\nimport _ \"" + Module + "/device/control\"\n",
			[]offence{{"p2p/room", "device/control", "p2p-layer"}, {"p2p/room", "call", "p2p-layer"},
				// The phone's app builds on the room: it is reached too.
				{"app", "device/control", "app-layer"}}},
		{"the app takes pion's media", "app/zz_overlay.go",
			"package app\n\nimport _ \"" + Module + "/call/av\"\n",
			[]offence{{"app", "call/av", "app-layer"}, {"app", "github.com/pion/webrtc/v4", "portable-protocol"},
				{"app", "github.com/pion/ice/v4", "portable-protocol"}, {"app", "os/exec", "portable-protocol"}}},
		{"the room protocol opens its database itself", "p2p/room/zz_overlay.go",
			"package room\n\nimport _ \"go.etcd.io/bbolt\"\n",
			[]offence{{"p2p/room", "go.etcd.io/bbolt", "portable-protocol"}, {"app", "go.etcd.io/bbolt", "portable-protocol"}}},
		{"the bench imports the simulator", "device/bench/zz_overlay.go",
			"package bench\n\nimport _ \"" + Module + "/hal/sim\"\n",
			[]offence{{"device/bench", "hal/sim", "drivers-at-root"}}},
		{"a test of the control client imports the real pins", "device/control/zz_overlay_test.go",
			"package control\n\nimport _ \"" + Module + "/hal/periph\"\n",
			[]offence{{"device/control", "hal/periph", "tests-no-periph"}}},
		{"a test of the control client imports the simulator", "device/control/zz_overlay_test.go",
			"package control_test\n\nimport _ \"" + Module + "/hal/sim\"\n",
			nil},
		{"a domain package serves HTTP and imports one above it", "device/files/zz_overlay.go",
			"package files\n\nimport (\n\t_ \"net/http\"\n\n\t_ \"" + Module + "/device/control\"\n\t_ \"" + Module + "/device/calls\"\n)\n",
			[]offence{{"device/files", "net/http", "domain-no-http"}, {"device/files", "device/calls", "files-order"}}},
		{"the door picks its driver", "device/door/zz_overlay.go",
			"package door\n\nimport _ \"" + Module + "/hal/periph\"\n",
			// The hub, over the door, reaches the pins through it.
			[]offence{{"device/door", "hal/periph", "domain-below"}, {"device/door", "hal/periph", "drivers-at-root"}, {"device/hub", "hal/periph", "domain-below"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			repl := map[string]string{}
			add := func(file, src string) {
				f := filepath.Join(dir, strings.ReplaceAll(file, "/", "_"))
				if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
					t.Fatal(err)
				}
				repl[filepath.Join(root(t), file)] = f
			}
			add(tc.file, tc.src)
			b, err := json.Marshal(map[string]any{"Replace": repl})
			if err != nil {
				t.Fatal(err)
			}
			overlay := filepath.Join(dir, "overlay.json")
			if err := os.WriteFile(overlay, b, 0o600); err != nil {
				t.Fatal(err)
			}
			var got []offence
			for _, v := range Check(Module, goList(t, overlay), Rules) {
				t.Log(v)
				got = append(got, offence{v.Pkg, v.Dep, v.Rule.Name})
			}
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("not reported: %s reaching %s (rule %s)", w.pkg, w.dep, w.rule)
				}
			}
			for _, g := range got {
				if !slices.Contains(tc.want, g) {
					t.Errorf("reported, not expected: %s reaching %s (rule %s)", g.pkg, g.dep, g.rule)
				}
			}
		})
	}
}
