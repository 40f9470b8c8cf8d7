package qr

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/store"
)

// C-FIND SCP (PS3.4 C.4.1), Patient Root and Study Root information models, every level.
//
// Matching is QIDO-RS's: each key goes through store.ParseMatch and Index.Search, so
// single values, '*'/'?' wildcards, date/time ranges, UID lists and universal matching mean
// what PS3.4 C.2.2.2 says, and PatientName=张* finds every name one of whose component
// groups starts with 张 ("张伟", "Zhang^Wei=张^伟").
//
// Rules and choices, as a peer sees them:
//   - Hierarchical search (PS3.4 C.4.1.2.2.1): the unique keys of the levels above the
//     Query/Retrieve Level are required, each a single value (Patient ID in the Patient Root
//     model below PATIENT, Study Instance UID below STUDY, Series Instance UID at IMAGE);
//     missing, a list or a wildcard: 0xA900. Other keys of the levels above are matched too.
//     Relational queries (C.4.1.2.2.2) are not supported: a key of a level below the one
//     asked, with a value, is refused (0xA900); without a value it is answered empty.
//   - The response carries exactly the keys asked, plus Specific Character Set, Query/
//     Retrieve Level, Retrieve AE Title (our AE) and, below PATIENT, Instance Availability
//     (ONLINE: everything the index lists can be retrieved at once). Derived keys are
//     answered: Number of Patient/Study/Series Related Studies/Series/Instances,
//     Modalities in Study.
//   - A key the index does not keep, or a sequence key with a value to match (sequence
//     matching, C.2.2.2.6, is not supported), is an optional key not supported: it does not
//     restrict the matches, it is answered empty (sequences: with what the index keeps), and
//     the responses say 0xFF01 (PS3.4 C.4.1.1.4).
//   - Character sets: the identifier is read in its Specific Character Set (GB18030,
//     ISO_IR 192, ISO 2022 IR 58, ...; without one, bytes that are not ASCII are read as
//     Config.FallbackCharset). Each response is encoded in the character set the request
//     named when it can represent the response's values; else (and when the request named
//     none and the values are not ASCII) in ISO_IR 192, with (0008,0005) saying so.
//   - Scope: the calling AE must be a registered peer allowed to query (else 0x0124); a
//     township site's peer sees only its site's studies (and patients through them); the
//     county's peers see every study.
//   - At most Config.MaxResults responses (default 1000): beyond it the first ones are sent,
//     the search ends with success, and a warning is logged (PS3.4 has no status for it).
//   - C-CANCEL: the responses stop at the next one (send fails).
//   - Every C-FIND is one audit event: the calling AE and address, the level and keys, the
//     number of matches and the patients answered.

// Derived attributes (PS3.4 C.6.1.1.2 - C.6.1.1.5).
const (
	tagNumberOfPatientRelatedStudies   dicom.Tag = 0x00201200
	tagNumberOfPatientRelatedSeries    dicom.Tag = 0x00201202
	tagNumberOfPatientRelatedInstances dicom.Tag = 0x00201204
	tagSOPClassesInStudy               dicom.Tag = 0x00080062
)

// derivedLevel is the level of each derived key the responses answer.
var derivedLevel = map[dicom.Tag]store.Level{
	tagNumberOfPatientRelatedStudies:        store.LevelPatient,
	tagNumberOfPatientRelatedSeries:         store.LevelPatient,
	tagNumberOfPatientRelatedInstances:      store.LevelPatient,
	dicom.TagNumberOfStudyRelatedSeries:     store.LevelStudy,
	dicom.TagNumberOfStudyRelatedInstances:  store.LevelStudy,
	dicom.TagModalitiesInStudy:              store.LevelStudy,
	dicom.TagNumberOfSeriesRelatedInstances: store.LevelSeries,
	dicom.TagAvailableTransferSyntaxUID:     store.LevelInstance,
}

// returnKey is one key of the identifier to answer.
type returnKey struct {
	tag dicom.Tag
	vr  string
	sub []*dicom.Element // a sequence key's item keys (nil: the whole items)
}

// findPlan is a C-FIND identifier turned into a store query and the keys to answer.
type findPlan struct {
	query       store.Query
	keys        []returnKey
	unsupported bool // an optional key was not supported: responses are 0xFF01
	summary     string
	layouts     [2][]outKey // of the responses without, with Specific Character Set

	// The stored attributes the responses are taken from: the keys asked, and Patient ID
	// and Patient's Name (the audit's patients), each a slot of raw (readHit).
	slots          map[string]int // DICOM JSON key -> slot
	idSlot, nameSl int
	raw            [][]byte // the hit being answered: each slot's stored JSON, nil when absent
	text           []byte   // scratch for one element's text
	consts         map[string][]byte
}

// constant is s as bytes, the same slice for every response (the values every response
// repeats: level, AE title, character set), so that they are not converted for each one.
func (p *findPlan) constant(s string) []byte {
	b, ok := p.consts[s]
	if !ok {
		if p.consts == nil {
			p.consts = map[string][]byte{}
		}
		b = []byte(s)
		p.consts[s] = b
	}
	return b
}

// HandleFind answers a C-FIND-RQ (dimse.FindHandler); see the rules above.
func (s *Service) HandleFind(ctx context.Context, req *dimse.QueryRequest, send func(status uint16, identifier []byte) error) dimse.Status {
	start := time.Now()
	r, st, ok := s.Begin(ctx, req, MayQuery)
	if !ok {
		return st
	}
	plan, err := s.planFind(r)
	if err != nil {
		s.log.Info("C-FIND refused", "calling_ae", r.CallingAETitle, "level", LevelName(r.Level), "err", err)
		s.Record(ctx, r, audit.ActionQuery, "C-FIND "+LevelName(r.Level), nil, audit.OutcomeFailure, err.Error())
		return dimse.Status{Code: dimse.StatusDataSetMismatch, ErrorComment: shortText(err.Error())}
	}
	max := s.cfg.MaxResults
	plan.query.Limit = max + 1
	hits, err := s.cfg.Index.Search(ctx, plan.query)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			s.log.Info("C-FIND refused", "calling_ae", r.CallingAETitle, "err", err)
			s.Record(ctx, r, audit.ActionQuery, plan.summary, nil, audit.OutcomeFailure, err.Error())
			return dimse.Status{Code: dimse.StatusDataSetMismatch, ErrorComment: shortText(err.Error())}
		}
		s.log.Error("C-FIND search failed", "calling_ae", r.CallingAETitle, "err", err)
		s.Record(ctx, r, audit.ActionQuery, plan.summary, nil, audit.OutcomeFailure, "search failed")
		return dimse.Status{Code: dimse.StatusOutOfResourcesMatches, ErrorComment: "search failed"}
	}
	truncated := len(hits) > max
	if truncated {
		hits = hits[:max]
		s.log.Warn("C-FIND matches beyond the maximum not sent", "calling_ae", r.CallingAETitle,
			"level", LevelName(r.Level), "max", max)
	}
	status := dimse.StatusPending
	if plan.unsupported {
		status = dimse.StatusPendingOptionalKeys
	}
	var (
		patients []PatientRef
		seen     = map[string]bool{}
		sent     int
		outcome  = audit.OutcomeSuccess
		detail   string
		buf      bytes.Buffer
	)
	plan.prepareSlots()
	for i := range hits {
		h := &hits[i]
		if err := plan.readHit(h); err != nil {
			s.log.Error("C-FIND: index record unreadable", "study", h.StudyUID, "err", err)
			continue
		}
		buf.Reset()
		if err := s.encodeResponse(&buf, r, plan, h); err != nil {
			s.log.Error("C-FIND: response not encodable", "study", h.StudyUID, "err", err)
			continue
		}
		if err := send(status, buf.Bytes()); err != nil {
			outcome, detail = audit.OutcomeFailure, "cancelled after "+strconv.Itoa(sent)+" responses"
			break
		}
		sent++
		id, name, err := plan.patient()
		if err != nil {
			s.log.Error("C-FIND: index record unreadable", "study", h.StudyUID, "err", err)
		}
		if k := id + "\x00" + name; !seen[k] {
			seen[k] = true
			ref := PatientRef{ID: id, Name: name}
			if r.Level >= store.LevelStudy {
				ref.StudyUID = h.StudyUID
			}
			patients = append(patients, ref)
		}
	}
	if detail == "" {
		detail = strconv.Itoa(sent) + " matches"
		if truncated {
			detail += fmt.Sprintf(" (the first %d: more matched)", max)
		}
	}
	if len(patients) > 1 {
		for i := range patients {
			patients[i].StudyUID = ""
		}
	}
	s.Record(ctx, r, audit.ActionQuery, plan.summary, patients, outcome, detail)
	s.log.Debug("C-FIND", "calling_ae", r.CallingAETitle, "level", LevelName(r.Level), "matches", sent,
		"truncated", truncated, "elapsed", time.Since(start))
	return dimse.Status{Code: dimse.StatusSuccess}
}

// planFind turns the identifier into the store query and the keys to answer.
func (s *Service) planFind(r *Request) (*findPlan, error) {
	q, err := r.UniqueKeys()
	if err != nil {
		return nil, err
	}
	p := &findPlan{query: q}
	have := map[dicom.Tag]bool{}
	for _, m := range q.Matches {
		have[m.Tag] = true
	}
	var sum strings.Builder
	sum.WriteString("C-FIND " + LevelName(r.Level))
	for _, e := range r.Identifier.Elements {
		t := e.Tag
		if t.Element() == 0 || t == dicom.TagSpecificCharacterSet || t == TagQueryRetrieveLevel ||
			t == TagRetrieveAETitle || t == dicom.TagInstanceAvailability {
			continue // said by us, not matched
		}
		if t.IsPrivate() {
			continue // PS3.4 C.4.1.1.3.1: private keys we do not know are not answered
		}
		p.keys = append(p.keys, returnKey{tag: t, vr: e.VR, sub: subKeys(e)})
		value := elementValue(e)
		fmt.Fprintf(&sum, " %s", keyword(t))
		if value != "" {
			fmt.Fprintf(&sum, "=%s", value)
		}
		level, kept := keyLevelOf(t)
		if level > r.Level {
			if value != "" || (e.VR == "SQ" && !universalSequence(e)) {
				return nil, fmt.Errorf("key %s is below the query/retrieve level %s: relational queries are not supported (PS3.4 C.4.1.2.2.2)",
					keyword(t), LevelName(r.Level))
			}
			continue
		}
		if e.VR == "SQ" {
			if !universalSequence(e) {
				p.unsupported = true // sequence matching (C.2.2.2.6) not supported
			}
			continue
		}
		if value == "" || have[t] {
			continue
		}
		if _, derived := derivedLevel[t]; (derived && t != dicom.TagModalitiesInStudy) || !kept {
			p.unsupported = true
			continue
		}
		m, err := store.ParseMatch(t, value)
		if err != nil {
			return nil, err
		}
		p.query.Matches = append(p.query.Matches, m)
		have[t] = true
	}
	p.summary = sum.String()
	return p, nil
}

// keyLevelOf is the query level of a key and whether the index can match it.
func keyLevelOf(t dicom.Tag) (store.Level, bool) {
	if l, ok := derivedLevel[t]; ok {
		return l, true
	}
	if store.PatientTag(t) {
		return store.LevelPatient, true
	}
	if l, ok := store.LevelOf(t); ok {
		return l, true
	}
	switch t {
	case tagSOPClassesInStudy:
		return store.LevelStudy, false
	}
	// Not kept: answered empty at any level.
	return store.LevelPatient, false
}

// elementValue is a key's matching value: its values '\'-joined, trimmed (the reader has
// removed the padding).
func elementValue(e *dicom.Element) string {
	switch {
	case e.Strings != nil:
		return strings.TrimSpace(strings.Join(e.Strings, `\`))
	case e.Numbers != nil:
		parts := make([]string, len(e.Numbers))
		for i, n := range e.Numbers {
			parts[i] = strconv.FormatFloat(n, 'f', -1, 64)
		}
		return strings.Join(parts, `\`)
	}
	return ""
}

// universalSequence: a sequence key with no item, or one item whose keys are all empty
// (PS3.4 C.2.2.2.6: universal matching of the sequence).
func universalSequence(e *dicom.Element) bool {
	if len(e.Items) == 0 {
		return true
	}
	if len(e.Items) > 1 {
		return false
	}
	for _, sub := range e.Items[0].Elements {
		if sub.VR == "SQ" {
			if !universalSequence(sub) {
				return false
			}
		} else if elementValue(sub) != "" {
			return false
		}
	}
	return true
}

// subKeys are the item keys of a sequence key, nil when it asks for whole items.
func subKeys(e *dicom.Element) []*dicom.Element {
	if e.VR != "SQ" || len(e.Items) == 0 || len(e.Items[0].Elements) == 0 {
		return nil
	}
	return e.Items[0].Elements
}

func keyword(t dicom.Tag) string {
	if info, ok := dicom.LookupTag(t); ok && info.Keyword != "" {
		return info.Keyword
	}
	return t.String()
}

func pnString(p dicom.PersonName) string { return p.String() }

// prepareSlots numbers the stored attributes the responses are taken from: the keys
// asked, and Patient ID and Patient's Name (the audit's patients).
func (p *findPlan) prepareSlots() {
	p.slots = map[string]int{}
	slot := func(hex string) int {
		i, ok := p.slots[hex]
		if !ok {
			i = len(p.slots)
			p.slots[hex] = i
		}
		return i
	}
	for _, k := range p.keys {
		slot(k.tag.Hex())
	}
	p.idSlot, p.nameSl = slot(dicom.TagPatientID.Hex()), slot(dicom.TagPatientName.Hex())
	p.raw = make([][]byte, len(p.slots))
}

// readHit finds in a hit's index records the stored JSON of each slot's attribute, a
// lower level's over a higher's, as when the levels are merged into one data set. Nothing
// else of a record is read, nor anything parsed (a study's record holds many more
// attributes than a study list asks); parsing each record whole was most of a C-FIND's
// time.
func (p *findPlan) readHit(h *store.Hit) error {
	clear(p.raw)
	for _, b := range [3][]byte{h.Study, h.Series, h.Instance} {
		if b == nil {
			continue
		}
		err := eachMember(b, func(key, value []byte) {
			if i, ok := p.slots[string(key)]; ok {
				p.raw[i] = value
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// patient is the Patient ID and Patient's Name of the hit read last, for the audit: their
// first values.
func (p *findPlan) patient() (id, name string, err error) {
	first := func(slot int, tag dicom.Tag, pn bool) (string, error) {
		raw := p.raw[slot]
		if raw == nil {
			return "", nil
		}
		var vr string
		var ok bool
		if p.text, vr, ok = appendAttrText(p.text[:0], raw); ok && (!pn || vr == "PN") {
			if i := bytes.IndexByte(p.text, '\\'); i >= 0 {
				return string(p.text[:i]), nil
			}
			return string(p.text), nil
		}
		a, err := parseStored(tag.Hex(), raw)
		if err != nil {
			return "", err
		}
		ds := dicom.JSONDataset{tag.Hex(): a}
		if pn {
			return pnString(ds.PersonName(tag)), nil
		}
		return ds.String(tag), nil
	}
	if id, err = first(p.idSlot, dicom.TagPatientID, false); err != nil {
		return "", "", err
	}
	name, err = first(p.nameSl, dicom.TagPatientName, true)
	return id, name, err
}

// parseStored reads one stored attribute (DICOM JSON) whose text appendAttrText does not
// read: the common shapes without encoding/json (parseAttr), others (sequences, escaped
// text) through dicom.ParseJSON.
func parseStored(hex string, raw []byte) (dicom.JSONAttribute, error) {
	if a, ok := parseAttr(raw); ok {
		return a, nil
	}
	obj := make([]byte, 0, len(raw)+len(hex)+4)
	obj = strconv.AppendQuote(append(obj, '{'), hex) // a tag: hex digits
	obj = append(append(append(obj, ':'), raw...), '}')
	ds, err := dicom.ParseJSON(obj)
	if err != nil {
		return dicom.JSONAttribute{}, err
	}
	return ds[hex], nil
}

// derived is the text of a key the responses compute from the index's counts (PS3.4
// C.6.1.1.2 - C.6.1.1.5) at level, in place of anything stored; ok false when t is not
// derived at that level. An empty text is an empty element.
func derived(t dicom.Tag, h *store.Hit, level store.Level) (vr, text string, ok bool) {
	if level == store.LevelPatient {
		switch t {
		case tagNumberOfPatientRelatedStudies:
			return "IS", strconv.Itoa(h.PatientStudies), true
		case tagNumberOfPatientRelatedSeries:
			return "IS", strconv.Itoa(h.StudySeries), true
		case tagNumberOfPatientRelatedInstances:
			return "IS", strconv.Itoa(h.StudyInstances), true
		}
		return "", "", false
	}
	switch t {
	case dicom.TagModalitiesInStudy:
		return "CS", strings.Join(h.ModalitiesInStudy, `\`), true
	case dicom.TagNumberOfStudyRelatedSeries:
		return "IS", strconv.Itoa(h.StudySeries), true
	case dicom.TagNumberOfStudyRelatedInstances:
		return "IS", strconv.Itoa(h.StudyInstances), true
	case dicom.TagNumberOfSeriesRelatedInstances:
		if level >= store.LevelSeries {
			return "IS", strconv.Itoa(h.SeriesInstances), true
		}
	case dicom.TagAvailableTransferSyntaxUID:
		if level == store.LevelInstance && h.TransferSyntaxUID != "" {
			return "UI", h.TransferSyntaxUID, true
		}
	}
	return "", "", false
}

// encodeResponse writes one response identifier: in the request's character set when it
// can carry the values, else in ISO_IR 192.
func (s *Service) encodeResponse(buf *bytes.Buffer, r *Request, p *findPlan, h *store.Hit) error {
	return encodeInCharset(buf, r.Charsets, func(charsets []string) error { return s.encodeIn(buf, r, p, h, charsets) })
}

// encodeInCharset runs encode (which writes one response into buf) in the character set
// the request named (asked) when it can carry the values; with none named, in the default
// repertoire when the values are ASCII; else in ISO_IR 192. The one rule of every C-FIND
// response's character set (Q/R and Modality Worklist).
func encodeInCharset(buf *bytes.Buffer, asked []string, encode func(charsets []string) error) error {
	first := asked // nil: the default repertoire
	err := encode(first)
	if err == nil || !errors.Is(err, errCharset) {
		return err
	}
	buf.Reset()
	return encode([]string{"ISO_IR 192"})
}

var errCharset = errors.New("value not representable in the character set")

// outKey is one element of a response, in the order they are written.
type outKey struct {
	returnKey
	hex  string // the DICOM JSON key of an asked key
	slot int    // its slot (findPlan.raw)
	kind int
}

const (
	outAsked = iota
	outBelow // asked, of a level below the query's: empty
	outLevel
	outRetrieveAE
	outCharset
	outAvailability
)

// layout is the elements of every response to the plan, in tag order: the keys asked
// merged with those we add (Specific Character Set when the response names one). Worked
// out once per query.
func (p *findPlan) layout(level store.Level, charset bool) []outKey {
	i := 0
	if charset {
		i = 1
	}
	if p.layouts[i] != nil {
		return p.layouts[i]
	}
	out := []outKey{
		{returnKey: returnKey{tag: TagQueryRetrieveLevel}, kind: outLevel},
		{returnKey: returnKey{tag: TagRetrieveAETitle}, kind: outRetrieveAE},
	}
	if charset {
		out = append(out, outKey{returnKey: returnKey{tag: dicom.TagSpecificCharacterSet}, kind: outCharset})
	}
	if level >= store.LevelStudy {
		out = append(out, outKey{returnKey: returnKey{tag: dicom.TagInstanceAvailability}, kind: outAvailability})
	}
	for _, k := range p.keys {
		if slices.ContainsFunc(out, func(o outKey) bool { return o.tag == k.tag }) {
			continue
		}
		o := outKey{returnKey: k, hex: k.tag.Hex()}
		o.slot = p.slots[o.hex]
		if l, _ := keyLevelOf(k.tag); l > level {
			o.kind = outBelow
		}
		out = append(out, o)
	}
	slices.SortStableFunc(out, func(a, b outKey) int { return cmp.Compare(a.tag, b.tag) })
	p.layouts[i] = out
	return out
}

// encodeIn writes the response in charsets (nil: the default repertoire, ASCII only).
func (s *Service) encodeIn(buf *bytes.Buffer, r *Request, p *findPlan, h *store.Hit, charsets []string) error {
	enc, err := dicom.NewEncoder(buf, r.TransferSyntaxUID)
	if err != nil {
		return err
	}
	w := &respWriter{enc: enc, charsets: charsets, scratch: p.text}
	defer func() { p.text = w.scratch }()
	for _, k := range p.layout(r.Level, charsets != nil) {
		switch k.kind {
		case outLevel:
			w.textBytes(k.tag, "CS", p.constant(LevelName(r.Level)))
		case outRetrieveAE:
			w.textBytes(k.tag, "AE", p.constant(s.cfg.AETitle))
		case outCharset:
			w.textBytes(k.tag, "CS", p.constant(strings.Join(charsets, `\`)))
		case outAvailability:
			w.textBytes(k.tag, "CS", p.constant("ONLINE"))
		case outBelow:
			w.empty(k.tag, k.vr) // a key of a level below: no value at this level
		default:
			if vr, text, ok := derived(k.tag, h, r.Level); ok {
				w.text(k.tag, vr, text)
				continue
			}
			if err := w.stored(k, p.raw[k.slot]); err != nil {
				return err
			}
		}
	}
	if w.err != nil {
		return w.err
	}
	return enc.Close()
}

// respWriter writes JSON attributes as DICOM elements in a character set.
type respWriter struct {
	enc      *dicom.Encoder
	charsets []string
	err      error
	scratch  []byte // stored's, reused
}

// stored writes an asked key from its stored JSON (nil: not stored, written empty).
func (w *respWriter) stored(k outKey, raw []byte) error {
	if raw == nil {
		w.attr(k.tag, k.vr, dicom.JSONAttribute{}, k.sub)
		return nil
	}
	var vr string
	var ok bool
	if w.scratch, vr, ok = appendAttrText(w.scratch[:0], raw); ok {
		w.textBytes(k.tag, vr, w.scratch)
		return nil
	}
	a, err := parseStored(k.hex, raw)
	if err != nil {
		return err
	}
	w.attr(k.tag, k.vr, a, k.sub)
	return nil
}

// textBytes is text for a value in a reused buffer: UTF-8 goes out as it is when the
// character set is ISO_IR 192 or the text is ASCII (what encodeText would give), without
// a copy; anything else through encodeText.
func (w *respWriter) textBytes(t dicom.Tag, vr string, b []byte) {
	if w.err != nil {
		return
	}
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	switch {
	case ascii && w.charsets == nil:
		w.enc.WriteElement(t, vr, b)
	case ascii && bytes.IndexByte(b, 0x1b) < 0, len(w.charsets) == 1 && w.charsets[0] == "ISO_IR 192" && utf8.Valid(b):
		w.enc.WriteElement(t, vr, b)
	default:
		w.text(t, vr, string(b))
	}
}

func (w *respWriter) text(t dicom.Tag, vr, s string) {
	if w.err != nil {
		return
	}
	b, err := encodeText(s, w.charsets, vr)
	if err != nil {
		w.err = err
		return
	}
	w.enc.WriteElement(t, vr, b)
}

// encodeText encodes s in charsets; nil charsets allow ASCII only.
func encodeText(s string, charsets []string, vr string) ([]byte, error) {
	if charsets == nil {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return nil, errCharset
			}
		}
		return []byte(s), nil
	}
	b, err := dicom.EncodeText(s, charsets, vr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCharset, err)
	}
	return b, nil
}

func (w *respWriter) empty(t dicom.Tag, vr string) {
	if vr == "SQ" {
		w.enc.BeginSequence(t)
		w.enc.EndSequence()
		return
	}
	if vr == "" || vr == "UN" {
		if info, ok := dicom.LookupTag(t); ok {
			vr = info.VR
		}
	}
	w.enc.WriteElement(t, vr, nil)
}

// attr writes one attribute from its JSON form (a missing one empty), as the VR the index
// recorded, else the request's.
func (w *respWriter) attr(t dicom.Tag, reqVR string, a dicom.JSONAttribute, sub []*dicom.Element) {
	if w.err != nil {
		return
	}
	vr := a.VR
	if vr == "" {
		vr = reqVR
	}
	if vr == "" || vr == "UN" {
		if info, ok := dicom.LookupTag(t); ok {
			vr = info.VR
		}
	}
	if len(a.Value) == 0 {
		w.empty(t, vr)
		return
	}
	switch vr {
	case "SQ":
		w.enc.BeginSequence(t)
		for _, v := range a.Value {
			item, ok := v.(dicom.JSONDataset)
			if !ok {
				continue
			}
			w.enc.BeginItem()
			w.item(item, sub)
			w.enc.EndItem()
		}
		w.enc.EndSequence()
	case "US", "SS":
		var b []byte
		for _, v := range a.Value {
			n, _ := v.(float64)
			b = binary.LittleEndian.AppendUint16(b, uint16(int64(n)))
		}
		w.enc.WriteElement(t, vr, b)
	case "UL", "SL":
		var b []byte
		for _, v := range a.Value {
			n, _ := v.(float64)
			b = binary.LittleEndian.AppendUint32(b, uint32(int64(n)))
		}
		w.enc.WriteElement(t, vr, b)
	case "FL":
		var b []byte
		for _, v := range a.Value {
			n, _ := v.(float64)
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(n)))
		}
		w.enc.WriteElement(t, vr, b)
	case "FD":
		var b []byte
		for _, v := range a.Value {
			n, _ := v.(float64)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(n))
		}
		w.enc.WriteElement(t, vr, b)
	default:
		if !dicom.IsTextVR(vr) {
			w.empty(t, vr) // binary values are not query keys
			return
		}
		w.text(t, vr, attrText(a))
	}
}

// attrText is the text of a text VR's values, '\'-joined: numbers as the shortest
// decimal, person names their '='-joined groups, nulls empty.
func attrText(a dicom.JSONAttribute) string {
	parts := make([]string, len(a.Value))
	for i, v := range a.Value {
		switch x := v.(type) {
		case string:
			parts[i] = x
		case float64:
			parts[i] = strconv.FormatFloat(x, 'f', -1, 64)
		case map[string]string:
			parts[i] = dicom.PersonName{Alphabetic: x["Alphabetic"], Ideographic: x["Ideographic"], Phonetic: x["Phonetic"]}.String()
		case map[string]any:
			str := func(k string) string { s, _ := x[k].(string); return s }
			parts[i] = dicom.PersonName{Alphabetic: str("Alphabetic"), Ideographic: str("Ideographic"), Phonetic: str("Phonetic")}.String()
		}
	}
	return strings.Join(parts, `\`)
}

// item writes a sequence item: the item keys asked, else all its attributes, in tag order.
func (w *respWriter) item(item dicom.JSONDataset, sub []*dicom.Element) {
	if sub != nil {
		for _, e := range sub {
			w.attr(e.Tag, e.VR, item[e.Tag.Hex()], subKeys(e))
		}
		return
	}
	tags := make([]dicom.Tag, 0, len(item))
	for k := range item {
		if t, ok := dicom.ParseTag(k); ok {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	for _, t := range tags {
		w.attr(t, "", item[t.Hex()], nil)
	}
}

// eachMember calls fn with the key (unquoted; keys with escapes are refused) and the value
// (verbatim) of each member of the JSON object b.
func eachMember(b []byte, fn func(key, value []byte)) error {
	bad := func(i int) error { return fmt.Errorf("index record: malformed JSON object at byte %d", i) }
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return bad(i)
	}
	if i = skipSpace(b, i+1); i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return bad(i)
		}
		keyEnd := skipString(b, i)
		if keyEnd < 0 || bytes.IndexByte(b[i:keyEnd], '\\') >= 0 {
			return bad(i)
		}
		key := b[i+1 : keyEnd-1]
		if i = skipSpace(b, keyEnd); i >= len(b) || b[i] != ':' {
			return bad(i)
		}
		start := skipSpace(b, i+1)
		end := skipValue(b, start)
		if end < 0 {
			return bad(start)
		}
		fn(key, b[start:end])
		if i = skipSpace(b, end); i >= len(b) {
			return bad(i)
		}
		switch b[i] {
		case '}':
			return nil
		case ',':
			i = skipSpace(b, i+1)
		default:
			return bad(i)
		}
	}
}

// parseAttr reads one DICOM JSON attribute as dicom.ParseJSON would, when it has the
// common shape: "vr" first, then "Value" with nulls, numbers, text without escapes, or
// (PN) objects of such text. ok is false for anything else, left to dicom.ParseJSON.
func parseAttr(b []byte) (a dicom.JSONAttribute, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return a, false
	}
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] != '}' {
		key, next, ok := plainString(b, i)
		if !ok {
			return a, false
		}
		if i = skipSpace(b, next); i >= len(b) || b[i] != ':' {
			return a, false
		}
		i = skipSpace(b, i+1)
		switch key {
		case "vr":
			if a.VR, i, ok = plainString(b, i); !ok {
				return a, false
			}
		case "Value":
			if a.VR == "" || a.VR == "SQ" || i >= len(b) || b[i] != '[' {
				return a, false
			}
			if a.Value, i, ok = plainValues(b, i, a.VR == "PN"); !ok {
				return a, false
			}
		default:
			return a, false
		}
		if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return a, i < len(b) && a.VR != ""
}

// appendAttrText appends the text respWriter.attr writes for a stored attribute (DICOM
// JSON, as the index wrote it: "vr" first, then "Value") of a text VR: the values
// '\\'-joined as attrText joins them, without building them. ok is false for any other
// shape (other VRs, other members or order, escaped or invalid text, a PN given as a
// string), which parseStored reads; vr is then "".
func appendAttrText(dst, b []byte) (out []byte, vr string, ok bool) {
	start := len(dst)
	fail := func() ([]byte, string, bool) { return dst[:start], "", false }
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return fail()
	}
	key, i, ok := plainBytes(b, skipSpace(b, i+1))
	if !ok || string(key) != "vr" {
		return fail()
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return fail()
	}
	v, i, ok := plainBytes(b, skipSpace(b, i+1))
	if vr = textVRs[string(v)]; !ok || vr == "" {
		return fail()
	}
	if i = skipSpace(b, i); i < len(b) && b[i] == '}' {
		return dst, vr, true // no values: empty
	}
	if i >= len(b) || b[i] != ',' {
		return fail()
	}
	if key, i, ok = plainBytes(b, skipSpace(b, i+1)); !ok || string(key) != "Value" {
		return fail()
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return fail()
	}
	if i = skipSpace(b, i+1); i >= len(b) || b[i] != '[' {
		return fail()
	}
	pn := vr == "PN"
	for n := 0; ; n++ {
		if i = skipSpace(b, i+1); i < len(b) && b[i] == ']' && n == 0 {
			break
		}
		if n > 0 {
			dst = append(dst, '\\')
		}
		if i >= len(b) {
			return fail()
		}
		switch c := b[i]; {
		case c == 'n':
			if !bytes.HasPrefix(b[i:], []byte("null")) {
				return fail()
			}
			i += 4
		case c == '"' && !pn:
			var s []byte
			if s, i, ok = plainBytes(b, i); !ok {
				return fail()
			}
			dst = append(dst, s...)
		case (c == '-' || c >= '0' && c <= '9') && !pn:
			end := skipValue(b, i)
			if end < 0 {
				return fail()
			}
			f, err := strconv.ParseFloat(string(b[i:end]), 64)
			if err != nil {
				return fail()
			}
			dst, i = strconv.AppendFloat(dst, f, 'f', -1, 64), end
		case c == '{' && pn:
			if dst, i, ok = appendPNObject(dst, b, i); !ok {
				return fail()
			}
		default:
			return fail()
		}
		if i = skipSpace(b, i); i < len(b) && b[i] == ']' {
			break
		}
		if i >= len(b) || b[i] != ',' {
			return fail()
		}
	}
	if i = skipSpace(b, i+1); i >= len(b) || b[i] != '}' || skipSpace(b, i+1) != len(b) {
		return fail()
	}
	return dst, vr, true
}

// appendPNObject appends the person name object at b[i] (PS3.18 F.2.2, plain text
// members) as dicom.PersonName.String writes it; it returns the index after the object.
func appendPNObject(dst, b []byte, i int) ([]byte, int, bool) {
	var groups [3][]byte
	i, ok := eachPlainMember(b, i, func(k, v []byte) {
		switch string(k) {
		case "Alphabetic":
			groups[0] = v
		case "Ideographic":
			groups[1] = v
		case "Phonetic":
			groups[2] = v
		}
	})
	if !ok {
		return dst, 0, false
	}
	start := len(dst)
	dst = append(append(append(append(append(dst, groups[0]...), '='), groups[1]...), '='), groups[2]...)
	for len(dst) > start && dst[len(dst)-1] == '=' {
		dst = dst[:len(dst)-1]
	}
	return dst, i, true
}

// eachPlainMember calls fn with each member of the object at b[i] whose values are all
// plain text (plainBytes), and returns the index after the object; ok is false for any
// other object.
func eachPlainMember(b []byte, i int, fn func(k, v []byte)) (int, bool) {
	for i = skipSpace(b, i+1); i < len(b) && b[i] != '}'; {
		k, next, ok := plainBytes(b, i)
		if !ok {
			return 0, false
		}
		if i = skipSpace(b, next); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		v, next, ok := plainBytes(b, skipSpace(b, i+1))
		if !ok {
			return 0, false
		}
		fn(k, v)
		if i = skipSpace(b, next); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	if i >= len(b) {
		return 0, false
	}
	return i + 1, true
}

// textVRs are the VRs whose values respWriter.attr writes as text, each its own key, so
// that a VR read from a record needs no allocation.
var textVRs = func() map[string]string {
	m := map[string]string{}
	for _, vr := range []string{"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"} {
		if dicom.IsTextVR(vr) {
			m[vr] = vr
		}
	}
	return m
}()

// plainBytes is plainString without the copy: the text at b[i] when it has no escape
// and is valid UTF-8, and the index after it.
func plainBytes(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	end := skipString(b, i)
	if end < 0 {
		return nil, 0, false
	}
	s := b[i+1 : end-1]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return nil, 0, false
	}
	return s, end, true
}

// plainValues reads the array at b[i] of nulls, numbers and plain text (pn: objects of
// plain text, as map[string]string).
func plainValues(b []byte, i int, pn bool) ([]any, int, bool) {
	var out []any
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] != ']' {
		switch c := b[i]; {
		case c == 'n':
			if !bytes.HasPrefix(b[i:], []byte("null")) {
				return nil, 0, false
			}
			out = append(out, nil)
			i += 4
		case c == '"' && !pn:
			s, next, ok := plainString(b, i)
			if !ok {
				return nil, 0, false
			}
			out = append(out, s)
			i = next
		case (c == '-' || c >= '0' && c <= '9') && !pn:
			end := skipValue(b, i)
			if end < 0 {
				return nil, 0, false
			}
			f, err := strconv.ParseFloat(string(b[i:end]), 64)
			if err != nil {
				return nil, 0, false
			}
			out = append(out, f)
			i = end
		case c == '{' && pn:
			m := map[string]string{}
			next, ok := eachPlainMember(b, i, func(k, v []byte) { m[string(k)] = string(v) })
			if !ok {
				return nil, 0, false
			}
			out = append(out, m)
			i = next
		default:
			return nil, 0, false
		}
		if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	if i >= len(b) {
		return nil, 0, false
	}
	return out, i + 1, true
}

// plainString reads the string at b[i] when it has no escape (and is valid UTF-8, as
// encoding/json would leave it).
func plainString(b []byte, i int) (string, int, bool) {
	s, end, ok := plainBytes(b, i)
	return string(s), end, ok
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] (a '"'), -1 if it does
// not end.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i], -1 if there is none.
// Objects and arrays are skipped by their brackets (strings skipped whole), literals up to
// the next delimiter; the record was written by encoding/json, so it is valid JSON.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	start := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}
