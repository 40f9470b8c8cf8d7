package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pacsd/internal/peertest"
)

const testdata = "../../testdata"

// TestBaseFilesAreCommitted regenerates the base files, expected.json and README.md and
// requires them byte-identical to the committed ones: the generator is deterministic and
// nobody edited its output by hand.
func TestBaseFilesAreCommitted(t *testing.T) {
	dir := t.TempDir()
	if err := writeBase(dir); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		want, err := os.ReadFile(filepath.Join(testdata, rel))
		if err != nil {
			t.Errorf("%s: not committed: %v (run testdata/make.sh)", rel, err)
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: regenerated file differs from the committed one (run testdata/make.sh)", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := baseFiles()
	if err != nil {
		t.Fatal(err)
	}
	if want := len(outs) + 2; n != want { // + expected.json, README.md
		t.Errorf("%d files generated, want %d", n, want)
	}
}

func loadExpected(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExpectedCoversEveryFile: expected.json and the .dcm files in testdata/ match one to one.
func TestExpectedCoversEveryFile(t *testing.T) {
	exp := loadExpected(t)
	seen := map[string]bool{}
	err := filepath.WalkDir(testdata, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "bench" {
			return filepath.SkipDir // generated on demand, not committed
		}
		if d.IsDir() || !strings.HasSuffix(p, ".dcm") {
			return nil
		}
		rel, _ := filepath.Rel(testdata, p)
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		if _, ok := exp[rel]; !ok {
			t.Errorf("%s: no entry in expected.json", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range exp {
		if !seen[name] {
			t.Errorf("expected.json names %s, which does not exist", name)
		}
	}
	sops := map[string]string{}
	for name, e := range exp {
		sop := e["SOPInstanceUID"]
		if sop == "" {
			continue
		}
		if other, dup := sops[sop]; dup {
			t.Errorf("%s and %s share SOP Instance UID %s", name, other, sop)
		}
		sops[sop] = name
	}
}

var dumpLine = regexp.MustCompile(`^\(([0-9a-f]{4}),([0-9a-f]{4})\) ([A-Z]{2}) (.*?)\s+#\s*\d+,`)

// dump runs dcmdump on path and returns the top-level values by tag "gggg,eeee"
// (bracketed text without brackets, numbers as printed). Text is converted to UTF-8 by
// DCMTK (+U8), an implementation independent of both the generator and pacsd; since +U8
// also rewrites Specific Character Set, that one comes from a second, unconverted dump.
// -M leaves long values (Pixel Data) unloaded: parsed past, not printed as hex.
func dump(t *testing.T, path string) (map[string]string, error) {
	t.Helper()
	vals, err := dumpArgs(path, "+U8")
	if err != nil {
		return nil, err
	}
	raw, err := dumpArgs(path)
	if err != nil {
		return nil, err
	}
	delete(vals, "0008,0005")
	if cs, ok := raw["0008,0005"]; ok {
		vals["0008,0005"] = cs
	}
	return vals, nil
}

func dumpArgs(path string, args ...string) (map[string]string, error) {
	out, err := exec.Command("dcmdump", append([]string{"-q", "-Un", "+L", "-M", path}, args...)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("dcmdump %s: %v\n%s", path, err, out)
	}
	vals := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		m := dumpLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := m[4]
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
			v = v[1 : len(v)-1]
		}
		if v == "(no value available)" {
			v = ""
		}
		vals[m[1]+","+m[2]] = v
	}
	return vals, nil
}

var expectedTags = map[string]string{
	"SpecificCharacterSet":      "0008,0005",
	"SOPClassUID":               "0008,0016",
	"SOPInstanceUID":            "0008,0018",
	"StudyInstanceUID":          "0020,000d",
	"SeriesInstanceUID":         "0020,000e",
	"PatientName":               "0010,0010",
	"PatientID":                 "0010,0020",
	"Modality":                  "0008,0060",
	"StudyDescription":          "0008,1030",
	"InstitutionName":           "0008,0080",
	"Rows":                      "0028,0010",
	"Columns":                   "0028,0011",
	"NumberOfFrames":            "0028,0008",
	"SamplesPerPixel":           "0028,0002",
	"BitsAllocated":             "0028,0100",
	"BitsStored":                "0028,0101",
	"PhotometricInterpretation": "0028,0004",
	"TransferSyntaxUID":         "0002,0010",
}

// TestDcmdumpAgrees: DCMTK reads every good file and finds the values expected.json
// promises (including text decoded to UTF-8, and each derived file's transfer syntax and
// SOP Instance UID); it refuses every malformed one.
func TestDcmdumpAgrees(t *testing.T) {
	peertest.Tool(t, "dcmdump")
	for name, want := range loadExpected(t) {
		t.Run(name, func(t *testing.T) {
			got, err := dump(t, filepath.Join(testdata, filepath.FromSlash(name)))
			if want["Malformed"] != "" {
				if err == nil {
					t.Fatalf("dcmdump accepted a file that is %s", want["Malformed"])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for key, w := range want {
				tag, ok := expectedTags[key]
				if !ok {
					t.Errorf("expected.json key %q has no tag in this test", key)
					continue
				}
				if g := got[tag]; g != w {
					t.Errorf("%s (%s): dcmdump reads %q, expected.json says %q", key, tag, g, w)
				}
			}
			if want["SOPInstanceUID"] == "" {
				if _, ok := got["0008,0018"]; ok {
					t.Errorf("SOP Instance UID present, expected absent")
				}
			}
		})
	}
}

func TestUID(t *testing.T) {
	a, b := uid("sop/a.dcm"), uid("sop/b.dcm")
	if a != uid("sop/a.dcm") {
		t.Errorf("uid not stable")
	}
	if a == b {
		t.Errorf("different names give the same UID %s", a)
	}
	valid := regexp.MustCompile(`^2\.25\.(0|[1-9][0-9]*)$`) // PS3.5 9.1: no leading zeros
	for i := 0; i < 1000; i++ {
		u := uid(fmt.Sprint("n", i))
		if !valid.MatchString(u) || len(u) > 64 {
			t.Fatalf("uid %q is not a valid 2.25 UID", u)
		}
	}
}

func TestEncodeText(t *testing.T) {
	esc := "\x1b$)A"
	tests := []struct {
		name     string
		charsets []string
		vr, in   string
		want     string // encoded bytes
		wantErr  bool
	}{
		{"ascii default", nil, "PN", "Doe^John", "Doe^John", false},
		{"non-ascii default", nil, "PN", "Jérôme", "", true},
		{"latin1", []string{"ISO_IR 100"}, "PN", "Buc^Jérôme", "Buc^J\xe9r\xf4me", false},
		{"utf8", []string{"ISO_IR 192"}, "PN", "张^伟", "\xe5\xbc\xa0^\xe4\xbc\x9f", false},
		{"gb18030 two-byte", []string{"GB18030"}, "PN", "张伟", "\xd5\xc5\xce\xb0", false},
		{"gb18030 four-byte", []string{"GB18030"}, "PN", "㛃", "\x82\x30\xb7\x31", false},
		{"gbk", []string{"GBK"}, "PN", "刘洋", "\xc1\xf5\xd1\xf3", false},
		{"gbk refuses four-byte", []string{"GBK"}, "PN", "㛃", "", true},
		// PS3.5 K.2, byte for byte.
		{"ir58 K.2", []string{"", "ISO 2022 IR 58"}, "PN", "Zhang^XiaoDong=张^小东=",
			"Zhang^XiaoDong=" + esc + "\xd5\xc5^" + esc + "\xd0\xa1\xb6\xab=", false},
		{"ir58 value delimiter", []string{"ISO 2022 IR 6", "ISO 2022 IR 58"}, "LO", `胸部\正位`,
			esc + "\xd0\xd8\xb2\xbf\\" + esc + "\xd5\xfd\xce\xbb", false},
		{"ir58 one run", []string{"ISO 2022 IR 6", "ISO 2022 IR 58"}, "LO", "X胸部",
			"X" + esc + "\xd0\xd8\xb2\xbf", false},
		// PS3.5 K.3 style: a new line re-designates.
		{"ir58 text lines", []string{"", "ISO 2022 IR 58"}, "LT", "1.第一\r\n2.第一",
			"1." + esc + "\xb5\xda\xd2\xbb\r\n2." + esc + "\xb5\xda\xd2\xbb", false},
		{"ir58 refuses non-GB2312", []string{"", "ISO 2022 IR 58"}, "PN", "㛃", "", true},
		{"unknown charset", []string{"ISO_IR 999"}, "PN", "x", "", true},
		{"unsupported extension", []string{"", "ISO 2022 IR 87"}, "PN", "x", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeText(tt.charsets, tt.vr, tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && string(got) != tt.want {
				t.Errorf("got % X, want % X", got, []byte(tt.want))
			}
		})
	}
}

func TestPDFIsWellFormed(t *testing.T) {
	pdf := tinyPDF()
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.4")) || !bytes.HasSuffix(pdf, []byte("%%EOF\n")) {
		t.Fatalf("not a PDF")
	}
	// Each xref entry must point at "N 0 obj".
	i := bytes.Index(pdf, []byte("xref\n"))
	lines := strings.Split(string(pdf[i:]), "\n")
	for n, l := range lines[3:8] {
		var off int
		if _, err := fmt.Sscanf(l, "%010d 00000 n ", &off); err != nil {
			t.Fatalf("xref line %q: %v", l, err)
		}
		if want := fmt.Sprintf("%d 0 obj", n+1); !bytes.HasPrefix(pdf[off:], []byte(want)) {
			t.Errorf("xref entry %d points at %q", n+1, pdf[off:off+10])
		}
	}
	var start int
	fmt.Sscanf(string(pdf[bytes.LastIndex(pdf, []byte("startxref\n"))+10:]), "%d", &start)
	if start != i {
		t.Errorf("startxref %d, xref at %d", start, i)
	}
}

// TestBench: same seed, same bytes; another seed, other UIDs; DCMTK reads the files.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 15 MB file")
	}
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	for _, run := range []struct {
		dir  string
		seed uint64
	}{{a, 7}, {b, 7}, {c, 8}} {
		if err := writeBench(run.dir, 1, 6, run.seed); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(a, "*", "*.dcm"))
	if len(files) != 7 {
		t.Fatalf("%d files, want 7", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(a, f)
		x, _ := os.ReadFile(f)
		y, _ := os.ReadFile(filepath.Join(b, rel))
		z, _ := os.ReadFile(filepath.Join(c, rel))
		if !bytes.Equal(x, y) {
			t.Errorf("%s: same seed, different bytes", rel)
		}
		if bytes.Equal(x, z) {
			t.Errorf("%s: different seeds, same bytes", rel)
		}
	}
	large, err := os.Stat(filepath.Join(a, "large", "0000.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	if px := int64(2800 * 2800 * 2); large.Size() < px || large.Size() > px+4096 {
		t.Errorf("large file is %d bytes", large.Size())
	}
	if !peertest.Optional(t, "dcmdump") {
		return
	}
	sops := map[string]bool{}
	studies := map[string]int{}
	for _, f := range files {
		v, err := dump(t, f)
		if err != nil {
			t.Fatal(err)
		}
		if sops[v["0008,0018"]] {
			t.Errorf("%s: duplicate SOP Instance UID", f)
		}
		sops[v["0008,0018"]] = true
		studies[v["0020,000d"]]++
	}
	for s, n := range studies {
		if n < 1 || n > 4 {
			t.Errorf("study %s has %d instances, want 1-4", s, n)
		}
	}
}

func TestMultiframe(t *testing.T) {
	dir := t.TempDir()
	if err := writeMultiframe(dir, 2, 3, 1); err != nil {
		t.Fatal(err)
	}
	const frame = 640 * 480 * 3
	for _, name := range []string{"mf_0000.dcm", "mf_0001.dcm"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		frames := 3 << 20 / frame
		if px := int64(frames * frame); st.Size() < px || st.Size() > px+4096 {
			t.Errorf("%s: %d bytes for %d frames", name, st.Size(), frames)
		}
		if !peertest.Optional(t, "dcmdump") {
			continue
		}
		v, err := dump(t, filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if v["0028,0008"] != fmt.Sprint(frames) {
			t.Errorf("%s: NumberOfFrames %q, want %d", name, v["0028,0008"], frames)
		}
	}
}
