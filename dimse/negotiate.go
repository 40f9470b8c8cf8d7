package dimse

import (
	"slices"

	"pacsd/dicom"
)

// ourTransferSyntaxes is pacsd's preference order (uncompressed first), PS3.5 Annex A.
var ourTransferSyntaxes = dicom.TransferSyntaxes()

// chooseTransferSyntax picks the transfer syntax of one presentation context from what the
// peer proposed (PS3.8 9.3.3.2: exactly one is accepted). When the peer offers an
// uncompressed syntax we take the first of ours, in our order, that it proposed. When it
// offers only compressed ones (encapsulated or deflated) we take its first that we know:
// the peer listed what the data is in, and we store what was sent rather than ask for a
// conversion it may do lossily or not at all.
func chooseTransferSyntax(proposed []string) (string, bool) {
	var known []dicom.TransferSyntax
	for _, uid := range proposed {
		if ts, ok := dicom.LookupTransferSyntax(uid); ok {
			known = append(known, ts)
		}
	}
	if len(known) == 0 {
		return "", false
	}
	compressedOnly := true
	for _, ts := range known {
		if !ts.Encapsulated && !ts.Deflated {
			compressedOnly = false
			break
		}
	}
	if compressedOnly {
		return known[0].UID, true
	}
	for _, ts := range ourTransferSyntaxes {
		if slices.Contains(proposed, ts.UID) {
			return ts.UID, true
		}
	}
	return known[0].UID, true // unreachable: known is a subset of ours
}

// acceptedContext is a presentation context in use on an association.
type acceptedContext struct {
	ID             byte
	AbstractSyntax string
	TransferSyntax string
}

// negotiation is the service user's answer to an A-ASSOCIATE indication.
type negotiation struct {
	ac       *associateAC
	rj       *associateRJ
	contexts map[byte]acceptedContext // accepted ones only
}

// supportsAbstractSyntax tells whether we serve a SOP class as SCP.
func (s *Server) supportsAbstractSyntax(uid string) bool {
	if uid == dicom.VerificationSOPClass {
		return true
	}
	return s.Store != nil && dicom.IsStorageSOPClass(uid)
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
	if s.StrictCalledAE && rq.CalledAETitle != s.AETitle {
		return reject(rjReasonCalledAENotRecognized)
	}
	if s.Accept != nil {
		if err := s.Accept(info); err != nil {
			return reject(rjReasonCallingAENotRecognized)
		}
	}

	// PS3.7 D.3.3.4: we only ever act as SCP on an association we accept. For each SOP class
	// the requestor names we agree to its SCU role and decline the SCP role; if it refuses to
	// be SCU for a class, nothing we offer fits, and its contexts are rejected.
	// Only classes proposed in a presentation context are answered, which also bounds the
	// answer (128 contexts) whatever the request holds.
	var roles []roleSelection
	noSCU := map[string]bool{}
	proposed := func(uid string) bool {
		return slices.ContainsFunc(rq.Contexts, func(pc presentationContextRQ) bool { return pc.AbstractSyntax == uid })
	}
	for _, r := range rq.UserInfo.Roles {
		if !proposed(r.SOPClassUID) || slices.ContainsFunc(roles, func(x roleSelection) bool { return x.SOPClassUID == r.SOPClassUID }) {
			continue
		}
		roles = append(roles, roleSelection{SOPClassUID: r.SOPClassUID, SCU: r.SCU && s.supportsAbstractSyntax(r.SOPClassUID)})
		if !r.SCU {
			noSCU[r.SOPClassUID] = true
		}
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
		switch {
		case pc.ID%2 == 0:
			// PS3.8 9.3.2.2: IDs are odd. We cannot use this one; say so without a reason.
			res.Result = presentationResultNoReason
		case !s.supportsAbstractSyntax(pc.AbstractSyntax):
			res.Result = presentationResultAbstractSyntax
		case noSCU[pc.AbstractSyntax]:
			res.Result = presentationResultUserRejection
		default:
			ts, ok := chooseTransferSyntax(pc.TransferSyntaxes)
			if !ok {
				res.Result = presentationResultTransferSyntax
				break
			}
			res.Result, res.TransferSyntax = presentationResultAcceptance, ts
			n.contexts[pc.ID] = acceptedContext{ID: pc.ID, AbstractSyntax: pc.AbstractSyntax, TransferSyntax: ts}
		}
		ac.Contexts = append(ac.Contexts, res)
	}
	n.ac = ac
	return n
}
