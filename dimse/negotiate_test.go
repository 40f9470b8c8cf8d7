package dimse

import (
	"errors"
	"testing"

	"pacsd/dicom"
)

func TestChooseTransferSyntax(t *testing.T) {
	const (
		ile  = dicom.ImplicitVRLittleEndian
		ele  = dicom.ExplicitVRLittleEndian
		ebe  = dicom.ExplicitVRBigEndian
		jpg  = dicom.JPEGBaseline8Bit
		j2k  = dicom.JPEG2000Lossless
		defl = dicom.DeflatedExplicitVRLittleEndian
	)
	tests := []struct {
		name     string
		proposed []string
		want     string
		ok       bool
	}{
		{"single", []string{ele}, ele, true},
		{"peer's order wins among uncompressed", []string{ebe, ele, ile}, ebe, true},
		{"implicit first stays implicit", []string{ile, ele}, ile, true},
		{"compressed first is stored as sent", []string{jpg, ele}, jpg, true},
		{"compressed only: peer's first known", []string{"1.2.3.99", j2k, jpg}, j2k, true},
		{"deflated counts as compressed", []string{defl, jpg}, defl, true},
		{"unknown only", []string{"1.2.3.99"}, "", false},
		{"unknown then uncompressed", []string{"1.2.3.99", ebe}, ebe, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := chooseTransferSyntax(tt.proposed)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("got %q %v, want %q %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	const sc = "1.2.840.10008.5.1.4.1.1.7"
	store := StoreHandlerFunc(nil)
	rq := func(mod func(*associateRQ)) *associateRQ {
		r := &associateRQ{
			ProtocolVersion: 1, CalledAETitle: "PACSD", CallingAETitle: "US1",
			ApplicationContext: applicationContextName,
			Contexts: []presentationContextRQ{
				{ID: 1, AbstractSyntax: dicom.VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}},
				{ID: 3, AbstractSyntax: sc, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian}},
				{ID: 5, AbstractSyntax: "1.2.840.10008.5.1.4.1.2.1.1", TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}}, // C-FIND
				{ID: 7, AbstractSyntax: sc, TransferSyntaxes: []string{"1.2.3.4.5.6"}},
				{ID: 8, AbstractSyntax: sc, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}},
			},
			UserInfo: userInfo{MaxLength: 1000, AsyncOps: &asyncOpsWindow{Invoked: 5, Performed: 5}},
		}
		if mod != nil {
			mod(r)
		}
		return r
	}
	tests := []struct {
		name    string
		srv     *Server
		rq      *associateRQ
		reason  byte // A-ASSOCIATE-RJ reason, 0: accepted
		results map[byte]byte
	}{
		{"per-context results", &Server{AETitle: "PACSD", Store: store}, rq(nil), 0,
			map[byte]byte{1: 0, 3: 0, 5: presentationResultAbstractSyntax, 7: presentationResultTransferSyntax, 8: presentationResultNoReason}},
		{"no store handler: storage refused", &Server{}, rq(nil), 0,
			map[byte]byte{1: 0, 3: presentationResultAbstractSyntax}},
		{"strict called AE", &Server{AETitle: "OTHER", StrictCalledAE: true}, rq(nil), rjReasonCalledAENotRecognized, nil},
		{"lenient called AE", &Server{AETitle: "OTHER"}, rq(nil), 0, map[byte]byte{1: 0}},
		{"accept refuses", &Server{Accept: func(AssociationInfo) error { return errors.New("no") }}, rq(nil), rjReasonCallingAENotRecognized, nil},
		{"bad application context", &Server{}, rq(func(r *associateRQ) { r.ApplicationContext = "1.2.3" }), rjReasonAppContextNotSupported, nil},
		{"requestor refuses SCU role", &Server{Store: store}, rq(func(r *associateRQ) {
			r.UserInfo.Roles = []roleSelection{{SOPClassUID: sc, SCU: false, SCP: true}}
		}), 0, map[byte]byte{1: 0, 3: presentationResultUserRejection}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.srv.negotiate(tt.rq, AssociationInfo{})
			if tt.reason != 0 {
				if n.rj == nil || n.rj.Reason != tt.reason || n.rj.Source != rjSourceUser || n.rj.Result != rjResultPermanent {
					t.Fatalf("rj %+v, want reason %d", n.rj, tt.reason)
				}
				return
			}
			if n.rj != nil {
				t.Fatalf("rejected: %+v", n.rj)
			}
			if len(n.ac.Contexts) != len(tt.rq.Contexts) {
				t.Fatalf("%d answers for %d contexts", len(n.ac.Contexts), len(tt.rq.Contexts))
			}
			for _, pc := range n.ac.Contexts {
				want, ok := tt.results[pc.ID]
				if ok && pc.Result != want {
					t.Errorf("context %d: result %d, want %d", pc.ID, pc.Result, want)
				}
				if _, acc := n.contexts[pc.ID]; acc != (pc.Result == 0) {
					t.Errorf("context %d: accepted map disagrees", pc.ID)
				}
			}
			if n.ac.UserInfo.AsyncOps == nil || *n.ac.UserInfo.AsyncOps != (asyncOpsWindow{1, 1}) {
				t.Errorf("async window answer %+v", n.ac.UserInfo.AsyncOps)
			}
			if n.ac.UserInfo.MaxLength != DefaultMaxPDULength {
				t.Errorf("max length %d", n.ac.UserInfo.MaxLength)
			}
			for _, r := range n.ac.UserInfo.Roles {
				if r.SCP {
					t.Errorf("accepted SCP role for %s", r.SOPClassUID)
				}
			}
		})
	}
}
