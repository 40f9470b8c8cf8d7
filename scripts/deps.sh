#!/usr/bin/env bash
# Installs what pacsd's tests and benchmarks need on a fresh Debian machine, only when
# missing: DCMTK (the real DIMSE peers), GDCM and OpenJPEG tools (JPEG 2000 test data and
# reference decoding). Go itself is expected on PATH.
set -euo pipefail

need=()
command -v storescu >/dev/null 2>&1 || need+=(dcmtk)
command -v gdcmconv >/dev/null 2>&1 || need+=(libgdcm-tools)
command -v opj_compress >/dev/null 2>&1 || need+=(libopenjp2-tools)

if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v go >/dev/null 2>&1 || { echo "deps: go is not on PATH (install Go 1.26)" >&2; exit 1; }
echo "deps: ok ($(storescu --version 2>&1 | head -1 | tr -s ' '))"
