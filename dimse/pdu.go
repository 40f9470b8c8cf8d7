package dimse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"pacsd/dicom"
)

// PDU types, PS3.8 9.3.1 Table 9-11.
const (
	pduAssociateRQ byte = 0x01
	pduAssociateAC byte = 0x02
	pduAssociateRJ byte = 0x03
	pduPDataTF     byte = 0x04
	pduReleaseRQ   byte = 0x05
	pduReleaseRP   byte = 0x06
	pduAbort       byte = 0x07
)

// Item and sub-item types of the A-ASSOCIATE PDUs, PS3.8 9.3.2-9.3.3 and PS3.7 Annex D.3.3.
const (
	itemApplicationContext    byte = 0x10
	itemPresentationContextRQ byte = 0x20
	itemPresentationContextAC byte = 0x21
	itemAbstractSyntax        byte = 0x30
	itemTransferSyntax        byte = 0x40
	itemUserInformation       byte = 0x50

	subMaxLength                 byte = 0x51 // PS3.8 D.1
	subImplementationClassUID    byte = 0x52 // PS3.7 D.3.3.2
	subAsyncOperationsWindow     byte = 0x53 // PS3.7 D.3.3.3
	subRoleSelection             byte = 0x54 // PS3.7 D.3.3.4
	subImplementationVersionName byte = 0x55 // PS3.7 D.3.3.2
)

// applicationContextName is the only DICOM application context, PS3.7 A.2.1.
const applicationContextName = "1.2.840.10008.3.1.1.1"

// A-ASSOCIATE-RJ fields, PS3.8 9.3.4 Table 9-21.
const (
	rjResultPermanent byte = 1
	rjResultTransient byte = 2

	rjSourceUser         byte = 1 // DICOM UL service-user
	rjSourceACSE         byte = 2 // DICOM UL service-provider (ACSE related function)
	rjSourcePresentation byte = 3 // DICOM UL service-provider (presentation related function)

	rjReasonNoReason               byte = 1 // sources 1 and 2
	rjReasonAppContextNotSupported byte = 2 // source 1
	rjReasonCallingAENotRecognized byte = 3 // source 1
	rjReasonCalledAENotRecognized  byte = 7 // source 1
	rjReasonProtocolVersionNotSupp byte = 2 // source 2
	rjReasonTemporaryCongestion    byte = 1 // source 3
	rjReasonLocalLimitExceeded     byte = 2 // source 3
)

// Presentation context Result/Reason, PS3.8 9.3.3.2 Table 9-18.
const (
	presentationResultAcceptance     byte = 0
	presentationResultUserRejection  byte = 1
	presentationResultNoReason       byte = 2 // provider rejection
	presentationResultAbstractSyntax byte = 3 // abstract syntax not supported (provider rejection)
	presentationResultTransferSyntax byte = 4 // transfer syntaxes not supported (provider rejection)
)

// A-ABORT fields, PS3.8 9.3.8 Table 9-26. With source 0 the reason is not significant (0).
const (
	abortSourceUser     byte = 0
	abortSourceProvider byte = 2

	abortReasonNotSpecified      byte = 0
	abortReasonUnrecognizedPDU   byte = 1
	abortReasonUnexpectedPDU     byte = 2
	abortReasonUnrecognizedParam byte = 4
	abortReasonUnexpectedParam   byte = 5
	abortReasonInvalidParamValue byte = 6
)

// Sizes and bounds.
const (
	pduHeaderLen            = 6  // type, reserved, 4-byte length, PS3.8 9.3.1
	associateFixedLen       = 68 // protocol version .. 32 reserved bytes, PS3.8 Table 9-11
	pdvHeaderLen            = 6  // item length (4), context ID, message control header, PS3.8 9.3.5.1
	minPDataLen             = pdvHeaderLen
	aeTitleLen              = 16
	maxUIDLen               = dicom.MaxUIDLen
	maxPresentationContexts = 128 // IDs are odd numbers 1..255, PS3.8 9.3.2.2
	// maxAssociatePDULen bounds A-ASSOCIATE-RQ/AC, which arrive before any maximum length
	// is negotiated: 128 contexts with a dozen transfer syntaxes each fit easily.
	maxAssociatePDULen = 256 << 10
	// maxSendFragment caps what we put in one PDU even when the peer announces no limit.
	maxSendFragment uint32 = 1 << 20
)

// errMalformedPDU is wrapped by every error caused by bytes that are not a valid PDU, as
// opposed to transport errors: the state machine turns it into Evt19.
var errMalformedPDU = errors.New("malformed PDU")

// pduError is a malformed PDU together with the A-ABORT reason it deserves.
type pduError struct {
	reason byte
	msg    string
}

func (e *pduError) Error() string { return "malformed PDU: " + e.msg }
func (e *pduError) Unwrap() error { return errMalformedPDU }

func malformed(reason byte, format string, args ...any) error {
	return &pduError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// abortReasonFor picks the A-ABORT reason for an error that made us abort.
func abortReasonFor(err error) byte {
	var pe *pduError
	if errors.As(err, &pe) {
		return pe.reason
	}
	return abortReasonUnexpectedPDU
}

// pdu is one protocol data unit. appendTo appends its encoding (header included).
type pdu interface {
	pduType() byte
	appendTo(b []byte) []byte
}

// presentationContextRQ is a Presentation Context Item of an A-ASSOCIATE-RQ, PS3.8 9.3.2.2.
type presentationContextRQ struct {
	ID               byte
	AbstractSyntax   string
	TransferSyntaxes []string
}

// presentationContextAC is a Presentation Context Item of an A-ASSOCIATE-AC, PS3.8 9.3.3.2.
type presentationContextAC struct {
	ID             byte
	Result         byte
	TransferSyntax string
}

// roleSelection is the SCP/SCU Role Selection sub-item, PS3.7 D.3.3.4.
type roleSelection struct {
	SOPClassUID string
	SCU, SCP    bool
}

// asyncOpsWindow is the Asynchronous Operations Window sub-item, PS3.7 D.3.3.3.
type asyncOpsWindow struct {
	Invoked, Performed uint16
}

// userInfo is the User Information Item, PS3.8 9.3.2.3. Sub-items we do not negotiate
// (SOP class extended negotiation 0x56/0x57, user identity 0x58) are skipped when read:
// PS3.7 D.3.3.5-D.3.3.7 let an acceptor ignore them, which means "not supported".
type userInfo struct {
	MaxLength                 uint32 // PS3.8 D.1: 0 means no limit
	ImplementationClassUID    string
	ImplementationVersionName string
	AsyncOps                  *asyncOpsWindow
	Roles                     []roleSelection
}

// associateRQ is the A-ASSOCIATE-RQ PDU, PS3.8 9.3.2.
type associateRQ struct {
	ProtocolVersion    uint16
	CalledAETitle      string
	CallingAETitle     string
	ApplicationContext string
	Contexts           []presentationContextRQ
	UserInfo           userInfo
}

// associateAC is the A-ASSOCIATE-AC PDU, PS3.8 9.3.3. Called and calling AE titles are
// "reserved" there but sent back as received (and not tested when read).
type associateAC struct {
	ProtocolVersion    uint16
	CalledAETitle      string
	CallingAETitle     string
	ApplicationContext string
	Contexts           []presentationContextAC
	UserInfo           userInfo
}

// associateRJ is the A-ASSOCIATE-RJ PDU, PS3.8 9.3.4.
type associateRJ struct {
	Result, Source, Reason byte
}

// pdv is one Presentation Data Value item, PS3.8 9.3.5.1 and Annex E.2.
type pdv struct {
	ContextID byte
	Command   bool // message control header bit 0
	Last      bool // message control header bit 1
	Data      []byte
}

// pDataTF is the P-DATA-TF PDU, PS3.8 9.3.5. Decoded PDV data aliases the read buffer.
type pDataTF struct {
	PDVs []pdv
}

// releaseRQ, releaseRP are A-RELEASE-RQ/RP, PS3.8 9.3.6-9.3.7.
type releaseRQ struct{}
type releaseRP struct{}

// abortPDU is A-ABORT, PS3.8 9.3.8.
type abortPDU struct {
	Source, Reason byte
}

// rawPDU is an already encoded PDU (header included), used to stream P-DATA-TF without
// building PDV values.
type rawPDU []byte

func (associateRQ) pduType() byte { return pduAssociateRQ }
func (associateAC) pduType() byte { return pduAssociateAC }
func (associateRJ) pduType() byte { return pduAssociateRJ }
func (pDataTF) pduType() byte     { return pduPDataTF }
func (releaseRQ) pduType() byte   { return pduReleaseRQ }
func (releaseRP) pduType() byte   { return pduReleaseRP }
func (abortPDU) pduType() byte    { return pduAbort }
func (r rawPDU) pduType() byte {
	if len(r) == 0 {
		return 0
	}
	return r[0]
}

func (r rawPDU) appendTo(b []byte) []byte { return append(b, r...) }

// --- encoding -------------------------------------------------------------------------------

// beginPDU appends a PDU header with a zero length and returns where the header starts;
// endPDU patches the length once the variable field is written (PS3.8 9.3.1: the length
// counts the bytes after the 6-byte header).
func beginPDU(b []byte, typ byte) ([]byte, int) {
	return append(b, typ, 0, 0, 0, 0, 0), len(b)
}

func endPDU(b []byte, start int) []byte {
	binary.BigEndian.PutUint32(b[start+2:], uint32(len(b)-start-pduHeaderLen))
	return b
}

// beginItem/endItem do the same for items with a 2-byte length (PS3.8 9.3.2.x).
func beginItem(b []byte, typ byte) ([]byte, int) {
	return append(b, typ, 0, 0, 0), len(b)
}

func endItem(b []byte, start int) []byte {
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start-4))
	return b
}

func appendStringItem(b []byte, typ byte, s string) []byte {
	b, st := beginItem(b, typ)
	b = append(b, s...)
	return endItem(b, st)
}

// appendAETitle writes a 16-byte AE title field, space padded (PS3.8 9.3.2: leading and
// trailing spaces are not significant).
func appendAETitle(b []byte, ae string) []byte {
	if len(ae) > aeTitleLen {
		ae = ae[:aeTitleLen]
	}
	b = append(b, ae...)
	for i := len(ae); i < aeTitleLen; i++ {
		b = append(b, ' ')
	}
	return b
}

func appendAssociateFixed(b []byte, version uint16, called, calling string) []byte {
	b = binary.BigEndian.AppendUint16(b, version)
	b = append(b, 0, 0)
	b = appendAETitle(b, called)
	b = appendAETitle(b, calling)
	return append(b, make([]byte, 32)...)
}

func (u *userInfo) appendTo(b []byte) []byte {
	b, st := beginItem(b, itemUserInformation)
	b, s := beginItem(b, subMaxLength)
	b = binary.BigEndian.AppendUint32(b, u.MaxLength)
	b = endItem(b, s)
	b = appendStringItem(b, subImplementationClassUID, u.ImplementationClassUID)
	if u.AsyncOps != nil {
		b, s = beginItem(b, subAsyncOperationsWindow)
		b = binary.BigEndian.AppendUint16(b, u.AsyncOps.Invoked)
		b = binary.BigEndian.AppendUint16(b, u.AsyncOps.Performed)
		b = endItem(b, s)
	}
	for _, r := range u.Roles {
		b, s = beginItem(b, subRoleSelection)
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.SOPClassUID)))
		b = append(b, r.SOPClassUID...)
		b = append(b, boolByte(r.SCU), boolByte(r.SCP))
		b = endItem(b, s)
	}
	if u.ImplementationVersionName != "" {
		b = appendStringItem(b, subImplementationVersionName, u.ImplementationVersionName)
	}
	return endItem(b, st)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (p associateRQ) appendTo(b []byte) []byte {
	b, st := beginPDU(b, pduAssociateRQ)
	b = appendAssociateFixed(b, p.ProtocolVersion, p.CalledAETitle, p.CallingAETitle)
	b = appendStringItem(b, itemApplicationContext, p.ApplicationContext)
	for _, pc := range p.Contexts {
		var s int
		b, s = beginItem(b, itemPresentationContextRQ)
		b = append(b, pc.ID, 0, 0, 0)
		b = appendStringItem(b, itemAbstractSyntax, pc.AbstractSyntax)
		for _, ts := range pc.TransferSyntaxes {
			b = appendStringItem(b, itemTransferSyntax, ts)
		}
		b = endItem(b, s)
	}
	b = p.UserInfo.appendTo(b)
	return endPDU(b, st)
}

func (p associateAC) appendTo(b []byte) []byte {
	b, st := beginPDU(b, pduAssociateAC)
	b = appendAssociateFixed(b, p.ProtocolVersion, p.CalledAETitle, p.CallingAETitle)
	b = appendStringItem(b, itemApplicationContext, p.ApplicationContext)
	for _, pc := range p.Contexts {
		var s int
		b, s = beginItem(b, itemPresentationContextAC)
		b = append(b, pc.ID, 0, pc.Result, 0)
		b = appendStringItem(b, itemTransferSyntax, pc.TransferSyntax)
		b = endItem(b, s)
	}
	b = p.UserInfo.appendTo(b)
	return endPDU(b, st)
}

func (p associateRJ) appendTo(b []byte) []byte {
	b, st := beginPDU(b, pduAssociateRJ)
	b = append(b, 0, p.Result, p.Source, p.Reason)
	return endPDU(b, st)
}

func (p pDataTF) appendTo(b []byte) []byte {
	b, st := beginPDU(b, pduPDataTF)
	for _, v := range p.PDVs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v.Data)+2))
		b = append(b, v.ContextID, controlHeader(v.Command, v.Last))
		b = append(b, v.Data...)
	}
	return endPDU(b, st)
}

// controlHeader builds the message control header, PS3.8 E.2.
func controlHeader(command, last bool) byte {
	var h byte
	if command {
		h |= 0x01
	}
	if last {
		h |= 0x02
	}
	return h
}

func (releaseRQ) appendTo(b []byte) []byte {
	b, st := beginPDU(b, pduReleaseRQ)
	b = append(b, 0, 0, 0, 0)
	return endPDU(b, st)
}

func (releaseRP) appendTo(b []byte) []byte {
	b, st := beginPDU(b, pduReleaseRP)
	b = append(b, 0, 0, 0, 0)
	return endPDU(b, st)
}

func (p abortPDU) appendTo(b []byte) []byte {
	b, st := beginPDU(b, pduAbort)
	b = append(b, 0, 0, p.Source, p.Reason)
	return endPDU(b, st)
}

// --- decoding -------------------------------------------------------------------------------

// pduReader reads PDUs from a stream into one reusable buffer: a decoded PDU (P-DATA
// values in particular) is only valid until the next read.
type pduReader struct {
	r   io.Reader
	buf []byte
	// maxPData bounds P-DATA-TF PDUs: the maximum length we announced (PS3.8 D.1).
	maxPData uint32
}

// read reads one PDU. The length in the header is checked against the limit for its type
// before anything is allocated. Transport errors are returned as they are (io.EOF when the
// peer closed between PDUs); bad bytes give an error wrapping errMalformedPDU.
func (pr *pduReader) read() (pdu, error) {
	var hdr [pduHeaderLen]byte
	if n, err := io.ReadFull(pr.r, hdr[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read PDU header: %w", err)
	}
	typ, length := hdr[0], binary.BigEndian.Uint32(hdr[2:])
	var minLen, maxLen uint32
	switch typ {
	case pduAssociateRQ, pduAssociateAC:
		minLen, maxLen = associateFixedLen, maxAssociatePDULen
	case pduAssociateRJ, pduReleaseRQ, pduReleaseRP, pduAbort:
		minLen, maxLen = 4, 4
	case pduPDataTF:
		minLen, maxLen = minPDataLen, clampPDU(pr.maxPData)
	default:
		return nil, malformed(abortReasonUnrecognizedPDU, "unknown PDU type 0x%02X", typ)
	}
	if length < minLen || length > maxLen {
		return nil, malformed(abortReasonInvalidParamValue, "PDU type 0x%02X length %d outside %d..%d", typ, length, minLen, maxLen)
	}
	if uint32(cap(pr.buf)) < length {
		pr.buf = make([]byte, length)
	}
	body := pr.buf[:length]
	if _, err := io.ReadFull(pr.r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read PDU type 0x%02X body (%d bytes): %w", typ, length, err)
	}
	return decodePDU(typ, body)
}

// decodePDU decodes a PDU body (the variable field after the 6-byte header).
func decodePDU(typ byte, body []byte) (pdu, error) {
	switch typ {
	case pduAssociateRQ:
		return decodeAssociateRQ(body)
	case pduAssociateAC:
		return decodeAssociateAC(body)
	case pduAssociateRJ:
		if len(body) != 4 {
			return nil, malformed(abortReasonInvalidParamValue, "A-ASSOCIATE-RJ length %d", len(body))
		}
		return &associateRJ{Result: body[1], Source: body[2], Reason: body[3]}, nil
	case pduPDataTF:
		return decodePData(body)
	case pduReleaseRQ:
		return &releaseRQ{}, nil
	case pduReleaseRP:
		return &releaseRP{}, nil
	case pduAbort:
		if len(body) != 4 {
			return nil, malformed(abortReasonInvalidParamValue, "A-ABORT length %d", len(body))
		}
		return &abortPDU{Source: body[2], Reason: body[3]}, nil
	}
	return nil, malformed(abortReasonUnrecognizedPDU, "unknown PDU type 0x%02X", typ)
}

// nextItem splits the first item (type, reserved, 2-byte length, value) off b.
func nextItem(b []byte) (typ byte, val, rest []byte, err error) {
	if len(b) < 4 {
		return 0, nil, nil, malformed(abortReasonInvalidParamValue, "truncated item header (%d bytes)", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if len(b)-4 < n {
		return 0, nil, nil, malformed(abortReasonInvalidParamValue, "item 0x%02X length %d exceeds the %d bytes left", b[0], n, len(b)-4)
	}
	return b[0], b[4 : 4+n], b[4+n:], nil
}

// trimUID is dicom.TrimUID of a value read from a PDU or command.
func trimUID(b []byte) string { return dicom.TrimUID(string(b)) }

func trimAE(b []byte) string {
	return strings.Trim(string(b), " \x00")
}

func checkUID(what string, s string) error {
	if len(s) > maxUIDLen {
		return malformed(abortReasonInvalidParamValue, "%s longer than %d bytes", what, maxUIDLen)
	}
	return nil
}

// associateFixed is what A-ASSOCIATE-RQ and -AC share before their items.
type associateFixed struct {
	version         uint16
	called, calling string
}

func decodeAssociateFixed(body []byte) (associateFixed, []byte, error) {
	if len(body) < associateFixedLen {
		return associateFixed{}, nil, malformed(abortReasonInvalidParamValue, "A-ASSOCIATE PDU of %d bytes", len(body))
	}
	return associateFixed{
		version: binary.BigEndian.Uint16(body[0:]),
		called:  trimAE(body[4:20]),
		calling: trimAE(body[20:36]),
	}, body[associateFixedLen:], nil
}

func decodeAssociateRQ(body []byte) (*associateRQ, error) {
	f, items, err := decodeAssociateFixed(body)
	if err != nil {
		return nil, err
	}
	p := &associateRQ{ProtocolVersion: f.version, CalledAETitle: f.called, CallingAETitle: f.calling}
	ids := map[byte]bool{}
	common, err := walkAssociateItems(items, "A-ASSOCIATE-RQ", itemPresentationContextRQ, func(val []byte) error {
		pc, err := decodePresentationContextRQ(val)
		if err != nil {
			return err
		}
		if ids[pc.ID] {
			return malformed(abortReasonInvalidParamValue, "presentation context ID %d proposed twice", pc.ID)
		}
		ids[pc.ID] = true
		if len(p.Contexts) == maxPresentationContexts {
			return malformed(abortReasonInvalidParamValue, "more than %d presentation contexts", maxPresentationContexts)
		}
		p.Contexts = append(p.Contexts, pc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !common.seenUser {
		return nil, malformed(abortReasonInvalidParamValue, "A-ASSOCIATE-RQ without user information")
	}
	p.ApplicationContext, p.UserInfo = common.appContext, common.userInfo
	return p, nil
}

// associateItems is what A-ASSOCIATE-RQ and -AC share: one application context item and
// at most one user information item (PS3.8 9.3.2, 9.3.3).
type associateItems struct {
	appContext string
	userInfo   userInfo
	seenUser   bool
}

// walkAssociateItems reads the variable items of an A-ASSOCIATE-RQ/AC, handing each
// presentation context item of type pcItem to onContext. Any other item type is an error.
func walkAssociateItems(items []byte, name string, pcItem byte, onContext func(val []byte) error) (associateItems, error) {
	var out associateItems
	var seenApp bool
	for len(items) > 0 {
		typ, val, rest, err := nextItem(items)
		if err != nil {
			return out, err
		}
		items = rest
		switch typ {
		case itemApplicationContext:
			if seenApp {
				return out, malformed(abortReasonUnexpectedParam, "two application context items")
			}
			seenApp = true
			out.appContext = trimUID(val)
		case pcItem:
			if err := onContext(val); err != nil {
				return out, err
			}
		case itemUserInformation:
			if out.seenUser {
				return out, malformed(abortReasonUnexpectedParam, "two user information items")
			}
			out.seenUser = true
			if out.userInfo, err = decodeUserInfo(val); err != nil {
				return out, err
			}
		default:
			return out, malformed(abortReasonUnrecognizedParam, "unknown item 0x%02X in %s", typ, name)
		}
	}
	if !seenApp {
		return out, malformed(abortReasonInvalidParamValue, "%s without application context", name)
	}
	return out, nil
}

func decodePresentationContextRQ(val []byte) (presentationContextRQ, error) {
	if len(val) < 4 {
		return presentationContextRQ{}, malformed(abortReasonInvalidParamValue, "presentation context item of %d bytes", len(val))
	}
	pc := presentationContextRQ{ID: val[0]}
	sub := val[4:]
	var seenAbstract bool
	for len(sub) > 0 {
		typ, v, rest, err := nextItem(sub)
		if err != nil {
			return pc, err
		}
		sub = rest
		switch typ {
		case itemAbstractSyntax:
			if seenAbstract {
				return pc, malformed(abortReasonUnexpectedParam, "presentation context %d has two abstract syntaxes", pc.ID)
			}
			seenAbstract = true
			pc.AbstractSyntax = trimUID(v)
			if err := checkUID("abstract syntax", pc.AbstractSyntax); err != nil {
				return pc, err
			}
		case itemTransferSyntax:
			ts := trimUID(v)
			if err := checkUID("transfer syntax", ts); err != nil {
				return pc, err
			}
			pc.TransferSyntaxes = append(pc.TransferSyntaxes, ts)
		default:
			return pc, malformed(abortReasonUnrecognizedParam, "unknown sub-item 0x%02X in presentation context %d", typ, pc.ID)
		}
	}
	if !seenAbstract || len(pc.TransferSyntaxes) == 0 {
		return pc, malformed(abortReasonInvalidParamValue, "presentation context %d lacks an abstract or transfer syntax", pc.ID)
	}
	return pc, nil
}

func decodeAssociateAC(body []byte) (*associateAC, error) {
	f, items, err := decodeAssociateFixed(body)
	if err != nil {
		return nil, err
	}
	p := &associateAC{ProtocolVersion: f.version, CalledAETitle: f.called, CallingAETitle: f.calling}
	ids := map[byte]bool{}
	common, err := walkAssociateItems(items, "A-ASSOCIATE-AC", itemPresentationContextAC, func(val []byte) error {
		if len(val) < 4 {
			return malformed(abortReasonInvalidParamValue, "presentation context item of %d bytes", len(val))
		}
		pc := presentationContextAC{ID: val[0], Result: val[2]}
		if ids[pc.ID] {
			return malformed(abortReasonInvalidParamValue, "presentation context ID %d answered twice", pc.ID)
		}
		ids[pc.ID] = true
		// PS3.8 9.3.3.2: one transfer syntax sub-item, not significant unless accepted.
		sub := val[4:]
		for len(sub) > 0 {
			t, v, rest, err := nextItem(sub)
			if err != nil {
				return err
			}
			sub = rest
			if t != itemTransferSyntax {
				return malformed(abortReasonUnrecognizedParam, "unknown sub-item 0x%02X in presentation context %d", t, pc.ID)
			}
			pc.TransferSyntax = trimUID(v)
			if err := checkUID("transfer syntax", pc.TransferSyntax); err != nil {
				return err
			}
		}
		if pc.Result == presentationResultAcceptance && pc.TransferSyntax == "" {
			return malformed(abortReasonInvalidParamValue, "accepted presentation context %d without transfer syntax", pc.ID)
		}
		if len(p.Contexts) == maxPresentationContexts {
			return malformed(abortReasonInvalidParamValue, "more than %d presentation contexts", maxPresentationContexts)
		}
		p.Contexts = append(p.Contexts, pc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.ApplicationContext, p.UserInfo = common.appContext, common.userInfo
	return p, nil
}

func decodeUserInfo(val []byte) (userInfo, error) {
	var u userInfo
	for len(val) > 0 {
		typ, v, rest, err := nextItem(val)
		if err != nil {
			return u, err
		}
		val = rest
		switch typ {
		case subMaxLength:
			if len(v) != 4 {
				return u, malformed(abortReasonInvalidParamValue, "maximum length sub-item of %d bytes", len(v))
			}
			u.MaxLength = binary.BigEndian.Uint32(v)
		case subImplementationClassUID:
			u.ImplementationClassUID = trimUID(v)
			if err := checkUID("implementation class UID", u.ImplementationClassUID); err != nil {
				return u, err
			}
		case subImplementationVersionName:
			if len(v) > 16 {
				return u, malformed(abortReasonInvalidParamValue, "implementation version name of %d bytes", len(v))
			}
			u.ImplementationVersionName = trimAE(v)
		case subAsyncOperationsWindow:
			if len(v) != 4 {
				return u, malformed(abortReasonInvalidParamValue, "asynchronous operations window of %d bytes", len(v))
			}
			u.AsyncOps = &asyncOpsWindow{Invoked: binary.BigEndian.Uint16(v), Performed: binary.BigEndian.Uint16(v[2:])}
		case subRoleSelection:
			if len(v) < 2 {
				return u, malformed(abortReasonInvalidParamValue, "role selection sub-item of %d bytes", len(v))
			}
			n := int(binary.BigEndian.Uint16(v))
			if len(v) != 2+n+2 {
				return u, malformed(abortReasonInvalidParamValue, "role selection sub-item: UID length %d in %d bytes", n, len(v))
			}
			uid := trimUID(v[2 : 2+n])
			if err := checkUID("role selection SOP class", uid); err != nil {
				return u, err
			}
			u.Roles = append(u.Roles, roleSelection{SOPClassUID: uid, SCU: v[2+n] == 1, SCP: v[3+n] == 1})
		default:
			// 0x56-0x59 and anything newer: not negotiated by pacsd, skipped.
		}
	}
	return u, nil
}

func decodePData(body []byte) (*pDataTF, error) {
	p := &pDataTF{}
	for len(body) > 0 {
		if len(body) < pdvHeaderLen {
			return nil, malformed(abortReasonInvalidParamValue, "truncated PDV item (%d bytes)", len(body))
		}
		n := binary.BigEndian.Uint32(body)
		if n < 2 || uint64(n) > uint64(len(body)-4) {
			return nil, malformed(abortReasonInvalidParamValue, "PDV item length %d with %d bytes left", n, len(body)-4)
		}
		mch := body[5]
		p.PDVs = append(p.PDVs, pdv{
			ContextID: body[4],
			Command:   mch&0x01 != 0,
			Last:      mch&0x02 != 0,
			Data:      body[6 : 4+n],
		})
		body = body[4+n:]
	}
	if len(p.PDVs) == 0 {
		return nil, malformed(abortReasonInvalidParamValue, "P-DATA-TF without PDV items")
	}
	return p, nil
}

// pduName is for logs and errors.
func pduName(typ byte) string {
	switch typ {
	case pduAssociateRQ:
		return "A-ASSOCIATE-RQ"
	case pduAssociateAC:
		return "A-ASSOCIATE-AC"
	case pduAssociateRJ:
		return "A-ASSOCIATE-RJ"
	case pduPDataTF:
		return "P-DATA-TF"
	case pduReleaseRQ:
		return "A-RELEASE-RQ"
	case pduReleaseRP:
		return "A-RELEASE-RP"
	case pduAbort:
		return "A-ABORT"
	}
	return fmt.Sprintf("PDU 0x%02X", typ)
}
