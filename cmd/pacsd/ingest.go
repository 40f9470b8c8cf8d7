package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"

	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/store"
)

// ingest turns C-STORE data sets into Archive.Put calls: it prefixes the File Meta
// Information so the archive stores a Part-10 object whose data set bytes are exactly
// what the modality sent.
type ingest struct {
	archive *store.Archive
	log     *slog.Logger
	audit   *storeAudit // nil: not recorded
	peers   *peerPolicy // who may store, and the Origin.Site of what they send; nil: anyone, no site
}

func (h *ingest) HandleStore(ctx context.Context, req *dimse.StoreRequest, data io.Reader) dimse.Status {
	var site string
	var quarantined bool
	if h.peers != nil {
		var refused *dimse.Status
		if site, quarantined, refused = h.peers.storeOrigin(ctx, req.CallingAETitle); refused != nil {
			h.log.Warn("C-STORE refused", "assoc", req.AssociationID, "calling_ae", req.CallingAETitle,
				"remote", req.RemoteAddr, "sop_instance_uid", req.SOPInstanceUID, "reason", refused.ErrorComment)
			return *refused
		}
	}
	var meta bytes.Buffer
	if _, err := dicom.WriteFileMeta(&meta, dicom.FileMeta{
		SOPClassUID:       req.SOPClassUID,
		SOPInstanceUID:    req.SOPInstanceUID,
		TransferSyntaxUID: req.TransferSyntaxUID,
		SourceAETitle:     req.CallingAETitle,
	}); err != nil {
		// Refused before the archive saw it: the archive's line is not written, this is.
		h.log.Warn("C-STORE refused", "assoc", req.AssociationID, "calling_ae", req.CallingAETitle,
			"sop_instance_uid", req.SOPInstanceUID, "err", err)
		return dimse.Status{Code: dimse.StatusCannotUnderstand, ErrorComment: "bad command UIDs"}
	}
	// The archive logs the object's outcome (one line per object, whatever the transport).
	inst, err := h.archive.Put(ctx, io.MultiReader(&meta, data), store.PutRequest{
		Origin: store.Origin{
			Transport:   "dimse",
			CallingAE:   req.CallingAETitle,
			CalledAE:    req.CalledAETitle,
			RemoteAddr:  req.RemoteAddr,
			Site:        site,
			Quarantined: quarantined,
		},
		ExpectSOPInstanceUID: req.SOPInstanceUID,
		ExpectSOPClassUID:    req.SOPClassUID,
	})
	h.audit.stored(ctx, req, inst, err)
	return storeStatus(err)
}

// storeStatus is the one table from archive errors to C-STORE statuses (PS3.4 B.2.3).
// Error comments are fixed strings: internals never reach the peer.
func storeStatus(err error) dimse.Status {
	switch {
	case err == nil:
		return dimse.Status{Code: dimse.StatusSuccess}
	case errors.Is(err, store.ErrNoSpace):
		return dimse.Status{Code: dimse.StatusOutOfResources, ErrorComment: "out of storage space"}
	case errors.Is(err, store.ErrTooLarge):
		return dimse.Status{Code: dimse.StatusOutOfResources, ErrorComment: "object too large"}
	case errors.Is(err, store.ErrOtherStudy):
		// PS3.7 C.5 (0x0111): the SOP instance is stored, with other content; re-sending
		// it with another Study/Series UID would move it silently. The stored one stays.
		return dimse.Status{Code: dimse.StatusDuplicateSOPInstance, ErrorComment: "SOP Instance UID already stored with other content in another study"}
	case errors.Is(err, store.ErrForeignStudy):
		// PS3.7 C.5 (0x0124): this sender may not add to a township site's study.
		return dimse.Status{Code: dimse.StatusNotAuthorized, ErrorComment: "study belongs to another site"}
	case errors.Is(err, store.ErrDuplicate):
		return dimse.Status{Code: dimse.StatusDuplicateSOPInstance, ErrorComment: "SOP Instance UID already stored with other content by another site"}
	case errors.Is(err, store.ErrInvalid):
		return dimse.Status{Code: dimse.StatusCannotUnderstand, ErrorComment: "data set invalid or does not match the command"}
	case errors.Is(err, store.ErrUnavailable):
		return dimse.Status{Code: dimse.StatusOutOfResources, ErrorComment: "storage unavailable"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return dimse.Status{Code: dimse.StatusProcessingFailure, ErrorComment: "cancelled"}
	default:
		return dimse.Status{Code: dimse.StatusProcessingFailure, ErrorComment: "processing failure"}
	}
}
