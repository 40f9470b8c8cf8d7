// Command gentestdata writes pacsd's DICOM test files.
//
//	go run ./tools/gentestdata -out testdata        base files, broken/, expected.json, README.md
//	go run ./tools/gentestdata -uid NAME            the SOP Instance UID of a file (make.sh uses it)
//	go run ./tools/gentestdata -bench DIR -large N -small M -seed S
//	go run ./tools/gentestdata -multiframe DIR -n N -size MB [-seed S]
//
// The base files are uncompressed and made here; testdata/make.sh derives the other transfer
// syntaxes from them with DCMTK and GDCM. Everything is deterministic: the same command
// writes the same bytes, which tools/gentestdata/main_test.go checks against the committed
// files. Text is encoded here with golang.org/x/text and hand-written ISO 2022 escapes, never
// with the pacsd dicom package's own charset code, because these files are the oracle for it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"pacsd/dicom"
)

func main() {
	out := flag.String("out", "", "write the base test files, expected.json and README.md into `dir`")
	uidOf := flag.String("uid", "", "print the SOP Instance UID gentestdata assigns to test file `name`")
	bench := flag.String("bench", "", "write benchmark files into `dir`")
	large := flag.Int("large", 0, "bench: number of large (2800x2800 16-bit) DX files")
	small := flag.Int("small", 0, "bench: number of small (64x64 16-bit) DX files")
	us := flag.Int("us", 0, "bench: number of ultrasound objects (640x480 RGB stills, one in four a 40-frame cine)")
	ct := flag.Int("ct", 0, "bench: number of CT slices (512x512 16-bit)")
	seed := flag.Uint64("seed", 1, "bench/multiframe: seed; the same seed writes the same files")
	multi := flag.String("multiframe", "", "write large US multi-frame files into `dir`")
	n := flag.Int("n", 1, "multiframe: number of files")
	size := flag.Int("size", 50, "multiframe: approximate size of each file in MB")
	flag.Parse()

	var err error
	switch {
	case *uidOf != "":
		fmt.Println(uid("sop/" + *uidOf))
	case *out != "":
		err = writeBase(*out)
	case *bench != "":
		err = writeBench(*bench, *large, *small, *seed)
		if err == nil && *us > 0 {
			err = writeBenchUS(filepath.Join(*bench, "us"), *us, *seed)
		}
		if err == nil && *ct > 0 {
			err = writeBenchCT(filepath.Join(*bench, "ct"), *ct, *seed)
		}
	case *multi != "":
		err = writeMultiframe(*multi, *n, *size, *seed)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentestdata:", err)
		os.Exit(1)
	}
}

// derivedFile is a file testdata/make.sh makes from a base file with DCMTK or GDCM. The
// table lives here so that expected.json and README.md describe them; main_test.go checks
// the committed files against it with dcmdump.
type derivedFile struct {
	name, base, ts string
	photometric    string // when the codec changes it
	what, how      string
}

var derived = []derivedFile{
	{name: "ts_implicit_le.dcm", base: "dr_mono2.dcm", ts: dicom.ImplicitVRLittleEndian,
		what: "dr_mono2.dcm in Implicit VR Little Endian", how: "dcmconv +ti"},
	{name: "ts_explicit_le.dcm", base: "dr_mono2.dcm", ts: dicom.ExplicitVRLittleEndian,
		what: "dr_mono2.dcm rewritten by DCMTK in Explicit VR Little Endian", how: "dcmconv +te"},
	{name: "ts_explicit_be.dcm", base: "dr_mono2.dcm", ts: dicom.ExplicitVRBigEndian,
		what: "dr_mono2.dcm in Explicit VR Big Endian (retired syntax)", how: "dcmconv +tb"},
	{name: "ts_deflated.dcm", base: "dr_mono2.dcm", ts: dicom.DeflatedExplicitVRLittleEndian,
		what: "dr_mono2.dcm in Deflated Explicit VR Little Endian", how: "dcmconv +td"},
	{name: "ts_jpeg_baseline.dcm", base: "sc_mono8.dcm", ts: dicom.JPEGBaseline8Bit,
		what: "sc_mono8.dcm, JPEG baseline (8-bit, lossy)", how: "dcmcjpeg +eb +un"},
	{name: "ts_jpeg_extended.dcm", base: "dr_mono2.dcm", ts: dicom.JPEGExtended12Bit,
		what: "dr_mono2.dcm, JPEG extended (12-bit, lossy)", how: "dcmcjpeg +ee +un"},
	{name: "ts_jpeg_lossless.dcm", base: "dr_mono2.dcm", ts: dicom.JPEGLossless,
		what: "dr_mono2.dcm, JPEG lossless process 14 (selection value 6)", how: "dcmcjpeg +el +un"},
	{name: "ts_jpeg_lossless_sv1.dcm", base: "dr_mono2.dcm", ts: dicom.JPEGLosslessSV1,
		what: "dr_mono2.dcm, JPEG lossless process 14 SV1", how: "dcmcjpeg +e1 +un"},
	{name: "ts_jpegls_lossless.dcm", base: "dr_mono2.dcm", ts: dicom.JPEGLSLossless,
		what: "dr_mono2.dcm, JPEG-LS lossless", how: "dcmcjpls +el +un"},
	{name: "ts_jpegls_near.dcm", base: "dr_mono2.dcm", ts: dicom.JPEGLSNearLossless,
		what: "dr_mono2.dcm, JPEG-LS near-lossless (NEAR 2)", how: "dcmcjpls +en +md 2 +un"},
	{name: "ts_j2k_lossless.dcm", base: "dr_mono2.dcm", ts: dicom.JPEG2000Lossless,
		what: "dr_mono2.dcm, JPEG 2000 reversible", how: "gdcmconv --j2k"},
	{name: "ts_j2k.dcm", base: "dr_mono2.dcm", ts: dicom.JPEG2000,
		what: "dr_mono2.dcm, JPEG 2000 irreversible (lossy, 10:1)", how: "gdcmconv --j2k --lossy -r 10"},
	{name: "ts_rle.dcm", base: "dr_mono2.dcm", ts: dicom.RLELossless,
		what: "dr_mono2.dcm, RLE lossless", how: "dcmcrle"},
	{name: "us_multiframe_jpeg.dcm", base: "us_multiframe.dcm", ts: dicom.JPEGBaseline8Bit, photometric: "YBR_FULL_422",
		what: "us_multiframe.dcm, JPEG baseline YCbCr 4:2:2, one fragment per frame, as ultrasound machines send",
		how:  "dcmcjpeg +eb +un"},
	{name: "ts_jpeg_spectral_8.dcm", base: "sc_mono8.dcm", ts: dicom.JPEGSpectralSelectionNonHierarchical68,
		what: "sc_mono8.dcm, JPEG spectral selection (retired process 6, 8-bit, lossy)", how: "dcmcjpeg +es +un"},
	{name: "ts_jpeg_spectral_12.dcm", base: "dr_mono2.dcm", ts: dicom.JPEGSpectralSelectionNonHierarchical68,
		what: "dr_mono2.dcm, JPEG spectral selection (retired process 8, 12-bit, lossy)", how: "dcmcjpeg +es +un"},
	{name: "ts_jpeg_progressive_8.dcm", base: "sc_mono8.dcm", ts: dicom.JPEGFullProgressionNonHierarchical1012,
		what: "sc_mono8.dcm, JPEG full progression with successive approximation (retired process 10, 8-bit, lossy)",
		how:  "dcmcjpeg +ep +un"},
	{name: "ts_jpeg_progressive_12.dcm", base: "dr_mono2.dcm", ts: dicom.JPEGFullProgressionNonHierarchical1012,
		what: "dr_mono2.dcm, JPEG full progression with successive approximation (retired process 12, 12-bit, lossy)",
		how:  "dcmcjpeg +ep +un"},
	{name: "us_multiframe_progressive.dcm", base: "us_multiframe.dcm", ts: dicom.JPEGFullProgressionNonHierarchical1012,
		photometric: "YBR_FULL_422",
		what:        "us_multiframe.dcm, JPEG full progression YCbCr 4:2:2 (retired process 10; interleaved DC scans)",
		how:         "dcmcjpeg +ep +un"},
}

// writeBase writes the base files, expected.json and README.md into dir.
func writeBase(dir string) error {
	outs, err := baseFiles()
	if err != nil {
		return err
	}
	for _, o := range outs {
		p := filepath.Join(dir, filepath.FromSlash(o.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, o.data, 0o644); err != nil {
			return err
		}
	}
	exp, err := expectedJSON(outs)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "expected.json"), exp, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), readme(outs), 0o644)
}

// derivedExpected is the expected values of a derived file: its base's, with the new SOP
// Instance UID, transfer syntax and (for colour JPEG) photometric interpretation.
func derivedExpected(d derivedFile, base map[string]string) map[string]string {
	m := make(map[string]string, len(base))
	for k, v := range base {
		m[k] = v
	}
	m["SOPInstanceUID"] = uid("sop/" + d.name)
	m["TransferSyntaxUID"] = d.ts
	if d.photometric != "" {
		m["PhotometricInterpretation"] = d.photometric
	}
	return m
}

func allExpected(outs []output) (map[string]map[string]string, error) {
	all := map[string]map[string]string{}
	for _, o := range outs {
		all[o.name] = o.expected
	}
	for _, d := range derived {
		base, ok := all[d.base]
		if !ok {
			return nil, fmt.Errorf("derived %s: no base %s", d.name, d.base)
		}
		all[d.name] = derivedExpected(d, base)
	}
	return all, nil
}

func expectedJSON(outs []output) ([]byte, error) {
	all, err := allExpected(outs)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(all, "", "  ") // map keys are sorted: stable output
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

const readmeHead = `# testdata

Small DICOM files pacsd's tests read. **Generated; do not edit by hand.**

- ` + "`go run ./tools/gentestdata -out testdata`" + ` writes the base (uncompressed) files, ` + "`broken/`" + `,
  ` + "`expected.json`" + ` and this README.
- ` + "`testdata/make.sh`" + ` runs that, then derives the other transfer syntaxes with DCMTK (dcmconv,
  dcmcjpeg, dcmcjpls, dcmcrle, dcmodify) and GDCM (gdcmconv), and checks each result with dcmdump
  and the matching decoder. Outputs are committed; make.sh is re-runnable.
- ` + "`go test ./tools/gentestdata`" + ` regenerates the base files into a temporary directory and checks
  they are byte-identical to these, and that dcmdump accepts every good file (and its values match
  expected.json) and refuses the broken ones.

UIDs are ` + "`2.25.`" + ` + the decimal of a UUID made from SHA-256 of a fixed name (version 8,
variant bits set), so they are valid and stable; every file has its own SOP Instance UID. Each
derived file keeps its base's study and series.

Text was encoded by the generator itself (golang.org/x/text, hand-written ISO 2022 escapes), not by
pacsd's dicom package, so these files can judge its decoder.

## expected.json

One entry per .dcm file, keyed by its path relative to testdata/ (` + "`broken/...`" + ` included). Values
are what a correct reader reports, text decoded to UTF-8 with padding removed:
SpecificCharacterSet (the raw value, ` + "`\\`" + ` between values, "" when absent), SOPClassUID,
SOPInstanceUID (of the data set; "" when absent), StudyInstanceUID, SeriesInstanceUID,
PatientName, PatientID, Modality, TransferSyntaxUID, and when present StudyDescription,
InstitutionName, Rows, Columns, NumberOfFrames, SamplesPerPixel, BitsAllocated, BitsStored,
PhotometricInterpretation. Files a reader must refuse have only ` + "`\"Malformed\": \"<why>\"`" + `.

## Files

`

const readmeTail = `
## Notes on the character sets

- charset_ir58.dcm and charset_ir58_only.dcm use ISO 2022 code extensions (PS3.3 C.12.1.1.2,
  PS3.5 6.1.2.5): ASCII stays in G0, GB2312 is designated to G1 with ` + "`ESC $ ) A`" + ` (1B 24 29 41)
  and its characters are sent as GR bytes (EUC-CN). After every delimiter (` + "`^`" + ` and ` + "`=`" + ` in PN,
  ` + "`\\`" + ` between values, CR/LF in texts) the initial state returns (PS3.5 6.1.2.5.3), so the next
  Chinese run designates G1 again. G0 is never changed, so no ` + "`ESC ( B`" + ` is needed. Patient's Name
  of charset_ir58_only.dcm is PS3.5 K.2 byte for byte:
  ` + "`Zhang^XiaoDong=` 1B 24 29 41 D5 C5 `^` 1B 24 29 41 D0 A1 B6 AB `=`" + `.
- charset_gb18030_4byte.dcm has characters outside GBK (U+36C3 in the name, U+2C317 in Study
  Description), which GB18030 encodes as four-byte sequences.
- dr_mono1.dcm is MONOCHROME1 with the chest picture's samples inverted, so a correct renderer shows
  the same picture as dr_mono2.dcm. Every image has a bright square in its top-left corner.

## Benchmark and memory-test files (not committed)

    go run ./tools/gentestdata -bench testdata/bench -large 40 -small 2000 -seed 1
    go run ./tools/gentestdata -multiframe /tmp/mf -n 2 -size 200

-bench writes large/ (2800x2800 16-bit DX, ~15 MB, xorshift noise so it does not compress away)
and small/ (64x64 16-bit DX) files in studies of 1-4 instances, deterministic for a seed;
-multiframe writes US multi-frame RGB objects of about -size MB each, streamed (never held in
memory).
`

func readme(outs []output) []byte {
	all, _ := allExpected(outs)
	type row struct{ name, what, how string }
	var rows []row
	for _, o := range outs {
		rows = append(rows, row{o.name, o.what, o.how})
	}
	for _, d := range derived {
		rows = append(rows, row{d.name, d.what, d.how})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		bi, bj := strings.HasPrefix(rows[i].name, "broken/"), strings.HasPrefix(rows[j].name, "broken/")
		if bi != bj {
			return bj
		}
		return rows[i].name < rows[j].name
	})
	var b strings.Builder
	b.WriteString(readmeHead)
	b.WriteString("| File | What | SOP class | Transfer syntax | Specific Character Set | Patient's Name (UTF-8) | Made by |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	cell := func(s string) string {
		if s == "" {
			return "—"
		}
		return strings.NewReplacer("|", `\|`, "\\", `\\`).Replace(s)
	}
	for _, r := range rows {
		e := all[r.name]
		class, ts, cs, pn := "—", "—", "—", "—"
		if e["Malformed"] == "" {
			class = dicom.SOPClassName(e["SOPClassUID"])
			if t, ok := dicom.LookupTransferSyntax(e["TransferSyntaxUID"]); ok {
				ts = t.Name + " (" + t.UID + ")"
			}
			cs = "`" + e["SpecificCharacterSet"] + "`"
			if e["SpecificCharacterSet"] == "" {
				cs = "(none)"
			}
			pn = cell(e["PatientName"])
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.name, cell(r.what), class, ts, cs, pn, r.how)
	}
	b.WriteString(readmeTail)
	return []byte(b.String())
}
