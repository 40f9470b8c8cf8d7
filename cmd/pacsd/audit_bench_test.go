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

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/store"
	"pacsd/store/file"
	"pacsd/store/sqlite"
)

// BenchmarkIngestAudit is the C-STORE ingest path (File Meta Information, Archive.Put to
// a durable blob and the index) with the audit trail off and on (the batching Recorder over
// the index's SQLite store), side by side in one run. Each object comes on its own
// association, as many DR modalities send: one event per object, the worst case.
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
	run := func(b *testing.B, h *ingest) {
		for b.Loop() {
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
	}
	off := &ingest{archive: a, log: discardLog}
	on := &ingest{archive: a, log: discardLog, audit: newStoreAudit(rec)}
	for range 2 { // interleaved, so that a machine busy for a while weighs on both
		b.Run("off", func(b *testing.B) { run(b, off) })
		b.Run("on", func(b *testing.B) { run(b, on) })
	}
}

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))
