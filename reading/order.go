package reading

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Order is one scheduled procedure (登记): what the HIS or a site's registrar books for a
// modality, and what the Modality Worklist SCP (package qr, PS3.4 Annex K) answers the
// modality with, so that its images come back with the order's patient, accession number
// and Study Instance UID. When the images arrive the study is tied to the order.
type Order struct {
	ID     int64
	SiteID int64 // the site whose modality performs it; 0: the county's own
	// The patient (PS3.4 K.6.1.2.2 Patient Identification and Demographic modules).
	PatientID   string // LO
	PatientName string // PN, DICOM form: "Zhang^San=张^三"; Normalize takes "张三" as the ideographic group
	PatientSex  string // M, F, O or ""
	BirthDate   string // YYYYMMDD or ""
	// The request (K.6.1.2.3 Imaging Service Request, K.6.1.2.4 Requested Procedure).
	AccessionNumber      string // SH, unique among orders
	RequestedProcedureID string // SH; "" takes the accession number
	RequestedProcedure   string // LO: Requested Procedure Description, e.g. "胸部正位"
	ProcedureCode        string // SH: Code Value of Requested Procedure Code Sequence; optional
	// The scheduled procedure step (K.6.1.2.1 Scheduled Procedure Step module).
	Modality            string // CS, e.g. DX, US
	StationAE           string // Scheduled Station AE Title: a registered peer
	ScheduledDate       string // YYYYMMDD, in the county's time zone (as the modality shows it)
	ScheduledTime       string // HHMMSS or ""
	PerformingPhysician string // PN, optional
	// StudyUID is the Study Instance UID pacsd gives the order (the modality uses it).
	StudyUID string
	Status   OrderStatus
	// ImageStudyUID is the study the arrived images belong to, once tied.
	ImageStudyUID string
	CreatedBy     string // the user name, or "token:<name>" for the HIS's API token
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// OrderStatus is where an order is.
type OrderStatus string

const (
	OrderScheduled OrderStatus = "scheduled" // booked
	OrderArrived   OrderStatus = "arrived"   // the patient checked in (到检), no images yet
	OrderDone      OrderStatus = "done"      // images arrived and the study is tied to it
	OrderCancelled OrderStatus = "cancelled"
)

// Valid reports whether s is one of the four statuses.
func (s OrderStatus) Valid() bool {
	return s == OrderScheduled || s == OrderArrived || s == OrderDone || s == OrderCancelled
}

// Open reports whether the order still waits for its images (the worklist offers it).
func (s OrderStatus) Open() bool { return s == OrderScheduled || s == OrderArrived }

// Problems of an Order's fields (besides the general ones).
const (
	ProblemDate    = "date"    // not a date YYYYMMDD (or YYYY-MM-DD), or not a real day
	ProblemTime    = "time"    // not a time HHMM[SS] (or HH:MM[:SS])
	ProblemUnknown = "unknown" // names nothing registered (a station AE that is no peer)
)

// OrderFilter selects orders; zero fields select all. Values are exact (the Modality
// Worklist SCP matches wildcards and names itself on what these return).
type OrderFilter struct {
	SiteID    int64 // >0: that site's orders only
	StationAE string
	Modality  string
	PatientID string
	Accession string
	DateFrom  string // YYYYMMDD, inclusive
	DateTo    string // YYYYMMDD, inclusive
	Statuses  []OrderStatus
	Limit     int // 0: no limit
}

// Orders keeps the scheduled procedures.
type Orders interface {
	// CreateOrder normalizes and adds an order (Status scheduled, a new StudyUID when it
	// has none, the alphabetic group of a Chinese name filled with its pinyin). FieldErrors:
	// "stationAE" ProblemUnknown when no peer has the title, "stationAE" ProblemSite when
	// the peer belongs to another site than SiteID (a county peer serves any site; SiteID
	// 0 takes the peer's), "accessionNumber" ProblemTaken.
	CreateOrder(ctx context.Context, o Order) (Order, error)
	// UpdateOrder replaces an open order's fields (not its status, StudyUID or tie), as
	// CreateOrder checks them; ErrNotFound, ErrConflict when it is no longer open.
	UpdateOrder(ctx context.Context, o Order) (Order, error)
	// SetOrderStatus moves an order to scheduled, arrived or cancelled; ErrConflict for a
	// done one; ErrNotFound.
	SetOrderStatus(ctx context.Context, id int64, s OrderStatus) error
	Order(ctx context.Context, id int64) (Order, error)
	// Orders lists matching orders by scheduled date and time, then ID.
	Orders(ctx context.Context, f OrderFilter) ([]Order, error)
}

// Normalize trims the order's values, puts dates and times in DICOM form (a form's
// "2026-03-02" and "08:30" too) and checks them, naming the first wrong field.
func (o *Order) Normalize() error {
	for _, p := range []*string{&o.PatientID, &o.PatientName, &o.PatientSex, &o.BirthDate, &o.AccessionNumber,
		&o.RequestedProcedureID, &o.RequestedProcedure, &o.ProcedureCode, &o.Modality, &o.StationAE,
		&o.ScheduledDate, &o.ScheduledTime, &o.PerformingPhysician} {
		*p = strings.TrimSpace(*p)
	}
	o.PatientSex = strings.ToUpper(o.PatientSex)
	o.Modality = strings.ToUpper(o.Modality)
	o.PatientName = chinesePN(o.PatientName)
	if o.RequestedProcedureID == "" {
		o.RequestedProcedureID = o.AccessionNumber
	}
	if o.Status == "" {
		o.Status = OrderScheduled
	}
	var err error
	switch {
	case o.PatientID == "":
		return invalid("patientId", ProblemRequired, "")
	case utf8.RuneCountInString(o.PatientID) > 64:
		return invalid("patientId", ProblemLength, "")
	case badText(o.PatientID):
		return invalid("patientId", ProblemChars, o.PatientID)
	case o.PatientName == "":
		return invalid("patientName", ProblemRequired, "")
	case utf8.RuneCountInString(o.PatientName) > 3*64:
		return invalid("patientName", ProblemLength, "")
	case badText(o.PatientName):
		return invalid("patientName", ProblemChars, "")
	case o.PatientSex != "" && o.PatientSex != "M" && o.PatientSex != "F" && o.PatientSex != "O":
		return invalid("patientSex", ProblemValue, o.PatientSex)
	}
	if o.BirthDate, err = dicomDate("birthDate", o.BirthDate, false); err != nil {
		return err
	}
	switch {
	case o.AccessionNumber == "":
		return invalid("accessionNumber", ProblemRequired, "")
	case len(o.AccessionNumber) > 16 || utf8.RuneCountInString(o.AccessionNumber) != len(o.AccessionNumber):
		return invalid("accessionNumber", ProblemLength, "") // SH, default repertoire
	case badText(o.AccessionNumber):
		return invalid("accessionNumber", ProblemChars, o.AccessionNumber)
	case len(o.RequestedProcedureID) > 16 || badText(o.RequestedProcedureID):
		return invalid("requestedProcedureId", ProblemChars, o.RequestedProcedureID)
	case o.RequestedProcedure == "":
		return invalid("requestedProcedure", ProblemRequired, "")
	case utf8.RuneCountInString(o.RequestedProcedure) > 64 || badText(o.RequestedProcedure):
		return invalid("requestedProcedure", ProblemLength, "")
	case len(o.ProcedureCode) > 16 || badText(o.ProcedureCode):
		return invalid("procedureCode", ProblemChars, o.ProcedureCode)
	case o.Modality == "":
		return invalid("modality", ProblemRequired, "")
	case len(o.Modality) > 16 || strings.ContainsFunc(o.Modality, func(r rune) bool {
		return (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_'
	}):
		return invalid("modality", ProblemChars, o.Modality)
	case o.StationAE == "":
		return invalid("stationAE", ProblemRequired, "")
	}
	if err := validAE("stationAE", o.StationAE); err != nil {
		return err
	}
	if o.ScheduledDate, err = dicomDate("scheduledDate", o.ScheduledDate, true); err != nil {
		return err
	}
	if o.ScheduledTime, err = dicomTime("scheduledTime", o.ScheduledTime); err != nil {
		return err
	}
	switch {
	case utf8.RuneCountInString(o.PerformingPhysician) > 64 || badText(o.PerformingPhysician):
		return invalid("performingPhysician", ProblemChars, "")
	case o.SiteID < 0:
		return invalid("siteId", ProblemValue, fmt.Sprint(o.SiteID))
	case !o.Status.Valid():
		return invalid("status", ProblemValue, string(o.Status))
	}
	return nil
}

// badText: a backslash (the DICOM value separator) or a control character.
func badText(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' })
}

// chinesePN turns a name typed as Chinese characters ("张三", "张^三") into a PN whose
// ideographic group holds it (PS3.5 6.2.1.2: "=张^三"); a one-word name is split after its
// first character (the surname; two-character surnames are typed with '^'). A name that
// already has groups, or no Han character, is kept.
func chinesePN(s string) string {
	if s == "" || strings.Contains(s, "=") || !strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
		return s
	}
	if !strings.Contains(s, "^") {
		if _, n := utf8.DecodeRuneInString(s); n < len(s) {
			s = s[:n] + "^" + s[n:]
		}
	}
	return "=" + s
}

// dicomDate reads YYYYMMDD or YYYY-MM-DD and checks it is a real day.
func dicomDate(field, s string, required bool) (string, error) {
	if s == "" {
		if required {
			return "", invalid(field, ProblemRequired, "")
		}
		return "", nil
	}
	d := strings.ReplaceAll(s, "-", "")
	t, err := time.Parse("20060102", d)
	if err != nil || len(d) != 8 || t.Year() < 1900 {
		return s, invalid(field, ProblemDate, s)
	}
	return d, nil
}

// dicomTime reads HHMM, HHMMSS, HH:MM or HH:MM:SS into HHMMSS.
func dicomTime(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	d := strings.ReplaceAll(s, ":", "")
	if len(d) == 4 {
		d += "00"
	}
	if _, err := time.Parse("150405", d); err != nil || len(d) != 6 {
		return s, invalid(field, ProblemTime, s)
	}
	return d, nil
}
