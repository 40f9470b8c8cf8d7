package dimse

import (
	"slices"
	"strings"

	"pacsd/dicom"
)

// chooseTransferSyntax picks the transfer syntax of one presentation context for abstract
// syntax sopClass from what the peer proposed (PS3.8 9.3.3.2: exactly one is accepted). We
// take the first one it proposed that we know and that fits the SOP class: a sender lists its
// preference first, and that is normally the syntax its data is already in. Choosing our own
// favourite instead makes storescu and most modalities convert on the fly (explicit to
// implicit loses the VRs of private tags; JPEG may be decompressed), and pacsd stores what
// was sent, as it was sent. A video syntax fits only the classes that can carry video
// (dicom.CanCarryVideo): a sender that proposes MPEG-2 for every class, CR included, would
// otherwise have to turn a radiograph into video, or fail to send it.
// The classes that are not storage (Verification, the query/retrieve models) carry only
// commands and small identifiers: they get one of the native encodings (PS3.5 10.1 and
// A.1-A.3, A.5), never a compressed pixel syntax that would only mean Explicit VR Little
// Endian under another name.
func chooseTransferSyntax(sopClass string, proposed []string) (string, bool) {
	storage := dicom.IsStorageSOPClass(sopClass)
	for _, uid := range proposed {
		ts, ok := dicom.LookupTransferSyntax(uid)
		switch {
		case !ok, ts.Video && !dicom.CanCarryVideo(sopClass):
			continue
		case !storage && !slices.Contains(nativeSyntaxes, uid):
			continue
		}
		return uid, true
	}
	return "", false
}

// nativeSyntaxes are the transfer syntaxes accepted for the classes that are not storage.
var nativeSyntaxes = []string{dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian,
	dicom.DeflatedExplicitVRLittleEndian, dicom.ExplicitVRBigEndian}

// acceptedContext is a presentation context in use on an association, with the roles
// negotiated for its abstract syntax (PS3.7 D.3.3.4; without a role selection item the
// requestor is SCU and we are SCP).
type acceptedContext struct {
	ID             byte
	AbstractSyntax string
	TransferSyntax string
	// PeerSCU: the peer may send requests of this SOP class on it (we are the SCP).
	PeerSCU bool
	// PeerSCP: the peer accepted the SCP role by role selection: we may send it C-STORE
	// requests on it (the sub-operations of a C-GET, PS3.4 C.4.3).
	PeerSCP bool
}

// negotiation is the service user's answer to an A-ASSOCIATE indication.
type negotiation struct {
	ac       *associateAC
	rj       *associateRJ
	contexts map[byte]acceptedContext // accepted ones only
}

// supportsAbstractSyntax tells whether we serve a SOP class as SCP.
func (s *Server) supportsAbstractSyntax(uid string) bool {
	switch {
	case uid == dicom.VerificationSOPClass:
		return true
	case s.Store != nil && dicom.IsStorageSOPClass(uid):
		return true
	case s.Find != nil && slices.Contains(s.FindSOPClasses, uid):
		return true
	case s.Move != nil && slices.Contains(s.MoveSOPClasses, uid):
		return true
	case s.Get != nil && slices.Contains(s.GetSOPClasses, uid):
		return true
	case s.Action != nil && slices.Contains(s.ActionSOPClasses, uid):
		return true
	}
	return false
}

// sendsSubOperations tells whether we may act as SCU of a SOP class when the requestor
// takes the SCP role: the Storage classes that carry C-GET's C-STORE sub-operations.
func (s *Server) sendsSubOperations(uid string) bool {
	return s.Get != nil && dicom.IsStorageSOPClass(uid)
}

// negotiate is the service-user half of association acceptance (the provider half, in
// providerCheck, has already passed): PS3.8 7.1.1 for the AE titles and application
// context, PS3.8 9.3.3.2 per presentation context, PS3.7 D.3.3 for the user information.
// Unsupported presentation contexts are rejected one by one; the association itself is
// only rejected for reasons that concern all of it.
func (s *Server) negotiate(rq *associateRQ, info AssociationInfo) negotiation {
	reject := func(reason byte) negotiation {
		return negotiation{rj: &associateRJ{Result: rjResultPermanent, Source: rjSourceUser, Reason: reason}}
	}
	if rq.ApplicationContext != applicationContextName {
		return reject(rjReasonAppContextNotSupported)
	}
	// PS3.5 6.2: leading and trailing spaces of an AE title are not significant.
	if s.StrictCalledAE && rq.CalledAETitle != strings.TrimSpace(s.AETitle) {
		return reject(rjReasonCalledAENotRecognized)
	}
	if s.Accept != nil {
		if err := s.Accept(info); err != nil {
			return reject(rjReasonCallingAENotRecognized)
		}
	}

	// PS3.7 D.3.3.4: for each SOP class the requestor names, we agree to its SCU role when
	// we serve the class as SCP, and to its SCP role only for the Storage classes of C-GET
	// sub-operations (Get set); everything else is declined. A class for which neither
	// role is left has its contexts rejected. Without a role selection item the default
	// roles hold (requestor SCU, we SCP). Only classes proposed in a presentation context
	// are answered, which also bounds the answer (128 contexts) whatever the request holds.
	var roles []roleSelection
	proposed := func(uid string) bool {
		return slices.ContainsFunc(rq.Contexts, func(pc presentationContextRQ) bool { return pc.AbstractSyntax == uid })
	}
	for _, r := range rq.UserInfo.Roles {
		if !proposed(r.SOPClassUID) || slices.ContainsFunc(roles, func(x roleSelection) bool { return x.SOPClassUID == r.SOPClassUID }) {
			continue
		}
		roles = append(roles, roleSelection{
			SOPClassUID: r.SOPClassUID,
			SCU:         r.SCU && s.supportsAbstractSyntax(r.SOPClassUID),
			SCP:         r.SCP && s.sendsSubOperations(r.SOPClassUID),
		})
	}
	roleOf := func(uid string) (peerSCU, peerSCP, selected bool) {
		for _, r := range roles {
			if r.SOPClassUID == uid {
				return r.SCU, r.SCP, true
			}
		}
		return s.supportsAbstractSyntax(uid), false, false
	}

	n := negotiation{contexts: map[byte]acceptedContext{}}
	ac := &associateAC{
		ProtocolVersion:    1,
		CalledAETitle:      rq.CalledAETitle,
		CallingAETitle:     rq.CallingAETitle,
		ApplicationContext: applicationContextName,
		UserInfo: userInfo{
			MaxLength:                 s.maxPDU(),
			ImplementationClassUID:    dicom.ImplementationClassUID,
			ImplementationVersionName: dicom.ImplementationVersionName,
			Roles:                     roles,
		},
	}
	if rq.UserInfo.AsyncOps != nil {
		// PS3.7 D.3.3.3: we perform one operation at a time and invoke none.
		ac.UserInfo.AsyncOps = &asyncOpsWindow{Invoked: 1, Performed: 1}
	}
	for _, pc := range rq.Contexts {
		res := presentationContextAC{ID: pc.ID, TransferSyntax: pc.TransferSyntaxes[0]}
		peerSCU, peerSCP, selected := roleOf(pc.AbstractSyntax)
		switch {
		case pc.ID%2 == 0:
			// PS3.8 9.3.2.2: IDs are odd. We cannot use this one; say so without a reason.
			res.Result = presentationResultNoReason
		case !s.supportsAbstractSyntax(pc.AbstractSyntax) && (!selected || !s.sendsSubOperations(pc.AbstractSyntax)):
			res.Result = presentationResultAbstractSyntax
		case !peerSCU && !peerSCP:
			res.Result = presentationResultUserRejection
		default:
			ts, ok := chooseTransferSyntax(pc.AbstractSyntax, pc.TransferSyntaxes)
			if !ok {
				res.Result = presentationResultTransferSyntax
				break
			}
			res.Result, res.TransferSyntax = presentationResultAcceptance, ts
			n.contexts[pc.ID] = acceptedContext{ID: pc.ID, AbstractSyntax: pc.AbstractSyntax, TransferSyntax: ts,
				PeerSCU: peerSCU, PeerSCP: peerSCP}
		}
		ac.Contexts = append(ac.Contexts, res)
	}
	n.ac = ac
	return n
}
