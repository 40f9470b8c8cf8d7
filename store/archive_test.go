package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/storetest"
)

// expected is testdata/expected.json: file -> what a correct reader reports.
func expected(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := os.ReadFile("../testdata/expected.json")
	if err != nil {
		t.Skipf("testdata not generated: %v", err)
	}
	var m map[string]map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPutTestdata stores every good test file and checks what the index says about it,
// including the UTF-8 Patient's Name of the GB18030 and ISO 2022 files, and that the
// stored object is byte for byte what was sent.
func TestPutTestdata(t *testing.T) {
	exp := expected(t)
	e := newEnv(t)
	ctx := context.Background()
	n := 0
	for name, want := range exp {
		if want["Malformed"] != "" || strings.HasPrefix(name, "broken/") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("../testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			inst := e.put(t, data, store.PutRequest{ExpectSOPInstanceUID: want["SOPInstanceUID"],
				ExpectSOPClassUID: want["SOPClassUID"], Origin: store.Origin{Transport: "stow"}})
			for _, c := range []struct{ field, got string }{
				{"StudyInstanceUID", inst.StudyInstanceUID}, {"SeriesInstanceUID", inst.SeriesInstanceUID},
				{"SOPInstanceUID", inst.SOPInstanceUID}, {"SOPClassUID", inst.SOPClassUID},
				{"TransferSyntaxUID", inst.TransferSyntaxUID},
			} {
				if c.got != want[c.field] {
					t.Errorf("%s = %q, want %q", c.field, c.got, want[c.field])
				}
			}
			sum := sha256.Sum256(data)
			if inst.SHA256 != hex.EncodeToString(sum[:]) || inst.Size != int64(len(data)) {
				t.Errorf("SHA256/Size = %s/%d, want %x/%d", inst.SHA256, inst.Size, sum, len(data))
			}
			res, err := storetest.SearchDatasets(ctx, e.idx, store.Query{Level: store.LevelInstance,
				Matches: []store.Match{{Tag: dicom.TagSOPInstanceUID, Value: inst.SOPInstanceUID}}})
			if err != nil || len(res) != 1 {
				t.Fatalf("Search: %d results, %v", len(res), err)
			}
			// Trailing empty groups ("Zhang^XiaoDong=张^小东=") are not kept: DICOM JSON has
			// no place for them (PS3.18 F.2.2).
			if got, w := res[0].String(dicom.TagPatientName), strings.TrimRight(want["PatientName"], "="); got != w {
				t.Errorf("PatientName = %q, want %q", got, w)
			}
			if got := res[0].String(dicom.TagSpecificCharacterSet); got != "ISO_IR 192" {
				t.Errorf("SpecificCharacterSet = %q, want ISO_IR 192", got)
			}
			_, rc, err := e.a.Open(ctx, inst.SOPInstanceUID)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Open returned %d bytes (%v), want the %d sent", len(got), err, len(data))
			}
		})
	}
	if n == 0 {
		t.Skip("no test files")
	}
}

// TestSearchGB18030 is the county hub's everyday case: a DR with a GB18030 name, found by
// a Chinese prefix and shown in UTF-8.
func TestSearchGB18030(t *testing.T) {
	exp := expected(t)["dr_mono2.dcm"]
	data, err := os.ReadFile("../testdata/dr_mono2.dcm")
	if err != nil {
		t.Skip(err)
	}
	e := newEnv(t)
	e.put(t, data, store.PutRequest{})
	name := []rune(exp["PatientName"])
	res, err := storetest.SearchDatasets(context.Background(), e.idx, store.Query{Level: store.LevelStudy,
		Matches: []store.Match{{Tag: dicom.TagPatientName, Value: string(name[0]) + "*"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("%d studies for %q*", len(res), string(name[0]))
	}
	if got := res[0].String(dicom.TagPatientName); got != exp["PatientName"] {
		t.Fatalf("PatientName = %q, want %q", got, exp["PatientName"])
	}
	if got := res[0].Strings(dicom.TagModalitiesInStudy); len(got) != 1 || got[0] != exp["Modality"] {
		t.Fatalf("ModalitiesInStudy = %q, want %q", got, exp["Modality"])
	}
}

func TestPutBroken(t *testing.T) {
	exp := expected(t)
	for name := range exp {
		if !strings.HasPrefix(name, "broken/") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("../testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t)
			_, err = e.a.Put(context.Background(), bytes.NewReader(data), store.PutRequest{})
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Put = %v, want ErrInvalid", err)
			}
			e.assertEmpty(t, "")
		})
	}
}

func TestPutRefused(t *testing.T) {
	good := obj{pixels: 1000}.withDefaults()
	for _, tc := range []struct {
		name string
		data []byte
		req  store.PutRequest
		cfg  func(*store.Config)
		want error
	}{
		{"sop instance mismatch", good.bytes(), store.PutRequest{ExpectSOPInstanceUID: "1.2.3"}, nil, store.ErrInvalid},
		{"sop class mismatch", good.bytes(), store.PutRequest{ExpectSOPClassUID: "1.2.840.10008.5.1.4.1.1.2"}, nil, store.ErrInvalid},
		{"study mismatch", good.bytes(), store.PutRequest{ExpectStudyInstanceUID: "1.2.3"}, nil, store.ErrInvalid},
		{"missing study uid", obj{study: "", series: "1.2.3", sop: "1.2.3.4"}.withDefaults().bytesWithout(dicom.TagStudyInstanceUID), store.PutRequest{}, nil, store.ErrInvalid},
		{"uid with letters", obj{sop: "1.2.abc"}.bytes(), store.PutRequest{}, nil, store.ErrInvalid},
		{"uid path traversal", obj{series: ".."}.bytes(), store.PutRequest{}, nil, store.ErrInvalid},
		{"uid too long", obj{sop: "1." + strings.Repeat("2", 64)}.bytes(), store.PutRequest{}, nil, store.ErrInvalid},
		{"uid empty component", obj{study: "1..2"}.bytes(), store.PutRequest{}, nil, store.ErrInvalid},
		{"truncated pixel data", obj{pixels: 1000, truncate: 10}.bytes(), store.PutRequest{}, nil, store.ErrInvalid},
		{"truncated element header", obj{pixels: 2, truncate: 8}.bytes(), store.PutRequest{}, nil, store.ErrInvalid},
		{"not dicom", bytes.Repeat([]byte("x"), 300), store.PutRequest{}, nil, store.ErrInvalid},
		{"empty", nil, store.PutRequest{}, nil, store.ErrInvalid},
		{"too large", good.bytes(), store.PutRequest{}, func(c *store.Config) { c.MaxObjectSize = 1000 }, store.ErrTooLarge},
		{"header too large", good.bytes(), store.PutRequest{}, func(c *store.Config) { c.MaxObjectSize = 200 }, store.ErrTooLarge},
		{"below free space floor", good.bytes(), store.PutRequest{}, func(c *store.Config) { c.MinFreeBytes = 1 << 62 }, store.ErrNoSpace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			if tc.cfg != nil {
				e = newEnv(t, tc.cfg)
			} else {
				e = newEnv(t)
			}
			inst, err := e.a.Put(context.Background(), bytes.NewReader(tc.data), tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Put = %v, %v; want %v", inst, err, tc.want)
			}
			e.assertEmpty(t, good.sop)
		})
	}
}

// bytesWithout writes the object without one data set element.
func (o obj) bytesWithout(tag dicom.Tag) []byte {
	b := o.bytes()
	// The element is found by its encoded tag: the meta holds only ASCII UIDs and small
	// lengths, which never spell a data set tag.
	key := []byte{byte(tag.Group()), byte(tag.Group() >> 8), byte(tag.Element()), byte(tag.Element() >> 8)}
	i := bytes.Index(b[132:], key)
	if i < 0 {
		panic("tag not found")
	}
	i += 132
	n := int(b[i+6]) | int(b[i+7])<<8
	return append(b[:i:i], b[i+8+n:]...)
}

func TestPutSourceError(t *testing.T) {
	e := newEnv(t)
	data := obj{pixels: 100000}.bytes()
	r := io.MultiReader(bytes.NewReader(data[:50000]), iotestErr{})
	_, err := e.a.Put(context.Background(), r, store.PutRequest{})
	if err == nil || errors.Is(err, store.ErrInvalid) || !errors.Is(err, errPeer) {
		t.Fatalf("Put = %v, want the reader's own error", err)
	}
	e.assertEmpty(t, obj{}.withDefaults().sop)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.a.Put(ctx, bytes.NewReader(data), store.PutRequest{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context = %v", err)
	}
	e.assertEmpty(t, obj{}.withDefaults().sop)
}

var errPeer = errors.New("association aborted")

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errPeer }

func TestPutDedupe(t *testing.T) {
	e := newEnv(t)
	data := obj{pixels: 5000}.bytes()
	first := e.put(t, data, store.PutRequest{})
	second := e.put(t, data, store.PutRequest{})
	if second.BlobKey != first.BlobKey || !second.ReceivedAt.Equal(first.ReceivedAt) {
		t.Fatalf("second Put did not return the stored record: %+v", second)
	}
	if k := e.blobKeys(t); len(k) != 1 || k[0] != first.BlobKey {
		t.Fatalf("blobs = %q, want just %s", k, first.BlobKey)
	}
	if s := e.spoolFiles(t); len(s) != 0 {
		t.Fatalf("spool files left: %q", s)
	}
	list, err := e.idx.Instances(context.Background(), first.StudyInstanceUID, "")
	if err != nil || len(list) != 1 {
		t.Fatalf("Instances = %d, %v", len(list), err)
	}
}

// TestPutReplace: a corrected re-send from the same site replaces the stored version,
// which stays in the blob store (a kept version, see storetest.RunArchiveVersions).
func TestPutReplace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	same := store.PutRequest{Origin: store.Origin{Transport: "dimse", CallingAE: "DR1", Site: "site:1"}}
	old := e.put(t, obj{pixels: 5000, fill: 1}.bytes(), same)
	corrected := obj{pixels: 5000, fill: 2, name: "Test^Corrected"}.bytes()
	inst := e.put(t, corrected, same)
	if inst.SHA256 == old.SHA256 || inst.BlobKey == old.BlobKey {
		t.Fatal("replacement has the old hash or key")
	}
	k := e.blobKeys(t)
	slices.Sort(k)
	want := []string{old.BlobKey, inst.BlobKey}
	slices.Sort(want)
	if !slices.Equal(k, want) {
		t.Fatalf("blobs = %q, want the new %s and the kept %s", k, inst.BlobKey, old.BlobKey)
	}
	got, rc, err := e.a.Open(ctx, inst.SOPInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); !bytes.Equal(b, corrected) || got.SHA256 != inst.SHA256 {
		t.Fatal("Open does not return the corrected object")
	}
	res, err := storetest.SearchDatasets(ctx, e.idx, store.Query{Level: store.LevelStudy})
	if err != nil || len(res) != 1 || res[0].String(dicom.TagPatientName) != "Test^Corrected" {
		t.Fatalf("study after replace: %v %v", res, err)
	}
}

// TestPutRepairsMissingBlob: the index promises an object whose blob is gone; the same
// object sent again must be stored, not deduplicated away.
func TestPutRepairsMissingBlob(t *testing.T) {
	e := newEnv(t)
	data := obj{pixels: 100}.bytes()
	inst := e.put(t, data, store.PutRequest{})
	if err := e.blobs.Delete(context.Background(), inst.BlobKey); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.a.Open(context.Background(), inst.SOPInstanceUID); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open with the blob gone = %v, want ErrUnavailable", err)
	}
	e.put(t, data, store.PutRequest{})
	if _, rc, err := e.a.Open(context.Background(), inst.SOPInstanceUID); err != nil {
		t.Fatalf("after re-send: %v", err)
	} else {
		rc.Close()
	}
}

func TestOpenNotFound(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.a.Open(context.Background(), "1.2.3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Open = %v, want ErrNotFound", err)
	}
}

// failingIndex fails every PutInstance, as a full or broken database would.
type failingIndex struct{ store.Index }

func (failingIndex) PutInstance(context.Context, *store.Instance) (*store.Instance, error) {
	return nil, fmt.Errorf("disk I/O error: %w", store.ErrUnavailable)
}

// copyingBlobs hides FileAdopter, to exercise the Put-from-spool path of other backends.
type copyingBlobs struct{ store.Blobs }

func TestPutIndexFailureLeavesNoBlob(t *testing.T) {
	for _, adopt := range []bool{true, false} {
		t.Run(fmt.Sprintf("adopt=%v", adopt), func(t *testing.T) {
			e := newEnv(t)
			var blobs store.Blobs = e.blobs
			if !adopt {
				blobs = copyingBlobs{e.blobs}
			}
			a, err := store.NewArchive(failingIndex{e.idx}, blobs, store.Config{SpoolDir: e.spool, MinFreeBytes: -1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Put(context.Background(), bytes.NewReader(obj{pixels: 100}.bytes()), store.PutRequest{}); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("Put = %v, want ErrUnavailable", err)
			}
			e.assertEmpty(t, obj{}.withDefaults().sop)
		})
	}
}

func TestPutWithoutAdopter(t *testing.T) {
	e := newEnv(t)
	a, err := store.NewArchive(e.idx, copyingBlobs{e.blobs}, store.Config{SpoolDir: e.spool, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	data := obj{pixels: 3000}.bytes()
	inst, err := a.Put(context.Background(), bytes.NewReader(data), store.PutRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, rc, err := a.Open(context.Background(), inst.SOPInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); !bytes.Equal(b, data) {
		t.Fatal("content differs")
	}
	if s := e.spoolFiles(t); len(s) != 0 {
		t.Fatalf("spool files left: %q", s)
	}
}

// TestPutConcurrent: 8 associations storing 50 objects each into shared studies, plus
// every goroutine of one site re-sending one shared instance with its own content (the
// last one indexed is current, the 7 others kept as versions, every blob referenced).
func TestPutConcurrent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*(each+1))
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				o := obj{study: fmt.Sprintf("1.3.%d", g%3), series: fmt.Sprintf("1.3.%d.%d", g%3, g),
					sop: fmt.Sprintf("1.3.%d.%d.%d", g%3, g, i), pixels: 200 + i, fill: byte(i)}
				if _, err := e.a.Put(ctx, bytes.NewReader(o.bytes()), store.PutRequest{}); err != nil {
					errs <- err
				}
			}
			shared := obj{study: "1.4", sop: "1.4.1.1", pixels: 100, fill: byte(g)}
			if _, err := e.a.Put(ctx, bytes.NewReader(shared.bytes()), store.PutRequest{Origin: store.Origin{Site: "site:1"}}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for s := range 3 {
		list, err := e.idx.Instances(ctx, fmt.Sprintf("1.3.%d", s), "")
		if err != nil {
			t.Fatal(err)
		}
		total += len(list)
	}
	if total != goroutines*each {
		t.Fatalf("%d instances indexed, want %d", total, goroutines*each)
	}
	if k := e.blobKeys(t); len(k) != goroutines*each+goroutines {
		t.Fatalf("%d blobs, want %d", len(k), goroutines*each+goroutines)
	}
	if vs, err := e.a.Versions(ctx, "1.4.1.1"); err != nil || len(vs) != goroutines-1 {
		t.Fatalf("shared instance: %d kept versions, %v; want %d", len(vs), err, goroutines-1)
	}
	c, err := e.a.Check(ctx, store.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Missing != 0 || c.Unreferenced != 0 || c.Referenced != goroutines*each+goroutines {
		t.Fatalf("Check = %+v", c)
	}
	if s := e.spoolFiles(t); len(s) != 0 {
		t.Fatalf("spool files left: %q", s)
	}
}

func TestRecover(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kept := e.put(t, obj{pixels: 10}.bytes(), store.PutRequest{})
	lost := e.put(t, obj{sop: "1.2.826.0.1.1.1.2", pixels: 10}.bytes(), store.PutRequest{})
	// A crash mid-Put leaves a spool file; one between blob and index leaves a blob; damage
	// removes an indexed blob.
	for _, name := range []string{"put-123.spool", "put-456.spool"} {
		if err := os.WriteFile(filepath.Join(e.spool, name), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	foreign := filepath.Join(e.spool, "operator-notes.txt")
	if err := os.WriteFile(foreign, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.Put(ctx, "ab/1.9/1.9.1/1.9.1.1.0123456789abcdef.dcm", strings.NewReader("orphan"), 6); err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.Delete(ctx, lost.BlobKey); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if s := e.spoolFiles(t); len(s) != 1 || s[0] != "operator-notes.txt" {
		t.Fatalf("spool after Recover = %q, want only the foreign file", s)
	}
	c, err := e.a.Check(ctx, store.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Consistency{Referenced: 2, Stored: 2, Missing: 1, Unreferenced: 1}
	if c != want {
		t.Fatalf("Check = %+v, want %+v", c, want)
	}
	// Report only: the orphan and the surviving blob are still there.
	if k := e.blobKeys(t); len(k) != 2 {
		t.Fatalf("blobs after Recover = %q", k)
	}
	if _, rc, err := e.a.Open(ctx, kept.SOPInstanceUID); err != nil {
		t.Fatal(err)
	} else {
		rc.Close()
	}
}

// TestOnStored: listeners hear of each new object once it is indexed, not of duplicates;
// Ingesting is true while a Put runs and until the ingest gap after it has passed.
func TestOnStored(t *testing.T) {
	clk := newTestClock()
	e := newEnv(t, store.WithClock(clk.Now))
	var heard []string
	e.a.OnStored(func(in *store.Instance) {
		if _, err := e.idx.Instance(context.Background(), in.SOPInstanceUID); err != nil {
			t.Errorf("OnStored before the index commit: %v", err)
		}
		heard = append(heard, in.SOPInstanceUID)
	})
	a := obj{sop: "1.2.826.0.1.1.1.1"}
	b := obj{sop: "1.2.826.0.1.1.1.2"}
	e.put(t, a.bytes(), store.PutRequest{})
	e.put(t, a.bytes(), store.PutRequest{}) // duplicate
	e.put(t, b.bytes(), store.PutRequest{})
	if len(heard) != 2 || heard[0] != a.sop || heard[1] != b.sop {
		t.Fatalf("OnStored heard %q, want %s then %s", heard, a.sop, b.sop)
	}

	// The gap after those Puts passes: only a Put in progress makes it true again.
	clk.Add(store.IngestGap)
	if e.a.Ingesting() {
		t.Error("Ingesting true with no Put for the whole ingest gap")
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := e.a.Put(context.Background(), pr, store.PutRequest{})
		done <- err
	}()
	data := obj{sop: "1.2.826.0.1.1.1.3"}.bytes()
	pw.Write(data[:10]) // returns once the Put has read it
	if !e.a.Ingesting() {
		t.Error("Ingesting false while a Put is reading its object")
	}
	pw.Write(data[10:])
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !e.a.Ingesting() {
		t.Error("Ingesting false the moment the last Put ended")
	}
	clk.Add(store.IngestGap)
	if e.a.Ingesting() {
		t.Error("Ingesting still true well after the last Put ended")
	}
}
