package qr

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/dimse"
	"pacsd/store"
)

// MoveSOPClasses and GetSOPClasses are what a Retriever serves: dimse.Server's
// MoveSOPClasses and GetSOPClasses.
var (
	MoveSOPClasses = []string{PatientRootMove, StudyRootMove}
	GetSOPClasses  = []string{PatientRootGet, StudyRootGet}
)

// Archive is what a retrieve reads: the index, and the stored objects (a local file or
// the bucket's copy when evicted, both streamed). *store.Archive is one.
type Archive interface {
	Index() store.IndexReader
	Open(ctx context.Context, sopInstanceUID string) (*store.Instance, io.ReadSeekCloser, error)
}

// RetrieveConfig configures a Retriever.
type RetrieveConfig struct {
	Archive Archive // required
	// TLS is the client configuration for destinations registered with RequireTLS (PS3.15
	// B.1): the CAs that sign the county's peers and the certificate we present. Its
	// ServerName is set per destination. nil: the system's CAs, no client certificate.
	TLS    *tls.Config
	Pixels *pixel.Budget // bounds transcoding to Explicit VR Little Endian; nil: the default
	// Dial, when set, replaces the associations to a C-MOVE destination (dimse.StoreAll):
	// for tests.
	Dial func(ctx context.Context, addr string, cfg dimse.ClientConfig, items []dimse.StoreItem, report func(dimse.StoreResult)) error
}

// Retriever answers C-MOVE and C-GET (dimse.MoveHandler, dimse.GetHandler) from the
// archive: the objects as stored, or re-encoded in Explicit VR Little Endian for a peer
// that does not accept their syntax. Who may retrieve what, and the audit trail, are the
// Service's (request.go); C-MOVE sub-associations call as the Service's AE title.
type Retriever struct {
	s   *Service
	cfg RetrieveConfig
}

// NewRetriever returns the C-MOVE/C-GET SCP of s; cfg.Archive is required.
func NewRetriever(s *Service, cfg RetrieveConfig) *Retriever {
	if cfg.Dial == nil {
		cfg.Dial = dimse.StoreAll
	}
	return &Retriever{s: s, cfg: cfg}
}

var (
	_ dimse.MoveHandler = (*Retriever)(nil)
	_ dimse.GetHandler  = (*Retriever)(nil)
)

// retrieveKeys is what a C-MOVE/C-GET asks for (PS3.4 C.4.2.2.1, C.4.3.2.1: unique keys
// only): the index query scoping it (the asker's site, the single-valued unique keys of
// the levels above, Request.UniqueKeys) and the values of the retrieve level's unique key
// (Patient ID; Study, Series or SOP Instance UIDs, which may be a list).
type retrieveKeys struct {
	q      store.Query
	values []string
}

// String names what was asked, for the audit trail and the logs.
func (k retrieveKeys) String() string {
	return LevelName(k.q.Level) + " " + strings.Join(k.values, `\`)
}

// levelKey is the unique key of each retrieve level (PS3.4 C.6.1.1, C.6.2.1).
var levelKey = map[store.Level]dicom.Tag{
	store.LevelPatient:  dicom.TagPatientID,
	store.LevelStudy:    dicom.TagStudyInstanceUID,
	store.LevelSeries:   dicom.TagSeriesInstanceUID,
	store.LevelInstance: dicom.TagSOPInstanceUID,
}

// retrieveKeysOf reads the unique keys of a retrieve; what it refuses gets 0xA900
// (Identifier does not match SOP Class).
func retrieveKeysOf(r *Request) (retrieveKeys, *dimse.Status) {
	mismatch := func(why string) (retrieveKeys, *dimse.Status) {
		return retrieveKeys{}, &dimse.Status{Code: dimse.StatusDataSetMismatch, ErrorComment: why}
	}
	q, err := r.UniqueKeys()
	if err != nil {
		return mismatch(err.Error())
	}
	tag := levelKey[r.Level]
	var values []string
	for _, v := range r.Identifier.Strings(tag) {
		if v = strings.TrimSpace(v); tag != dicom.TagPatientID {
			v = dicom.TrimUID(v)
		}
		if v == "" || slices.Contains(values, v) {
			continue
		}
		// No wildcards, no ranges: unique keys match single values or UID lists
		// (PS3.4 C.2.2.2.1, C.4.2.2.1).
		if strings.ContainsAny(v, "*?") || (tag != dicom.TagPatientID && !dicom.ValidUID(v, dicom.UIDLeadingZeros)) {
			return mismatch(fmt.Sprintf("invalid unique key %s at level %s", tag, LevelName(r.Level)))
		}
		values = append(values, v)
	}
	switch {
	case len(values) == 0:
		return mismatch(fmt.Sprintf("level %s needs its unique key %s", LevelName(r.Level), tag))
	case tag == dicom.TagPatientID && len(values) > 1:
		return mismatch("one Patient ID at level PATIENT")
	}
	return retrieveKeys{q: q, values: values}, nil
}

// maxUIDList bounds the UIDs asked of the index at once (the index's own list bound).
const maxUIDList = 500

// resolve lists the instances the keys name within their scope, in study, series,
// instance order. None is not an error: the retrieve then completes with no
// sub-operations (PS3.4 C.4.2.3.1).
func (r *Retriever) resolve(ctx context.Context, k retrieveKeys) ([]*store.Instance, error) {
	idx := r.cfg.Archive.Index()
	q := k.q
	tag := levelKey[q.Level]
	if q.Level == store.LevelPatient {
		q.Level = store.LevelStudy // a patient's studies
	}
	var hits []store.Hit
	for chunk := range slices.Chunk(k.values, maxUIDList) {
		q.Matches = append(slices.Clip(k.q.Matches), store.Match{Tag: tag, Value: strings.Join(chunk, `\`)})
		h, err := idx.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("retrieve %s: %w", k, err)
		}
		hits = append(hits, h...)
	}
	var out []*store.Instance
	for _, h := range hits {
		if q.Level == store.LevelInstance {
			inst, err := idx.Instance(ctx, h.SOPInstanceUID)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted since
			}
			if err != nil {
				return nil, fmt.Errorf("retrieve %s: %w", k, err)
			}
			out = append(out, inst)
			continue
		}
		insts, err := idx.Instances(ctx, h.StudyUID, h.SeriesUID) // SeriesUID "" at study level
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("retrieve %s: %w", k, err)
		}
		out = append(out, insts...)
	}
	return out, nil
}

// items are the C-STORE sub-operations of a retrieve (StoreItems).
func (r *Retriever) items(ctx context.Context, insts []*store.Instance) []dimse.StoreItem {
	return StoreItems(ctx, r.cfg.Archive, r.cfg.Pixels, insts)
}

// StoreItems are the C-STORE operations that send insts from the archive a: each instance
// streamed in its stored syntax, or re-encoded in Explicit VR Little Endian (as `pacsd
// send` does) for a peer that does not accept that syntax (px bounds the transcoding; nil:
// the default). A retrieve's sub-operations and forwarding (forward/send) both use it.
func StoreItems(ctx context.Context, a Archive, px *pixel.Budget, insts []*store.Instance) []dimse.StoreItem {
	r := opener{a, px}
	items := make([]dimse.StoreItem, len(insts))
	for i, inst := range insts {
		items[i] = dimse.StoreItem{
			SOPClassUID:       inst.SOPClassUID,
			SOPInstanceUID:    inst.SOPInstanceUID,
			TransferSyntaxUID: inst.TransferSyntaxUID,
			Open:              func() (io.ReadCloser, error) { return r.openDataset(ctx, inst) },
		}
		if pixel.OffersExplicitLE(inst.TransferSyntaxUID) {
			items[i].Uncompressed = func() (io.ReadCloser, error) { return r.openExplicitLE(ctx, inst) }
		}
	}
	return items
}

// opener opens the objects of StoreItems.
type opener struct {
	a  Archive
	px *pixel.Budget
}

// open opens the current version of inst, which must still be in the syntax the item
// was proposed in.
func (r opener) open(ctx context.Context, inst *store.Instance) (*store.Instance, io.ReadSeekCloser, error) {
	rec, rc, err := r.a.Open(ctx, inst.SOPInstanceUID)
	if err != nil {
		return nil, nil, err
	}
	if rec.TransferSyntaxUID != inst.TransferSyntaxUID {
		rc.Close()
		return nil, nil, fmt.Errorf("open %s: replaced by a version in another transfer syntax", inst.SOPInstanceUID)
	}
	return rec, rc, nil
}

// openDataset streams the stored data set: the Part-10 object from its DatasetOffset
// (DIMSE carries no File Meta Information).
func (r opener) openDataset(ctx context.Context, inst *store.Instance) (io.ReadCloser, error) {
	rec, rc, err := r.open(ctx, inst)
	if err != nil {
		return nil, err
	}
	if _, err := rc.Seek(rec.DatasetOffset, io.SeekStart); err != nil {
		rc.Close()
		return nil, fmt.Errorf("open %s: %w", inst.SOPInstanceUID, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{bufio.NewReaderSize(store.ContextReader(ctx, rc), 256<<10), rc}, nil
}

// openExplicitLE streams the data set re-encoded in Explicit VR Little Endian with native
// pixel data (pixel.ExplicitLEDataset: one frame in memory at a time).
func (r opener) openExplicitLE(ctx context.Context, inst *store.Instance) (io.ReadCloser, error) {
	rec, rc, err := r.open(ctx, inst)
	if err != nil {
		return nil, err
	}
	src, ok := rc.(pixel.Part10Source)
	if !ok {
		rc.Close()
		return nil, fmt.Errorf("open %s: the blob store gives no random access", inst.SOPInstanceUID)
	}
	body, err := r.px.OpenExplicitLE(ctx, src, rec.Size)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", inst.SOPInstanceUID, err)
	}
	return body, nil
}

// subOps sends items with send and keeps the counts PS3.4 C.4.2.3.1 and C.4.3.3.1 ask
// for, calling progress (a pending response) after each sub-operation. After a C-CANCEL
// (ctx cancelled, or progress failing) the items not yet started stay Remaining (and nil
// in perItem, which holds each item's result).
func subOps(ctx context.Context, items []dimse.StoreItem, progress dimse.Progress,
	send func(ctx context.Context, items []dimse.StoreItem, report func(dimse.StoreResult)) error,
) (res dimse.RetrieveResult, perItem []*dimse.StoreResult, sendErr error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make([]bool, len(items))
	wrapped := make([]dimse.StoreItem, len(items))
	for i, it := range items {
		open, unc := it.Open, it.Uncompressed
		it.Open = func() (io.ReadCloser, error) { started[i] = true; return open() }
		if unc != nil {
			it.Uncompressed = func() (io.ReadCloser, error) { started[i] = true; return unc() }
		}
		wrapped[i] = it
	}
	perItem = make([]*dimse.StoreResult, len(items)) // nil: not reported (not started)
	ops := dimse.SubOperations{Remaining: len(items)}
	var failed []string
	sendErr = send(ctx, wrapped, func(sr dimse.StoreResult) {
		if sr.Err != nil && !started[sr.Index] && ctx.Err() != nil {
			return // cancelled before its turn: still remaining
		}
		perItem[sr.Index] = &sr
		ops.Remaining--
		switch {
		case !sr.OK():
			ops.Failed++
			failed = append(failed, items[sr.Index].SOPInstanceUID)
		case sr.Status.Category() == dimse.CategoryWarning:
			ops.Warning++
		default:
			ops.Completed++
		}
		if ops.Remaining > 0 && ctx.Err() == nil {
			if err := progress(ops); err != nil {
				cancel() // the requester cancelled or is gone: start nothing more
			}
		}
	})
	res = dimse.RetrieveResult{SubOperations: ops, FailedSOPInstanceUIDs: failed}
	switch {
	case ctx.Err() != nil && ops.Remaining > 0:
		res.Status = dimse.Status{Code: dimse.StatusCancel}
	case ops.Failed == 0 && ops.Warning == 0:
		res.Status = dimse.Status{Code: dimse.StatusSuccess}
	case ops.Completed == 0 && ops.Warning == 0:
		res.Status = dimse.Status{Code: dimse.StatusOutOfResourcesSubOps, ErrorComment: "no sub-operation succeeded"}
	default:
		// PS3.4 C.4.2.1.5: Sub-operations Complete - One or more Failures or Warnings.
		res.Status = dimse.Status{Code: dimse.StatusSubOpsWarning}
	}
	if res.Status.Code != dimse.StatusCancel {
		res.SubOperations.Remaining = 0
	}
	return res, perItem, sendErr
}
