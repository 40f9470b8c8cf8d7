#!/usr/bin/env bash
# Installs what pacsd's tests and benchmarks need on a fresh Debian machine, only when
# missing: DCMTK (the real DIMSE peers), Orthanc and its DICOMweb plugin (a second peer, and
# the DICOMweb benchmark's reference), GDCM and OpenJPEG tools
# (JPEG 2000 test data and reference decoding), Debian's Chromium and playwright-core (the
# browser tests in browsertest/). Go itself is expected on PATH.
set -euo pipefail

need=()
command -v storescu >/dev/null 2>&1 || need+=(dcmtk)
command -v gdcmconv >/dev/null 2>&1 || need+=(libgdcm-tools)
command -v opj_compress >/dev/null 2>&1 || need+=(libopenjp2-tools)
# OpenJPH: an independent HTJ2K encoder/decoder for dicom/pixel's High-Throughput JPEG 2000 tests.
command -v ojph_compress >/dev/null 2>&1 || need+=(openjph-tools)
# Orthanc: a second, independent DICOM implementation for interop tests.
[ -x /usr/sbin/Orthanc ] || need+=(orthanc)
# Orthanc's DICOMweb plugin: the reference server of tools/benchweb (`make bench`), and the
# STOW-RS client of the Orthanc interop test.
[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need+=(orthanc-dicomweb)
# A second, independent JPEG lossless encoder for dicom/pixel's decoder tests.
command -v pvrg-jpeg >/dev/null 2>&1 || need+=(pvrg-jpeg)
# libjpeg-turbo's cjpeg/djpeg: a second progressive JPEG encoder and reference decoder.
command -v cjpeg >/dev/null 2>&1 || need+=(libjpeg-turbo-progs)
# Headless Chromium for the browser tests; playwright-core drives it and never downloads a
# browser of its own.
[ -x /usr/bin/chromium ] || need+=(chromium)
# A CJK font, so that screenshots show Chinese patient names rather than empty boxes.
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || need+=(fonts-wqy-zenhei)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
# scripts/fresh-machine-test.sh (make test-fresh): a fresh Debian root for the run command.
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
# systemd-analyze verifies packaging/pacsd.service (cmd/pacsd TestSystemdUnit).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)

if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d 101: packages must not start their system services (Orthanc's daemon
  # would take ports 4242/8042); tests start their own instances.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# What the build itself needs (C compiler, pkg-config, the codecs' -dev packages): one list,
# in build-deps.sh, which `make run` uses on its own.
"$(dirname "$0")/build-deps.sh"
# playwright-core for browsertest/, exactly as its lockfile pins it.
browsertest="$(dirname "$0")/../browsertest"
if [ ! -d "$browsertest/node_modules/playwright-core" ]; then
  echo "deps: npm ci in browsertest/"
  (cd "$browsertest" && npm ci --no-audit --no-fund --loglevel=error)
fi
# MinIO server for store/s3's tests: built once through the Go module proxy, then cached.
"$(dirname "$0")/minio.sh"
echo "deps: ok ($(storescu --version 2>&1 | head -1 | tr -s ' '))"
