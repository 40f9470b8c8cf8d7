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
		mp2  = dicom.MPEG2MPML
		mp4  = dicom.MPEG4HP41
		hevc = dicom.HEVCMP51

		cr      = "1.2.840.10008.5.1.4.1.1.1"
		usMF    = "1.2.840.10008.5.1.4.1.1.3.1"
		usMFOld = "1.2.840.10008.5.1.4.1.1.3" // retired, before the video syntaxes
		us      = "1.2.840.10008.5.1.4.1.1.6.1"
		xa      = "1.2.840.10008.5.1.4.1.1.12.1"
		endo    = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
		endoVL  = "1.2.840.10008.5.1.4.1.1.77.1.1" // VL Endoscopic: single frame
		tcSC    = "1.2.840.10008.5.1.4.1.1.7.4"
		opt8    = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
		future  = "1.2.840.10008.5.1.4.1.1.999" // a class pacsd does not name
	)
	tests := []struct {
		name     string
		sopClass string
		proposed []string
		want     string
		ok       bool
	}{
		{"single", cr, []string{ele}, ele, true},
		{"query model skips a compressed syntax", "1.2.840.10008.5.1.4.1.2.2.1", []string{jpg, ile}, ile, true},
		{"query model with compressed syntaxes only", "1.2.840.10008.5.1.4.1.2.1.3", []string{jpg, j2k, dicom.Papyrus3ImplicitVRLittleEndian}, "", false},
		{"verification takes deflate", dicom.VerificationSOPClass, []string{defl}, defl, true},
		{"peer's order wins among uncompressed", cr, []string{ebe, ele, ile}, ebe, true},
		{"implicit first stays implicit", cr, []string{ile, ele}, ile, true},
		{"compressed first is stored as sent", cr, []string{jpg, ele}, jpg, true},
		{"compressed only: peer's first known", cr, []string{"1.2.3.99", j2k, jpg}, j2k, true},
		{"deflated counts as compressed", cr, []string{defl, jpg}, defl, true},
		{"unknown only", cr, []string{"1.2.3.99"}, "", false},
		{"unknown then uncompressed", cr, []string{"1.2.3.99", ebe}, ebe, true},
		{"retired JPEG spectral selection", cr, []string{dicom.JPEGSpectralSelectionNonHierarchical68}, dicom.JPEGSpectralSelectionNonHierarchical68, true},
		{"retired JPEG full progression", cr, []string{dicom.JPEGFullProgressionNonHierarchical1012, ele}, dicom.JPEGFullProgressionNonHierarchical1012, true},
		{"Papyrus 3 implicit", cr, []string{dicom.Papyrus3ImplicitVRLittleEndian}, dicom.Papyrus3ImplicitVRLittleEndian, true},
		{"JPIP Referenced refused", cr, []string{"1.2.840.10008.1.2.4.94", "1.2.840.10008.1.2.4.95", "1.2.840.10008.1.2.4.204", "1.2.840.10008.1.2.4.205"}, "", false},
		// Video only where the SOP class can carry it (dicom.CanCarryVideo).
		{"CR: MPEG-2 first, then Explicit LE", cr, []string{mp2, ele}, ele, true},
		{"CR: MPEG-2 only", cr, []string{mp2}, "", false},
		{"CR: every video syntax, then JPEG", cr, []string{mp2, mp4, hevc, dicom.MPEG4HP41F, jpg}, jpg, true},
		{"XA (greyscale only): MPEG-4 first", xa, []string{mp4, ele}, ele, true},
		{"single-frame US: MPEG-4 first", us, []string{mp4, jpg}, jpg, true},
		{"single-frame VL Endoscopic: MPEG-4 only", endoVL, []string{mp4}, "", false},
		{"retired US multi-frame: MPEG-4 first", usMFOld, []string{mp4, ele}, ele, true},
		{"class pacsd does not name: no video", future, []string{hevc, ele}, ele, true},
		{"Video Endoscopic: MPEG-4 first", endo, []string{mp4, ele}, mp4, true},
		{"Video Endoscopic: MPEG-2 only", endo, []string{mp2}, mp2, true},
		{"US multi-frame: MPEG-4 first", usMF, []string{mp4, jpg, ele}, mp4, true},
		{"US multi-frame: HEVC only", usMF, []string{hevc}, hevc, true},
		{"US multi-frame: JPEG first stays JPEG", usMF, []string{jpg, mp4}, jpg, true},
		{"true colour multi-frame SC: MPEG-2", tcSC, []string{mp2, ele}, mp2, true},
		{"ophthalmic photography 8 bit: MPEG-4", opt8, []string{mp4, ele}, mp4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := chooseTransferSyntax(tt.sopClass, tt.proposed)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("got %q %v, want %q %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	const (
		sc        = "1.2.840.10008.5.1.4.1.1.7"
		cr        = "1.2.840.10008.5.1.4.1.1.1"
		videoEndo = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
	)
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
				{ID: 9, AbstractSyntax: cr, TransferSyntaxes: []string{dicom.MPEG2MPML, dicom.ExplicitVRLittleEndian}},
				{ID: 11, AbstractSyntax: cr, TransferSyntaxes: []string{dicom.MPEG2MPML}},
				{ID: 13, AbstractSyntax: videoEndo, TransferSyntaxes: []string{dicom.MPEG4HP41, dicom.ExplicitVRLittleEndian}},
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
			map[byte]byte{1: 0, 3: 0, 5: presentationResultAbstractSyntax, 7: presentationResultTransferSyntax, 8: presentationResultNoReason,
				9: 0, 11: presentationResultTransferSyntax, 13: 0}},
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
