#!/usr/bin/env bash
# Installs what building pacsd needs beyond Go, only when missing: a C compiler (cgo: SQLite,
# the codecs), pkg-config, and the development packages of dicom/pixel's cgo codecs, OpenJPEG
# (JPEG 2000), CharLS (JPEG-LS) and libjpeg-turbo's TurboJPEG (the SIMD JPEG encoder of
# rendered images and thumbnails). `make run` and `make build` call it, so the README's run
# command works on a fresh Debian machine; scripts/deps.sh (the test peers) calls it too.
# Nothing else is installed here: DCMTK, Orthanc, MinIO and Chromium are for the tests only.
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# Asked of pkg-config, as cgo asks: a header on disk without its .pc file does not build.
pc() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1"; }
pc libopenjp2 || need+=(libopenjp2-7-dev)
pc charls || need+=(libcharls-dev)
pc libturbojpeg || need+=(libturbojpeg0-dev)

"$(dirname "$0")/apt-install.sh" build-deps ${need[@]+"${need[@]}"}
command -v go >/dev/null 2>&1 || { echo "build-deps: go is not on PATH (install Go 1.26)" >&2; exit 1; }
pkg-config --exists libopenjp2 charls libturbojpeg || { echo "build-deps: libopenjp2, charls or libturbojpeg still unknown to pkg-config" >&2; exit 1; }
