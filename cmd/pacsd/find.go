package main

import (
	"flag"
	"log/slog"

	"pacsd/audit"
	"pacsd/qr"
	"pacsd/reading"
	"pacsd/store"
)

// queryFlags configure the C-FIND SCP (package qr).
type queryFlags struct {
	maxResults int
}

func (f *queryFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.maxResults, "dicom-query-max-results", qr.DefaultMaxResults,
		"most C-FIND responses to one request; beyond it the first ones are sent and a warning is logged")
}

// newQR is the Query/Retrieve SCP over the index: who may query and what they see come from
// the peers registry.
func newQR(c serveConfig, index store.IndexReader, peers reading.PeerLookup, rec audit.Auditor, log *slog.Logger) *qr.Service {
	return qr.New(qr.Config{
		AETitle:         c.aet,
		Index:           index,
		Peers:           peers,
		Audit:           rec,
		Logger:          log,
		MaxResults:      c.query.maxResults,
		FallbackCharset: c.fallbackCharset,
	})
}
