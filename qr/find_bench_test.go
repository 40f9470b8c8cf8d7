package qr_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/internal/cputime"
	"pacsd/qr"
	"pacsd/store/sqlite"
	"pacsd/store/storetest"
)

// BenchmarkFindStudies: Study Root C-FIND at the study level with the keys a workstation's
// study list asks (tools/benchweb's), PatientName=张* matching 477 of 10,000 studies
// (storetest.StudyList; tools/benchweb's corpus: 472 of 10,000), two ways:
// "handler" is qr's HandleFind alone (index search and the 477 response identifiers), and
// "loopback" is the whole exchange, pacsd's C-FIND SCP (dimse.Server) answering dimse's
// Client.Find over a loopback TCP association, as a workstation sees it. It reports the
// latency percentiles of single queries and the process's CPU per query.
func BenchmarkFindStudies(b *testing.B) {
	const total = 10000
	ctx := context.Background()
	x, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { x.Close() })
	if err := storetest.PutAll(ctx, x, storetest.StudyList(total), 32); err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The audit trail as pacsd runs it: each query an event written to audit.db beside the
	// index (its own file, so the index's readers keep their page cache).
	trail, err := x.OpenAudit(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { trail.Close() })
	rec := audit.New(trail, audit.Config{Logger: quiet})
	go rec.Run()
	b.Cleanup(func() { rec.Close() })
	svc := qr.New(qr.Config{AETitle: "PACSD", Index: x, Audit: rec, Logger: quiet,
		Peers: peers{countyAE: {AETitle: countyAE, MayQuery: true}}})
	want, _ := storetest.StudyListZhang(total)

	ts := dicom.ImplicitVRLittleEndian
	var ib bytes.Buffer
	enc, err := dicom.NewEncoder(&ib, ts)
	if err != nil {
		b.Fatal(err)
	}
	writeKeys(b, enc, utf8CS, []key{
		{tag: dicom.TagSpecificCharacterSet, vr: "CS", value: "ISO_IR 192"},
		{tag: qr.TagQueryRetrieveLevel, vr: "CS", value: "STUDY"},
		{tag: dicom.TagStudyDate, vr: "DA"}, {tag: dicom.TagStudyTime, vr: "TM"},
		{tag: dicom.TagAccessionNumber, vr: "SH"}, {tag: dicom.TagModalitiesInStudy, vr: "CS"},
		{tag: dicom.TagStudyDescription, vr: "LO"}, {tag: dicom.TagPatientName, vr: "PN", value: "张*"},
		{tag: dicom.TagPatientID, vr: "LO"}, {tag: dicom.TagPatientBirthDate, vr: "DA"},
		{tag: dicom.TagStudyInstanceUID, vr: "UI"},
	})
	if err := enc.Close(); err != nil {
		b.Fatal(err)
	}
	ident := ib.Bytes()

	percentiles := func(b *testing.B, lat []time.Duration, cpu time.Duration) {
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-us/op")
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}

	b.Run("handler", func(b *testing.B) {
		req := &dimse.QueryRequest{CallingAETitle: countyAE, CalledAETitle: "PACSD", RemoteAddr: "127.0.0.1:40000",
			MessageID: 1, SOPClassUID: qr.StudyRootFind, TransferSyntaxUID: ts, Identifier: ident}
		var lat []time.Duration
		cpu := cputime.Process()
		for b.Loop() {
			n := 0
			t0 := time.Now()
			st := svc.HandleFind(ctx, req, func(uint16, []byte) error { n++; return nil })
			lat = append(lat, time.Since(t0))
			if st.Code != dimse.StatusSuccess || n != want {
				b.Fatalf("status %#04x, %d matches, want %d", st.Code, n, want)
			}
		}
		percentiles(b, lat, cputime.Process()-cpu)
	})

	b.Run("loopback", func(b *testing.B) {
		srv := &dimse.Server{AETitle: "PACSD", Find: svc, FindSOPClasses: []string{qr.StudyRootFind}, Logger: quiet}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ln)
		defer srv.Close()
		c, err := dimse.Dial(ctx, ln.Addr().String(), dimse.ClientConfig{CallingAETitle: countyAE, CalledAETitle: "PACSD",
			Contexts: map[string][]string{qr.StudyRootFind: {ts}}})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Release(ctx)
		var lat []time.Duration
		cpu := cputime.Process()
		for b.Loop() {
			n := 0
			t0 := time.Now()
			st, err := c.Find(ctx, qr.StudyRootFind, ident, func(_ uint16, rsp []byte) error {
				if len(rsp) == 0 {
					return fmt.Errorf("empty identifier")
				}
				n++
				return nil
			})
			lat = append(lat, time.Since(t0))
			if err != nil || st.Code != dimse.StatusSuccess || n != want {
				b.Fatalf("status %#04x, %v, %d matches, want %d", st.Code, err, n, want)
			}
		}
		percentiles(b, lat, cputime.Process()-cpu)
	})
}
