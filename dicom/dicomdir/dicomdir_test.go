package dicomdir

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/dicom"
)

func sample(n int) []Object {
	var out []Object
	for i := range n {
		se := i % 2
		out = append(out, Object{FileID: []string{"DICOM", fmt.Sprintf("S%03d", se), fmt.Sprintf("I%05d", i)},
			SOPClassUID: "1.2.840.10008.5.1.4.1.1.1.1", SOPInstanceUID: fmt.Sprintf("1.2.3.4.%d", i),
			TransferSyntaxUID: dicom.ExplicitVRLittleEndian, PatientID: "P001", PatientName: "Zhang^San=张^三",
			StudyUID: "1.2.3", StudyDate: "20260301", StudyTime: "101500", StudyDescription: "胸部正位",
			SeriesUID: fmt.Sprintf("1.2.3.%d", se), Modality: []string{"DX", "KO"}[se], SeriesNumber: se + 1,
			InstanceNumber: i + 1})
	}
	return out
}

// items walks the Directory Record Sequence's items by their explicit lengths: the offset
// of each item tag from the start of the file, and the data set it holds.
func items(t *testing.T, b []byte) (map[uint32]*dicom.Dataset, []uint32, *dicom.Header) {
	t.Helper()
	h, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("pacsd's reader: %v", err)
	}
	sq := h.Dataset.Get(tagDirectoryRecordSequence)
	if sq == nil {
		t.Fatal("no Directory Record Sequence")
	}
	pos := uint32(h.DatasetOffset + sq.Offset)
	byOff := map[uint32]*dicom.Dataset{}
	var order []uint32
	for _, it := range sq.Items {
		if binary.LittleEndian.Uint32(b[pos:]) != 0xe000fffe {
			t.Fatalf("no item tag at %d", pos)
		}
		byOff[pos] = it
		order = append(order, pos)
		pos += 8 + binary.LittleEndian.Uint32(b[pos+4:])
	}
	return byOff, order, h
}

func num(ds *dicom.Dataset, tag dicom.Tag) uint32 { v, _ := ds.Int(tag); return uint32(v) }

// TestWriteReadBack: pacsd's own reader finds every record where the offsets say, the
// hierarchy PATIENT > STUDY > SERIES > objects, the File IDs and the Chinese name; DCMTK's
// dcmdump reads the file too.
func TestWriteReadBack(t *testing.T) {
	objs := sample(5)
	var buf bytes.Buffer
	if err := Write(&buf, "PACSD", objs); err != nil {
		t.Fatal(err)
	}
	byOff, order, h := items(t, buf.Bytes())
	if got := h.Meta.String(dicom.TagMediaStorageSOPClassUID); got != MediaStorageDirectoryStorage {
		t.Errorf("SOP class %q", got)
	}
	if len(order) != 1+1+2+5 {
		t.Fatalf("%d records", len(order))
	}
	root := num(h.Dataset, tagOffsetFirstRoot)
	if root != order[0] || num(h.Dataset, tagOffsetLastRoot) != root {
		t.Fatalf("root offsets %d/%d, first item at %d", root, num(h.Dataset, tagOffsetLastRoot), order[0])
	}
	walk := func(off uint32) []*dicom.Dataset {
		var out []*dicom.Dataset
		for off != 0 {
			ds, ok := byOff[off]
			if !ok {
				t.Fatalf("offset %d names no record", off)
			}
			out = append(out, ds)
			off = num(ds, tagOffsetNext)
		}
		return out
	}
	pats := walk(root)
	if len(pats) != 1 || pats[0].String(tagRecordType) != "PATIENT" || !strings.Contains(pats[0].String(dicom.TagPatientName), "张^三") {
		t.Fatalf("patients %v", pats)
	}
	studies := walk(num(pats[0], tagOffsetLower))
	if len(studies) != 1 || studies[0].String(dicom.TagStudyInstanceUID) != "1.2.3" {
		t.Fatalf("studies %v", studies)
	}
	series := walk(num(studies[0], tagOffsetLower))
	if len(series) != 2 {
		t.Fatalf("%d series", len(series))
	}
	seen := 0
	for _, se := range series {
		for _, im := range walk(num(se, tagOffsetLower)) {
			want := map[string]string{"DX": "IMAGE", "KO": "KEY OBJECT DOC"}[se.String(dicom.TagModality)]
			if im.String(tagRecordType) != want {
				t.Errorf("record type %q in a %s series", im.String(tagRecordType), se.String(dicom.TagModality))
			}
			id := im.Strings(tagReferencedFileID)
			if len(id) != 3 || id[0] != "DICOM" {
				t.Errorf("file ID %v", id)
			}
			seen++
		}
	}
	if seen != 5 {
		t.Errorf("%d objects reached through the records", seen)
	}

	dcmdump, err := exec.LookPath("dcmdump")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dcmdump (DCMTK) is required in CI")
		}
		t.Skip("no dcmdump")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "DICOMDIR")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(dcmdump, "-dc", "+U8", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "E: ") {
		t.Fatalf("dcmdump: %v\n%s", err, out)
	}
	for _, want := range []string{"Directory Record", "PATIENT", "KEY OBJECT DOC", `DICOM\S001\I00001`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dcmdump does not show %q:\n%s", want, out)
		}
	}
}

func TestBadFileID(t *testing.T) {
	objs := sample(1)
	objs[0].FileID = []string{"dicom", "toolongname"}
	if err := Write(&bytes.Buffer{}, "X", objs); err == nil {
		t.Error("a lower-case, too long File ID was written")
	}
}

// FuzzWrite: whatever the keys, a written DICOMDIR is read back by pacsd's reader with one
// record per object and level.
func FuzzWrite(f *testing.F) {
	f.Add("P1", "Li^Si", "desc", "DX", 3)
	f.Fuzz(func(t *testing.T, pid, name, desc, modality string, n int) {
		n = 1 + (n&0xff)%7
		objs := sample(n)
		for i := range objs {
			objs[i].PatientID, objs[i].PatientName, objs[i].StudyDescription, objs[i].Modality = pid, name, desc, modality
		}
		var buf bytes.Buffer
		if err := Write(&buf, "F", objs); err != nil {
			return // an encoder's refusal (a value too long for its VR) is an answer
		}
		_, order, _ := items(t, buf.Bytes())
		if len(order) != 2+min(n, 2)+n {
			t.Errorf("%d records for %d objects", len(order), n)
		}
	})
}
