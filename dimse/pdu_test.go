package dimse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

const testMaxPDU = 16 << 10

func sampleRQ() *associateRQ {
	return &associateRQ{
		ProtocolVersion:    1,
		CalledAETitle:      "PACSD",
		CallingAETitle:     "MODALITY1",
		ApplicationContext: applicationContextName,
		Contexts: []presentationContextRQ{
			{ID: 1, AbstractSyntax: "1.2.840.10008.1.1", TransferSyntaxes: []string{"1.2.840.10008.1.2"}},
			{ID: 3, AbstractSyntax: "1.2.840.10008.5.1.4.1.1.7", TransferSyntaxes: []string{"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}},
			{ID: 5, AbstractSyntax: "1.2.3.4", TransferSyntaxes: []string{"1.2.840.10008.1.2.4.50"}},
		},
		UserInfo: userInfo{
			MaxLength:                 16384,
			ImplementationClassUID:    "1.2.276.0.7230010.3.0.3.6.7",
			ImplementationVersionName: "OFFIS_DCMTK_367",
			AsyncOps:                  &asyncOpsWindow{Invoked: 4, Performed: 2},
			Roles:                     []roleSelection{{SOPClassUID: "1.2.840.10008.5.1.4.1.1.7", SCU: true, SCP: false}},
		},
	}
}

func sampleAC() *associateAC {
	return &associateAC{
		ProtocolVersion:    1,
		CalledAETitle:      "PACSD",
		CallingAETitle:     "MODALITY1",
		ApplicationContext: applicationContextName,
		Contexts: []presentationContextAC{
			{ID: 1, Result: 0, TransferSyntax: "1.2.840.10008.1.2"},
			{ID: 3, Result: 4, TransferSyntax: "1.2.840.10008.1.2.1"},
		},
		UserInfo: userInfo{MaxLength: 131072, ImplementationClassUID: "2.25.1", ImplementationVersionName: "PACSD_01",
			AsyncOps: &asyncOpsWindow{Invoked: 1, Performed: 1},
			Roles:    []roleSelection{{SOPClassUID: "1.2.840.10008.5.1.4.1.1.7", SCU: false, SCP: true}}}, // a C-GET's answer
	}
}

func samplePDUs() map[string]pdu {
	return map[string]pdu{
		"A-ASSOCIATE-RQ": sampleRQ(),
		"A-ASSOCIATE-AC": sampleAC(),
		"A-ASSOCIATE-RJ": &associateRJ{Result: 1, Source: 1, Reason: 7},
		"P-DATA-TF": &pDataTF{PDVs: []pdv{
			{ContextID: 3, Command: true, Last: true, Data: []byte{1, 2, 3, 4}},
			{ContextID: 3, Command: false, Last: false, Data: bytes.Repeat([]byte{0xAB}, 1000)},
			{ContextID: 3, Command: false, Last: true, Data: []byte{}},
		}},
		"A-RELEASE-RQ": &releaseRQ{},
		"A-RELEASE-RP": &releaseRP{},
		"A-ABORT":      &abortPDU{Source: 2, Reason: 6},
	}
}

func readOne(b []byte) (pdu, error) {
	pr := &pduReader{r: bytes.NewReader(b), maxPData: testMaxPDU}
	return pr.read()
}

func TestPDURoundTrip(t *testing.T) {
	for name, p := range samplePDUs() {
		t.Run(name, func(t *testing.T) {
			b := p.appendTo(nil)
			if b[0] != p.pduType() {
				t.Fatalf("type byte 0x%02X, want 0x%02X", b[0], p.pduType())
			}
			if got := binary.BigEndian.Uint32(b[2:]); int(got) != len(b)-pduHeaderLen {
				t.Fatalf("length field %d, body %d", got, len(b)-pduHeaderLen)
			}
			got, err := readOne(b)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !reflect.DeepEqual(got, p) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, p)
			}
		})
	}
}

// TestPDUWireFormat pins bytes the standard fixes, so that encode and decode cannot agree
// on something wrong.
func TestPDUWireFormat(t *testing.T) {
	b := sampleRQ().appendTo(nil)
	if !bytes.Equal(b[6:8], []byte{0, 1}) {
		t.Errorf("protocol version bytes % X", b[6:8])
	}
	if got := string(b[10:26]); got != "PACSD           " {
		t.Errorf("called AE field %q", got)
	}
	if got := string(b[26:42]); got != "MODALITY1       " {
		t.Errorf("calling AE field %q", got)
	}
	if !bytes.Equal(b[42:74], make([]byte, 32)) {
		t.Errorf("reserved bytes not zero")
	}
	if b[74] != itemApplicationContext || int(binary.BigEndian.Uint16(b[76:])) != len(applicationContextName) {
		t.Errorf("application context item header % X", b[74:78])
	}
	want := []byte{0x04, 0x00, 0, 0, 0, 8, 0, 0, 0, 4, 7, 0x03, 0xAA, 0xBB}
	got := (&pDataTF{PDVs: []pdv{{ContextID: 7, Command: true, Last: true, Data: []byte{0xAA, 0xBB}}}}).appendTo(nil)
	if !bytes.Equal(got, want) {
		t.Errorf("P-DATA-TF bytes % X, want % X", got, want)
	}
	if got, want := (&abortPDU{Source: 2, Reason: 1}).appendTo(nil), []byte{7, 0, 0, 0, 0, 4, 0, 0, 2, 1}; !bytes.Equal(got, want) {
		t.Errorf("A-ABORT bytes % X, want % X", got, want)
	}
	c := (&command{CommandField: cmdCEchoRQ, MessageID: 1, AffectedSOPClassUID: "1.2.840.10008.1.1"}).encode()
	if got := binary.LittleEndian.Uint32(c[8:]); int(got) != len(c)-12 {
		t.Errorf("command group length %d, want %d", got, len(c)-12)
	}
}

// pduBytes builds a PDU with an arbitrary body.
func pduBytes(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[2:], uint32(len(body)))
	return append(b, body...)
}

// rqWithItems builds an A-ASSOCIATE-RQ from raw items.
func rqWithItems(items ...[]byte) []byte {
	body := appendAssociateFixed(nil, 1, "A", "B")
	for _, it := range items {
		body = append(body, it...)
	}
	return pduBytes(pduAssociateRQ, body)
}

func item(typ byte, val []byte) []byte {
	b := []byte{typ, 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(len(val)))
	return append(b, val...)
}

func TestReadPDUMalformed(t *testing.T) {
	appCtx := item(itemApplicationContext, []byte(applicationContextName))
	user := item(itemUserInformation, item(subMaxLength, []byte{0, 0, 64, 0}))
	goodPC := item(itemPresentationContextRQ, append([]byte{1, 0, 0, 0},
		append(item(itemAbstractSyntax, []byte("1.2.840.10008.1.1")), item(itemTransferSyntax, []byte("1.2.840.10008.1.2"))...)...))
	tests := []struct {
		name      string
		in        []byte
		malformed bool // else: a transport error (truncation)
		reason    byte
	}{
		{"unknown PDU type", pduBytes(0x08, []byte{0, 0, 0, 0}), true, abortReasonUnrecognizedPDU},
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), true, abortReasonUnrecognizedPDU},
		{"P-DATA over our maximum", append([]byte{4, 0}, binary.BigEndian.AppendUint32(nil, testMaxPDU+1)...), true, abortReasonInvalidParamValue},
		{"A-ASSOCIATE-RQ over the bound", append([]byte{1, 0}, binary.BigEndian.AppendUint32(nil, 0xFFFFFFFF)...), true, abortReasonInvalidParamValue},
		{"A-ASSOCIATE-RQ too short", pduBytes(pduAssociateRQ, make([]byte, 10)), true, abortReasonInvalidParamValue},
		{"A-RELEASE-RQ length 5", pduBytes(pduReleaseRQ, make([]byte, 5)), true, abortReasonInvalidParamValue},
		{"A-ABORT length 2", pduBytes(pduAbort, make([]byte, 2)), true, abortReasonInvalidParamValue},
		{"P-DATA without PDV", pduBytes(pduPDataTF, nil), true, abortReasonInvalidParamValue},
		{"PDV length 1", pduBytes(pduPDataTF, []byte{0, 0, 0, 1, 1, 3}), true, abortReasonInvalidParamValue},
		{"PDV length past PDU end", pduBytes(pduPDataTF, []byte{0, 0, 0, 9, 1, 3}), true, abortReasonInvalidParamValue},
		{"PDV trailing bytes", pduBytes(pduPDataTF, []byte{0, 0, 0, 2, 1, 3, 0, 0}), true, abortReasonInvalidParamValue},
		{"RQ item length past end", rqWithItems(appCtx, []byte{0x20, 0, 0x10, 0}), true, abortReasonInvalidParamValue},
		{"RQ unknown item", rqWithItems(appCtx, item(0x99, []byte{1}), user), true, abortReasonUnrecognizedParam},
		{"RQ no application context", rqWithItems(goodPC, user), true, abortReasonInvalidParamValue},
		{"RQ no user information", rqWithItems(appCtx, goodPC), true, abortReasonInvalidParamValue},
		{"RQ two application contexts", rqWithItems(appCtx, appCtx, user), true, abortReasonUnexpectedParam},
		{"RQ context without transfer syntax", rqWithItems(appCtx,
			item(itemPresentationContextRQ, append([]byte{1, 0, 0, 0}, item(itemAbstractSyntax, []byte("1.2"))...)), user), true, abortReasonInvalidParamValue},
		{"RQ context ID twice", rqWithItems(appCtx, goodPC, goodPC, user), true, abortReasonInvalidParamValue},
		{"RQ context of 2 bytes", rqWithItems(appCtx, item(itemPresentationContextRQ, []byte{1, 0}), user), true, abortReasonInvalidParamValue},
		{"RQ abstract syntax over 64 bytes", rqWithItems(appCtx, item(itemPresentationContextRQ, append([]byte{1, 0, 0, 0},
			append(item(itemAbstractSyntax, []byte(strings.Repeat("1.", 40))), item(itemTransferSyntax, []byte("1.2"))...)...)), user), true, abortReasonInvalidParamValue},
		{"max length sub-item of 3 bytes", rqWithItems(appCtx, goodPC, item(itemUserInformation, item(subMaxLength, []byte{0, 1, 0}))), true, abortReasonInvalidParamValue},
		{"role selection UID length lies", rqWithItems(appCtx, goodPC, item(itemUserInformation, item(subRoleSelection, []byte{0, 9, '1', 1, 0}))), true, abortReasonInvalidParamValue},
		{"truncated header", []byte{4, 0, 0}, false, 0},
		{"truncated body", pduBytes(pduPDataTF, []byte{0, 0, 0, 4, 1, 3, 9, 9})[:9], false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := &pduReader{r: bytes.NewReader(tt.in), maxPData: testMaxPDU}
			p, err := pr.read()
			if err == nil {
				t.Fatalf("read succeeded: %#v", p)
			}
			if got := errors.Is(err, errMalformedPDU); got != tt.malformed {
				t.Fatalf("malformed=%v, want %v (err %v)", got, tt.malformed, err)
			}
			if !tt.malformed {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err %v, want unexpected EOF", err)
				}
				return
			}
			if got := abortReasonFor(err); got != tt.reason {
				t.Errorf("abort reason %d, want %d (err %v)", got, tt.reason, err)
			}
			if cap(pr.buf) > maxAssociatePDULen {
				t.Errorf("allocated %d bytes for a rejected PDU", cap(pr.buf))
			}
		})
	}
}

// TestReadPDUBoundsBeforeAllocating: a header announcing 4 GiB must not make us allocate.
func TestReadPDUBoundsBeforeAllocating(t *testing.T) {
	for _, typ := range []byte{pduAssociateRQ, pduPDataTF} {
		hdr := append([]byte{typ, 0}, 0xFF, 0xFF, 0xFF, 0xF0)
		pr := &pduReader{r: io.MultiReader(bytes.NewReader(hdr), zeroReader{}), maxPData: testMaxPDU}
		if _, err := pr.read(); !errors.Is(err, errMalformedPDU) {
			t.Fatalf("type %d: err %v, want malformed", typ, err)
		}
		if cap(pr.buf) != 0 {
			t.Fatalf("type %d: allocated %d bytes", typ, cap(pr.buf))
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestReadPDUCleanEOF(t *testing.T) {
	pr := &pduReader{r: bytes.NewReader(nil), maxPData: testMaxPDU}
	if _, err := pr.read(); err != io.EOF {
		t.Fatalf("err %v, want io.EOF", err)
	}
}

func TestReadPDUTrimsPadding(t *testing.T) {
	// Some implementations pad UIDs with NUL and AE titles with spaces on both sides.
	pc := item(itemPresentationContextRQ, append([]byte{1, 0, 0, 0},
		append(item(itemAbstractSyntax, []byte("1.2.840.10008.1.1\x00")), item(itemTransferSyntax, []byte("1.2.840.10008.1.2\x00"))...)...))
	body := appendAssociateFixed(nil, 1, "  PACSD", "SCU")
	body = append(body, item(itemApplicationContext, []byte(applicationContextName+"\x00"))...)
	body = append(body, pc...)
	body = append(body, item(itemUserInformation, item(subMaxLength, []byte{0, 0, 0x40, 0}))...)
	p, err := readOne(pduBytes(pduAssociateRQ, body))
	if err != nil {
		t.Fatal(err)
	}
	rq := p.(*associateRQ)
	if rq.CalledAETitle != "PACSD" || rq.ApplicationContext != applicationContextName ||
		rq.Contexts[0].AbstractSyntax != "1.2.840.10008.1.1" || rq.Contexts[0].TransferSyntaxes[0] != "1.2.840.10008.1.2" ||
		rq.UserInfo.MaxLength != 0x4000 {
		t.Fatalf("decoded %#v", rq)
	}
}

// FuzzReadPDU: the reader must never panic or over-allocate, and whatever it accepts must
// survive encode/decode unchanged.
func FuzzReadPDU(f *testing.F) {
	for _, p := range samplePDUs() {
		f.Add(p.appendTo(nil))
	}
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(pduBytes(pduPDataTF, []byte{0, 0, 0, 2, 1, 3}))
	f.Fuzz(func(t *testing.T, in []byte) {
		pr := &pduReader{r: bytes.NewReader(in), maxPData: testMaxPDU}
		p, err := pr.read()
		if cap(pr.buf) > maxAssociatePDULen {
			t.Fatalf("allocated %d bytes", cap(pr.buf))
		}
		if err != nil {
			return
		}
		b := p.appendTo(nil)
		if len(b)-pduHeaderLen > maxAssociatePDULen || len(b)-pduHeaderLen > 60000 && p.pduType() <= pduAssociateAC {
			return // re-encoding adds our mandatory sub-items; near the 16-bit item limits that may not fit
		}
		p2, err := readOne(b)
		if err != nil {
			t.Fatalf("re-read of %T: %v", p, err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("re-read differs:\n%#v\n%#v", p, p2)
		}
	})
}
