package hl7

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Order is what an order message (ORM^O01, OMI^O23) says of one imaging order. Text is
// UTF-8; the patient's name is a DICOM PN value (alphabetic=ideographic=phonetic groups, each
// family^given^middle^prefix^suffix), as the worklist and the modality worklist keep it.
type Order struct {
	Control     string // ORC-1: NW new, CA cancel, XO change, SC status
	PlacerOrder string // ORC-2 (or OBR-2)
	FillerOrder string // ORC-3 (or OBR-3)
	Accession   string // OBR-18 (IHE), IPC-1, else the filler order number
	// RequestedProcedureID is OBR-19 or IPC-2; StudyUID is IPC-3 or ZDS-1 when the HIS
	// assigns it.
	RequestedProcedureID string
	StudyUID             string
	PatientID            string // PID-3.1 (the first identifier)
	PatientIDIssuer      string // PID-3.4
	PatientName          string // PID-5 as DICOM PN
	PatientSex           string // PID-8: M, F, O
	BirthDate            string // PID-7 as YYYYMMDD
	ProcedureCode        string // OBR-4.1
	ProcedureText        string // OBR-4.2
	Modality             string // IPC-5, OBR-24
	ScheduledAt          time.Time
	StationAE            string // IPC-9, OBR-21
	Location             string // IPC-8, PV1-3.1
	ReferringPhysician   string // OBR-16 / ORC-12 as DICOM PN
	Urgent               bool   // priority S (stat) or A (ASAP): ORC-7.6, OBR-27.6, TQ1-9
	Reason               string // OBR-31.2 (or .1)
	ControlID            string // MSH-10 of the message it came from
}

// OrderSink keeps orders; the reading room's order repository implements it.
type OrderSink interface {
	// PutOrder creates an order, or replaces the open one with the same accession number
	// (which is the filler or placer order number when the message names none).
	PutOrder(ctx context.Context, o Order) error
	// CancelOrder cancels the order with that accession number; ErrUnknownOrder when there
	// is none.
	CancelOrder(ctx context.Context, o Order) error
}

// ErrUnknownOrder is a cancellation of an order never received.
var ErrUnknownOrder = errors.New("hl7: unknown order")

// ErrInvalid wraps an OrderSink's refusal of an order's content (answered AE, not retried).
var ErrInvalid = errors.New("hl7: invalid order")

// Rejected is a received message that was not accepted, kept for an administrator.
type Rejected struct {
	ID          int64
	ReceivedAt  time.Time
	Remote      string
	MessageType string // MSH-9 as far as it could be read
	ControlID   string // MSH-10
	Code        string // the acknowledgement sent: AE or AR
	Reason      string
	Raw         []byte // the message as received (truncated when over the size bound)
}

// RejectStore keeps rejected messages.
type RejectStore interface {
	KeepRejected(ctx context.Context, r Rejected) error
}

// Acknowledgement codes (HL7 table 0008).
const (
	AckAccept = "AA"
	AckError  = "AE"
	AckReject = "AR"
)

// HL7 table 0357 error condition codes used in ERR-3.
const (
	errSegmentSequence = "100"
	errRequiredMissing = "101"
	errDataType        = "102"
	errUnsupportedType = "200"
	errUnsupportedEvt  = "201"
	errInternal        = "207"
)

// Rejection is why a message was not accepted: the code to answer and what ERR says.
type Rejection struct {
	Ack      string // AE or AR
	Code     string // HL7 table 0357
	Location string // segment^sequence^field, e.g. "PID^1^3"
	Text     string
}

func (r *Rejection) Error() string { return r.Text }

func reject(ack, code, loc, format string, a ...any) *Rejection {
	return &Rejection{Ack: ack, Code: code, Location: loc, Text: fmt.Sprintf(format, a...)}
}

// Receiver handles orders over MLLP: it parses each message, maps it onto an Order for the
// sink, and answers AA; a message it cannot accept is answered AE or AR with the reason
// (MSA-3 and ERR) and kept in Rejects, never dropped.
type Receiver struct {
	Orders  OrderSink
	Rejects RejectStore
	Charset Charset // when MSH-18 is empty; "" UTF-8
	// Application and Facility name pacsd in acknowledgements (MSH-3, MSH-4).
	Application, Facility string
	Logger                *slog.Logger
	Now                   func() time.Time
	seq                   atomic.Int64
}

func (h *Receiver) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Receiver) log() *slog.Logger {
	if h.Logger == nil {
		return slog.Default().With("component", "hl7")
	}
	return h.Logger
}

// ServeHL7 implements Handler.
func (h *Receiver) ServeHL7(ctx context.Context, remote string, raw []byte) []byte {
	m, err := Parse(raw, h.Charset)
	if err != nil {
		rj := reject(AckReject, errDataType, "MSH", "%s", strings.TrimPrefix(err.Error(), "hl7: "))
		return h.refuse(ctx, remote, raw, nil, rj)
	}
	rj := h.handle(ctx, m)
	if rj != nil {
		return h.refuse(ctx, remote, raw, m, rj)
	}
	h.log().Info("hl7 message accepted", "type", m.Type(), "control_id", m.ControlID(), "remote", remote)
	return h.ack(m, AckAccept, nil)
}

// Oversize implements Handler.
func (h *Receiver) Oversize(ctx context.Context, remote string, head []byte) []byte {
	rj := reject(AckReject, errDataType, "", "message over the size bound of %d bytes", len(head))
	return h.refuse(ctx, remote, head, nil, rj)
}

func (h *Receiver) refuse(ctx context.Context, remote string, raw []byte, m *Message, rj *Rejection) []byte {
	typ, ctl := Peek(raw)
	h.log().Warn("hl7 message refused", "type", typ, "control_id", ctl, "remote", remote, "ack", rj.Ack, "reason", rj.Text)
	if h.Rejects != nil {
		rec := Rejected{ReceivedAt: h.now().UTC(), Remote: remote, MessageType: typ, ControlID: ctl, Code: rj.Ack,
			Reason: rj.Text, Raw: append([]byte(nil), raw...)}
		if err := h.Rejects.KeepRejected(ctx, rec); err != nil {
			// Not kept: refuse with AR so the sender keeps it and sends it again.
			h.log().Error("hl7 refused message not kept", "control_id", ctl, "err", err)
			rj = reject(AckReject, errInternal, "", "%s (and it could not be recorded: try again)", rj.Text)
		}
	}
	if m == nil {
		m = headerOnly(raw, h.Charset)
	}
	return h.ack(m, rj.Ack, rj)
}

// headerOnly is what an acknowledgement can echo of a message that did not parse.
func headerOnly(raw []byte, cs Charset) *Message {
	if i := strings.IndexAny(string(raw[:min(len(raw), 4096)]), "\r\n"); i > 0 {
		if m, err := Parse(raw[:i], cs); err == nil {
			return m
		}
		if m, err := Parse([]byte(strings.ToValidUTF8(string(raw[:i]), "?")), UTF8); err == nil {
			return m
		}
	}
	return nil
}

// ack builds the acknowledgement of m (HL7 v2.5 2.9.2: MSH, MSA, ERR), in m's charset.
func (h *Receiver) ack(m *Message, code string, rj *Rejection) []byte {
	var b Builder
	cs, ver, proc, ctl, trig := h.Charset, "2.5", "P", "", ""
	var sendApp, sendFac C
	if m != nil && len(m.Segments) > 0 {
		msh := m.MSH()
		cs = m.Charset
		if v := msh.Value(12, 1); v != "" {
			ver = v
		}
		if v := msh.Value(11, 1); v != "" {
			proc = v
		}
		ctl, trig = msh.Value(10, 1), msh.Value(9, 2)
		sendApp, sendFac = C(msh.Rep(3, 1)), C(msh.Rep(4, 1))
	}
	if cs == "" {
		cs = UTF8
	}
	app := orString(h.Application, "PACSD")
	b.Add("MSH", app, h.Facility, sendApp, sendFac, h.now().Format("20060102150405"),
		"", C{"ACK", trig, "ACK"}, h.controlID(), proc, ver, "", "", "", "", "", string(cs))
	text := ""
	if rj != nil {
		text = clipRunes(rj.Text, 80)
	}
	b.Add("MSA", code, ctl, text)
	if rj != nil {
		var loc C
		if rj.Location != "" {
			loc = C(strings.Split(rj.Location, "^"))
		}
		b.Add("ERR", "", loc, C{rj.Code, errName(rj.Code), "HL70357"}, "E", "", "", "", clipRunes(rj.Text, 250))
	}
	out, err := b.Encode(cs)
	if err != nil {
		out = []byte(b.String())
	}
	return out
}

func errName(code string) string {
	switch code {
	case errSegmentSequence:
		return "Segment sequence error"
	case errRequiredMissing:
		return "Required field missing"
	case errDataType:
		return "Data type error"
	case errUnsupportedType:
		return "Unsupported message type"
	case errUnsupportedEvt:
		return "Unsupported event code"
	}
	return "Application internal error"
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func (h *Receiver) controlID() string {
	return "PACSD" + h.now().UTC().Format("20060102150405") + strconv.FormatInt(h.seq.Add(1), 10)
}

// handle maps an accepted message onto the sink; nil means accepted.
func (h *Receiver) handle(ctx context.Context, m *Message) *Rejection {
	msh := m.MSH()
	code, evt := msh.Value(9, 1), msh.Value(9, 2)
	if code == "" {
		return reject(AckReject, errRequiredMissing, "MSH^1^9", "MSH-9 (message type) is missing")
	}
	if msh.Value(10, 1) == "" {
		return reject(AckReject, errRequiredMissing, "MSH^1^10", "MSH-10 (message control ID) is missing")
	}
	switch {
	case code == "ORM" && (evt == "O01" || evt == ""), code == "OMI" && (evt == "O23" || evt == ""),
		code == "OMG" && (evt == "O19" || evt == ""):
	case code == "ORM" || code == "OMI":
		return reject(AckReject, errUnsupportedEvt, "MSH^1^9", "unsupported trigger event %s^%s", code, evt)
	default:
		return reject(AckReject, errUnsupportedType, "MSH^1^9", "unsupported message type %s (pacsd takes ORM^O01 and OMI^O23)", code)
	}
	orders, rj := ParseOrders(m)
	if rj != nil {
		return rj
	}
	if h.Orders == nil {
		return reject(AckError, errInternal, "", "orders are not kept by this server")
	}
	for _, o := range orders {
		var err error
		switch o.Control {
		case "CA", "OC", "DC":
			err = h.Orders.CancelOrder(ctx, o)
			if errors.Is(err, ErrUnknownOrder) {
				return reject(AckError, errDataType, "ORC^1^2", "cancellation of an unknown order (placer %q, filler %q)", o.PlacerOrder, o.FillerOrder)
			}
		default:
			err = h.Orders.PutOrder(ctx, o)
		}
		if errors.Is(err, ErrInvalid) {
			return reject(AckError, errDataType, "", "%s", strings.TrimPrefix(err.Error(), "hl7: "))
		}
		if err != nil {
			h.log().Error("hl7 order not stored", "control_id", o.ControlID, "err", err)
			return reject(AckError, errInternal, "", "order not stored (server error); send again")
		}
	}
	return nil
}

// ParseOrders maps an order message onto its orders, one per ORC (with the OBR, TQ1 and IPC
// that follow it), each with the message's patient (PID). Order controls NW, XO, SC (new or
// changed) and CA, OC, DC (cancelled) are taken; others are AR.
func ParseOrders(m *Message) ([]Order, *Rejection) {
	pid := m.Seg("PID")
	if pid.Name() == "" {
		return nil, reject(AckReject, errSegmentSequence, "PID", "the PID segment is missing")
	}
	p := Order{ControlID: m.ControlID()}
	p.PatientID = pid.Value(3, 1)
	p.PatientIDIssuer = pid.Value(3, 4)
	if p.PatientID == "" {
		p.PatientID = pid.Value(2, 1) // v2.3 external ID
	}
	if p.PatientID == "" {
		return nil, reject(AckError, errRequiredMissing, "PID^1^3", "PID-3 (patient ID) is missing")
	}
	p.PatientName = xpnToPN(pid, 5)
	if p.PatientName == "" {
		return nil, reject(AckError, errRequiredMissing, "PID^1^5", "PID-5 (patient name) is missing")
	}
	if bd := pid.Value(7, 1); bd != "" {
		if len(bd) < 8 || !digits(bd[:8]) {
			return nil, reject(AckError, errDataType, "PID^1^7", "PID-7 (birth date) %q is not a date", clip(bd, 20))
		}
		p.BirthDate = bd[:8]
	}
	switch sex := strings.ToUpper(pid.Value(8, 1)); sex {
	case "M", "F", "O":
		p.PatientSex = sex
	case "U", "A", "N", "":
	default:
		return nil, reject(AckError, errDataType, "PID^1^8", "PID-8 (sex) %q is not M, F, O or U", clip(sex, 8))
	}
	loc := ""
	if pv1 := m.Seg("PV1"); pv1.Name() != "" {
		loc = pv1.Value(3, 1)
		p.ReferringPhysician = xcnToPN(pv1, 8)
	}
	var out []Order
	var cur *Order
	for _, s := range m.Segments {
		switch s.Name() {
		case "ORC":
			o := p
			o.Location = loc
			o.Control = strings.ToUpper(s.Value(1, 1))
			o.PlacerOrder, o.FillerOrder = s.Value(2, 1), s.Value(3, 1)
			if t, err := tqStart(s.Value(7, 4)); err == nil && !t.IsZero() {
				o.ScheduledAt = t
			}
			o.Urgent = urgent(s.Value(7, 6))
			if r := xcnToPN(s, 12); r != "" {
				o.ReferringPhysician = r
			}
			out = append(out, o)
			cur = &out[len(out)-1]
		case "OBR":
			if cur == nil {
				return nil, reject(AckReject, errSegmentSequence, "OBR", "an OBR segment before any ORC")
			}
			cur.PlacerOrder = orString(cur.PlacerOrder, s.Value(2, 1))
			cur.FillerOrder = orString(cur.FillerOrder, s.Value(3, 1))
			cur.ProcedureCode, cur.ProcedureText = s.Value(4, 1), s.Value(4, 2)
			if r := xcnToPN(s, 16); r != "" {
				cur.ReferringPhysician = r
			}
			cur.Accession = orString(s.Value(18, 1), cur.Accession)
			cur.RequestedProcedureID = orString(s.Value(19, 1), cur.RequestedProcedureID)
			cur.StationAE = orString(s.Value(21, 1), cur.StationAE)
			cur.Modality = orString(s.Value(24, 1), cur.Modality)
			if v := s.Value(27, 4); v != "" {
				t, err := tqStart(v)
				if err != nil {
					return nil, reject(AckError, errDataType, "OBR^1^27", "OBR-27.4 (start date/time) %q is not a date/time", clip(v, 26))
				}
				cur.ScheduledAt = t
			}
			if v := s.Value(36, 1); v != "" && cur.ScheduledAt.IsZero() {
				if t, err := tqStart(v); err == nil {
					cur.ScheduledAt = t
				}
			}
			cur.Urgent = cur.Urgent || urgent(s.Value(27, 6)) || strings.EqualFold(s.Value(5, 1), "S")
			cur.Reason = orString(s.Value(31, 2), s.Value(31, 1))
		case "TQ1":
			if cur != nil {
				if v := s.Value(7, 1); v != "" {
					t, err := tqStart(v)
					if err != nil {
						return nil, reject(AckError, errDataType, "TQ1^1^7", "TQ1-7 (start date/time) %q is not a date/time", clip(v, 26))
					}
					cur.ScheduledAt = t
				}
				cur.Urgent = cur.Urgent || urgent(s.Value(9, 1))
			}
		case "IPC": // OMI^O23, HL7 v2.5 4.5.6
			if cur != nil {
				cur.Accession = orString(s.Value(1, 1), cur.Accession)
				cur.RequestedProcedureID = orString(s.Value(2, 1), cur.RequestedProcedureID)
				cur.StudyUID = orString(s.Value(3, 1), cur.StudyUID)
				cur.Modality = orString(s.Value(5, 1), cur.Modality)
				cur.Location = orString(s.Value(8, 1), cur.Location)
				cur.StationAE = orString(s.Value(9, 1), cur.StationAE)
			}
		case "ZDS": // IHE RAD TF-2 4.4.4.1.2.1.3: ZDS-1 Study Instance UID
			if cur != nil {
				cur.StudyUID = orString(s.Value(1, 1), cur.StudyUID)
			}
		}
	}
	if len(out) == 0 {
		return nil, reject(AckReject, errSegmentSequence, "ORC", "no ORC segment: the message carries no order")
	}
	for i := range out {
		o := &out[i]
		switch o.Control {
		case "NW", "XO", "SC", "CA", "OC", "DC":
		case "":
			return nil, reject(AckError, errRequiredMissing, "ORC^1^1", "ORC-1 (order control) is missing")
		default:
			return nil, reject(AckReject, errDataType, "ORC^1^1", "order control %q is not supported (NW, XO, SC, CA, OC, DC)", clip(o.Control, 8))
		}
		if o.PlacerOrder == "" && o.FillerOrder == "" {
			return nil, reject(AckError, errRequiredMissing, "ORC^1^2", "neither a placer (ORC-2) nor a filler (ORC-3) order number")
		}
		if o.Accession == "" {
			o.Accession = orString(o.FillerOrder, o.PlacerOrder)
		}
		if len(o.Accession) > 16 { // DICOM SH (0008,0050)
			return nil, reject(AckError, errDataType, "OBR^1^18", "accession number %q is longer than 16 characters", clip(o.Accession, 32))
		}
		o.Modality = strings.ToUpper(o.Modality)
		if len(o.Modality) > 16 || len(o.StationAE) > 16 {
			return nil, reject(AckError, errDataType, "OBR^1^24", "modality or station AE title longer than 16 characters")
		}
	}
	return out, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func urgent(priority string) bool {
	p := strings.ToUpper(priority)
	return p == "S" || p == "A"
}

// tqStart reads an HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]); without an offset the
// time is local to the hospital, returned as wall-clock time in UTC (the caller keeps the
// county's zone).
func tqStart(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	zone := ""
	if i := strings.IndexAny(v, "+-"); i >= 0 {
		v, zone = v[:i], v[i:]
	}
	if i := strings.IndexByte(v, '.'); i >= 0 {
		v = v[:i]
	}
	layouts := map[int]string{4: "2006", 6: "200601", 8: "20060102", 10: "2006010215", 12: "200601021504", 14: "20060102150405"}
	l, ok := layouts[len(v)]
	if !ok || !digits(v) {
		return time.Time{}, fmt.Errorf("hl7: bad date/time %q", v)
	}
	if zone != "" {
		if len(zone) != 5 || !digits(zone[1:]) {
			return time.Time{}, fmt.Errorf("hl7: bad time zone %q", zone)
		}
		return time.Parse(l+"-0700", v+zone)
	}
	return time.Parse(l, v)
}

// xpnToPN maps the repetitions of an XPN field (family^given^middle^suffix^prefix^degree^
// type^representation) onto a DICOM PN value: XPN.8 (HL7 table 4000) I ideographic, P
// phonetic, A or none alphabetic; a second name without a code fills the ideographic group.
func xpnToPN(s Segment, n int) string {
	var groups [3]string
	for r := 1; r <= s.Reps(n) && r <= 10; r++ {
		c := s.Rep(n, r)
		get := func(i int) string {
			if i < len(c) {
				return strings.TrimSpace(c[i])
			}
			return ""
		}
		pn := strings.TrimRight(strings.Join([]string{get(0), get(1), get(2), get(4), get(3)}, "^"), "^")
		if pn == "" {
			continue
		}
		g := 0
		switch strings.ToUpper(get(7)) {
		case "I":
			g = 1
		case "P":
			g = 2
		case "A":
		default:
			if groups[0] != "" {
				g = 1
			}
		}
		if groups[g] == "" {
			groups[g] = pn
		}
	}
	return strings.TrimRight(strings.Join(groups[:], "="), "=")
}

// xcnToPN maps XCN (id^family^given^middle^suffix^prefix) onto a PN.
func xcnToPN(s Segment, n int) string {
	c := s.Rep(n, 1)
	get := func(i int) string {
		if i < len(c) {
			return strings.TrimSpace(c[i])
		}
		return ""
	}
	return strings.TrimRight(strings.Join([]string{get(1), get(2), get(3), get(5), get(4)}, "^"), "^")
}
