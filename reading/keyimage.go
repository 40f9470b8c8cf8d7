package reading

import (
	"context"
	"fmt"
	"time"
)

// A study's key images: the images (frames of multi-frame images) a radiologist marked as
// the ones that matter. The repository keeps the current set with a revision against lost
// updates; the record that travels with the study is the Key Object Selection document
// (reading/sr: BuildKeyObject) the viewer stores into the study at every change, a new one
// each time (the earlier ones stay, as an archive keeps every object it was sent).

// MaxKeyImages bounds one study's key images.
const MaxKeyImages = 200

// KeyImage is one marked image.
type KeyImage struct {
	SeriesUID      string    `json:"series"`
	SOPInstanceUID string    `json:"sop"`
	SOPClassUID    string    `json:"sopClass"`
	Frame          int       `json:"frame"`  // 0-based, as the viewer counts; the KOS's Referenced Frame Number (0008,1160) is Frame+1
	Frames         int       `json:"frames"` // the image's Number of Frames; a frame is named only when it has several
	MarkedBy       int64     `json:"markedBy"`
	MarkedByName   string    `json:"markedByName"`
	MarkedAt       time.Time `json:"markedAt"`
}

// Same reports whether k and o name the same frame of the same image.
func (k KeyImage) Same(o KeyImage) bool {
	return k.SOPInstanceUID == o.SOPInstanceUID && k.Frame == o.Frame
}

// KeySet is a study's key images at one revision, in the order they were marked.
type KeySet struct {
	StudyUID string     `json:"study"`
	Revision int        `json:"revision"` // 0: never marked
	Images   []KeyImage `json:"images"`
	// ObjectUID is the SOP Instance UID of the Key Object Selection document stored for this
	// revision, in the study's key object series SeriesUID; "" when none was (an empty set:
	// TID 2010 needs at least one reference, so unmarking the last image writes no document).
	ObjectUID string `json:"object,omitempty"`
	SeriesUID string `json:"objectSeries,omitempty"`
}

// Validate checks a set before it is kept: at most MaxKeyImages, each frame once, UIDs and
// frames present.
func (s *KeySet) Validate() error {
	if len(s.Images) > MaxKeyImages {
		return invalid("images", ProblemLength, "")
	}
	for i, k := range s.Images {
		switch {
		case k.SeriesUID == "" || k.SOPInstanceUID == "" || k.SOPClassUID == "":
			return invalid("images", ProblemRequired, k.SOPInstanceUID)
		case k.Frame < 0 || k.Frame >= max(k.Frames, 1):
			return invalid("images", ProblemValue, fmt.Sprint(k.Frame))
		}
		for _, o := range s.Images[:i] {
			if k.Same(o) {
				return invalid("images", ProblemTaken, k.SOPInstanceUID)
			}
		}
	}
	if s.ObjectUID != "" && s.SeriesUID == "" {
		return invalid("objectSeries", ProblemRequired, "")
	}
	return nil
}

// KeyImages keeps each study's key images.
type KeyImages interface {
	// KeyImages returns a study's current key images; a study nobody marked anything in has
	// revision 0 and none (whether or not the study exists).
	KeyImages(ctx context.Context, studyUID string) (KeySet, error)
	// SetKeyImages replaces a study's key images with s.Images as revision base+1, recording
	// the document stored for them (s.ObjectUID, s.SeriesUID). ErrConflict when the current
	// revision is not base (somebody changed them meanwhile: read again and redo the change);
	// ErrInvalid for a set Validate refuses.
	SetKeyImages(ctx context.Context, s KeySet, base int) (KeySet, error)
}
