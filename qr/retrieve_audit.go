package qr

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/store"
)

// retrieveOp names a retrieve for the audit trail and the logs.
type retrieveOp struct {
	name        string // "C-MOVE" or "C-GET"
	destination string // C-MOVE: the Move Destination
}

func (op retrieveOp) String() string {
	if op.destination != "" {
		return op.name + " to " + op.destination
	}
	return op.name
}

// begin checks the caller (Service.Begin: a registered peer that may retrieve, over TLS
// and from its addresses when it must; 0x0124 otherwise) and reads the keys of its
// request. A refusal is logged and recorded, and its status returned.
func (r *Retriever) begin(ctx context.Context, q *dimse.QueryRequest, op retrieveOp) (*Request, retrieveKeys, *dimse.Status) {
	req, st, ok := r.s.Begin(ctx, q, MayRetrieve)
	if !ok {
		// Begin logged the refusal and recorded a refused peer (0x0124) itself.
		if st.Code != dimse.StatusNotAuthorized {
			r.s.cfg.Audit.Record(ctx, audit.Event{Actor: audit.AE(q.CallingAETitle, hostOf(q.RemoteAddr)),
				Action: audit.ActionRetrieve, Outcome: audit.OutcomeFailure, Detail: fmt.Sprintf("%s refused: status %s", op, st)})
		}
		return nil, retrieveKeys{}, &st
	}
	k, kst := retrieveKeysOf(req)
	if kst != nil {
		r.refuse(ctx, req, op, k, *kst)
		return nil, k, kst
	}
	return req, k, nil
}

// refuse answers a retrieve refused before any sub-operation, and records it.
func (r *Retriever) refuse(ctx context.Context, req *Request, op retrieveOp, k retrieveKeys, st dimse.Status) dimse.RetrieveResult {
	r.s.log.Warn("retrieve refused", "op", op.name, "calling_ae", req.CallingAETitle, "remote", req.RemoteAddr,
		"move_destination", op.destination, "status", st.String())
	r.s.Record(ctx, req, audit.ActionRetrieve, k.String(), nil, audit.OutcomeFailure, fmt.Sprintf("%s refused: status %s", op, st))
	return dimse.RetrieveResult{Status: st}
}

// finish logs a retrieve and records it in the audit trail: one event per study sent
// (who, from where, which patient and study, where to, how many objects), like C-STORE's
// once per association and study; one event when nothing matched.
func (r *Retriever) finish(ctx context.Context, req *Request, op retrieveOp, k retrieveKeys,
	insts []*store.Instance, perItem []*dimse.StoreResult, res dimse.RetrieveResult, sendErr error, took time.Duration,
) {
	n := res.SubOperations
	attrs := []any{"op", op.name, "calling_ae", req.CallingAETitle, "remote", req.RemoteAddr,
		"level", LevelName(k.q.Level), "instances", len(insts), "completed", n.Completed, "failed", n.Failed,
		"warning", n.Warning, "remaining", n.Remaining, "status", res.Status.String(), "took", took.Round(time.Millisecond)}
	if op.destination != "" {
		attrs = append(attrs, "move_destination", op.destination)
	}
	if sendErr != nil {
		attrs = append(attrs, "err", sendErr)
	}
	if res.Status.Code == dimse.StatusSuccess {
		r.s.log.Info("retrieve done", attrs...)
	} else {
		r.s.log.Warn("retrieve done with failures", attrs...)
	}
	if len(insts) == 0 {
		r.s.Record(ctx, req, audit.ActionRetrieve, k.String(), nil, audit.OutcomeSuccess, op.String()+": no match")
		return
	}
	type studyCount struct {
		inst                       *store.Instance
		sent, failed, notAttempted int
	}
	var order []string
	studies := map[string]*studyCount{}
	for i, inst := range insts {
		c := studies[inst.StudyInstanceUID]
		if c == nil {
			c = &studyCount{inst: inst}
			studies[inst.StudyInstanceUID] = c
			order = append(order, inst.StudyInstanceUID)
		}
		switch pr := perItem[i]; {
		case pr == nil:
			c.notAttempted++ // cancelled before its turn
		case pr.OK():
			c.sent++
		default:
			c.failed++
		}
	}
	for _, uid := range order {
		c := studies[uid]
		outcome := audit.OutcomeSuccess
		if c.sent == 0 {
			outcome = audit.OutcomeFailure
		}
		r.s.Record(ctx, req, audit.ActionRetrieve, op.destination, []PatientRef{{
			ID: c.inst.StudyAttrs.String(dicom.TagPatientID), Name: c.inst.StudyAttrs.String(dicom.TagPatientName), StudyUID: uid,
		}}, outcome, fmt.Sprintf("%s: %d of %d objects sent, %d failed; status %s",
			op, c.sent, c.sent+c.failed+c.notAttempted, c.failed, res.Status))
	}
}

// clientTLS is the TLS configuration to dial a destination at host with.
func (r *Retriever) clientTLS(host string) *tls.Config { return clientTLSFor(r.cfg.TLS, host) }

// clientTLSFor is base (nil: the system's CAs, TLS 1.2 or later) for dialling a peer at host.
func clientTLSFor(base *tls.Config, host string) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c
}
