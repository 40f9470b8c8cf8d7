package qr

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"pacsd/dimse"
)

// HandleMove performs a C-MOVE (PS3.4 C.4.2.3.1): the objects the identifier names, within
// the caller's scope, sent on a new association to the registered destination, proposing
// each in its stored syntax and in Explicit VR Little Endian (dimse.StoreAll).
func (r *Retriever) HandleMove(ctx context.Context, q *dimse.QueryRequest, progress dimse.Progress) dimse.RetrieveResult {
	start := time.Now()
	op := retrieveOp{name: "C-MOVE", destination: q.MoveDestination}
	req, k, st := r.begin(ctx, q, op)
	if st != nil {
		return dimse.RetrieveResult{Status: *st}
	}
	// PS3.4 C.4.2.1.5: 0xA801, Move Destination unknown: not a registered destination we
	// can reach.
	dest, ok, err := r.s.cfg.Peers.Peer(ctx, strings.TrimRight(q.MoveDestination, " "))
	switch {
	case err != nil:
		r.s.log.Error("peer lookup failed", "move_destination", q.MoveDestination, "err", err)
		return r.refuse(ctx, req, op, k, dimse.Status{Code: dimse.StatusProcessingFailure, ErrorComment: "peer registry unavailable"})
	case !ok || !dest.Destination || dest.Host == "" || dest.Port <= 0:
		return r.refuse(ctx, req, op, k, dimse.Status{Code: dimse.StatusMoveDestUnknown, ErrorComment: "move destination unknown"})
	}
	insts, err := r.resolve(ctx, k)
	if err != nil {
		r.s.log.Error("retrieve: index search failed", "calling_ae", q.CallingAETitle, "err", err)
		return r.refuse(ctx, req, op, k, dimse.Status{Code: dimse.StatusOutOfResourcesMatches, ErrorComment: "cannot list the matches"})
	}
	cfg := dimse.ClientConfig{
		CallingAETitle: r.s.cfg.AETitle,
		CalledAETitle:  dest.AETitle,
		MoveOriginator: dimse.MoveOriginator{AETitle: q.CallingAETitle, MessageID: q.MessageID},
	}
	if dest.RequireTLS {
		cfg.TLS = r.clientTLS(dest.Host)
	}
	addr := net.JoinHostPort(dest.Host, strconv.Itoa(dest.Port))
	res, perItem, sendErr := subOps(ctx, r.items(ctx, insts), progress,
		func(ctx context.Context, items []dimse.StoreItem, report func(dimse.StoreResult)) error {
			return r.cfg.Dial(ctx, addr, cfg, items, report)
		})
	r.finish(ctx, req, op, k, insts, perItem, res, sendErr, time.Since(start))
	return res
}
