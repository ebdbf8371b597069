package test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hearthp2p/hearth/device"
	"github.com/hearthp2p/hearth/device/config"
)

// TestBuildrootTree checks the BR2_EXTERNAL tree statically (Buildroot
// cannot fetch its sources here): the tree's description, that every
// package is sourced and built by the golang infrastructure from files
// that exist, that every defconfig names an architecture, systemd, the
// package and an overlay that exists, and that the overlay's first-boot
// settings load.
func TestBuildrootTree(t *testing.T) {
	root := "../buildroot"
	desc, err := os.ReadFile(filepath.Join(root, "external.desc"))
	if err != nil || !regexp.MustCompile(`(?m)^name: HEARTH$`).Match(desc) {
		t.Fatalf("external.desc: %v %q", err, desc)
	}
	mk, _ := os.ReadFile(filepath.Join(root, "external.mk"))
	if !strings.Contains(string(mk), "$(BR2_EXTERNAL_HEARTH_PATH)/package/*/*.mk") {
		t.Errorf("external.mk does not include the packages: %q", mk)
	}
	cfgIn, _ := os.ReadFile(filepath.Join(root, "Config.in"))
	pkgs, _ := filepath.Glob(filepath.Join(root, "package", "*"))
	if len(pkgs) == 0 {
		t.Fatal("no packages")
	}
	symbols := map[string]bool{}
	for _, p := range pkgs {
		name := filepath.Base(p)
		if !strings.Contains(string(cfgIn), `source "$BR2_EXTERNAL_HEARTH_PATH/package/`+name+`/Config.in"`) {
			t.Errorf("Config.in does not source package %s", name)
		}
		kc := readLines(t, filepath.Join(p, "Config.in"))
		for i, l := range kc {
			if m := regexp.MustCompile(`^config (BR2_PACKAGE_[A-Z0-9_]+)$`).FindStringSubmatch(l); m != nil {
				symbols[m[1]] = true
				if i+1 >= len(kc) || !regexp.MustCompile(`^\t(bool|tristate|string|int) `).MatchString(kc[i+1]) {
					t.Errorf("%s: config %s has no type on the next line", name, m[1])
				}
			}
		}
		upper := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		makefile := strings.Join(readLines(t, filepath.Join(p, name+".mk")), "\n")
		for _, want := range []string{upper + "_VERSION = ", upper + "_SITE = ", upper + "_SITE_METHOD = local", "$(eval $(golang-package))", upper + "_TAGS = codecs"} {
			if !strings.Contains(makefile, want) {
				t.Errorf("%s.mk lacks %q", name, want)
			}
		}
		// Every file of the source tree the .mk installs exists.
		for _, m := range regexp.MustCompile(`\$\(@D\)/([A-Za-z0-9_./-]+)`).FindAllStringSubmatch(makefile, -1) {
			if _, err := os.Stat(filepath.Join("..", m[1])); err != nil {
				t.Errorf("%s.mk installs %s, which is not in the source tree", name, m[1])
			}
		}
		if m := regexp.MustCompile(upper + `_BUILD_TARGETS = (\S+)`).FindStringSubmatch(makefile); m == nil {
			t.Errorf("%s.mk has no build target", name)
		} else if _, err := os.Stat(filepath.Join("..", m[1], "main.go")); err != nil {
			t.Errorf("%s.mk builds %s, which has no main.go", name, m[1])
		}
	}
	defconfigs, _ := filepath.Glob(filepath.Join(root, "configs", "*_defconfig"))
	want := map[string]bool{"hearth_rpi4_64_defconfig": false, "hearth_rpi5_defconfig": false, "hearth_rpizero2w_64_defconfig": false}
	for _, d := range defconfigs {
		want[filepath.Base(d)] = true
		seen := map[string]string{}
		for n, l := range readLines(t, d) {
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			k, v, ok := strings.Cut(l, "=")
			if !ok || !strings.HasPrefix(k, "BR2_") {
				t.Errorf("%s:%d: not a Buildroot option: %q", filepath.Base(d), n+1, l)
				continue
			}
			if _, dup := seen[k]; dup {
				t.Errorf("%s:%d: %s set twice", filepath.Base(d), n+1, k)
			}
			seen[k] = v
		}
		for _, k := range []string{"BR2_aarch64", "BR2_INIT_SYSTEMD", "BR2_PACKAGE_HEARTH", "BR2_TOOLCHAIN_BUILDROOT_GLIBC", "BR2_PACKAGE_HOST_GO", "BR2_LINUX_KERNEL", "BR2_PACKAGE_RPI_FIRMWARE"} {
			if seen[k] != "y" {
				t.Errorf("%s: %s is not y", filepath.Base(d), k)
			}
		}
		for sym := range symbols {
			if seen[sym] != "y" {
				t.Errorf("%s does not enable %s", filepath.Base(d), sym)
			}
		}
		overlay := strings.Trim(seen["BR2_ROOTFS_OVERLAY"], `"`)
		if !strings.HasPrefix(overlay, "$(BR2_EXTERNAL_HEARTH_PATH)/") {
			t.Errorf("%s: overlay %q is not in the external tree", filepath.Base(d), overlay)
			continue
		}
		if fi, err := os.Stat(filepath.Join(root, strings.TrimPrefix(overlay, "$(BR2_EXTERNAL_HEARTH_PATH)/"))); err != nil || !fi.IsDir() {
			t.Errorf("%s: overlay %s: %v", filepath.Base(d), overlay, err)
		}
	}
	for d, ok := range want {
		if !ok {
			t.Errorf("no defconfig %s", d)
		}
	}
	// The first-boot settings load, and resolve once the Pi's programs
	// are swapped for ones this machine has.
	s, err := config.LoadSettings(filepath.Join(root, "board/common/rootfs-overlay/etc/hearth/hearth.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsDoorphone() || !s.IsMirror() || s.HAL.Driver != "periph" || s.Calls.Camera != "rpicam" {
		t.Fatalf("first-boot settings: %+v", s)
	}
	s.Calls.Camera, s.Calls.Microphone, s.Calls.Speaker = "synthetic", "synthetic", "none"
	if _, err := device.Resolve(&s); err != nil {
		t.Fatalf("first-boot settings: %v", err)
	}
	preset, err := os.ReadFile(filepath.Join(root, "board/common/rootfs-overlay/usr/lib/systemd/system-preset/80-hearth.preset"))
	if err != nil || strings.TrimSpace(string(preset)) != "enable hearth.service" {
		t.Fatalf("the service is not enabled by a preset: %q %v", preset, err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
