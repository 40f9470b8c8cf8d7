package readingtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"pacsd/reading"
)

// testKeyImages: a study's key images are kept whole at each revision, in the order marked,
// with the document stored for them; a change from a stale revision is a conflict, an
// invalid set is refused, an unknown study has none and cannot get any.
func testKeyImages(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	e.AddStudy(t, Study{UID: "10.1", Modality: "US", ReceivedAt: base})
	empty := must(r.KeyImages(ctx, "10.1"))(t)
	if empty.Revision != 0 || len(empty.Images) != 0 || empty.Images == nil || empty.ObjectUID != "" {
		t.Errorf("a study never marked: %+v", empty)
	}
	if s := must(r.KeyImages(ctx, "10.404"))(t); s.Revision != 0 || len(s.Images) != 0 {
		t.Errorf("an unknown study: %+v", s)
	}
	img := func(sop string, frame int) reading.KeyImage {
		return reading.KeyImage{SeriesUID: "10.1.1", SOPInstanceUID: sop, SOPClassUID: "1.2.840.10008.5.1.4.1.1.3.1",
			Frame: frame, Frames: 20, MarkedBy: 7, MarkedByName: "李医生", MarkedAt: base}
	}
	// Two frames of one cine loop and a single image, in the order marked.
	want := []reading.KeyImage{img("10.1.1.2", 14), img("10.1.1.1", 0), img("10.1.1.2", 3)}
	s1 := must(r.SetKeyImages(ctx, reading.KeySet{StudyUID: "10.1", Images: want, ObjectUID: "2.25.31",
		SeriesUID: "2.25.30"}, 0))(t)
	if s1.Revision != 1 {
		t.Errorf("first set: revision %d", s1.Revision)
	}
	got := must(r.KeyImages(ctx, "10.1"))(t)
	if got.Revision != 1 || got.ObjectUID != "2.25.31" || got.SeriesUID != "2.25.30" || !sameImages(got.Images, want) {
		t.Errorf("read back %+v, want %+v", got, want)
	}
	// Somebody else changed them meanwhile: the change from revision 0 is refused.
	if _, err := r.SetKeyImages(ctx, reading.KeySet{StudyUID: "10.1", Images: want[:1]}, 0); !errors.Is(err, reading.ErrConflict) {
		t.Errorf("a change from a stale revision: %v, want ErrConflict", err)
	}
	// The last one unmarked: no document, the series kept for the next.
	s2 := must(r.SetKeyImages(ctx, reading.KeySet{StudyUID: "10.1", SeriesUID: "2.25.30"}, 1))(t)
	got = must(r.KeyImages(ctx, "10.1"))(t)
	if s2.Revision != 2 || got.Revision != 2 || len(got.Images) != 0 || got.Images == nil || got.ObjectUID != "" ||
		got.SeriesUID != "2.25.30" {
		t.Errorf("after unmarking all: %+v", got)
	}
	if _, err := r.SetKeyImages(ctx, reading.KeySet{StudyUID: "10.404", Images: want}, 0); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("key images of an unknown study: %v, want ErrNotFound", err)
	}
	many := make([]reading.KeyImage, reading.MaxKeyImages+1)
	for i := range many {
		many[i] = img(fmt.Sprintf("10.1.1.%d", i+1), 0)
	}
	for name, images := range map[string][]reading.KeyImage{
		"the same frame twice":  {img("10.1.1.1", 0), img("10.1.1.1", 0)},
		"no SOP class":          {{SeriesUID: "10.1.1", SOPInstanceUID: "10.1.1.1"}},
		"a negative frame":      {img("10.1.1.1", -1)},
		"beyond the last frame": {img("10.1.1.1", 20)},
		"too many":              many,
	} {
		if _, err := r.SetKeyImages(ctx, reading.KeySet{StudyUID: "10.1", Images: images}, 2); !errors.Is(err, reading.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if got := must(r.KeyImages(ctx, "10.1"))(t); got.Revision != 2 {
		t.Errorf("a refused set changed the revision to %d", got.Revision)
	}
}

func sameImages(a, b []reading.KeyImage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.Same(y) || x.Frames != y.Frames || x.SeriesUID != y.SeriesUID || x.SOPClassUID != y.SOPClassUID || x.MarkedBy != y.MarkedBy ||
			x.MarkedByName != y.MarkedByName || !x.MarkedAt.Equal(y.MarkedAt) {
			return false
		}
	}
	return true
}
