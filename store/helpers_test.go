package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// obj describes a small Part-10 object the tests write themselves (Explicit VR Little
// Endian), so that each test controls its UIDs and size.
type obj struct {
	study, series, sop, class string
	name, patientID           string
	pixels                    int  // bytes of Pixel Data (OW); 0 = none
	fill                      byte // pixel value, to make contents differ
	truncate                  int  // drop this many bytes from the end
}

func (o obj) withDefaults() obj {
	if o.class == "" {
		o.class = "1.2.840.10008.5.1.4.1.1.7"
	}
	if o.study == "" {
		o.study = "1.2.826.0.1.1"
	}
	if o.series == "" {
		o.series = o.study + ".1"
	}
	if o.sop == "" {
		o.sop = o.series + ".1"
	}
	if o.name == "" {
		o.name = "Test^Patient"
	}
	if o.patientID == "" {
		o.patientID = "TP1"
	}
	return o
}

type elem struct {
	tag dicom.Tag
	vr  string
	val []byte
}

func text(s string, pad byte) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, pad)
	}
	return b
}

func encode(w *bytes.Buffer, elems []elem) {
	sort.Slice(elems, func(i, j int) bool { return elems[i].tag < elems[j].tag })
	for _, e := range elems {
		binary.Write(w, binary.LittleEndian, e.tag.Group())
		binary.Write(w, binary.LittleEndian, e.tag.Element())
		w.WriteString(e.vr)
		switch e.vr {
		case "OB", "OW", "SQ", "UN", "UT":
			w.Write([]byte{0, 0})
			binary.Write(w, binary.LittleEndian, uint32(len(e.val)))
		default:
			binary.Write(w, binary.LittleEndian, uint16(len(e.val)))
		}
		w.Write(e.val)
	}
}

func (o obj) bytes() []byte {
	o = o.withDefaults()
	var meta bytes.Buffer
	encode(&meta, []elem{
		{dicom.TagFileMetaInformationVersion, "OB", []byte{0, 1}},
		{dicom.TagMediaStorageSOPClassUID, "UI", text(o.class, 0)},
		{dicom.TagMediaStorageSOPInstanceUID, "UI", text(o.sop, 0)},
		{dicom.TagTransferSyntaxUID, "UI", text(dicom.ExplicitVRLittleEndian, 0)},
		{dicom.TagImplementationClassUID, "UI", text("1.2.826.0.1.3680043.9.9999", 0)},
	})
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(meta.Len()))
	encode(&out, []elem{{dicom.TagFileMetaInformationGroupLength, "UL", gl}})
	out.Write(meta.Bytes())
	u16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	ds := []elem{
		{dicom.TagSpecificCharacterSet, "CS", text("ISO_IR 192", ' ')},
		{dicom.TagSOPClassUID, "UI", text(o.class, 0)},
		{dicom.TagSOPInstanceUID, "UI", text(o.sop, 0)},
		{dicom.TagStudyDate, "DA", text("20240301", ' ')},
		{dicom.TagStudyTime, "TM", text("101500", ' ')},
		{dicom.TagModality, "CS", text("OT", ' ')},
		{dicom.TagPatientName, "PN", text(o.name, ' ')},
		{dicom.TagPatientID, "LO", text(o.patientID, ' ')},
		{dicom.TagStudyInstanceUID, "UI", text(o.study, 0)},
		{dicom.TagSeriesInstanceUID, "UI", text(o.series, 0)},
		{dicom.TagSeriesNumber, "IS", text("1", ' ')},
		{dicom.TagInstanceNumber, "IS", text("1", ' ')},
	}
	if o.pixels > 0 {
		px := bytes.Repeat([]byte{o.fill}, o.pixels+o.pixels%2)
		ds = append(ds,
			elem{dicom.TagSamplesPerPixel, "US", u16(1)},
			elem{dicom.TagPhotometricInterpretation, "CS", text("MONOCHROME2", ' ')},
			elem{dicom.TagRows, "US", u16(1)},
			elem{dicom.TagColumns, "US", u16(uint16(len(px) / 2))},
			elem{dicom.TagBitsAllocated, "US", u16(16)},
			elem{dicom.TagBitsStored, "US", u16(16)},
			elem{dicom.TagPixelRepresentation, "US", u16(0)},
			elem{dicom.TagPixelData, "OW", px},
		)
	}
	encode(&out, ds)
	b := out.Bytes()
	return b[:len(b)-o.truncate]
}

// env is an archive on a folder blob store and a SQLite index in t.TempDir().
type env struct {
	a     *store.Archive
	idx   *sqlite.Index
	blobs *file.Blobs
	spool string
}

func newEnv(t testing.TB, mut ...func(*store.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	return newEnvAt(t, dir, dir, mut...)
}

// newEnvAt puts the spool and blobs under dataDir and the index under indexDir.
func newEnvAt(t testing.TB, dataDir, indexDir string, mut ...func(*store.Config)) *env {
	t.Helper()
	idx, err := sqlite.Open(context.Background(), filepath.Join(indexDir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	blobs, err := file.New(filepath.Join(dataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := store.Config{
		SpoolDir:     filepath.Join(dataDir, "spool"),
		MinFreeBytes: -1,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, m := range mut {
		m(&cfg)
	}
	a, err := store.NewArchive(idx, blobs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{a: a, idx: idx, blobs: blobs, spool: cfg.SpoolDir}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func (e *env) put(t testing.TB, data []byte, req store.PutRequest) *store.Instance {
	t.Helper()
	inst, err := e.a.Put(context.Background(), bytes.NewReader(data), req)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return inst
}

func (e *env) blobKeys(t testing.TB) []string {
	t.Helper()
	var keys []string
	if err := e.blobs.List(context.Background(), func(bi store.BlobInfo) error {
		keys = append(keys, bi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

func (e *env) spoolFiles(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(e.spool)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names
}

// assertEmpty checks that a refused Put left nothing behind: no blob, no index row, no spool.
func (e *env) assertEmpty(t testing.TB, sop string) {
	t.Helper()
	if k := e.blobKeys(t); len(k) != 0 {
		t.Errorf("blobs left: %q", k)
	}
	if s := e.spoolFiles(t); len(s) != 0 {
		t.Errorf("spool files left: %q", s)
	}
	if sop != "" {
		if _, err := e.idx.Instance(context.Background(), sop); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("index has %s: %v", sop, err)
		}
	}
}
