#!/bin/sh
# Regenerates pacsd's test files (see README.md):
#   1. go run ./tools/gentestdata -out testdata   base files, broken/, expected.json, README.md
#   2. DCMTK and GDCM derive the other transfer syntaxes from the base files;
#      each derived file gets its own deterministic SOP Instance UID (gentestdata -uid).
#   3. every derived file is checked: dcmdump reads the intended transfer syntax, the
#      matching decoder decodes it, and lossless ones give back the base file's pixels.
# Re-runnable; the outputs are committed. Needs: go, dcmtk, libgdcm-tools.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

die() {
	echo "make.sh: $*" >&2
	exit 1
}

for tool in go dcmdump dcmconv dcmodify dcmcjpeg dcmdjpeg dcmcjpls dcmdjpls dcmcrle dcmdrle gdcmconv; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install dcmtk libgdcm-tools)"
done

(cd "$root" && go build -o "$tmp/gentestdata" ./tools/gentestdata)
gen=$tmp/gentestdata
"$gen" -out "$here"
cd "$here"

# ts FILE: the transfer syntax UID dcmdump reads in FILE's meta.
ts() {
	dcmdump -q -Un +P 0002,0010 "$1" | sed -n 's/.*\[\(.*\)\].*/\1/p'
}

# derive NAME BASE TS COMMAND...: runs COMMAND... BASE OUT, gives OUT its SOP Instance UID
# (dcmodify also updates (0002,0003) to match), checks its transfer syntax, installs it.
derive() {
	name=$1 base=$2 want=$3
	shift 3
	out=$tmp/$name
	"$@" "$base" "$out" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; die "$name: $* failed"; }
	dcmodify -q -nb -m "(0008,0018)=$("$gen" -uid "$name")" "$out" || die "$name: dcmodify failed"
	got=$(ts "$out")
	[ "$got" = "$want" ] || die "$name: transfer syntax $got, want $want"
	mv "$out" "$name"
	echo "made $name ($got)"
}

# pixels FILE: writes FILE's native pixel data, in Explicit VR Little Endian, to $tmp/FILE.raw.
pixels() {
	dcmconv -q +te "$1" "$tmp/px.dcm" || die "$1: dcmconv +te failed"
	rm -rf "$tmp/raw" && mkdir "$tmp/raw"
	dcmdump -q +W "$tmp/raw" "$tmp/px.dcm" >/dev/null || die "$1: dcmdump +W failed"
	mv "$tmp/raw/px.dcm.0.raw" "$tmp/$(basename "$1").raw"
}

# decodes NAME DECODER...: DECODER... NAME OUT must succeed; leaves OUT in $tmp/dec_NAME.
decodes() {
	name=$1
	shift
	"$@" "$name" "$tmp/dec_$name" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; die "$name: $* cannot decode it"; }
	[ "$(ts "$tmp/dec_$name")" != "$(ts "$name")" ] || die "$name: $* left it encapsulated"
}

# lossless NAME BASE: NAME's decoded pixels equal BASE's, byte for byte.
lossless() {
	src=$1
	[ -f "$tmp/dec_$1" ] && src=$tmp/dec_$1
	pixels "$src"
	pixels "$2"
	cmp -s "$tmp/$(basename "$src").raw" "$tmp/$(basename "$2").raw" || die "$1: pixels differ from $2"
	echo "checked $1: lossless against $2"
}

IMPLICIT=1.2.840.10008.1.2
EXPLICIT=1.2.840.10008.1.2.1
DEFLATED=1.2.840.10008.1.2.1.99
BIG=1.2.840.10008.1.2.2

derive ts_implicit_le.dcm dr_mono2.dcm $IMPLICIT dcmconv +ti
derive ts_explicit_le.dcm dr_mono2.dcm $EXPLICIT dcmconv +te
derive ts_explicit_be.dcm dr_mono2.dcm $BIG dcmconv +tb
derive ts_deflated.dcm dr_mono2.dcm $DEFLATED dcmconv +td

# +un: no new UIDs from DCMTK (they would be random); derive sets our own.
derive ts_jpeg_baseline.dcm sc_mono8.dcm 1.2.840.10008.1.2.4.50 dcmcjpeg +eb +un
derive ts_jpeg_extended.dcm dr_mono2.dcm 1.2.840.10008.1.2.4.51 dcmcjpeg +ee +un
derive ts_jpeg_lossless.dcm dr_mono2.dcm 1.2.840.10008.1.2.4.57 dcmcjpeg +el +un
derive ts_jpeg_lossless_sv1.dcm dr_mono2.dcm 1.2.840.10008.1.2.4.70 dcmcjpeg +e1 +un
derive ts_jpegls_lossless.dcm dr_mono2.dcm 1.2.840.10008.1.2.4.80 dcmcjpls +el +un
derive ts_jpegls_near.dcm dr_mono2.dcm 1.2.840.10008.1.2.4.81 dcmcjpls +en +md 2 +un
derive ts_j2k_lossless.dcm dr_mono2.dcm 1.2.840.10008.1.2.4.90 gdcmconv --quiet --j2k
# GDCM's lossy J2K at a 10:1 rate (its -q is a PSNR target that gives ~800:1 on this image).
derive ts_j2k.dcm dr_mono2.dcm 1.2.840.10008.1.2.4.91 gdcmconv --quiet --j2k --lossy -r 10
derive ts_rle.dcm dr_mono2.dcm 1.2.840.10008.1.2.5 dcmcrle
# Colour lossy JPEG: DCMTK's defaults convert to YCbCr with 4:2:2 subsampling
# (YBR_FULL_422), one fragment per frame, as ultrasound machines send.
derive us_multiframe_jpeg.dcm us_multiframe.dcm 1.2.840.10008.1.2.4.50 dcmcjpeg +eb +un
# The retired progressive JPEG processes (PS3.5 A.4.1), Huffman coded, as DCMTK writes them:
# spectral selection (+es, processes 6 & 8) and full progression with successive
# approximation (+ep, processes 10 & 12), from an 8-bit and a 12-bit image (dcmcjpeg picks
# the precision from Bits Stored), and in colour (YCbCr 4:2:2: interleaved DC scans).
derive ts_jpeg_spectral_8.dcm sc_mono8.dcm 1.2.840.10008.1.2.4.53 dcmcjpeg +es +un
derive ts_jpeg_spectral_12.dcm dr_mono2.dcm 1.2.840.10008.1.2.4.53 dcmcjpeg +es +un
derive ts_jpeg_progressive_8.dcm sc_mono8.dcm 1.2.840.10008.1.2.4.55 dcmcjpeg +ep +un
derive ts_jpeg_progressive_12.dcm dr_mono2.dcm 1.2.840.10008.1.2.4.55 dcmcjpeg +ep +un
derive us_multiframe_progressive.dcm us_multiframe.dcm 1.2.840.10008.1.2.4.55 dcmcjpeg +ep +un

decodes ts_jpeg_baseline.dcm dcmdjpeg
decodes ts_jpeg_extended.dcm dcmdjpeg
decodes ts_jpeg_lossless.dcm dcmdjpeg
decodes ts_jpeg_lossless_sv1.dcm dcmdjpeg
decodes ts_jpegls_lossless.dcm dcmdjpls
decodes ts_jpegls_near.dcm dcmdjpls
decodes ts_j2k_lossless.dcm gdcmconv --quiet --raw
decodes ts_j2k.dcm gdcmconv --quiet --raw
decodes ts_rle.dcm dcmdrle
decodes us_multiframe_jpeg.dcm dcmdjpeg
for f in ts_jpeg_spectral_8.dcm ts_jpeg_spectral_12.dcm ts_jpeg_progressive_8.dcm ts_jpeg_progressive_12.dcm \
	us_multiframe_progressive.dcm; do
	decodes "$f" dcmdjpeg
done
for f in us_multiframe_jpeg.dcm us_multiframe_progressive.dcm; do
	[ "$(dcmdump -q +P 0028,0004 "$f" | sed -n 's/.*\[\(.*\)\].*/\1/p')" = YBR_FULL_422 ] ||
		die "$f: Photometric Interpretation is not YBR_FULL_422"
done
echo "checked: every compressed file decodes"

for f in ts_implicit_le.dcm ts_explicit_le.dcm ts_explicit_be.dcm ts_deflated.dcm \
	ts_jpeg_lossless.dcm ts_jpeg_lossless_sv1.dcm ts_jpegls_lossless.dcm ts_j2k_lossless.dcm ts_rle.dcm; do
	lossless "$f" dr_mono2.dcm
done

echo "testdata: $(du -sh "$here" | cut -f1)"
