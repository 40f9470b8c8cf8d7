package qr

import (
	"context"
	"time"

	"pacsd/dimse"
)

// HandleGet performs a C-GET (PS3.4 C.4.3.3.1): the objects the identifier names, within
// the caller's scope, sent back on its own association, where it is the Storage SCP by
// SCP/SCU role selection. An object whose syntax it did not accept goes in Explicit VR
// Little Endian when it accepted that (as for C-MOVE, dimse.StoreVia), else fails.
func (r *Retriever) HandleGet(ctx context.Context, q *dimse.QueryRequest, sub dimse.SubStorer, progress dimse.Progress) dimse.RetrieveResult {
	start := time.Now()
	op := retrieveOp{name: "C-GET"}
	req, k, st := r.begin(ctx, q, op)
	if st != nil {
		return dimse.RetrieveResult{Status: *st}
	}
	insts, err := r.resolve(ctx, k)
	if err != nil {
		r.s.log.Error("retrieve: index search failed", "calling_ae", q.CallingAETitle, "err", err)
		return r.refuse(ctx, req, op, k, dimse.Status{Code: dimse.StatusOutOfResourcesMatches, ErrorComment: "cannot list the matches"})
	}
	res, perItem, sendErr := subOps(ctx, r.items(ctx, insts), progress,
		func(ctx context.Context, items []dimse.StoreItem, report func(dimse.StoreResult)) error {
			return dimse.StoreVia(ctx, sub, items, report)
		})
	r.finish(ctx, req, op, k, insts, perItem, res, sendErr, time.Since(start))
	return res
}
