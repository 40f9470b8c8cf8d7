package reading

import "context"

// A study's priors: the other studies of its patient, for comparison. Township sites number
// their patients each on their own, so a Patient ID names a patient only within its site:
// the same Patient ID at the same site is the same patient; at another site, a study whose
// patient has the same name (in any of its spellings: characters, pinyin, alphabetic
// components run together), sex and birth date is only possibly the same patient, shown as
// such and never merged.

// PriorMatch says why a study is listed as a prior.
type PriorMatch string

const (
	MatchSamePatient PriorMatch = "same"     // same Patient ID, same site
	MatchPossible    PriorMatch = "possible" // another site: same name, sex and birth date
)

// Prior is one other study of the patient (with its series).
type Prior struct {
	WorklistRow
	Match PriorMatch
}

// PriorScope is whose eyes the list is for.
type PriorScope struct {
	// SiteID, when not 0, keeps the list to that site's studies (a township user): no
	// other site's study is listed, not even as a possible match.
	SiteID int64
	// WithQuarantined lists studies held in quarantine too (administrators).
	WithQuarantined bool
}

// MaxPriors bounds the list: a patient with more studies than this sees the newest.
const MaxPriors = 100

// Priors finds the other studies of a study's patient.
type Priors interface {
	// Priors lists the other studies of studyUID's patient that scope may see, newest
	// first by Study Date and Time (then by receipt), the same patient's before the
	// possible ones at equal dates: at most MaxPriors. ErrNotFound for an unknown study.
	// Each lookup is an index search (Patient ID, name keys), never a scan of the studies.
	Priors(ctx context.Context, studyUID string, scope PriorScope) ([]Prior, error)
}
