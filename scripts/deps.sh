#!/usr/bin/env bash
# Installs what pacsd's tests and benchmarks need on a fresh Debian machine, only when
# missing: DCMTK (the real DIMSE peers), Orthanc and its DICOMweb plugin (a second peer, and
# the DICOMweb benchmark's reference), PostgreSQL (store/postgres), GDCM and OpenJPEG tools
# (JPEG 2000 test data and reference decoding), dicom3tools (IOD checks), Debian's Chromium and playwright-core (the
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
# dicom3tools' dciodvfy: an independent IOD checker for the documents pacsd writes (SR, KOS).
command -v dciodvfy >/dev/null 2>&1 || need+=(dicom3tools)
# A second, independent JPEG lossless encoder for dicom/pixel's decoder tests.
command -v pvrg-jpeg >/dev/null 2>&1 || need+=(pvrg-jpeg)
# libjpeg-turbo's cjpeg/djpeg: a second progressive JPEG encoder and reference decoder.
command -v cjpeg >/dev/null 2>&1 || need+=(libjpeg-turbo-progs)
# The share link's test: poppler's pdftoppm rasterises the printed report, zbar's zbarimg
# (an independent QR decoder) reads its QR code.
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
command -v zbarimg >/dev/null 2>&1 || need+=(zbar-tools)
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
# PostgreSQL's server programs (initdb, postgres): store/postgres's tests and the cluster
# tests start servers of their own in temporary directories (internal/pgtest), never the
# system service.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)

"$(dirname "$0")/apt-install.sh" deps ${need[@]+"${need[@]}"}
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
