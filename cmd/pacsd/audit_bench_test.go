package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/audit/audittest"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// BenchmarkIngestAudit is the C-STORE ingest path (File Meta Information, Archive.Put to
// a durable blob and the index) with the audit trail off and on (the batching Recorder over
// a SQLite store), side by side in one run, with the trail in two places: "index.db" in the
// index's own tables (where pacsd kept it before audit.db) and "audit.db" in its own file
// beside the index (startAudit's). Each object comes on its own association, as many DR
// modalities send: one event per object (with the patient's name, so its search keys too),
// the worst case.
//
// One iteration is a pair of blocks of ingestBlock objects, one per side, in alternating
// order (audittest.CompareOnOff); an audit-on block ends with the writer's Flush, so that
// its CPU time counts the writer. Run it as
//
//	go test -run '^$' -bench IngestAudit -benchtime 30x ./cmd/pacsd
//
// and read cpu-delta-% (the process's CPU time per object, on against off),
// cpu-delta-median-% and wall-delta-% (time per object).
func BenchmarkIngestAudit(b *testing.B) {
	part10, err := os.ReadFile(filepath.Join("..", "..", "testdata", "dr_mono2.dcm"))
	if err != nil {
		b.Fatal(err)
	}
	hdr, err := dicom.ReadPart10(bytes.NewReader(part10), dicom.ReadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	data := part10[hdr.DatasetOffset:]
	sop := hdr.Dataset.String(dicom.TagSOPInstanceUID)
	class := hdr.Dataset.String(dicom.TagSOPClassUID)
	ts := hdr.TransferSyntax
	dir := b.TempDir()
	idx, err := sqlite.Open(context.Background(), filepath.Join(dir, "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	blobs, err := file.New(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	a, err := store.NewArchive(idx, blobs, store.Config{SpoolDir: filepath.Join(dir, "spool"), MinFreeBytes: -1, Logger: discardLog})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	trail, err := idx.OpenAudit(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer trail.Close()
	n := 0
	store1 := func(h *ingest) {
		n++
		// A new SOP Instance UID of the same length, in the data set and the command.
		uid := fmt.Sprintf("%s%08d", sop[:len(sop)-8], 10000000+n)
		ds := bytes.ReplaceAll(data, []byte(sop), []byte(uid))
		st := h.HandleStore(context.Background(), &dimse.StoreRequest{AssociationID: fmt.Sprint(n),
			CallingAETitle: "TOWN_A", RemoteAddr: "10.0.0.9:40000", SOPClassUID: class, SOPInstanceUID: uid,
			TransferSyntaxUID: ts}, bytes.NewReader(ds))
		if st.Code != dimse.StatusSuccess {
			b.Fatalf("C-STORE status 0x%04X %s", st.Code, st.ErrorComment)
		}
	}
	off := &ingest{archive: a, log: discardLog}
	for _, where := range []struct {
		name string
		st   audit.Store
	}{{"index.db", idx.Audit()}, {"audit.db", trail}} {
		b.Run(where.name, func(b *testing.B) {
			rec := audit.New(where.st, audit.Config{Logger: discardLog})
			go rec.Run()
			defer rec.Close()
			on := &ingest{archive: a, log: discardLog, audit: newStoreAudit(rec)}
			run := func(audited bool) int {
				h := off
				if audited {
					h = on
				}
				for range ingestBlock {
					store1(h)
				}
				return ingestBlock
			}
			settle := func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := rec.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			run(false) // warm up
			run(true)
			settle()
			audittest.CompareOnOff(b, run, settle)
		})
	}
}

// ingestBlock is the objects of one side of a BenchmarkIngestAudit pair: about 1.5 s, longer
// than the writer's linger, so that the audit commits of a block are as many as running
// ingest would make (each commit costs the index's readers their page cache too: the next
// Archive.decide reads cold), not one per block forced by the Flush.
const ingestBlock = 100

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))
