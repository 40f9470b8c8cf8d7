package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/store"
)

// RunIndex runs the store.Index contract against fresh, empty indexes made by newIndex (one
// per subtest; newIndex arranges closing, e.g. with t.Cleanup).
func RunIndex(t *testing.T, newIndex func(t *testing.T) store.Index) {
	ctx := context.Background()

	t.Run("PutGet", func(t *testing.T) {
		x := newIndex(t)
		in := MatchingFixtures()[1].Instance()
		prev, err := x.PutInstance(ctx, in)
		if err != nil || prev != nil {
			t.Fatalf("PutInstance = %v, %v; want nil, nil", prev, err)
		}
		got, err := x.Instance(ctx, in.SOPInstanceUID)
		if err != nil {
			t.Fatalf("Instance: %v", err)
		}
		sameInstance(t, got, in)
	})

	t.Run("Invalid", func(t *testing.T) {
		x := newIndex(t)
		for _, mut := range []func(*store.Instance){
			func(in *store.Instance) { in.StudyInstanceUID = "" },
			func(in *store.Instance) { in.SeriesInstanceUID = "" },
			func(in *store.Instance) { in.SOPInstanceUID = "" },
			func(in *store.Instance) { in.BlobKey = "" },
		} {
			in := MatchingFixtures()[0].Instance()
			mut(in)
			if _, err := x.PutInstance(ctx, in); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("PutInstance of an incomplete record: %v, want ErrInvalid", err)
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		x := newIndex(t)
		if _, err := x.PutInstance(ctx, MatchingFixtures()[0].Instance()); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Instance(ctx, "9.9.9"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Instance: %v, want ErrNotFound", err)
		}
		if err := x.DeleteInstance(ctx, "9.9.9"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteInstance: %v, want ErrNotFound", err)
		}
		if _, err := x.Instances(ctx, "9.9", ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Instances of an unknown study: %v, want ErrNotFound", err)
		}
		if _, err := x.Instances(ctx, "1.2.1", "9.9"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Instances of an unknown series: %v, want ErrNotFound", err)
		}
	})

	t.Run("Replace", func(t *testing.T) {
		x := newIndex(t)
		f := MatchingFixtures()[0]
		first := f.Instance()
		if _, err := x.PutInstance(ctx, first); err != nil {
			t.Fatal(err)
		}
		f.Content, f.PatientName = "corrected object", "Zhang^Wei^Jr"
		second := f.Instance()
		prev, err := x.PutInstance(ctx, second)
		if err != nil {
			t.Fatal(err)
		}
		if prev == nil {
			t.Fatal("PutInstance of an existing UID returned no previous record")
		}
		sameInstance(t, prev, first)
		got, err := x.Instance(ctx, f.SOP)
		if err != nil {
			t.Fatal(err)
		}
		sameInstance(t, got, second)
		res := search(t, x, store.Query{Level: store.LevelStudy})
		if len(res) != 1 {
			t.Fatalf("after a replace: %d studies, want 1", len(res))
		}
		if n := intAttr(res[0], dicom.TagNumberOfStudyRelatedInstances); n != 1 {
			t.Fatalf("after a replace: %d instances, want 1", n)
		}
		if name := res[0].String(dicom.TagPatientName); name != "Zhang^Wei^Jr" {
			t.Fatalf("study attributes not updated by the replacing instance: PatientName %q", name)
		}
	})

	t.Run("StudyAttributesMerge", func(t *testing.T) {
		// Images with the full study module, then a report that lacks part of it and
		// corrects the name: what the report lacks is kept, what it carries wins, and
		// searching sees the result.
		x := newIndex(t)
		img := Fixture{Study: "1.8.1", Series: "1.8.1.1", SOP: "1.8.1.1.1", SOPClass: ClassDX, Modality: "DX",
			PatientName: "Wang^Fang", PatientID: "P81", StudyDescription: "CHEST PA", Accession: "A81",
			StudyDate: "20240301", Institution: "Township 3"}
		put(t, x, img)
		sr := Fixture{Study: "1.8.1", Series: "1.8.1.2", SOP: "1.8.1.2.1", SOPClass: ClassSR, Modality: "SR",
			PatientName: "Wang^Fang^^Ms", PatientID: "P81", StudyDate: "20240301"}
		put(t, x, sr)
		res := search(t, x, store.Query{Level: store.LevelStudy, Matches: []store.Match{{Tag: dicom.TagStudyDescription, Value: "CHEST*"}}})
		if len(res) != 1 {
			t.Fatalf("StudyDescription kept from the images: %d studies found, want 1", len(res))
		}
		for tag, want := range map[dicom.Tag]string{dicom.TagStudyDescription: "CHEST PA", dicom.TagAccessionNumber: "A81",
			dicom.TagInstitutionName: "Township 3", dicom.TagPatientName: "Wang^Fang^^Ms"} {
			if got := res[0].String(tag); got != want {
				t.Errorf("after the report: %s = %q, want %q", tag, got, want)
			}
		}
		if got := search(t, x, store.Query{Level: store.LevelStudy, Matches: []store.Match{{Tag: dicom.TagAccessionNumber, Value: "A81"}}}); len(got) != 1 {
			t.Errorf("AccessionNumber kept from the images: %d studies found, want 1", len(got))
		}
		in, err := x.Instance(ctx, sr.SOP)
		if err != nil {
			t.Fatal(err)
		}
		if got := in.StudyAttrs.String(dicom.TagStudyDescription); got != "CHEST PA" {
			t.Errorf("the report's record shows the study's description %q, want the merged CHEST PA", got)
		}
	})

	t.Run("ReplaceMovesInstance", func(t *testing.T) {
		x := newIndex(t)
		f := MatchingFixtures()[0]
		put(t, x, f)
		other := f
		other.SOP, other.InstanceNumber = "1.2.1.1.2", 2
		put(t, x, other)
		// The same SOP instance re-sent under a corrected study: the old study keeps only
		// the other instance, the new one has it.
		moved := f
		moved.Study, moved.Series, moved.Content = "1.2.99", "1.2.99.1", "moved"
		prev := put(t, x, moved)
		if prev == nil || prev.StudyInstanceUID != "1.2.1" {
			t.Fatalf("prev = %+v, want the record under study 1.2.1", prev)
		}
		for _, c := range []struct {
			study string
			n     int
		}{{"1.2.1", 1}, {"1.2.99", 1}} {
			res := search(t, x, store.Query{Level: store.LevelStudy, StudyInstanceUID: c.study})
			if len(res) != 1 || intAttr(res[0], dicom.TagNumberOfStudyRelatedInstances) != c.n {
				t.Fatalf("study %s: %d results", c.study, len(res))
			}
		}
		// Moving the last instance away removes the emptied series and study.
		last := other
		last.Study, last.Series, last.Content = "1.2.99", "1.2.99.1", "moved too"
		put(t, x, last)
		if res := search(t, x, store.Query{Level: store.LevelStudy, StudyInstanceUID: "1.2.1"}); len(res) != 0 {
			t.Fatalf("emptied study still listed: %v", res)
		}
		if res := search(t, x, store.Query{Level: store.LevelSeries, StudyInstanceUID: "1.2.99"}); len(res) != 1 ||
			intAttr(res[0], dicom.TagNumberOfSeriesRelatedInstances) != 2 {
			t.Fatalf("new series: %v", res)
		}
	})

	t.Run("Derived", func(t *testing.T) {
		x := newIndex(t)
		for _, f := range MatchingFixtures() {
			put(t, x, f)
		}
		res := search(t, x, store.Query{Level: store.LevelStudy, StudyInstanceUID: "1.2.3"})
		if len(res) != 1 {
			t.Fatalf("%d results", len(res))
		}
		s := res[0]
		if got := s.Strings(dicom.TagModalitiesInStudy); !slices.Equal(got, []string{"SR", "US"}) {
			t.Errorf("ModalitiesInStudy = %q, want [SR US]", got)
		}
		if n := intAttr(s, dicom.TagNumberOfStudyRelatedSeries); n != 2 {
			t.Errorf("NumberOfStudyRelatedSeries = %d, want 2", n)
		}
		if n := intAttr(s, dicom.TagNumberOfStudyRelatedInstances); n != 3 {
			t.Errorf("NumberOfStudyRelatedInstances = %d, want 3", n)
		}
		if a := s.String(dicom.TagInstanceAvailability); a != "ONLINE" {
			t.Errorf("InstanceAvailability = %q", a)
		}
		if cs := s.String(dicom.TagSpecificCharacterSet); cs != "ISO_IR 192" {
			t.Errorf("SpecificCharacterSet = %q", cs)
		}
		se := search(t, x, store.Query{Level: store.LevelSeries, StudyInstanceUID: "1.2.3", SeriesInstanceUID: "1.2.3.1"})
		if len(se) != 1 || intAttr(se[0], dicom.TagNumberOfSeriesRelatedInstances) != 2 {
			t.Fatalf("series 1.2.3.1: %v", se)
		}
		if name := se[0].String(dicom.TagPatientName); name != "张伟" {
			t.Errorf("series result lacks the study's PatientName: %q", name)
		}
		in := search(t, x, store.Query{Level: store.LevelInstance, StudyInstanceUID: "1.2.3", SeriesInstanceUID: "1.2.3.1"})
		if len(in) != 2 || in[0].String(dicom.TagModality) != "US" || in[0].String(dicom.TagStudyDescription) != "ABDOMEN" {
			t.Fatalf("instance results lack series or study attributes: %v", in)
		}

		// Deleting keeps the derived attributes current and removes what becomes empty.
		if err := x.DeleteInstance(ctx, "1.2.3.2.1"); err != nil {
			t.Fatal(err)
		}
		s = search(t, x, store.Query{Level: store.LevelStudy, StudyInstanceUID: "1.2.3"})[0]
		if got := s.Strings(dicom.TagModalitiesInStudy); !slices.Equal(got, []string{"US"}) {
			t.Errorf("after delete ModalitiesInStudy = %q", got)
		}
		if n := intAttr(s, dicom.TagNumberOfStudyRelatedSeries); n != 1 {
			t.Errorf("after delete NumberOfStudyRelatedSeries = %d", n)
		}
		for _, uid := range []string{"1.2.3.1.1", "1.2.3.1.2"} {
			if err := x.DeleteInstance(ctx, uid); err != nil {
				t.Fatal(err)
			}
		}
		if res := search(t, x, store.Query{Level: store.LevelStudy, StudyInstanceUID: "1.2.3"}); len(res) != 0 {
			t.Fatalf("empty study still listed")
		}
		if _, err := x.Instances(ctx, "1.2.3", ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Instances of a deleted study: %v", err)
		}
	})

	t.Run("InstancesOrder", func(t *testing.T) {
		x := newIndex(t)
		base := Fixture{Study: "1.5", SOPClass: ClassCT, Modality: "CT"}
		for _, c := range []struct {
			series       string
			seriesNumber int
			sop          string
			number       int
		}{
			{"1.5.2", 2, "1.5.2.10", 10}, {"1.5.2", 2, "1.5.2.2", 2}, {"1.5.2", 2, "1.5.2.0", 0},
			{"1.5.1", 1, "1.5.1.9", 1}, {"1.5.1", 1, "1.5.1.1", 1},
			{"1.5.3", 0, "1.5.3.1", 1},
		} {
			f := base
			f.Series, f.SeriesNumber, f.SOP, f.InstanceNumber = c.series, c.seriesNumber, c.sop, c.number
			put(t, x, f)
		}
		list, err := x.Instances(ctx, "1.5", "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, in := range list {
			got = append(got, in.SOPInstanceUID)
		}
		want := []string{"1.5.1.1", "1.5.1.9", "1.5.2.2", "1.5.2.10", "1.5.2.0", "1.5.3.1"}
		if !slices.Equal(got, want) {
			t.Fatalf("Instances order = %q, want %q", got, want)
		}
		list, err = x.Instances(ctx, "1.5", "1.5.2")
		if err != nil || len(list) != 3 {
			t.Fatalf("Instances of one series: %d, %v", len(list), err)
		}
		if list[0].SeriesAttrs.String(dicom.TagSeriesInstanceUID) != "1.5.2" {
			t.Fatal("listed instance lacks its series attributes")
		}
	})

	// The version listing names what Instances lists (same order, UIDs and hashes), also
	// after an instance is replaced by other content, and nothing for an unknown study.
	t.Run("Versions", func(t *testing.T) {
		x := newIndex(t)
		studies := map[string]bool{}
		for _, f := range MatchingFixtures() {
			put(t, x, f)
			studies[f.Study] = true
		}
		f := MatchingFixtures()[0]
		f.Content = "corrected object"
		put(t, x, f)
		for study := range studies {
			all, err := x.Instances(ctx, study, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, series := range []string{"", all[0].SeriesInstanceUID} {
				want, err := x.Instances(ctx, study, series)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				err = x.EachInstanceVersion(ctx, study, series, func(se, sop, sha string) error {
					got = append(got, se+"/"+sop+"/"+sha)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("study %s series %q: %d versions, Instances has %d", study, series, len(got), len(want))
				}
				for i, in := range want {
					if w := in.SeriesInstanceUID + "/" + in.SOPInstanceUID + "/" + in.SHA256; got[i] != w {
						t.Fatalf("study %s series %q #%d: %s, want %s", study, series, i, got[i], w)
					}
				}
			}
		}
		if err := x.EachInstanceVersion(ctx, "1.2.3.404", "", func(string, string, string) error {
			t.Fatal("called for an unknown study")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("BlobRefs", func(t *testing.T) {
		x := newIndex(t)
		var want []string
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		fixtures := MatchingFixtures()
		for i, f := range fixtures {
			in := f.Instance()
			// Received in reverse fixture order, so "oldest first" is not insertion order.
			in.ReceivedAt = base.Add(time.Duration(len(fixtures)-i) * time.Minute)
			if _, err := x.PutInstance(ctx, in); err != nil {
				t.Fatal(err)
			}
			want = append(want, in.BlobKey)
		}
		refs := func(filter store.RefFilter, limit int) []store.BlobRef {
			t.Helper()
			var got []store.BlobRef
			if err := x.BlobRefs(ctx, filter, limit, func(r store.BlobRef) error { got = append(got, r); return nil }); err != nil {
				t.Fatal(err)
			}
			return got
		}
		keysOf := func(rs []store.BlobRef) []string {
			var k []string
			for _, r := range rs {
				k = append(k, r.BlobKey)
			}
			return k
		}
		all := keysOf(refs(store.RefsAll, 0))
		slices.Sort(all)
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Fatalf("BlobRefs(all) = %q, want %q", all, want)
		}
		// Pending: every instance, oldest received first; each ref complete.
		pending := refs(store.RefsPending, 0)
		if len(pending) != len(fixtures) {
			t.Fatalf("pending = %d refs, want %d", len(pending), len(fixtures))
		}
		for i, r := range pending {
			f := fixtures[len(fixtures)-1-i]
			in := f.Instance()
			if r.SOPInstanceUID != f.SOP || r.BlobKey != in.BlobKey || r.Size != in.Size || r.SHA256 != in.SHA256 ||
				r.Uploaded || r.Evicted || !r.ReceivedAt.Equal(base.Add(time.Duration(i+1)*time.Minute)) {
				t.Fatalf("pending[%d] = %+v, want %s received %v", i, r, f.SOP, base.Add(time.Duration(i+1)*time.Minute))
			}
		}
		if got := refs(store.RefsPending, 2); len(got) != 2 || got[0].SOPInstanceUID != pending[0].SOPInstanceUID {
			t.Fatalf("pending limit 2 = %+v", got)
		}
		if got := refs(store.RefsEvictable, 0); len(got) != 0 {
			t.Fatalf("evictable before any upload = %+v", got)
		}

		// Upload the two oldest; evict the oldest.
		p0, p1 := pending[0], pending[1]
		if err := x.MarkEvicted(ctx, p0.SOPInstanceUID, p0.BlobKey); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("MarkEvicted before upload = %v, want ErrNotFound (never evict the only copy)", err)
		}
		for _, r := range []store.BlobRef{p0, p1} {
			if err := x.MarkUploaded(ctx, r.SOPInstanceUID, r.BlobKey); err != nil {
				t.Fatalf("MarkUploaded: %v", err)
			}
		}
		if err := x.MarkUploaded(ctx, p0.SOPInstanceUID, "other/key.dcm"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("MarkUploaded with a stale key = %v, want ErrNotFound", err)
		}
		if err := x.MarkUploaded(ctx, "1.2.3.404", p0.BlobKey); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("MarkUploaded of an unknown instance = %v, want ErrNotFound", err)
		}
		if got := keysOf(refs(store.RefsEvictable, 0)); !slices.Equal(got, []string{p0.BlobKey, p1.BlobKey}) {
			t.Fatalf("evictable = %q, want the two uploaded, oldest first", got)
		}
		if err := x.MarkEvicted(ctx, p0.SOPInstanceUID, p0.BlobKey); err != nil {
			t.Fatalf("MarkEvicted: %v", err)
		}
		if err := x.MarkEvicted(ctx, p0.SOPInstanceUID, p0.BlobKey); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second MarkEvicted = %v, want ErrNotFound", err)
		}
		if got := keysOf(refs(store.RefsEvictable, 0)); !slices.Equal(got, []string{p1.BlobKey}) {
			t.Fatalf("evictable after eviction = %q", got)
		}
		if got := refs(store.RefsPending, 0); len(got) != len(fixtures)-2 {
			t.Fatalf("pending after two uploads = %d", len(got))
		}
		in, err := x.Instance(ctx, p0.SOPInstanceUID)
		if err != nil || !in.Uploaded || !in.Evicted {
			t.Fatalf("Instance after upload and eviction: %+v, %v", in, err)
		}
		u, err := x.Usage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, r := range pending {
			total += r.Size
		}
		wantU := store.Usage{
			Instances: int64(len(fixtures)), Bytes: total,
			PendingObjects: int64(len(fixtures) - 2), PendingBytes: total - p0.Size - p1.Size,
			LocalObjects: int64(len(fixtures) - 1), LocalBytes: total - p0.Size,
			UploadedObjects: 2,
		}
		if u != wantU {
			t.Fatalf("Usage = %+v, want %+v", u, wantU)
		}

		// A new version of an uploaded instance is pending again: PutInstance stores the
		// location it is given.
		corrected := fixtures[len(fixtures)-1]
		corrected.Content += " corrected"
		again := corrected.Instance()
		if _, err := x.PutInstance(ctx, again); err != nil {
			t.Fatal(err)
		}
		if got := refs(store.RefsEvictable, 0); len(got) != 1 || got[0].SOPInstanceUID != p1.SOPInstanceUID {
			t.Fatalf("evictable after replacing %s = %+v", p0.SOPInstanceUID, got)
		}

		stop := errors.New("stop")
		if err := x.BlobRefs(ctx, store.RefsAll, 0, func(store.BlobRef) error { return stop }); !errors.Is(err, stop) {
			t.Fatalf("BlobRefs does not pass fn's error on: %v", err)
		}
	})

	t.Run("Settings", func(t *testing.T) {
		x := newIndex(t)
		if v, err := x.Setting(ctx, "remote"); err != nil || v != "" {
			t.Fatalf("unset Setting = %q, %v", v, err)
		}
		for _, v := range []string{"s3://a/b", "s3://c/d"} {
			if err := x.SetSetting(ctx, "remote", v); err != nil {
				t.Fatal(err)
			}
			if got, err := x.Setting(ctx, "remote"); err != nil || got != v {
				t.Fatalf("Setting = %q, %v; want %q", got, err, v)
			}
		}
	})

	t.Run("Matching", func(t *testing.T) {
		x := newIndex(t)
		for _, f := range MatchingFixtures() {
			put(t, x, f)
		}
		runMatchingCases(t, x, MatchingCases())
	})

	t.Run("Patients", func(t *testing.T) { runPatients(t, newIndex) })

	t.Run("Concurrent", func(t *testing.T) {
		x := newIndex(t)
		const goroutines, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*each)
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					// Two studies shared by everybody, one series per goroutine.
					f := Fixture{Study: fmt.Sprintf("1.7.%d", g%2), Series: fmt.Sprintf("1.7.%d.%d", g%2, g),
						SOP: fmt.Sprintf("1.7.%d.%d.%d", g%2, g, i), SOPClass: ClassCT, Modality: "CT",
						PatientName: "Concurrent^Test", SeriesNumber: g + 1, InstanceNumber: i + 1}
					if _, err := x.PutInstance(ctx, f.Instance()); err != nil {
						errs <- err
					}
					if i%5 == 0 {
						if _, err := x.Search(ctx, store.Query{Level: store.LevelStudy}); err != nil {
							errs <- err
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		res := search(t, x, store.Query{Level: store.LevelStudy})
		if len(res) != 2 {
			t.Fatalf("%d studies, want 2", len(res))
		}
		for _, s := range res {
			if n := intAttr(s, dicom.TagNumberOfStudyRelatedInstances); n != goroutines/2*each {
				t.Errorf("study has %d instances, want %d", n, goroutines/2*each)
			}
			if n := intAttr(s, dicom.TagNumberOfStudyRelatedSeries); n != goroutines/2 {
				t.Errorf("study has %d series, want %d", n, goroutines/2)
			}
		}
	})

	runIndexVersions(t, newIndex)

	t.Run("CancelledContext", func(t *testing.T) {
		x := newIndex(t)
		c, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := x.PutInstance(c, MatchingFixtures()[0].Instance()); err == nil {
			t.Fatal("PutInstance with a cancelled context succeeded")
		}
		if _, err := x.Instance(ctx, MatchingFixtures()[0].SOP); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a cancelled PutInstance was recorded: %v", err)
		}
	})
}

// ResultUIDs returns the UID identifying each result at level l.
func ResultUIDs(res []dicom.JSONDataset, l store.Level) []string {
	tag := map[store.Level]dicom.Tag{store.LevelPatient: dicom.TagPatientID, store.LevelStudy: dicom.TagStudyInstanceUID,
		store.LevelSeries: dicom.TagSeriesInstanceUID, store.LevelInstance: dicom.TagSOPInstanceUID}[l]
	var out []string
	for _, r := range res {
		out = append(out, r.String(tag))
	}
	return out
}

// put records f and returns the previous record.
func put(t *testing.T, x store.Index, f Fixture) *store.Instance {
	t.Helper()
	prev, err := x.PutInstance(context.Background(), f.Instance())
	if err != nil {
		t.Fatalf("PutInstance %s: %v", f.SOP, err)
	}
	return prev
}

func search(t *testing.T, x store.Index, q store.Query) []dicom.JSONDataset {
	t.Helper()
	res, err := SearchDatasets(context.Background(), x, q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return res
}

func intAttr(ds dicom.JSONDataset, t dicom.Tag) int {
	n, _ := ds.Int(t)
	return int(n)
}

// sameInstance compares two records field by field, and their attributes as DICOM JSON (the
// Go types inside may differ after a round trip through storage).
func sameInstance(t *testing.T, got, want *store.Instance) {
	t.Helper()
	g, w := *got, *want
	if !g.ReceivedAt.Equal(w.ReceivedAt) {
		t.Errorf("ReceivedAt = %v, want %v", g.ReceivedAt, w.ReceivedAt)
	}
	for _, c := range []struct {
		name      string
		got, want dicom.JSONDataset
	}{{"StudyAttrs", g.StudyAttrs, w.StudyAttrs}, {"SeriesAttrs", g.SeriesAttrs, w.SeriesAttrs},
		{"InstanceAttrs", g.InstanceAttrs, w.InstanceAttrs}} {
		gj, _ := json.Marshal(c.got)
		wj, _ := json.Marshal(c.want)
		if string(gj) != string(wj) {
			t.Errorf("%s =\n%s\nwant\n%s", c.name, gj, wj)
		}
	}
	g.ReceivedAt = w.ReceivedAt
	g.StudyAttrs, g.SeriesAttrs, g.InstanceAttrs = nil, nil, nil
	w.StudyAttrs, w.SeriesAttrs, w.InstanceAttrs = nil, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("record =\n%+v\nwant\n%+v", g, w)
	}
}

// runMatchingCases runs each case as a subtest: the UIDs found at the case's level, in order,
// or ErrInvalid for a case that says so.
func runMatchingCases(t *testing.T, x store.Index, cases []MatchingCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			res, err := SearchDatasets(context.Background(), x, tc.Query)
			if tc.Invalid {
				if !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("Search = %d results, %v; want ErrInvalid", len(res), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Search: %v", err)
			}
			if got := ResultUIDs(res, tc.Query.Level); !slices.Equal(got, tc.Want) {
				t.Fatalf("Search = %q, want %q", got, tc.Want)
			}
		})
	}
}
