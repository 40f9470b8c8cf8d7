#!/usr/bin/env bash
# Installs what pacsd's tests and benchmarks need on a fresh Debian machine, only when
# missing: DCMTK (the real DIMSE peers), Orthanc (a second peer), GDCM and OpenJPEG tools
# (JPEG 2000 test data and reference decoding). Go itself is expected on PATH.
set -euo pipefail

need=()
command -v storescu >/dev/null 2>&1 || need+=(dcmtk)
command -v gdcmconv >/dev/null 2>&1 || need+=(libgdcm-tools)
command -v opj_compress >/dev/null 2>&1 || need+=(libopenjp2-tools)
# Orthanc: a second, independent DICOM implementation for interop tests.
[ -x /usr/sbin/Orthanc ] || need+=(orthanc)

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
command -v go >/dev/null 2>&1 || { echo "deps: go is not on PATH (install Go 1.26)" >&2; exit 1; }
# MinIO server for store/s3's tests: built once through the Go module proxy, then cached.
"$(dirname "$0")/minio.sh"
echo "deps: ok ($(storescu --version 2>&1 | head -1 | tr -s ' '))"
