#!/usr/bin/env bash
# Tests the README's run command the way a new user meets it: a fresh Debian (minbase, plus
# only Go and a C compiler: gcc, libc6-dev, make, git), a clean clone of this repository's
# HEAD, and `make run`. It passes when pacsd answers /healthz and accepts a DICOM
# association there, and the codec packages it needed were installed by the run command
# itself. `make test` runs it; it needs root (debootstrap, chroot, a private mount namespace),
# Debian's package archive (the host's own apt source) and the Go module proxy, nothing else.
#
#   FRESH_KEEP=1       keep the root folder afterwards (its path is printed)
#   FRESH_TIMEOUT=900  seconds allowed for set-up, build and start
set -euo pipefail

repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
[ "$(id -u)" = 0 ] || { echo "fresh: needs root (debootstrap, chroot)" >&2; exit 1; }
for tool in debootstrap unshare curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "fresh: $tool missing (make deps installs it)" >&2; exit 1; }
done
goroot=$(go env GOROOT)
modcache=$(go env GOMODCACHE)
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
# The host's own Debian archive: the one registry of Debian packages this machine reaches.
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || { echo "fresh: no Debian archive in the host's apt sources" >&2; exit 1; }

root=$(mktemp -d /var/tmp/pacsd-fresh.XXXXXX)
log="$root.log"
cleanup() {
  [ -n "${pid:-}" ] && kill -- "-$pid" 2>/dev/null || true
  [ -n "${pid:-}" ] && wait "$pid" 2>/dev/null || true
  if [ "${FRESH_KEEP:-}" = 1 ]; then echo "fresh: kept $root"; else rm -rf "$root" "$log"; fi
}
trap cleanup EXIT

echo "fresh: debootstrap $suite (minbase + gcc libc6-dev make git) into $root"
debootstrap --variant=minbase --include=gcc,libc6-dev,make,git,ca-certificates \
  "$suite" "$root" "$mirror" >"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
if chroot "$root" sh -c 'command -v pkg-config || test -e /usr/include/openjpeg-2.5 || test -e /usr/include/charls || test -e /usr/include/turbojpeg.h' >/dev/null; then
  echo "fresh: the new root already has the codec build dependencies; the test would prove nothing" >&2
  exit 1
fi
git clone --quiet --no-hardlinks "$repo" "$root/src"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/usr/local/go" "$root/gomod"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
dicom_port=$(free_port)

# In a private mount namespace, so the bind mounts go away with it whatever happens.
# Go comes from the host (the brief's "only Go and a C compiler"); the module cache is shared
# to spare the proxy, the build cache is the root's own, so everything cgo compiles here.
setsid unshare --mount --propagation private bash -c '
  set -e
  root=$1
  mount --bind "$2" "$root/usr/local/go"; mount -o remount,bind,ro "$root/usr/local/go"
  mount --bind "$3" "$root/gomod"
  mount -t proc proc "$root/proc"
  mount --bind /dev "$root/dev"
  exec chroot "$root" env -i HOME=/root PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOMODCACHE=/gomod GOFLAGS=-modcacherw GOPROXY="$4" GOSUMDB="$5" \
    PACSD_HTTP_ADDR=127.0.0.1:$6 PACSD_DICOM_ADDR=127.0.0.1:$7 PACSD_DATA_DIR=/var/lib/pacsd \
    make -C /src run
' fresh "$root" "$goroot" "$modcache" "$(go env GOPROXY)" "$(go env GOSUMDB)" "$http_port" "$dicom_port" \
  >>"$log" 2>&1 &
pid=$!

deadline=$(( $(date +%s) + ${FRESH_TIMEOUT:-900} ))
echo "fresh: make run (build-deps, go run ./cmd/pacsd) in the new root"
until curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "fresh: make run exited before pacsd listened:" >&2; tail -n 30 "$log" >&2; exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "fresh: pacsd did not answer within ${FRESH_TIMEOUT:-900}s:" >&2; tail -n 30 "$log" >&2; exit 1
  fi
  sleep 2
done
grep -q "build-deps: installing" "$log" || { echo "fresh: build-deps installed nothing; expected the codec packages" >&2; exit 1; }
for p in pkg-config libopenjp2-7-dev libcharls-dev libturbojpeg0-dev; do
  chroot "$root" dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" \
    || { echo "fresh: $p is not installed in the root after make run" >&2; exit 1; }
done
# A DICOM association too, when DCMTK is there (make deps installs it).
if command -v echoscu >/dev/null 2>&1; then
  echoscu -aec PACSD 127.0.0.1 "$dicom_port" || { echo "fresh: C-ECHO failed" >&2; exit 1; }
fi
echo "fresh: ok: make run installed $(grep -o 'build-deps: installing.*' "$log" | cut -d' ' -f3-), built and served pacsd on a fresh $suite"
