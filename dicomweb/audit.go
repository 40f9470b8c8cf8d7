package dicomweb

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/internal/lru"
	"pacsd/store"
)

// Every DICOMweb request that shows patient data is an audit event (DESIGN.md section 4):
// searches (one per request, the query in Object), metadata, retrieval, rendered images,
// thumbnails, frames, bulk data and WADO-URI (one per user, study and kind of look within
// auditRepeat: a viewer fetches a study's frames in hundreds of requests, and an audit trail
// wants "who opened which study when", not every frame), and STOW-RS (one per request and
// study stored). The actor is the user the authentication in front put in the request's
// context (audit.WithActor), else anonymous at the client's address (--dicomweb-open).
// Patient ID and name come from the index, through a small cache, after the response.

// auditRepeat is how long repeated looks of the same kind at the same study by the same
// actor count as one event.
const auditRepeat = 5 * time.Minute

// auditor is the server's audit recording state.
type auditor struct {
	rec      audit.Auditor
	index    func() store.IndexReader
	patients *lru.Cache[string, patientRef] // study UID -> patient, from the index

	mu   sync.Mutex
	seen map[seenKey]time.Time // when a look was last recorded
}

type patientRef struct{ id, name string }

type seenKey struct {
	actor  audit.Actor
	action audit.Action
	study  string
}

// maxSeen bounds the de-duplication map; past it, expired entries go, and if none has, all.
const maxSeen = 10000

func newAuditor(rec audit.Auditor, a *store.Archive) *auditor {
	if rec == nil {
		rec = audit.Discard
	}
	return &auditor{rec: rec, index: a.Index, seen: map[seenKey]time.Time{},
		patients: lru.New[string, patientRef](1<<20, 4<<10)}
}

// stowKey is the context key of a STOW-RS request's list of stored instances.
type stowKey struct{}

// stowStored collects the studies a STOW-RS request stored, for its events.
type stowStored struct {
	mu      sync.Mutex
	studies []*store.Instance // the first instance stored of each study
}

// auditStored notes an instance STOW-RS stored (stow.go calls it).
func auditStored(ctx context.Context, inst *store.Instance) {
	st, ok := ctx.Value(stowKey{}).(*stowStored)
	if !ok {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, in := range st.studies {
		if in.StudyInstanceUID == inst.StudyInstanceUID {
			return
		}
	}
	st.studies = append(st.studies, inst)
}

// audited wraps a route's handler: it runs it, then records what the request looked at.
func (s *server) audited(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		action, ok := s.auditAction(c)
		if !ok {
			return h(c)
		}
		if action != audit.ActionStore && action != audit.ActionQuery {
			if err := s.visible(c); err != nil {
				s.recordRequest(c, action, err, nil)
				return err
			}
		}
		var stored *stowStored
		if action == audit.ActionStore {
			stored = &stowStored{}
			c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), stowKey{}, stored)))
		}
		err := h(c)
		s.recordRequest(c, action, err, stored)
		return err
	}
}

// visible refuses, as not found, a look at a study held in quarantine by anybody but an
// administrator: QIDO-RS leaves such studies out (Query.WithQuarantined), and naming one
// by UID must not show it either. The searches scope themselves.
func (s *server) visible(c echo.Context) error {
	if _, admin := s.askedBy(c.Request()); admin {
		return nil
	}
	study := requestStudy(c, s.prefix)
	if study == "" {
		return nil // no valid study named: the handler refuses the request
	}
	hits, err := s.archive.Index().Search(c.Request().Context(), store.Query{Level: store.LevelStudy,
		Matches: []store.Match{{Tag: dicom.TagStudyInstanceUID, Value: study}}, Limit: 1})
	if err == nil && len(hits) == 0 {
		err = fmt.Errorf("study %s: %w", study, store.ErrNotFound) // unknown, or held in quarantine
	}
	if err != nil {
		return s.publicError(c, "retrieve", err)
	}
	return nil
}

// requestStudy is the Study Instance UID a request names (the path's, WADO-URI's
// studyUID), "" when none is valid.
func requestStudy(c echo.Context, prefix string) string {
	study := c.Param(paramStudy)
	if c.Path() == prefix+"/wado" {
		study = c.QueryParam("studyUID")
	}
	if !dicom.ValidUID(study, dicom.UIDLeadingZeros) {
		return ""
	}
	return study
}

// auditAction is the kind of look a request is, by its route; false for what shows no
// patient data (the capabilities document, preflights).
func (s *server) auditAction(c echo.Context) (audit.Action, bool) {
	if c.Request().Method == "POST" {
		return audit.ActionStore, true
	}
	p := strings.TrimPrefix(c.Path(), s.prefix)
	switch {
	case p == "" || p == "/":
		return "", false
	case p == "/studies" || p == "/series" || p == "/instances" || strings.HasSuffix(p, "/series") ||
		strings.HasSuffix(p, "/instances"):
		return audit.ActionQuery, true
	case strings.HasSuffix(p, "/metadata"):
		return audit.ActionStudyView, true
	case strings.HasSuffix(p, "/rendered"), strings.HasSuffix(p, "/thumbnail"), strings.Contains(p, "/frames/"),
		strings.Contains(p, "/bulkdata/"), p == "/wado":
		return audit.ActionImageView, true
	}
	return audit.ActionRetrieve, true // a study, series or instance retrieved whole
}

// recordRequest records the request's event(s) once it has been answered.
func (s *server) recordRequest(c echo.Context, action audit.Action, err error, stored *stowStored) {
	a := s.audit
	r := c.Request()
	ctx := r.Context()
	actor, ok := audit.ActorFrom(ctx)
	if !ok {
		host, _, serr := net.SplitHostPort(r.RemoteAddr)
		if serr != nil {
			host = r.RemoteAddr
		}
		actor = audit.Anonymous("", host)
	}
	status := c.Response().Status
	if err != nil {
		status = HTTPStatus(err)
	}
	ev := audit.Event{Actor: actor, Action: action}
	if status >= 400 {
		ev.Outcome, ev.Detail = audit.OutcomeFailure, "HTTP "+strconv.Itoa(status)
	}
	study := requestStudy(c, s.prefix)
	switch action {
	case audit.ActionQuery:
		q, _ := url.QueryUnescape(r.URL.RawQuery)
		ev.Object = strings.TrimPrefix(r.URL.Path, s.prefix)
		if q != "" {
			ev.Object += "?" + q
		}
		ev.StudyUID = study
	case audit.ActionStore:
		ev.Object = "STOW-RS"
		if stored != nil && len(stored.studies) > 0 {
			for _, in := range stored.studies {
				e := ev
				e.StudyUID = in.StudyInstanceUID
				e.PatientID = in.StudyAttrs.String(dicom.TagPatientID)
				e.PatientName = in.StudyAttrs.String(dicom.TagPatientName)
				a.patients.Add(e.StudyUID, patientRef{e.PatientID, e.PatientName}, patientSize(e.PatientID, e.PatientName))
				a.rec.Record(ctx, e)
			}
			return
		}
		ev.StudyUID = study
	default:
		ev.StudyUID = study
		if series := c.Param(paramSeries); series != "" {
			ev.Object = series
		}
		if ev.Outcome == audit.OutcomeSuccess || ev.Outcome == "" {
			if !a.first(actor, action, study, time.Now()) {
				return
			}
		}
	}
	if ev.StudyUID != "" {
		ev.PatientID, ev.PatientName = a.patient(ctx, ev.StudyUID)
	}
	a.rec.Record(ctx, ev)
}

// first says whether this look is the first of its kind at the study by this actor within
// auditRepeat, and notes it.
func (a *auditor) first(actor audit.Actor, action audit.Action, study string, now time.Time) bool {
	k := seenKey{actor: actor, action: action, study: study}
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.seen[k]; ok && now.Sub(t) < auditRepeat {
		return false
	}
	if len(a.seen) >= maxSeen {
		for k, t := range a.seen {
			if now.Sub(t) >= auditRepeat {
				delete(a.seen, k)
			}
		}
		if len(a.seen) >= maxSeen {
			clear(a.seen)
		}
	}
	a.seen[k] = now
	return true
}

// patient is the study's patient ID and name, from the cache or the index ("" when the
// study is unknown).
func (a *auditor) patient(ctx context.Context, study string) (string, string) {
	if p, ok := a.patients.Get(study); ok {
		return p.id, p.name
	}
	hits, err := a.index().Search(ctx, store.Query{Level: store.LevelStudy,
		Matches: []store.Match{{Tag: dicom.TagStudyInstanceUID, Value: study}}, Limit: 1, WithQuarantined: true})
	if err != nil || len(hits) == 0 {
		return "", ""
	}
	ds, err := dicom.ParseJSON(hits[0].Study)
	if err != nil {
		return "", ""
	}
	p := patientRef{ds.String(dicom.TagPatientID), ds.String(dicom.TagPatientName)}
	a.patients.Add(study, p, patientSize(p.id, p.name))
	return p.id, p.name
}

func patientSize(id, name string) int64 { return int64(len(id) + len(name) + 64) }
