package audit

import (
	"encoding/base64"
	"encoding/xml"
	"strconv"
)

// The DICOM audit message (PS3.15 A.5.1, the RFC 3881 schema as DICOM profiles it) that
// Syslog sends for each event. Codes: PS3.16 CID 400 (Audit Event ID), CID 401 (Audit Event
// Type Code), CID 402 (Audit Active Participant Role ID Code); RFC 3881 for the others.

type atnaCode struct {
	Code   string `xml:"csd-code,attr"`
	System string `xml:"codeSystemName,attr"`
	Text   string `xml:"originalText,attr"`
}

func dcm(code, text string) atnaCode     { return atnaCode{code, "DCM", text} }
func rfc3881(code, text string) atnaCode { return atnaCode{code, "RFC-3881", text} }

type atnaMessage struct {
	XMLName xml.Name          `xml:"AuditMessage"`
	Event   atnaEvent         `xml:"EventIdentification"`
	Actors  []atnaParticipant `xml:"ActiveParticipant"`
	Source  atnaSource        `xml:"AuditSourceIdentification"`
	Objects []atnaObject      `xml:"ParticipantObjectIdentification"`
}

type atnaEvent struct {
	ActionCode  string     `xml:"EventActionCode,attr"`
	DateTime    string     `xml:"EventDateTime,attr"`
	Outcome     int        `xml:"EventOutcomeIndicator,attr"`
	ID          atnaCode   `xml:"EventID"`
	Types       []atnaCode `xml:"EventTypeCode"`
	Description string     `xml:"EventOutcomeDescription,omitempty"`
}

type atnaParticipant struct {
	UserID      string     `xml:"UserID,attr"`
	AltUserID   string     `xml:"AlternativeUserID,attr,omitempty"`
	UserName    string     `xml:"UserName,attr,omitempty"`
	Requestor   bool       `xml:"UserIsRequestor,attr"`
	AccessPoint string     `xml:"NetworkAccessPointID,attr,omitempty"`
	AccessType  string     `xml:"NetworkAccessPointTypeCode,attr,omitempty"`
	Roles       []atnaCode `xml:"RoleIDCode"`
}

type atnaSource struct {
	SiteID string     `xml:"AuditEnterpriseSiteID,attr,omitempty"`
	ID     string     `xml:"AuditSourceID,attr"`
	Types  []atnaCode `xml:"AuditSourceTypeCode"`
}

type atnaObject struct {
	ID       string       `xml:"ParticipantObjectID,attr"`
	TypeCode int          `xml:"ParticipantObjectTypeCode,attr"`
	Role     int          `xml:"ParticipantObjectTypeCodeRole,attr"`
	IDType   atnaCode     `xml:"ParticipantObjectIDTypeCode"`
	Name     string       `xml:"ParticipantObjectName,omitempty"`
	Query    string       `xml:"ParticipantObjectQuery,omitempty"` // base64
	Details  []atnaDetail `xml:"ParticipantObjectDetail"`
}

type atnaDetail struct {
	Type  string `xml:"type,attr"`
	Value string `xml:"value,attr"` // base64
}

// atnaKind is how an action reads as a DICOM audit message.
type atnaKind struct {
	id     atnaCode
	action string     // EventActionCode: C create, R read, U update, D delete, E execute
	typ    []atnaCode // EventTypeCode
	object atnaObject // how Event.Object is identified ("" ID: not sent apart)
}

var (
	instancesAccessed = dcm("110103", "DICOM Instances Accessed")
	securityAlert     = dcm("110113", "Security Alert")
	userAuth          = dcm("110114", "User Authentication")
)

var atnaKinds = map[Action]atnaKind{
	ActionStudyView:   {id: instancesAccessed, action: "R"},
	ActionImageView:   {id: instancesAccessed, action: "R"},
	ActionReportView:  {id: instancesAccessed, action: "R"},
	ActionReportPrint: {id: instancesAccessed, action: "R"},
	ActionReportSign:  {id: instancesAccessed, action: "C"},
	ActionReportAmend: {id: instancesAccessed, action: "U"},
	ActionQuery:       {id: dcm("110112", "Query"), action: "E"},
	ActionRetrieve:    {id: dcm("110102", "Begin Transferring DICOM Instances"), action: "E"},
	// PS3.15 A.5.3.3: the receiver's copy of DICOM Instances Transferred is a create.
	ActionStore:  {id: dcm("110104", "DICOM Instances Transferred"), action: "C"},
	ActionLogin:  {id: userAuth, action: "E", typ: []atnaCode{dcm("110122", "Login")}},
	ActionLogout: {id: userAuth, action: "E", typ: []atnaCode{dcm("110123", "Logout")}},
	ActionUserChange: {id: securityAlert, action: "E", typ: []atnaCode{dcm("110137", "User Security Attributes Changed")},
		object: atnaObject{TypeCode: 1, Role: 6, IDType: rfc3881("11", "User Identifier")}},
	ActionSiteChange: {id: securityAlert, action: "E", typ: []atnaCode{dcm("110128", "Network Configuration")},
		object: atnaObject{TypeCode: 3, Role: 2, IDType: dcm("110182", "Node ID")}},
	ActionShare: {id: securityAlert, action: "E", typ: []atnaCode{dcm("110135", "Object Security Attributes Changed")},
		object: atnaObject{TypeCode: 2, Role: 13, IDType: rfc3881("12", "URI")}},
	ActionExport:    {id: dcm("110106", "Export"), action: "R"},
	ActionDelete:    {id: dcm("110105", "DICOM Study Deleted"), action: "D"},
	ActionRestore:   {id: instancesAccessed, action: "U"}, // PS3.15 A.5.3.2: instances updated
	ActionAuditView: {id: dcm("110101", "Audit Log Used"), action: "R"},
	ActionSecurity:  {id: securityAlert, action: "E", typ: []atnaCode{dcm("110132", "Use of Restricted Function")}},
	ActionKeyImage:  {id: instancesAccessed, action: "U"}, // the study gains a key object document
	ActionMeasure:   {id: instancesAccessed, action: "U"}, // the study gains a measurement SR
	// A critical finding is a record about the study's instances, made and then updated.
	ActionCritical:    {id: instancesAccessed, action: "C"},
	ActionCriticalAck: {id: instancesAccessed, action: "U"},
}

// Source identifies the pacsd node in audit messages.
type Source struct {
	ID      string // AuditSourceID: the node (host name)
	SiteID  string // AuditEnterpriseSiteID: the organisation, e.g. the county hospital
	AETitle string // pacsd's own AE title, named as the other participant
}

// ATNAMessage is ev as a DICOM audit message (PS3.15 A.5), the XML IHE ATNA collectors
// take. Every action has one; an unknown action is sent as Application Activity (110100).
func ATNAMessage(ev Event, src Source) ([]byte, error) {
	k, ok := atnaKinds[ev.Action]
	if !ok {
		k = atnaKind{id: dcm("110100", "Application Activity"), action: "E"}
	}
	m := atnaMessage{
		Event: atnaEvent{ActionCode: k.action, DateTime: ev.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
			ID: k.id, Types: k.typ},
		Source: atnaSource{SiteID: src.SiteID, ID: src.ID, Types: []atnaCode{dcm("4", "Application Server")}},
	}
	if ev.Outcome != OutcomeSuccess && ev.Outcome != "" {
		m.Event.Outcome = 4 // minor failure: the action did not happen; RFC 3881 5.1.5
		m.Event.Description = ev.Detail
	}
	// The requestor: who acted.
	a := atnaParticipant{Requestor: true, AccessPoint: ev.Actor.Address}
	if a.AccessPoint != "" {
		a.AccessType = "2" // IP address
	}
	switch ev.Actor.Kind {
	case ActorUser:
		a.UserID, a.UserName = ev.Actor.UserName, ev.Actor.UserName
		a.AltUserID = strconv.FormatInt(ev.Actor.UserID, 10)
	case ActorAE:
		a.UserID, a.AltUserID = ev.Actor.AETitle, "AETITLES="+ev.Actor.AETitle
	case ActorSystem:
		a.UserID = src.ID
	default:
		a.UserID = "anonymous"
		a.UserName = ev.Actor.UserName
	}
	// pacsd, the other side of the exchange.
	self := atnaParticipant{UserID: src.ID, Roles: []atnaCode{dcm("110150", "Application")}}
	if src.AETitle != "" {
		self.AltUserID = "AETITLES=" + src.AETitle
	}
	if ev.Action == ActionRetrieve {
		a.Roles = []atnaCode{dcm("110152", "Destination Role ID")}
		self.Roles = []atnaCode{dcm("110153", "Source Role ID")}
	}
	if ev.Action == ActionStore { // the sender is the source, pacsd the destination
		a.Roles = []atnaCode{dcm("110153", "Source Role ID")}
		self.Roles = []atnaCode{dcm("110152", "Destination Role ID")}
	}
	m.Actors = []atnaParticipant{a}
	if ev.Actor.Kind != ActorSystem {
		m.Actors = append(m.Actors, self)
	}
	if ev.PatientID != "" || ev.PatientName != "" {
		m.Objects = append(m.Objects, atnaObject{ID: ev.PatientID, TypeCode: 1, Role: 1,
			IDType: rfc3881("2", "Patient Number"), Name: ev.PatientName})
	}
	if ev.StudyUID != "" {
		m.Objects = append(m.Objects, atnaObject{ID: ev.StudyUID, TypeCode: 2, Role: 3,
			IDType: dcm("110180", "Study Instance UID")})
	}
	if ev.Object != "" {
		switch {
		case ev.Action == ActionQuery:
			m.Objects = append(m.Objects, atnaObject{ID: "query", TypeCode: 2, Role: 24,
				IDType: dcm("110181", "SOP Class UID"), Query: base64.StdEncoding.EncodeToString([]byte(ev.Object))})
		case k.object.IDType.Code != "":
			o := k.object
			o.ID = ev.Object
			m.Objects = append(m.Objects, o)
		default:
			// Whatever else was acted on (a SOP instance, a report version, an export's
			// target) rides with the study or the patient as a detail.
			if n := len(m.Objects); n > 0 {
				m.Objects[n-1].Details = append(m.Objects[n-1].Details, atnaDetail{Type: "Object",
					Value: base64.StdEncoding.EncodeToString([]byte(ev.Object))})
			}
		}
	}
	b, err := xml.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}
