#!/usr/bin/env bash
# Installs the MinIO server binary that store/s3's tests run against, only when missing.
# It is built from source through the Go module proxy (the only registry this machine
# reaches for Go code) and cached outside the repo, so repeated runs and `make test` on a
# machine that already has it cost nothing; a first build takes minutes on 2 cores.
#
#   PACSD_CACHE    cache dir for the binary (default $HOME/.cache/pacsd/bin)
#   MINIO_VERSION  module version to build (default: the one the tests were written
#                  against; "latest" for the newest; MinIO tags no Go module versions)
#
# Prints the binary's path on its last line. store/s3/miniotest looks in the same place.
set -euo pipefail

dir="${PACSD_CACHE:-$HOME/.cache/pacsd/bin}"
bin="$dir/minio"
version="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"

if [ -x "$bin" ]; then
  echo "minio: cached at $bin"
  echo "$bin"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "minio: go is not on PATH (install Go 1.26)" >&2; exit 1; }

mkdir -p "$dir"
echo "minio: building github.com/minio/minio@$version into $dir (this takes a while)"
start=$(date +%s)
# A private GOBIN under the cache dir keeps a half-written binary out of $bin: `go install`
# writes in place, and a build interrupted mid-write must not look like a cached binary.
tmp=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# CGO is not needed by MinIO; disabling it keeps the build independent of a C toolchain.
CGO_ENABLED=0 GOBIN="$tmp" go install "github.com/minio/minio@$version"
mv "$tmp/minio" "$bin"
echo "minio: built in $(( $(date +%s) - start ))s: $("$bin" --version 2>/dev/null | head -1)"
echo "$bin"
