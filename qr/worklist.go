package qr

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/reading"
	"pacsd/store"
)

// Modality Worklist SCP: Modality Worklist Information Model - FIND (PS3.4 Annex K),
// answered from the scheduled procedures (登记, reading.Orders).
//
// Rules, as a modality sees them:
//   - The calling AE must be a registered peer allowed to query (else 0x0124); a township
//     site's AE sees only its site's orders, the county's AEs every site's. Only open
//     orders (scheduled, arrived) are offered.
//   - Matching keys (PS3.4 K.6.1.2): in the Scheduled Procedure Step Sequence (0040,0100),
//     whose one item is matched against the order's one step (sequence matching, C.2.2.2.6):
//     Scheduled Station AE Title, Modality, Scheduled Procedure Step Start Date and Time
//     (single values or ranges; with both, combined as one date-time range, C.2.2.2.5),
//     Scheduled Performing Physician's Name, Scheduled Procedure Step ID and Description;
//     at the top level Patient's Name, Patient ID, Accession Number, Requested Procedure ID
//     and Description, Study Instance UID (a list), Patient's Birth Date (a range) and Sex.
//     Values are checked by store.ParseMatch (0xA900 when PS3.4 C.2.2.2 does not allow
//     them). Person names match as QIDO-RS's do: a value without '=' against each component
//     group (and the group without '^', so 张三 finds 张^三), ignoring case; '*' and '?'.
//   - Any other key is returned empty (or with what the order has), and a value on it is an
//     optional key not supported: responses say 0xFF01.
//   - Responses carry the keys asked; in the character set the request named (GB18030,
//     ISO_IR 192, ...) when it can carry the values, else ISO_IR 192 (encodeInCharset).
//   - Study Instance UID is the one pacsd gave the order; a modality that uses it, or the
//     Accession Number, ties its images to the order when they arrive (store/sqlite 0013).
//   - Every query is one audit event.

// ModalityWorklistFind is the Modality Worklist Information Model - FIND SOP class (PS3.4
// K.6.1, PS3.6 Annex A).
const ModalityWorklistFind = "1.2.840.10008.5.1.4.31"

// Attributes of the Modality Worklist (PS3.4 Table K.6-1) not in package dicom's list.
const (
	TagScheduledProcedureStepSequence    dicom.Tag = 0x00400100
	TagScheduledStationAETitle           dicom.Tag = 0x00400001
	TagScheduledProcedureStepStartDate   dicom.Tag = 0x00400002
	TagScheduledProcedureStepStartTime   dicom.Tag = 0x00400003
	TagScheduledPerformingPhysicianName  dicom.Tag = 0x00400006
	TagScheduledProcedureStepDescription dicom.Tag = 0x00400007
	TagScheduledProcedureStepStatus      dicom.Tag = 0x00400020
	TagRequestedProcedureDescription     dicom.Tag = 0x00321060
	TagRequestedProcedureCodeSequence    dicom.Tag = 0x00321064
	tagCodeValue                         dicom.Tag = 0x00080100
	tagCodingSchemeDesignator            dicom.Tag = 0x00080102
	tagCodeMeaning                       dicom.Tag = 0x00080104
)

// OrderSource is what the worklist reads: the scheduled procedures (reading.Orders).
type OrderSource interface {
	Orders(ctx context.Context, f reading.OrderFilter) ([]reading.Order, error)
}

// Worklist is the Modality Worklist SCP, a dimse.FindHandler for ModalityWorklistFind.
// It shares the Service's peers, audit, limits and response encoding.
type Worklist struct {
	s      *Service
	orders OrderSource
}

// Worklist returns the Modality Worklist SCP over orders.
func (s *Service) Worklist(orders OrderSource) *Worklist { return &Worklist{s: s, orders: orders} }

// mwlKey is one matching key with a value.
type mwlKey struct {
	tag   dicom.Tag
	vr    string
	value string
	sps   bool // a key of the Scheduled Procedure Step Sequence's item
}

// mwlPlan is a worklist identifier: the keys to match, the keys to answer.
type mwlPlan struct {
	match       []mwlKey
	keys        []returnKey
	unsupported bool
	summary     string
	filter      reading.OrderFilter
	// Combined start date-time range (C.2.2.2.5) when both date and time were given.
	dtLo, dtHi string
	combined   bool
}

// mwlMatchable are the keys the worklist matches (top level) ...
var mwlMatchable = map[dicom.Tag]bool{
	dicom.TagPatientName: true, dicom.TagPatientID: true, dicom.TagAccessionNumber: true,
	dicom.TagRequestedProcedureID: true, TagRequestedProcedureDescription: true,
	dicom.TagStudyInstanceUID: true, dicom.TagPatientBirthDate: true, dicom.TagPatientSex: true,
}

// ... and in the Scheduled Procedure Step item.
var mwlSPSMatchable = map[dicom.Tag]bool{
	TagScheduledStationAETitle: true, dicom.TagModality: true, TagScheduledProcedureStepStartDate: true,
	TagScheduledProcedureStepStartTime: true, TagScheduledPerformingPhysicianName: true,
	dicom.TagScheduledProcedureStepID: true, TagScheduledProcedureStepDescription: true,
	TagScheduledProcedureStepStatus: true,
}

// HandleFind answers a Modality Worklist C-FIND-RQ (dimse.FindHandler); see the rules above.
func (w *Worklist) HandleFind(ctx context.Context, req *dimse.QueryRequest, send func(status uint16, identifier []byte) error) dimse.Status {
	s := w.s
	start := time.Now()
	if req.SOPClassUID != ModalityWorklistFind {
		return dimse.Status{Code: dimse.StatusSOPClassNotSupported}
	}
	r, st, ok := s.admit(ctx, req, MayQuery)
	if !ok {
		return st
	}
	plan, err := planWorklist(r)
	if err != nil {
		s.log.Info("worklist C-FIND refused", "calling_ae", r.CallingAETitle, "err", err)
		s.Record(ctx, r, audit.ActionQuery, "MWL C-FIND", nil, audit.OutcomeFailure, err.Error())
		return dimse.Status{Code: dimse.StatusDataSetMismatch, ErrorComment: shortText(err.Error())}
	}
	orders, err := w.orders.Orders(ctx, plan.filter)
	if err != nil {
		s.log.Error("worklist C-FIND search failed", "calling_ae", r.CallingAETitle, "err", err)
		s.Record(ctx, r, audit.ActionQuery, plan.summary, nil, audit.OutcomeFailure, "search failed")
		return dimse.Status{Code: dimse.StatusOutOfResourcesMatches, ErrorComment: "search failed"}
	}
	status := dimse.StatusPending
	if plan.unsupported {
		status = dimse.StatusPendingOptionalKeys
	}
	var (
		patients []PatientRef
		sent     int
		outcome  = audit.OutcomeSuccess
		detail   string
		buf      bytes.Buffer
	)
	for _, o := range orders {
		top, sps := orderValues(o)
		if !plan.matches(top, sps) {
			continue
		}
		if sent == s.cfg.MaxResults {
			s.log.Warn("worklist C-FIND matches beyond the maximum not sent", "calling_ae", r.CallingAETitle, "max", sent)
			detail = fmt.Sprintf("%d matches (the first %d: more matched)", sent, sent)
			break
		}
		ds := orderDataset(o, top, sps)
		buf.Reset()
		err := encodeInCharset(&buf, r.Charsets, func(charsets []string) error {
			return s.encodeWorklist(&buf, r, plan, ds, charsets)
		})
		if err != nil {
			s.log.Error("worklist C-FIND: response not encodable", "order", o.ID, "err", err)
			continue
		}
		if err := send(status, buf.Bytes()); err != nil {
			outcome, detail = audit.OutcomeFailure, "cancelled after "+strconv.Itoa(sent)+" responses"
			break
		}
		sent++
		patients = append(patients, PatientRef{ID: o.PatientID, Name: o.PatientName})
	}
	if detail == "" {
		detail = strconv.Itoa(sent) + " matches"
	}
	s.Record(ctx, r, audit.ActionQuery, plan.summary, patients, outcome, detail)
	s.log.Debug("worklist C-FIND", "calling_ae", r.CallingAETitle, "matches", sent, "elapsed", time.Since(start))
	return dimse.Status{Code: dimse.StatusSuccess}
}

// planWorklist reads the identifier's keys: what to match (checked by store.ParseMatch),
// what the index can narrow (the order filter), what to answer.
func planWorklist(r *Request) (*mwlPlan, error) {
	p := &mwlPlan{filter: reading.OrderFilter{SiteID: r.Scope(),
		Statuses: []reading.OrderStatus{reading.OrderScheduled, reading.OrderArrived}}}
	var sum strings.Builder
	sum.WriteString("MWL C-FIND")
	add := func(e *dicom.Element, sps bool) error {
		value := elementValue(e)
		fmt.Fprintf(&sum, " %s", keyword(e.Tag))
		if value == "" {
			return nil
		}
		fmt.Fprintf(&sum, "=%s", value)
		if ok := (sps && mwlSPSMatchable[e.Tag]) || (!sps && mwlMatchable[e.Tag]); !ok {
			p.unsupported = true
			return nil
		}
		m, err := store.ParseMatch(e.Tag, value)
		if err != nil {
			return err
		}
		info, _ := dicom.LookupTag(e.Tag)
		p.match = append(p.match, mwlKey{tag: e.Tag, vr: info.VR, value: m.Value, sps: sps})
		return nil
	}
	for _, e := range r.Identifier.Elements {
		t := e.Tag
		if t.Element() == 0 || t == dicom.TagSpecificCharacterSet || t.IsPrivate() {
			continue
		}
		p.keys = append(p.keys, returnKey{tag: t, vr: e.VR, sub: subKeys(e)})
		switch {
		case t == TagScheduledProcedureStepSequence:
			if len(e.Items) > 1 {
				return nil, fmt.Errorf("the Scheduled Procedure Step Sequence key has %d items: one is allowed (PS3.4 C.2.2.2.6)", len(e.Items))
			}
			for _, item := range e.Items {
				for _, sub := range item.Elements {
					if sub.VR == "SQ" {
						if !universalSequence(sub) {
							p.unsupported = true
						}
						continue
					}
					if err := add(sub, true); err != nil {
						return nil, err
					}
				}
			}
		case e.VR == "SQ":
			if !universalSequence(e) {
				p.unsupported = true
			}
		default:
			if err := add(e, false); err != nil {
				return nil, err
			}
		}
	}
	p.summary = sum.String()
	p.narrow()
	return p, nil
}

// narrow moves what the repository can select by (exact values, the date range) into the
// order filter; every key is still matched in memory.
func (p *mwlPlan) narrow() {
	var date, tm string
	for _, k := range p.match {
		exact := !strings.ContainsAny(k.value, `*?\`)
		switch {
		case k.tag == TagScheduledStationAETitle && exact:
			p.filter.StationAE = k.value
		case k.tag == dicom.TagModality && exact:
			p.filter.Modality = k.value
		case k.tag == dicom.TagPatientID && exact && !k.sps:
			p.filter.PatientID = k.value
		case k.tag == dicom.TagAccessionNumber && exact && !k.sps:
			p.filter.Accession = k.value
		case k.tag == TagScheduledProcedureStepStartDate:
			date = k.value
			p.filter.DateFrom, p.filter.DateTo = rangeOf(k.value)
		case k.tag == TagScheduledProcedureStepStartTime:
			tm = k.value
		}
	}
	if date != "" && tm != "" {
		// PS3.4 C.2.2.2.5.1: date and time ranges together are one date-time range.
		dlo, dhi := rangeOf(date)
		tlo, thi := rangeOf(tm)
		if dlo != "" {
			p.dtLo = dlo + padTime(tlo, '0')
		}
		if dhi != "" {
			p.dtHi = dhi + padTime(thi, '9')
		}
		p.combined = true
	}
}

// rangeOf splits a single value or a range "a-b", "a-", "-b" (PS3.4 C.2.2.2.5).
func rangeOf(v string) (lo, hi string) {
	if a, b, ok := strings.Cut(v, "-"); ok {
		return a, b
	}
	return v, v
}

// padTime turns HH[MM[SS[.F]]] into HHMMSS for comparison, filling what is missing with
// pad ('0' for a lower bound, '9' for an upper: "12" up to 12:59:59).
func padTime(t string, pad byte) string {
	t, _, _ = strings.Cut(strings.ReplaceAll(t, ":", ""), ".")
	if t == "" {
		if pad == '0' {
			return "000000"
		}
		return "999999"
	}
	for len(t) < 6 {
		t += string(pad)
	}
	return t[:6]
}

// matches reports whether an order's values meet every key.
func (p *mwlPlan) matches(top, sps map[dicom.Tag]string) bool {
	for _, k := range p.match {
		vals := top
		if k.sps {
			vals = sps
		}
		v := vals[k.tag]
		if p.combined && (k.tag == TagScheduledProcedureStepStartDate || k.tag == TagScheduledProcedureStepStartTime) {
			dt := sps[TagScheduledProcedureStepStartDate] + padTime(sps[TagScheduledProcedureStepStartTime], '0')
			if (p.dtLo != "" && dt < p.dtLo) || (p.dtHi != "" && dt > p.dtHi) {
				return false
			}
			continue
		}
		if !matchValue(k.vr, k.value, v) {
			return false
		}
	}
	return true
}

// matchValue applies one key's value to an attribute's value (PS3.4 C.2.2.2): UID lists,
// date and time ranges, wildcards, person names by component group.
func matchValue(vr, key, v string) bool {
	switch vr {
	case "UI":
		return slices.Contains(strings.Split(key, `\`), v)
	case "DA":
		lo, hi := rangeOf(key)
		return v != "" && (lo == "" || v >= lo) && (hi == "" || v <= hi)
	case "TM":
		lo, hi := rangeOf(key)
		t := padTime(v, '0')
		return v != "" && (lo == "" || t >= padTime(lo, '0')) && (hi == "" || t <= padTime(hi, '9'))
	case "PN":
		key = strings.ToLower(key)
		if strings.Contains(key, "=") {
			return glob(key, strings.ToLower(v))
		}
		pn := dicom.ParsePersonName(v)
		for _, g := range []string{pn.Alphabetic, pn.Ideographic, pn.Phonetic} {
			g = strings.ToLower(g)
			if g != "" && (glob(key, g) || glob(key, strings.ReplaceAll(g, "^", ""))) {
				return true
			}
		}
		return false
	}
	if store.WildcardVR(vr) {
		return glob(key, v)
	}
	return key == v
}

// glob matches s against pattern with '*' (any run) and '?' (one character) (PS3.4
// C.2.2.2.4).
func glob(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			pattern = strings.TrimLeft(pattern, "*")
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); {
				if glob(pattern, s[i:]) {
					return true
				}
				if i == len(s) {
					break
				}
				_, n := utf8.DecodeRuneInString(s[i:])
				i += n
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			_, n := utf8.DecodeRuneInString(s)
			pattern, s = pattern[1:], s[n:]
		default:
			if s == "" || pattern[0] != s[0] {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		}
	}
	return s == ""
}

// orderValues are an order's attributes as the worklist has them: the top level and the
// Scheduled Procedure Step item (PS3.4 Table K.6-1).
func orderValues(o reading.Order) (top, sps map[dicom.Tag]string) {
	top = map[dicom.Tag]string{
		dicom.TagPatientName:             o.PatientName,
		dicom.TagPatientID:               o.PatientID,
		dicom.TagPatientBirthDate:        o.BirthDate,
		dicom.TagPatientSex:              o.PatientSex,
		dicom.TagAccessionNumber:         o.AccessionNumber,
		dicom.TagRequestedProcedureID:    o.RequestedProcedureID,
		TagRequestedProcedureDescription: o.RequestedProcedure,
		dicom.TagStudyInstanceUID:        o.StudyUID,
	}
	status := "SCHEDULED"
	if o.Status == reading.OrderArrived {
		status = "ARRIVED"
	}
	sps = map[dicom.Tag]string{
		TagScheduledStationAETitle:           o.StationAE,
		dicom.TagModality:                    o.Modality,
		TagScheduledProcedureStepStartDate:   o.ScheduledDate,
		TagScheduledProcedureStepStartTime:   o.ScheduledTime,
		TagScheduledPerformingPhysicianName:  o.PerformingPhysician,
		dicom.TagScheduledProcedureStepID:    o.AccessionNumber,
		TagScheduledProcedureStepDescription: o.RequestedProcedure,
		TagScheduledProcedureStepStatus:      status,
	}
	return top, sps
}

// orderDataset is an order as the data set responses are written from.
func orderDataset(o reading.Order, top, sps map[dicom.Tag]string) dicom.JSONDataset {
	toJSON := func(vals map[dicom.Tag]string) dicom.JSONDataset {
		ds := dicom.JSONDataset{}
		for t, v := range vals {
			info, _ := dicom.LookupTag(t)
			a := dicom.JSONAttribute{VR: info.VR}
			switch {
			case v == "":
			case info.VR == "PN":
				a.Value = []any{dicom.PersonNameJSON(v)}
			default:
				a.Value = []any{v}
			}
			ds[t.Hex()] = a
		}
		return ds
	}
	ds := toJSON(top)
	ds[TagScheduledProcedureStepSequence.Hex()] = dicom.JSONAttribute{VR: "SQ", Value: []any{toJSON(sps)}}
	if o.ProcedureCode != "" {
		code := toJSON(map[dicom.Tag]string{tagCodeValue: o.ProcedureCode, tagCodingSchemeDesignator: "99PACSD",
			tagCodeMeaning: o.RequestedProcedure})
		ds[TagRequestedProcedureCodeSequence.Hex()] = dicom.JSONAttribute{VR: "SQ", Value: []any{code}}
	}
	return ds
}

// encodeWorklist writes one worklist response in charsets: Specific Character Set, then the
// keys asked in tag order.
func (s *Service) encodeWorklist(buf *bytes.Buffer, r *Request, p *mwlPlan, ds dicom.JSONDataset, charsets []string) error {
	enc, err := dicom.NewEncoder(buf, r.TransferSyntaxUID)
	if err != nil {
		return err
	}
	w := &respWriter{enc: enc, charsets: charsets}
	if charsets != nil {
		w.text(dicom.TagSpecificCharacterSet, "CS", strings.Join(charsets, `\`))
	}
	keys := slices.Clone(p.keys)
	slices.SortFunc(keys, func(a, b returnKey) int { return int(a.tag) - int(b.tag) })
	for i, k := range keys {
		if i > 0 && keys[i-1].tag == k.tag {
			continue
		}
		w.attr(k.tag, k.vr, ds[k.tag.Hex()], k.sub)
	}
	if w.err != nil {
		return w.err
	}
	return enc.Close()
}

// FindHandlers is the one C-FIND handler of the DIMSE server: it hands each request to the
// handler of its SOP class (the Q/R models to Service, the Modality Worklist to Worklist).
type FindHandlers map[string]dimse.FindHandler

// HandleFind implements dimse.FindHandler.
func (h FindHandlers) HandleFind(ctx context.Context, req *dimse.QueryRequest, send func(status uint16, identifier []byte) error) dimse.Status {
	if f, ok := h[req.SOPClassUID]; ok {
		return f.HandleFind(ctx, req, send)
	}
	return dimse.Status{Code: dimse.StatusSOPClassNotSupported}
}

// SOPClasses are the SOP classes handled (dimse.Server.FindSOPClasses), sorted.
func (h FindHandlers) SOPClasses() []string {
	out := make([]string, 0, len(h))
	for c := range h {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
