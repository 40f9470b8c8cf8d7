package qr

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/reading"
	"pacsd/store"
)

// Storage Commitment Push Model SCP (PS3.4 Annex J.3): a registered peer that may store
// asks, by N-ACTION, whether we have taken responsibility for SOP instances; we answer
// the N-ACTION at once, check each instance in the index, and report the committed and
// failed ones in an N-EVENT-REPORT, on the same association while the peer keeps it open,
// else on a new association to its registered host and port.

// The Storage Commitment Push Model SOP Class and its well-known instance (PS3.4 J.3.5,
// PS3.6 Annex A).
const (
	StorageCommitmentSOPClass    = "1.2.840.10008.1.20.1"
	StorageCommitmentSOPInstance = "1.2.840.10008.1.20.1.1"
)

// CommitSOPClasses is what a Committer serves (dimse.Server.ActionSOPClasses).
var CommitSOPClasses = []string{StorageCommitmentSOPClass}

// Attributes of the Storage Commitment Request and Result (PS3.4 J.3.2.1.1, J.3.3.1.1).
const (
	TagTransactionUID        dicom.Tag = 0x00081195
	TagReferencedSOPSequence dicom.Tag = 0x00081199
	TagFailedSOPSequence     dicom.Tag = 0x00081198
	TagReferencedSOPClass    dicom.Tag = 0x00081150
	TagReferencedSOPInstance dicom.Tag = 0x00081155
	TagFailureReason         dicom.Tag = 0x00081197
)

// Failure Reasons of the Failed SOP Sequence (PS3.4 J.3.3.1.1.2) and N-ACTION statuses
// (PS3.7 10.1.4.1.10) the Committer uses.
const (
	FailureProcessing            uint16 = 0x0110
	FailureNoSuchObjectInstance  uint16 = 0x0112
	FailureClassInstanceConflict uint16 = 0x0119
	statusInvalidArgumentValue   uint16 = 0x0115
	statusInvalidObjectInstance  uint16 = 0x0117
	statusNoSuchAction           uint16 = 0x0123
)

const (
	actionRequestStorageCommit uint16 = 1 // PS3.4 J.3.2: Request Storage Commitment
	eventCommitSuccess         uint16 = 1 // PS3.4 J.3.3: every instance committed
	eventCommitFailures        uint16 = 2 // one or more failures
	maxCommitReferences               = 10000
	defaultUploadWait                 = 10 * time.Minute
	defaultUploadPoll                 = 2 * time.Second
	reportAttempts                    = 3
	reportRetryBase                   = 5 * time.Second
	commitAuditObject                 = "storage commitment"
)

// CommitPolicy says when an instance counts as committed.
type CommitPolicy int

const (
	// CommitDurable: the object is durable in the local archive (folder, or the S3
	// write-back spool: fsync'd before it was acknowledged) and indexed. The default: it
	// is the promise a C-STORE success already made.
	CommitDurable CommitPolicy = iota
	// CommitUploaded: with S3 write-back, the object is also in the bucket (verified by
	// size and SHA-256); the report waits for the upload up to CommitConfig.UploadWait.
	CommitUploaded
)

// CommitConfig configures a Committer.
type CommitConfig struct {
	Policy CommitPolicy
	// UploadWait bounds the wait for uploads under CommitUploaded (default 10 min);
	// an instance still not in the bucket then fails with 0x0110. UploadPoll is how often
	// the index is asked meanwhile (default 2 s).
	UploadWait, UploadPoll time.Duration
	// TLS dials peers registered with RequireTLS (as RetrieveConfig.TLS).
	TLS *tls.Config
}

// Committer is the Storage Commitment Push Model SCP (a dimse.ActionHandler). Its reports
// run in goroutines it owns: Close cancels and waits for them.
type Committer struct {
	s      *Service
	cfg    CommitConfig
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewCommitter returns the storage commitment SCP of s (its index, peers, audit and AE
// title).
func NewCommitter(s *Service, cfg CommitConfig) *Committer {
	if cfg.UploadWait <= 0 {
		cfg.UploadWait = defaultUploadWait
	}
	if cfg.UploadPoll <= 0 {
		cfg.UploadPoll = defaultUploadPoll
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Committer{s: s, cfg: cfg, ctx: ctx, cancel: cancel}
}

// Close stops the reports not yet sent and waits for their goroutines.
func (c *Committer) Close() {
	c.cancel()
	c.wg.Wait()
}

var _ dimse.ActionHandler = (*Committer)(nil)

// commitRef is one SOP instance of a request, and its outcome.
type commitRef struct {
	class, instance string
	failure         uint16 // 0: committed
}

// HandleAction answers a Request Storage Commitment N-ACTION (PS3.4 J.3.2) and starts its
// report.
func (c *Committer) HandleAction(ctx context.Context, req *dimse.ActionRequest, reports dimse.EventReporter) dimse.Status {
	q := &dimse.QueryRequest{CallingAETitle: req.CallingAETitle, RemoteAddr: req.RemoteAddr, TLS: req.TLS}
	actor := audit.AE(req.CallingAETitle, hostOf(req.RemoteAddr))
	peer, why, err := c.s.authorize(ctx, q, MayCommit)
	if err != nil {
		c.s.log.Error("peer lookup failed", "calling_ae", req.CallingAETitle, "err", err)
		return dimse.Status{Code: dimse.StatusProcessingFailure, ErrorComment: "peer registry unavailable"}
	}
	if why != "" {
		c.s.log.Warn("storage commitment refused", "calling_ae", req.CallingAETitle, "addr", req.RemoteAddr, "reason", why)
		c.s.cfg.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.ActionSecurity, Object: "N-ACTION " + commitAuditObject,
			Outcome: audit.OutcomeFailure, Detail: why})
		return dimse.Status{Code: dimse.StatusNotAuthorized, ErrorComment: "not authorized: " + why}
	}
	switch {
	case req.SOPInstanceUID != StorageCommitmentSOPInstance:
		return dimse.Status{Code: statusInvalidObjectInstance, ErrorComment: "not the well-known Storage Commitment instance"}
	case req.ActionTypeID != actionRequestStorageCommit:
		return dimse.Status{Code: statusNoSuchAction, ErrorComment: "action type " + strconv.Itoa(int(req.ActionTypeID))}
	}
	txn, refs, err := decodeCommitRequest(req)
	if err != nil {
		c.s.log.Info("storage commitment request unreadable", "calling_ae", req.CallingAETitle, "err", err)
		return dimse.Status{Code: statusInvalidArgumentValue, ErrorComment: shortText(err.Error())}
	}
	c.s.log.Info("storage commitment requested", "calling_ae", req.CallingAETitle, "transaction_uid", txn, "instances", len(refs))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.commit(c.ctx, req, peer, actor, txn, refs, reports)
	}()
	return dimse.Status{Code: dimse.StatusSuccess}
}

// decodeCommitRequest reads the Transaction UID and the Referenced SOP Sequence (PS3.4
// J.3.2.1.1): at least one reference, each with class and instance UIDs.
func decodeCommitRequest(req *dimse.ActionRequest) (string, []commitRef, error) {
	if len(req.ActionInformation) == 0 {
		return "", nil, errors.New("no Action Information")
	}
	ds, err := dicom.ReadDataset(bytes.NewReader(req.ActionInformation), req.TransferSyntaxUID,
		dicom.ReadOptions{MaxElements: 3*maxCommitReferences + 10, MaxDepth: 2})
	if err != nil {
		return "", nil, fmt.Errorf("action information: %w", err)
	}
	txn := strings.TrimSpace(ds.String(TagTransactionUID))
	if err := dicom.CheckUID(txn, dicom.UIDLeadingZeros); err != nil {
		return "", nil, fmt.Errorf("read transaction UID %s: %w", TagTransactionUID, err)
	}
	seq := ds.Get(TagReferencedSOPSequence)
	if seq == nil || len(seq.Items) == 0 {
		return "", nil, fmt.Errorf("no Referenced SOP Sequence %s", TagReferencedSOPSequence)
	}
	if len(seq.Items) > maxCommitReferences {
		return "", nil, fmt.Errorf("more than %d references", maxCommitReferences)
	}
	refs := make([]commitRef, 0, len(seq.Items))
	for i, it := range seq.Items {
		r := commitRef{class: strings.TrimSpace(it.String(TagReferencedSOPClass)), instance: strings.TrimSpace(it.String(TagReferencedSOPInstance))}
		if r.class == "" || r.instance == "" {
			return "", nil, fmt.Errorf("reference %d without SOP class or instance UID", i+1)
		}
		refs = append(refs, r)
	}
	return txn, refs, nil
}

// commit checks each reference and sends the report.
func (c *Committer) commit(ctx context.Context, req *dimse.ActionRequest, peer reading.Peer, actor audit.Actor,
	txn string, refs []commitRef, reports dimse.EventReporter,
) {
	c.check(ctx, peer, refs)
	failed := 0
	for _, r := range refs {
		if r.failure != 0 {
			failed++
		}
	}
	ev := dimse.EventReport{SOPClassUID: StorageCommitmentSOPClass, SOPInstanceUID: StorageCommitmentSOPInstance,
		EventTypeID: eventCommitSuccess, Encode: func(ts string) ([]byte, error) { return c.encodeResult(ts, txn, refs) }}
	if failed > 0 {
		ev.EventTypeID = eventCommitFailures
	}
	how, err := c.report(ctx, peer, ev, reports)
	outcome, detail := audit.OutcomeSuccess, fmt.Sprintf("%s %s: %d committed, %d failed; reported %s",
		commitAuditObject, txn, len(refs)-failed, failed, how)
	attrs := []any{"calling_ae", req.CallingAETitle, "transaction_uid", txn, "committed", len(refs) - failed, "failed", failed, "reported", how}
	if err != nil {
		outcome, detail = audit.OutcomeFailure, detail+": "+err.Error()
		c.s.log.Error("storage commitment report not delivered", append(attrs, "err", err)...)
	} else {
		c.s.log.Info("storage commitment reported", attrs...)
	}
	c.s.cfg.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.ActionQuery, Object: commitAuditObject, Outcome: outcome, Detail: detail})
}

// check sets each reference's failure reason: not in the index, or outside the peer's
// site (not told apart: a site does not learn of another's objects), 0x0112; another SOP
// class, 0x0119; with CommitUploaded, not in the bucket within UploadWait, 0x0110.
func (c *Committer) check(ctx context.Context, peer reading.Peer, refs []commitRef) {
	deadline := time.Now().Add(c.cfg.UploadWait)
	for i := range refs {
		r := &refs[i]
		for {
			inst, err := c.s.cfg.Index.Instance(ctx, r.instance)
			switch {
			case errors.Is(err, store.ErrNotFound):
				r.failure = FailureNoSuchObjectInstance
			case err != nil:
				c.s.log.Error("storage commitment: index lookup failed", "sop_instance_uid", r.instance, "err", err)
				r.failure = FailureProcessing
			case peer.SiteID != 0 && inst.Origin.Site != reading.SenderSite(peer.SiteID):
				r.failure = FailureNoSuchObjectInstance
			case inst.SOPClassUID != r.class:
				r.failure = FailureClassInstanceConflict
			case c.cfg.Policy == CommitUploaded && !inst.Uploaded:
				if time.Now().Before(deadline) && sleepCtx(ctx, c.cfg.UploadPoll) {
					continue
				}
				r.failure = FailureProcessing
			}
			break
		}
	}
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// encodeResult is the Storage Commitment Result (PS3.4 J.3.3.1.1) in transfer syntax ts:
// Transaction UID, Retrieve AE Title, Referenced SOP Sequence (committed) and Failed SOP
// Sequence (with Failure Reason), each only when not empty.
func (c *Committer) encodeResult(ts, txn string, refs []commitRef) ([]byte, error) {
	var buf bytes.Buffer
	enc, err := dicom.NewEncoder(&buf, ts) // deflates itself for Deflated Explicit VR LE
	if err != nil {
		return nil, err
	}
	if ae := strings.TrimSpace(c.s.cfg.AETitle); ae != "" {
		enc.WriteString(TagRetrieveAETitle, "AE", ae)
	}
	seq := func(tag dicom.Tag, failed bool) {
		begun := false
		for _, r := range refs {
			if (r.failure != 0) != failed {
				continue
			}
			if !begun {
				enc.BeginSequence(tag)
				begun = true
			}
			enc.BeginItem()
			enc.WriteString(TagReferencedSOPClass, "UI", r.class)
			enc.WriteString(TagReferencedSOPInstance, "UI", r.instance)
			if failed {
				enc.WriteUint16(TagFailureReason, "US", r.failure)
			}
			enc.EndItem()
		}
		if begun {
			enc.EndSequence()
		}
	}
	enc.WriteString(TagTransactionUID, "UI", txn)
	seq(TagFailedSOPSequence, true)
	seq(TagReferencedSOPSequence, false)
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// report sends ev on the request's association while it is open, else on a new one to the
// peer's registered host and port (retried a few times: PS3.4 J.3.3 lets the SCP choose).
// how says which.
func (c *Committer) report(ctx context.Context, peer reading.Peer, ev dimse.EventReport, same dimse.EventReporter) (string, error) {
	st, err := same.EventReport(ctx, ev)
	switch {
	case err == nil && st.OK():
		return "on the same association", nil
	case err == nil:
		return "on the same association", fmt.Errorf("N-EVENT-REPORT-RSP status %s", st)
	case !errors.Is(err, dimse.ErrAssociationGone):
		return "on the same association", err
	}
	if peer.Host == "" || peer.Port <= 0 {
		return "nowhere", errors.New("the association is closed and the peer has no registered host and port")
	}
	addr := net.JoinHostPort(peer.Host, strconv.Itoa(peer.Port))
	cfg := dimse.ClientConfig{
		CallingAETitle: c.s.cfg.AETitle,
		CalledAETitle:  peer.AETitle,
		Contexts:       map[string][]string{StorageCommitmentSOPClass: {dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian}},
		SCPRoles:       []string{StorageCommitmentSOPClass}, // PS3.4 J.3.3: we are the SCP on the peer's association too
	}
	if peer.RequireTLS {
		cfg.TLS = clientTLSFor(c.cfg.TLS, peer.Host)
	}
	how := "on a new association to " + addr
	for attempt := 1; ; attempt++ {
		err = c.reportOnce(ctx, addr, cfg, ev)
		if err == nil || attempt == reportAttempts || !sleepCtx(ctx, time.Duration(attempt)*reportRetryBase) {
			return how, err
		}
		c.s.log.Warn("storage commitment report failed: retrying", "addr", addr, "attempt", attempt, "err", err)
	}
}

func (c *Committer) reportOnce(ctx context.Context, addr string, cfg dimse.ClientConfig, ev dimse.EventReport) error {
	cl, err := dimse.Dial(ctx, addr, cfg)
	if err != nil {
		return err
	}
	st, err := cl.EventReport(ctx, ev)
	if err != nil {
		cl.Abort()
		return err
	}
	if rerr := cl.Release(ctx); rerr != nil {
		c.s.log.Debug("release after the storage commitment report", "addr", addr, "err", rerr)
	}
	if !st.OK() {
		return fmt.Errorf("N-EVENT-REPORT-RSP status %s", st)
	}
	return nil
}
