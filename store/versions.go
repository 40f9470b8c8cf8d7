package store

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"pacsd/dicom"
)

// Version is an earlier version of an instance: the record a re-send with other content
// (from the same site) or an administrator's restore replaced. Its blob is never deleted by
// the archive, so that it can be looked at and restored (Archive.Restore).
type Version struct {
	ID int64 // the index's identifier, unique among all versions
	Instance
	ReplacedAt time.Time // when it stopped being current (UTC)
	ReplacedBy string    // who replaced it: Origin.Who of the new version, or "admin:<user>"
}

// Who names a sender for the versions' history: its site key and calling AE title (or
// transport and address), no patient data.
func (o Origin) Who() string {
	who := o.Transport
	switch {
	case o.CallingAE != "":
		who += " " + o.CallingAE
	case o.RemoteAddr != "":
		who += " " + o.RemoteAddr
	}
	if o.Site != "" {
		who += " (" + o.Site + ")"
	}
	return who
}

// mayReplace is the overwrite rule (DESIGN.md section 3), in one place: existing is the
// stored version of inst's SOP instance, with other content. A new version is taken only
// in the same study and series, and only from the site that sent the stored one; the site
// must be known on both sides. Otherwise the error says why, wrapping ErrOtherStudy or
// ErrOtherSite (both ErrDuplicate); nothing is written.
func mayReplace(existing, inst *Instance) error {
	if existing.StudyInstanceUID != inst.StudyInstanceUID || existing.SeriesInstanceUID != inst.SeriesInstanceUID {
		return fmt.Errorf("put %s: stored in study %s series %s, re-sent for study %s series %s: %w",
			inst.SOPInstanceUID, existing.StudyInstanceUID, existing.SeriesInstanceUID,
			inst.StudyInstanceUID, inst.SeriesInstanceUID, ErrOtherStudy)
	}
	if existing.Origin.Site == "" || existing.Origin.Site != inst.Origin.Site {
		return fmt.Errorf("put %s: stored from site %q, re-sent from site %q: %w",
			inst.SOPInstanceUID, existing.Origin.Site, inst.Origin.Site, ErrOtherSite)
	}
	return nil
}

// mayJoin is the rule for a new SOP instance in an existing study: a township site's study
// (one holding objects from a registered site, "site:<id>") takes new objects from that site
// and from the county only. Unknown senders' keys ("ae:<title>") and objects stored before
// sites were recorded ("") claim nothing. sites lists the study's sites (Index.StudySites);
// it is not called for the county's objects, which join any study.
func mayJoin(inst *Instance, sites func() ([]string, error)) error {
	if inst.Origin.Site == "county" {
		return nil
	}
	ss, err := sites()
	if err != nil {
		return err
	}
	for _, s := range ss {
		if strings.HasPrefix(s, "site:") && s != inst.Origin.Site {
			return fmt.Errorf("put %s: study %s holds objects of %s, sent from %q: %w",
				inst.SOPInstanceUID, inst.StudyInstanceUID, s, inst.Origin.Site, ErrForeignStudy)
		}
	}
	return nil
}

// keptVersion reports whether a kept version of inst's SOP instance has inst's content (so
// its blob key): then a failed Put must leave that blob alone. When the index cannot tell,
// it answers true: a stray blob is harmless, a deleted version is not.
func (a *Archive) keptVersion(ctx context.Context, inst *Instance) bool {
	vs, err := a.idx.Versions(context.WithoutCancel(ctx), inst.SOPInstanceUID)
	if err != nil {
		return true
	}
	for _, v := range vs {
		if v.BlobKey == inst.BlobKey {
			return true
		}
	}
	return false
}

// Versions lists the kept earlier versions of an instance, most recently replaced first
// (none: an empty list). ErrNotFound when the instance itself is unknown.
func (a *Archive) Versions(ctx context.Context, sopInstanceUID string) ([]Version, error) {
	if _, err := a.idx.Instance(ctx, sopInstanceUID); err != nil {
		return nil, fmt.Errorf("versions of %s: %w", sopInstanceUID, err)
	}
	vs, err := a.idx.Versions(ctx, sopInstanceUID)
	if err != nil {
		return nil, indexError("versions of "+sopInstanceUID, err)
	}
	return vs, nil
}

// OpenVersion returns the Part-10 bytes of a kept version (an administrator comparing it
// with the current one). ErrNotFound when there is no such version of the instance.
func (a *Archive) OpenVersion(ctx context.Context, sopInstanceUID string, id int64) (*Version, io.ReadSeekCloser, error) {
	v, err := a.version(ctx, sopInstanceUID, id)
	if err != nil {
		return nil, nil, err
	}
	rc, err := a.openBlob(ctx, &v.Instance)
	if err != nil {
		return nil, nil, err
	}
	return v, rc, nil
}

func (a *Archive) version(ctx context.Context, sopInstanceUID string, id int64) (*Version, error) {
	vs, err := a.Versions(ctx, sopInstanceUID)
	if err != nil {
		return nil, err
	}
	for i := range vs {
		if vs[i].ID == id {
			return &vs[i], nil
		}
	}
	return nil, fmt.Errorf("version %d of %s: %w", id, sopInstanceUID, ErrNotFound)
}

// Restore makes a kept version of an instance current again, as an administrator decides
// (who names them, e.g. "admin:zhang"); the current record becomes a version in turn, so
// nothing is lost and the restore itself can be undone. The version's header is read again
// from its blob, so the index describes the restored bytes (the study's attributes as that
// version carries them); an unreadable blob is ErrUnavailable and nothing changes. It runs
// under the instance's lock, like Put, so a restore and a re-send never interleave. The
// restored record is announced to OnStored like a stored object.
func (a *Archive) Restore(ctx context.Context, sopInstanceUID string, id int64, who string) (*Instance, error) {
	defer a.locks.lock(sopInstanceUID)()
	v, err := a.version(ctx, sopInstanceUID, id)
	if err != nil {
		return nil, err
	}
	if err := a.describeVersion(ctx, v); err != nil {
		return nil, err
	}
	prev, err := a.idx.RestoreVersion(ctx, v, a.cfg.now().UTC(), who)
	if err != nil {
		return nil, indexError("restore "+sopInstanceUID, err)
	}
	restored := &v.Instance
	a.wb.restored(restored, prev)
	a.log.Warn("instance version restored", "sop_instance_uid", sopInstanceUID, "version", id, "by", who,
		"blob_key", restored.BlobKey, "old_blob_key", prev.BlobKey)
	a.announce(restored)
	return restored, nil
}

// describeVersion reads a kept version's header from its blob (locally, or from the remote
// store when evicted) and sets its attributes as Put would have.
func (a *Archive) describeVersion(ctx context.Context, v *Version) error {
	op := fmt.Sprintf("restore %s version %d", v.SOPInstanceUID, v.ID)
	rc, err := a.openBlob(ctx, &v.Instance)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer rc.Close()
	hdr, err := dicom.ReadPart10(bufio.NewReaderSize(ContextReader(ctx, rc), 64<<10), dicom.ReadOptions{FallbackCharset: a.cfg.FallbackCharset})
	if err != nil {
		return ioError(op+": read header", err)
	}
	d, err := describe(hdr, PutRequest{ExpectSOPInstanceUID: v.SOPInstanceUID,
		ExpectStudyInstanceUID: v.StudyInstanceUID})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	v.StudyAttrs, v.SeriesAttrs, v.InstanceAttrs = d.StudyAttrs, d.SeriesAttrs, d.InstanceAttrs
	return nil
}
