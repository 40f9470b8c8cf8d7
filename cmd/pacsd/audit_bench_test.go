package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/internal/cputime"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// BenchmarkIngestAudit is the C-STORE ingest path (File Meta Information, Archive.Put to
// a durable blob and the index) with the audit trail off and on (the batching Recorder over
// the index's SQLite store), side by side in one run. Each object comes on its own
// association, as many DR modalities send: one event per object (with the patient's name,
// so its search keys too), the worst case.
//
// One iteration is a pair of blocks of ingestBlock objects, one per side, in alternating
// order; an audit-on block ends with the writer's Flush, so that its CPU time counts the
// writer. Run it as
//
//	go test -run '^$' -bench IngestAudit -benchtime 20x ./cmd/pacsd
//
// and read cpu-delta-% (the process's CPU time per object, on against off, over all
// pairs), cpu-delta-median-% (the median pair's) and wall-delta-% (time per object).
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
	rec := audit.New(idx.Audit(), audit.Config{Logger: discardLog})
	go rec.Run()
	defer rec.Close()
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
	on := &ingest{archive: a, log: discardLog, audit: newStoreAudit(rec)}
	block := func(h *ingest) (wall, cpu time.Duration) {
		c0, t0 := cputime.Process(), time.Now()
		for range ingestBlock {
			store1(h)
		}
		wall = time.Since(t0)
		if h == on {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := rec.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return wall, cputime.Process() - c0
	}
	block(off) // warm up
	block(on)
	var wall, cpu [2]time.Duration
	var ratios []float64 // per pair: on's CPU over off's
	pair := 0
	for b.Loop() {
		var pc [2]time.Duration
		for k := range 2 {
			side := (pair + k) % 2 // off first, then on first, ...
			h := off
			if side == 1 {
				h = on
			}
			w, c := block(h)
			wall[side] += w
			cpu[side] += c
			pc[side] = c
		}
		ratios = append(ratios, float64(pc[1])/float64(pc[0]))
		pair++
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(pair*ingestBlock) }
	b.ReportMetric(per(cpu[0]), "off-cpu-us/op")
	b.ReportMetric(per(cpu[1]), "on-cpu-us/op")
	b.ReportMetric(100*(float64(cpu[1])/float64(cpu[0])-1), "cpu-delta-%")
	slices.Sort(ratios)
	b.ReportMetric(100*(ratios[len(ratios)/2]-1), "cpu-delta-median-%")
	b.ReportMetric(100*(float64(wall[1])/float64(wall[0])-1), "wall-delta-%")
}

// ingestBlock is the objects of one side of a BenchmarkIngestAudit pair.
const ingestBlock = 20

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))
