package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/store"
)

// runIndexVersions is RunIndex's part on kept versions: PutInstance keeps the record it
// replaces, Versions lists them, RestoreVersion swaps, BlobRefs(RefsAll) references them.
func runIndexVersions(t *testing.T, newIndex func(t *testing.T) store.Index) {
	ctx := context.Background()
	base := MatchingFixtures()[0]
	at := func(min int) time.Time { return time.Date(2024, 3, 2, 9, min, 0, 0, time.UTC) }
	version := func(f Fixture, content, site string, min int) *store.Instance {
		f.Content = content
		in := f.Instance()
		in.Origin.Site = site
		in.ReceivedAt = at(min)
		return in
	}

	t.Run("VersionsKeptOnReplace", func(t *testing.T) {
		x := newIndex(t)
		v1 := version(base, "v1", "site:1", 0)
		v2 := version(base, "v2", "site:1", 5)
		if _, err := x.PutInstance(ctx, v1); err != nil {
			t.Fatal(err)
		}
		if vs, err := x.Versions(ctx, base.SOP); err != nil || len(vs) != 0 {
			t.Fatalf("Versions of a new instance = %+v, %v; want none", vs, err)
		}
		// The same content again is not a version.
		if _, err := x.PutInstance(ctx, version(base, "v1", "site:1", 1)); err != nil {
			t.Fatal(err)
		}
		if vs, _ := x.Versions(ctx, base.SOP); len(vs) != 0 {
			t.Fatalf("same content re-put kept a version: %+v", vs)
		}
		if _, err := x.PutInstance(ctx, v2); err != nil {
			t.Fatal(err)
		}
		vs, err := x.Versions(ctx, base.SOP)
		if err != nil || len(vs) != 1 {
			t.Fatalf("Versions after a replace = %+v, %v; want one", vs, err)
		}
		v := vs[0]
		want := version(base, "v1", "site:1", 1) // the record replaced was the second put's
		if v.ID == 0 || v.BlobKey != want.BlobKey || v.SHA256 != want.SHA256 || v.Size != want.Size ||
			v.StudyInstanceUID != want.StudyInstanceUID || v.SeriesInstanceUID != want.SeriesInstanceUID ||
			v.SOPClassUID != want.SOPClassUID || v.TransferSyntaxUID != want.TransferSyntaxUID ||
			v.DatasetOffset != want.DatasetOffset || v.Origin != want.Origin || !v.ReceivedAt.Equal(want.ReceivedAt) {
			t.Errorf("version = %+v, want the record of %+v", v, want)
		}
		if !v.ReplacedAt.Equal(v2.ReceivedAt) || v.ReplacedBy != v2.Origin.Who() || !strings.Contains(v.ReplacedBy, "site:1") {
			t.Errorf("version replaced at %v by %q, want at %v by %q", v.ReplacedAt, v.ReplacedBy, v2.ReceivedAt, v2.Origin.Who())
		}
		cur, err := x.Instance(ctx, base.SOP)
		if err != nil || cur.SHA256 != v2.SHA256 || cur.Origin.Site != "site:1" {
			t.Fatalf("current = %+v, %v; want v2 from site:1", cur, err)
		}
		// Both blobs are referenced; only the current one is to be uploaded.
		var all, pending []string
		x.BlobRefs(ctx, store.RefsAll, 0, func(r store.BlobRef) error { all = append(all, r.BlobKey); return nil })
		x.BlobRefs(ctx, store.RefsPending, 0, func(r store.BlobRef) error { pending = append(pending, r.BlobKey); return nil })
		slices.Sort(all)
		wantAll := []string{v1.BlobKey, v2.BlobKey}
		slices.Sort(wantAll)
		if !slices.Equal(all, wantAll) || !slices.Equal(pending, []string{v2.BlobKey}) {
			t.Errorf("BlobRefs all %q pending %q; want all %q, pending only %s", all, pending, wantAll, v2.BlobKey)
		}
		if u, _ := x.Usage(ctx); u.Instances != 1 || u.Bytes != v2.Size {
			t.Errorf("Usage = %+v: counts kept versions", u)
		}
		// Versions of another instance: none.
		if vs, err := x.Versions(ctx, "9.9.9"); err != nil || len(vs) != 0 {
			t.Errorf("Versions of an unknown instance = %+v, %v", vs, err)
		}
	})

	t.Run("RestoreVersion", func(t *testing.T) {
		x := newIndex(t)
		f1 := base
		f2 := base
		f2.PatientName = "Zhang^Wei^Corrected"
		v1, v2 := version(f1, "v1", "site:1", 0), version(f2, "v2", "site:1", 5)
		for _, in := range []*store.Instance{v1, v2} {
			if _, err := x.PutInstance(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		vs, _ := x.Versions(ctx, base.SOP)
		if len(vs) != 1 {
			t.Fatalf("versions = %+v", vs)
		}
		old := vs[0]
		// Unknown version, or a version named under another instance: ErrNotFound.
		bad := old
		bad.ID += 1000
		if _, err := x.RestoreVersion(ctx, &bad, at(9), "admin:li"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RestoreVersion of an unknown version = %v, want ErrNotFound", err)
		}
		bad = old
		bad.BlobKey = v2.BlobKey
		if _, err := x.RestoreVersion(ctx, &bad, at(9), "admin:li"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RestoreVersion with another blob = %v, want ErrNotFound", err)
		}
		restore := old
		restore.StudyAttrs, restore.SeriesAttrs, restore.InstanceAttrs = v1.StudyAttrs, v1.SeriesAttrs, v1.InstanceAttrs
		prev, err := x.RestoreVersion(ctx, &restore, at(10), "admin:li")
		if err != nil {
			t.Fatalf("RestoreVersion: %v", err)
		}
		if prev == nil || prev.SHA256 != v2.SHA256 {
			t.Fatalf("RestoreVersion replaced %+v, want v2", prev)
		}
		cur, err := x.Instance(ctx, base.SOP)
		if err != nil {
			t.Fatal(err)
		}
		sameInstance(t, cur, v1)
		if name := search(t, x, store.Query{Level: store.LevelStudy})[0].String(dicom.TagPatientName); name != base.PatientName {
			t.Errorf("study's PatientName after restore = %q, want the restored version's %q", name, base.PatientName)
		}
		vs, _ = x.Versions(ctx, base.SOP)
		if len(vs) != 1 || vs[0].SHA256 != v2.SHA256 || vs[0].ReplacedBy != "admin:li" || !vs[0].ReplacedAt.Equal(at(10)) {
			t.Fatalf("versions after restore = %+v; want v2, replaced by admin:li", vs)
		}
		if _, err := x.RestoreVersion(ctx, &restore, at(11), "admin:li"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("restoring a version twice = %v, want ErrNotFound (it is current)", err)
		}
		// v2 sent again: it is current, its kept version goes (no two records share a blob).
		v2again := version(f2, "v2", "site:1", 20)
		if _, err := x.PutInstance(ctx, v2again); err != nil {
			t.Fatal(err)
		}
		vs, _ = x.Versions(ctx, base.SOP)
		if len(vs) != 1 || vs[0].SHA256 != v1.SHA256 {
			t.Fatalf("versions after v2 re-sent = %+v; want only v1", vs)
		}
	})
}

// Object is a small Part-10 object (Explicit VR Little Endian, Secondary Capture) for the
// archive suites: fill makes the pixel bytes, and so the content, differ.
type Object struct {
	Study, Series, SOP string
	PatientName        string
	Fill               byte
}

// Bytes encodes the object.
func (o Object) Bytes(t testing.TB) []byte {
	t.Helper()
	const class = "1.2.840.10008.5.1.4.1.1.7"
	var b bytes.Buffer
	if _, err := dicom.WriteFileMeta(&b, dicom.FileMeta{SOPClassUID: class, SOPInstanceUID: o.SOP,
		TransferSyntaxUID: dicom.ExplicitVRLittleEndian}); err != nil {
		t.Fatal(err)
	}
	e, err := dicom.NewEncoder(&b, dicom.ExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	e.WriteString(dicom.TagSpecificCharacterSet, "CS", "ISO_IR 192")
	e.WriteString(dicom.TagSOPClassUID, "UI", class)
	e.WriteString(dicom.TagSOPInstanceUID, "UI", o.SOP)
	e.WriteString(dicom.TagStudyDate, "DA", "20240301")
	e.WriteString(dicom.TagModality, "CS", "OT")
	e.WriteString(dicom.TagPatientName, "PN", o.PatientName)
	e.WriteString(dicom.TagPatientID, "LO", "V1")
	e.WriteString(dicom.TagStudyInstanceUID, "UI", o.Study)
	e.WriteString(dicom.TagSeriesInstanceUID, "UI", o.Series)
	e.WriteString(dicom.TagSeriesNumber, "IS", "1")
	e.WriteString(dicom.TagInstanceNumber, "IS", "1")
	e.WriteUint16(dicom.TagSamplesPerPixel, "US", 1)
	e.WriteString(dicom.TagPhotometricInterpretation, "CS", "MONOCHROME2")
	e.WriteUint16(dicom.TagRows, "US", 8)
	e.WriteUint16(dicom.TagColumns, "US", 8)
	e.WriteUint16(dicom.TagBitsAllocated, "US", 8)
	e.WriteUint16(dicom.TagBitsStored, "US", 8)
	e.WriteUint16(dicom.TagPixelRepresentation, "US", 0)
	e.WriteElement(dicom.TagPixelData, "OB", bytes.Repeat([]byte{o.Fill}, 64))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// RunArchiveVersions runs the overwrite rule and the kept versions (DESIGN.md section 3)
// against archives made by newArchive over any index and blob stores, with or without a
// remote store (Drain uploads and evicts between steps, so versions are also looked for in
// the remote store): a re-send with other content from another site, or for another study,
// is refused and changes nothing; the same site's correction becomes current and the old
// version stays readable, listed and restorable byte for byte; Check keeps every version.
func RunArchiveVersions(t *testing.T, newArchive func(t *testing.T) *store.Archive) {
	ctx := context.Background()
	const (
		siteA, siteB = "site:1", "site:2"
		study        = "1.2.826.0.1.77"
		series       = study + ".1"
		sop          = series + ".1"
		otherStudy   = "1.2.826.0.1.78"
	)
	x := Object{Study: study, Series: series, SOP: sop, PatientName: "Zhang^San", Fill: 1}
	put := func(t *testing.T, a *store.Archive, o Object, site string) (*store.Instance, error) {
		t.Helper()
		in, err := a.Put(ctx, bytes.NewReader(o.Bytes(t)), store.PutRequest{Origin: store.Origin{
			Transport: "dimse", CallingAE: strings.ToUpper(strings.ReplaceAll(site, ":", "")), Site: site}})
		drainArchive(t, a)
		return in, err
	}
	mustPut := func(t *testing.T, a *store.Archive, o Object, site string) *store.Instance {
		t.Helper()
		in, err := put(t, a, o, site)
		if err != nil {
			t.Fatalf("Put from %s: %v", site, err)
		}
		return in
	}
	current := func(t *testing.T, a *store.Archive) []byte {
		t.Helper()
		_, rc, err := a.Open(ctx, sop)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	inStudy := func(t *testing.T, a *store.Archive, studyUID string) []string {
		t.Helper()
		list, err := a.Index().Instances(ctx, studyUID, "")
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var uids []string
		for _, in := range list {
			uids = append(uids, in.SOPInstanceUID)
		}
		return uids
	}

	t.Run("Refused", func(t *testing.T) {
		a := newArchive(t)
		orig := mustPut(t, a, x, siteA)
		// The same bytes from anyone: a duplicate, answered from the index.
		if in := mustPut(t, a, x, siteB); in.SHA256 != orig.SHA256 || in.Origin.Site != siteA {
			t.Fatalf("same content from another site = %+v; want the stored record of %s", in, siteA)
		}
		other := x
		other.Fill, other.PatientName = 2, "Li^Si"
		moved := other
		moved.Study, moved.Series = otherStudy, otherStudy+".1"
		for _, tc := range []struct {
			name string
			o    Object
			site string
			want error
		}{
			{"other site", other, siteB, store.ErrOtherSite},
			{"other site, other study", moved, siteB, store.ErrOtherStudy},
			{"same site, other study", moved, siteA, store.ErrOtherStudy},
			{"unknown site", other, "", store.ErrOtherSite},
		} {
			_, err := put(t, a, tc.o, tc.site)
			if !errors.Is(err, tc.want) || !errors.Is(err, store.ErrDuplicate) || !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: Put = %v, want %v (an ErrDuplicate, ErrConflict)", tc.name, err, tc.want)
			}
		}
		if got := current(t, a); !bytes.Equal(got, x.Bytes(t)) {
			t.Fatal("the stored object changed after refused re-sends")
		}
		if got := inStudy(t, a, study); !slices.Equal(got, []string{sop}) {
			t.Errorf("study %s holds %q, want the instance still there", study, got)
		}
		if got := inStudy(t, a, otherStudy); got != nil {
			t.Errorf("study %s holds %q, want none (never moved)", otherStudy, got)
		}
		if vs, err := a.Versions(ctx, sop); err != nil || len(vs) != 0 {
			t.Errorf("Versions after refusals = %+v, %v; want none", vs, err)
		}
		checkKeepsAll(t, a)
	})

	t.Run("SiteStudyStaysItsOwn", func(t *testing.T) {
		a := newArchive(t)
		mustPut(t, a, x, siteA)
		// A new instance of site A's study with another patient name, from site B and from an
		// unknown sender: refused, and the study's patient is unchanged.
		intruder := Object{Study: study, Series: series + ".9", SOP: series + ".9.1", PatientName: "Wang^Wu", Fill: 3}
		for _, site := range []string{siteB, "ae:STRANGER", ""} {
			if _, err := put(t, a, intruder, site); !errors.Is(err, store.ErrForeignStudy) || !errors.Is(err, store.ErrConflict) {
				t.Errorf("new instance in site A's study from %q: Put = %v, want ErrForeignStudy", site, err)
			}
		}
		if got := inStudy(t, a, study); !slices.Equal(got, []string{sop}) {
			t.Errorf("study holds %q after refusals, want only %s", got, sop)
		}
		hits, err := a.Index().Search(ctx, store.Query{Level: store.LevelStudy, Matches: []store.Match{{Tag: dicom.TagStudyInstanceUID, Value: study}}})
		if err != nil || len(hits) != 1 || !strings.Contains(string(hits[0].Study), "Zhang^San") {
			t.Errorf("study after refusals = %v, %v; want patient Zhang^San still", hits, err)
		}
		// Site A itself and the county may add to it (a county report, key images).
		mustPut(t, a, intruder, siteA)
		county := intruder
		county.Series, county.SOP = series+".8", series+".8.1"
		mustPut(t, a, county, "county")
		if sites, err := a.Index().StudySites(ctx, study); err != nil || !slices.Equal(sites, []string{"county", siteA}) {
			t.Errorf("StudySites = %v, %v; want [county site:1]", sites, err)
		}
		// A study begun by an unknown sender claims nothing: a registered site may add to it.
		loose := Object{Study: "1.2.826.0.1.79", Series: "1.2.826.0.1.79.1", SOP: "1.2.826.0.1.79.1.1", PatientName: "Zhao^Liu", Fill: 4}
		mustPut(t, a, loose, "ae:STRANGER")
		loose2 := loose
		loose2.SOP = loose.Series + ".2"
		mustPut(t, a, loose2, siteB)
	})

	t.Run("SameSiteReplacesAndRestores", func(t *testing.T) {
		a := newArchive(t)
		v1 := mustPut(t, a, x, siteA)
		corrected := x
		corrected.Fill, corrected.PatientName = 3, "Zhang^San^Corrected"
		v2 := mustPut(t, a, corrected, siteA)
		if v2.SHA256 == v1.SHA256 || v2.BlobKey == v1.BlobKey {
			t.Fatal("the correction has the old content")
		}
		if got := current(t, a); !bytes.Equal(got, corrected.Bytes(t)) {
			t.Fatal("Open after the correction: not the corrected bytes")
		}
		vs, err := a.Versions(ctx, sop)
		if err != nil || len(vs) != 1 {
			t.Fatalf("Versions = %+v, %v; want the first version", vs, err)
		}
		if vs[0].SHA256 != v1.SHA256 || vs[0].Origin.Site != siteA || vs[0].Size != v1.Size || !strings.Contains(vs[0].ReplacedBy, siteA) {
			t.Fatalf("version = %+v; want v1 from %s replaced by %s", vs[0], siteA, siteA)
		}
		checkKeepsAll(t, a)
		_, rc, err := a.OpenVersion(ctx, sop, vs[0].ID)
		if err != nil {
			t.Fatalf("OpenVersion: %v", err)
		}
		old, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(old, x.Bytes(t)) || hexSHA(old) != v1.SHA256 {
			t.Fatal("the kept version's bytes are not the first version's")
		}
		if _, err := a.Restore(ctx, sop, vs[0].ID+1000, "admin:test"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Restore of an unknown version = %v, want ErrNotFound", err)
		}
		if _, err := a.Versions(ctx, "1.2.826.0.1.404"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Versions of an unknown instance = %v, want ErrNotFound", err)
		}
		restored, err := a.Restore(ctx, sop, vs[0].ID, "admin:test")
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		drainArchive(t, a)
		if restored.SHA256 != v1.SHA256 {
			t.Fatalf("restored %s, want %s", restored.SHA256, v1.SHA256)
		}
		if got := current(t, a); !bytes.Equal(got, x.Bytes(t)) {
			t.Fatal("Open after restore: not the first version byte for byte")
		}
		res, err := SearchDatasets(ctx, a.Index(), store.Query{Level: store.LevelStudy, StudyInstanceUID: study})
		if err != nil || len(res) != 1 || res[0].String(dicom.TagPatientName) != x.PatientName {
			t.Fatalf("study after restore: %v, %v; want PatientName %q again", res, err, x.PatientName)
		}
		vs, _ = a.Versions(ctx, sop)
		if len(vs) != 1 || vs[0].SHA256 != v2.SHA256 || vs[0].ReplacedBy != "admin:test" {
			t.Fatalf("versions after restore = %+v; want the correction, replaced by admin:test", vs)
		}
		// The restore is undone the same way.
		if _, err := a.Restore(ctx, sop, vs[0].ID, "admin:test"); err != nil {
			t.Fatalf("Restore back: %v", err)
		}
		drainArchive(t, a)
		if got := current(t, a); !bytes.Equal(got, corrected.Bytes(t)) {
			t.Fatal("Open after restoring back: not the correction")
		}
		// Another site still may not replace it, nor may the original site move it.
		other := x
		other.Fill = 9
		if _, err := put(t, a, other, siteB); !errors.Is(err, store.ErrOtherSite) {
			t.Errorf("other site after restores = %v, want ErrOtherSite", err)
		}
		checkKeepsAll(t, a)
	})
}

// drainArchive lets a write-back archive upload and evict (no-op without a remote store).
func drainArchive(t *testing.T, a *store.Archive) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
}

// checkKeepsAll runs the consistency check with repair and no grace period: nothing is
// missing or unreferenced, so no kept version's blob is taken for a leftover.
func checkKeepsAll(t *testing.T, a *store.Archive) {
	t.Helper()
	c, err := a.Check(context.Background(), store.CheckOptions{Remote: true, Hash: true, Repair: true, Grace: time.Nanosecond})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if c.Missing+c.Unreferenced+c.RemoteUnreferenced+c.HashMismatch+c.Repaired != 0 {
		t.Fatalf("Check found %+v; kept versions must be referenced and intact", c)
	}
}

func hexSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
