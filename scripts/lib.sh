# Shared by scripts/setup, scripts/run and scripts/test. Sourced, not run.

# The Go release go.mod asks for; an older go (1.21+) fetches it from the
# Go module proxy by itself (GOTOOLCHAIN=auto).
HEARTH_GO_MIN_BOOTSTRAP=1.21

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'hearth setup: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install sudo, or run this as root)"
  fi
}

# apt_install PKG...: installs the Debian packages that are missing.
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get: install them by hand"
  say "installing ${missing[*]}"
  # A mirror caught mid-sync fails one index now and then; what the other
  # indexes have is usually enough, so go on and let the install decide.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 update -qq ||
    say "apt-get update reported errors (above); trying the install anyway"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

ensure_go() {
  for d in /usr/local/go/bin "$HOME/go/bin" /usr/lib/go/bin; do
    [ -x "$d/go" ] && case ":$PATH:" in *":$d:"*) ;; *) PATH="$d:$PATH" ;; esac
  done
  export PATH
  if ! command -v go >/dev/null 2>&1; then
    apt_install golang-go ca-certificates
  fi
  command -v go >/dev/null 2>&1 || die "Go is not installed: get Go 1.26 from https://go.dev/dl and put it on PATH"
  local v
  v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  version_ge "${v:-0}" "$HEARTH_GO_MIN_BOOTSTRAP" ||
    die "Go $v is too old to fetch Go 1.26 by itself: install Go 1.26 from https://go.dev/dl"
  export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
}

# use_codecs: builds and tests from here on include the cgo media codecs
# (libvpx for VP8, libx264 for H.264, libopus bundled by the Go module) when
# this machine can
# build them: GOFLAGS carries the build tag, so 'go test' and the binaries
# the tests build get them too. Cross-builds with CGO_ENABLED=0 leave them
# out by themselves.
use_codecs() {
  case " ${GOFLAGS:-} " in *" -tags=codecs "*) return 0 ;; esac
  if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists vpx x264; then
    export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=codecs"
  else
    say "libvpx-dev, libx264-dev or pkg-config missing: building without the media codecs (calls carry no audio or video)"
  fi
}

# build_hearth OUT [env...]: builds cmd/hearth with the version stamped.
build_hearth() {
  local out=$1; shift
  local commit
  commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  env "$@" go build -trimpath -o "$out" \
    -ldflags "-s -w -X github.com/hearthp2p/hearth/internal/version.Commit=$commit" ./cmd/hearth
}
