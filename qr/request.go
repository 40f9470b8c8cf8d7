// Package qr is pacsd's DICOM Query/Retrieve service (PS3.4 Annex C): C-FIND over the
// Patient Root and Study Root information models, answered from the index through the same
// matching engine as QIDO-RS (store.ParseMatch, Index.Search), and C-MOVE/C-GET. It decides
// who may ask (the peers registry, reading.PeerLookup), what they may see (a township site's
// AE only its site's studies), and records every request in the audit trail. It does not
// speak the DICOM upper layer (package dimse does) nor know how the index is stored.
//
// This file holds what every Q/R request shares: the SOP classes, the calling peer's
// permission and scope, the identifier decoded, its Query/Retrieve Level, and the audit.
package qr

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/reading"
	"pacsd/store"
)

// Query/Retrieve SOP classes (PS3.4 C.6.1, C.6.2; PS3.6 Annex A).
const (
	PatientRootFind = "1.2.840.10008.5.1.4.1.2.1.1"
	PatientRootMove = "1.2.840.10008.5.1.4.1.2.1.2"
	PatientRootGet  = "1.2.840.10008.5.1.4.1.2.1.3"
	StudyRootFind   = "1.2.840.10008.5.1.4.1.2.2.1"
	StudyRootMove   = "1.2.840.10008.5.1.4.1.2.2.2"
	StudyRootGet    = "1.2.840.10008.5.1.4.1.2.2.3"
)

// FindSOPClasses are the C-FIND SOP classes Service answers (dimse.Server.FindSOPClasses).
var FindSOPClasses = []string{PatientRootFind, StudyRootFind}

// Model is a query/retrieve information model.
type Model int

const (
	PatientRoot Model = iota + 1 // PS3.4 C.6.1
	StudyRoot                    // PS3.4 C.6.2
)

// ModelOf is the information model of a Q/R SOP class; false for any other UID.
func ModelOf(sopClass string) (Model, bool) {
	switch sopClass {
	case PatientRootFind, PatientRootMove, PatientRootGet:
		return PatientRoot, true
	case StudyRootFind, StudyRootMove, StudyRootGet:
		return StudyRoot, true
	}
	return 0, false
}

// Attributes of the identifier that say how to query, not what (PS3.4 C.4.1.1.3.1).
const (
	TagQueryRetrieveLevel dicom.Tag = 0x00080052 // CS: PATIENT, STUDY, SERIES, IMAGE
	TagRetrieveAETitle    dicom.Tag = 0x00080054 // AE: where the matches can be retrieved from
)

// Permission is what a request asks to do.
type Permission int

const (
	MayQuery    Permission = iota // C-FIND
	MayRetrieve                   // C-MOVE, C-GET
	MayCommit                     // Storage Commitment (N-ACTION): a peer that may store
)

// Config configures the service. Index and Peers are required.
type Config struct {
	AETitle string            // our AE title: Retrieve AE Title (0008,0054) of C-FIND responses
	Index   store.IndexReader // the matches come from the index alone
	Peers   reading.PeerLookup
	Audit   audit.Auditor // nil: audit.Discard
	Logger  *slog.Logger  // nil: slog.Default(); component=qr is added
	// MaxResults bounds the responses of one C-FIND; default 1000. Beyond it the first
	// MaxResults matches are sent, the search ends with success and a warning is logged
	// (PS3.4 has no status for "more matches exist").
	MaxResults int
	// FallbackCharset reads identifier text that is not valid in its declared character
	// set (or has none): township devices send GB18030 without saying so. "" = ISO 8859-1.
	FallbackCharset string
}

// DefaultMaxResults is Config.MaxResults when zero.
const DefaultMaxResults = 1000

// Service is the Q/R SCP: a dimse.FindHandler (find.go), and the shared request handling
// C-MOVE and C-GET build on.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New returns the service for cfg.
func New(cfg Config) *Service {
	if cfg.Audit == nil {
		cfg.Audit = audit.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxResults <= 0 {
		cfg.MaxResults = DefaultMaxResults
	}
	return &Service{cfg: cfg, log: cfg.Logger.With("component", "qr")}
}

// Request is a Q/R request decoded: who asks, in which model and level, with which
// identifier.
type Request struct {
	*dimse.QueryRequest
	Peer       reading.Peer
	Model      Model
	Level      store.Level
	Identifier *dicom.Dataset // text decoded to UTF-8 from the identifier's character set
	Charsets   []string       // the identifier's Specific Character Set (0008,0005) values
}

// Scope is the store.Query.SiteID of the peer: its site's studies only, or every study for
// the county's own peers (SiteID 0).
func (r *Request) Scope() int64 { return r.Peer.SiteID }

// Actor is the request's audit actor: the calling AE at its address.
func (r *Request) Actor() audit.Actor { return audit.AE(r.CallingAETitle, hostOf(r.RemoteAddr)) }

// Begin checks that the calling AE may do perm and decodes the request. On failure it
// returns the status to answer with (0x0124 refused for an unknown or unauthorised peer,
// 0xA900 for an identifier that does not fit the SOP class), having logged it and, for a
// refused peer, recorded a security audit event.
func (s *Service) Begin(ctx context.Context, q *dimse.QueryRequest, perm Permission) (*Request, dimse.Status, bool) {
	model, ok := ModelOf(q.SOPClassUID)
	if !ok {
		return nil, dimse.Status{Code: dimse.StatusSOPClassNotSupported}, false
	}
	r, st, ok := s.admit(ctx, q, perm)
	if !ok {
		return nil, st, false
	}
	level, err := LevelOf(r.Identifier, model)
	if err != nil {
		return nil, dimse.Status{Code: dimse.StatusDataSetMismatch, ErrorComment: err.Error()}, false
	}
	r.Model, r.Level = model, level
	return r, dimse.Status{}, true
}

// admit is Begin without the Q/R model: the calling peer's permission and the identifier
// decoded (the Modality Worklist shares it).
func (s *Service) admit(ctx context.Context, q *dimse.QueryRequest, perm Permission) (*Request, dimse.Status, bool) {
	peer, why, err := s.authorize(ctx, q, perm)
	if err != nil {
		s.log.Error("peer lookup failed", "calling_ae", q.CallingAETitle, "err", err)
		return nil, dimse.Status{Code: dimse.StatusProcessingFailure, ErrorComment: "peer registry unavailable"}, false
	}
	if why != "" {
		s.log.Warn("query/retrieve refused", "calling_ae", q.CallingAETitle, "addr", q.RemoteAddr,
			"sop_class", q.SOPClassUID, "reason", why)
		s.cfg.Audit.Record(ctx, audit.Event{Actor: audit.AE(q.CallingAETitle, hostOf(q.RemoteAddr)),
			Action: audit.ActionSecurity, Object: dimseOp(q.SOPClassUID), Outcome: audit.OutcomeFailure, Detail: why})
		return nil, dimse.Status{Code: dimse.StatusNotAuthorized, ErrorComment: "not authorized: " + why}, false
	}
	ds, charsets, err := DecodeIdentifier(q, s.cfg.FallbackCharset)
	if err != nil {
		s.log.Info("query/retrieve identifier unreadable", "calling_ae", q.CallingAETitle, "err", err)
		return nil, dimse.Status{Code: dimse.StatusDataSetMismatch, ErrorComment: "identifier unreadable"}, false
	}
	return &Request{QueryRequest: q, Peer: peer, Identifier: ds, Charsets: charsets}, dimse.Status{}, true
}

// authorize looks the calling AE up in the peers registry: it must be registered, hold the
// permission, call from one of its addresses and over TLS when it must. why says what is
// missing ("" when nothing).
func (s *Service) authorize(ctx context.Context, q *dimse.QueryRequest, perm Permission) (reading.Peer, string, error) {
	if s.cfg.Peers == nil {
		return reading.Peer{}, "no peers registry", nil
	}
	p, ok, err := s.cfg.Peers.Peer(ctx, strings.TrimRight(q.CallingAETitle, " "))
	if err != nil {
		return p, "", fmt.Errorf("peer %q: %w", q.CallingAETitle, err)
	}
	switch {
	case !ok:
		return p, "calling AE title not registered", nil
	case perm == MayQuery && !p.MayQuery:
		return p, "peer may not query", nil
	case perm == MayRetrieve && !p.MayRetrieve:
		return p, "peer may not retrieve", nil
	case perm == MayCommit && !p.MayStore:
		return p, "peer may not store", nil
	case p.RequireTLS && !q.TLS:
		return p, "peer must use DICOM TLS", nil
	case !p.CallsFrom(q.RemoteAddr): // the association's rule (cmd/pacsd), in one place
		return p, "calling address not allowed for this AE title", nil
	}
	return p, "", nil
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func dimseOp(sopClass string) string {
	switch sopClass {
	case PatientRootFind, StudyRootFind:
		return "C-FIND"
	case PatientRootMove, StudyRootMove:
		return "C-MOVE"
	case PatientRootGet, StudyRootGet:
		return "C-GET"
	case ModalityWorklistFind:
		return "MWL C-FIND"
	}
	return sopClass
}

// DecodeIdentifier reads the identifier in the request's transfer syntax; its text is
// decoded to UTF-8 from its own Specific Character Set (0008,0005) (GB18030, ISO_IR 192,
// ISO 2022 IR 58, ...), with fallback for bytes that set cannot explain. It returns the
// data set and the (0008,0005) values.
func DecodeIdentifier(q *dimse.QueryRequest, fallback string) (*dicom.Dataset, []string, error) {
	ds, err := dicom.ReadDataset(bytes.NewReader(q.Identifier), q.TransferSyntaxUID,
		dicom.ReadOptions{MaxElements: 10000, MaxDepth: 8, FallbackCharset: fallback})
	if err != nil {
		return nil, nil, fmt.Errorf("identifier: %w", err)
	}
	return ds, ds.Strings(dicom.TagSpecificCharacterSet), nil
}

// LevelOf reads the Query/Retrieve Level (0008,0052) and checks it against the model
// (PS3.4 C.6.1.1.1, C.6.2.1.1: the Study Root model has no PATIENT level).
func LevelOf(ds *dicom.Dataset, m Model) (store.Level, error) {
	v := strings.TrimSpace(ds.String(TagQueryRetrieveLevel))
	switch v {
	case "PATIENT":
		if m != PatientRoot {
			return 0, fmt.Errorf("query/retrieve level PATIENT is not in the Study Root model")
		}
		return store.LevelPatient, nil
	case "STUDY":
		return store.LevelStudy, nil
	case "SERIES":
		return store.LevelSeries, nil
	case "IMAGE":
		return store.LevelInstance, nil
	case "":
		return 0, fmt.Errorf("query/retrieve level (0008,0052) missing")
	}
	return 0, fmt.Errorf("unknown query/retrieve level %q", shortText(v))
}

// LevelName is the (0008,0052) value of a level.
func LevelName(l store.Level) string {
	switch l {
	case store.LevelPatient:
		return "PATIENT"
	case store.LevelStudy:
		return "STUDY"
	case store.LevelSeries:
		return "SERIES"
	}
	return "IMAGE"
}

// UniqueKeys checks the unique keys of the levels above the request's level (PS3.4
// C.4.1.2.2.1 hierarchical search, C.4.2.2.1 for retrieval): Patient ID in the Patient Root
// model below PATIENT, Study Instance UID below STUDY, Series Instance UID below SERIES,
// each with a single value (no list, no wildcard). It returns them as the Query's scope:
// the Patient ID as a match, the UIDs in StudyInstanceUID/SeriesInstanceUID.
func (r *Request) UniqueKeys() (store.Query, error) {
	q := store.Query{Level: r.Level, SiteID: r.Scope()}
	single := func(t dicom.Tag, name string) (string, error) {
		e := r.Identifier.Get(t)
		if e == nil || len(e.Strings) == 0 || strings.TrimSpace(strings.Join(e.Strings, `\`)) == "" {
			return "", fmt.Errorf("%s %s is required with a single value at level %s (PS3.4 C.4.1.2.2.1)", name, t, LevelName(r.Level))
		}
		if len(e.Strings) > 1 || strings.ContainsAny(e.Strings[0], `*?\`) {
			return "", fmt.Errorf("%s %s must be a single value at level %s, not a list or wildcard (PS3.4 C.4.1.2.2.1)", name, t, LevelName(r.Level))
		}
		return strings.TrimSpace(e.Strings[0]), nil
	}
	if r.Model == PatientRoot && r.Level > store.LevelPatient {
		id, err := single(dicom.TagPatientID, "Patient ID")
		if err != nil {
			return q, err
		}
		q.Matches = append(q.Matches, store.Match{Tag: dicom.TagPatientID, Value: id})
	}
	if r.Level > store.LevelStudy {
		uid, err := single(dicom.TagStudyInstanceUID, "Study Instance UID")
		if err != nil {
			return q, err
		}
		q.StudyInstanceUID = uid
	}
	if r.Level > store.LevelSeries {
		uid, err := single(dicom.TagSeriesInstanceUID, "Series Instance UID")
		if err != nil {
			return q, err
		}
		q.SeriesInstanceUID = uid
	}
	return q, nil
}

// Record records a Q/R request's audit event: the calling AE and address, the action
// (audit.ActionQuery, audit.ActionRetrieve), what was asked (object) and the patients it
// concerned (one event names one patient; with several, Detail lists them, bounded).
func (s *Service) Record(ctx context.Context, r *Request, action audit.Action, object string, patients []PatientRef, outcome audit.Outcome, detail string) {
	ev := audit.Event{Actor: r.Actor(), Action: action, Object: object, Outcome: outcome, Detail: detail}
	switch len(patients) {
	case 0:
	case 1:
		ev.PatientID, ev.PatientName, ev.StudyUID = patients[0].ID, patients[0].Name, patients[0].StudyUID
	default:
		var b strings.Builder
		for i, p := range patients {
			if i == maxAuditPatients {
				fmt.Fprintf(&b, " ... (%d in all)", len(patients))
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.ID)
			if p.Name != "" {
				b.WriteString(" " + p.Name)
			}
		}
		if ev.Detail != "" {
			ev.Detail += "; "
		}
		ev.Detail += "patients: " + b.String()
	}
	s.cfg.Audit.Record(ctx, ev)
}

// maxAuditPatients bounds the patients one event lists.
const maxAuditPatients = 50

// PatientRef names a patient a request concerned (StudyUID when it concerned one study).
type PatientRef struct{ ID, Name, StudyUID string }

func shortText(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
