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
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/qr"
	"pacsd/store/sqlite"
	"pacsd/store/storetest"
)

// BenchmarkFindStudies: Study Root C-FIND at the study level with the keys a workstation's
// study list asks (tools/benchweb's), PatientName=张* matching 477 of 10,000 studies (as in
// tools/benchweb's corpus, 472 of 10,000), two ways:
// "handler" is qr's HandleFind alone (index search and the 500 response identifiers), and
// "loopback" is the whole exchange, pacsd's C-FIND SCP (dimse.Server) answering dimse's
// Client.Find over a loopback TCP association, as a workstation sees it. It reports the
// latency percentiles of single queries.
func BenchmarkFindStudies(b *testing.B) {
	const total = 10000
	ctx := context.Background()
	x, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { x.Close() })
	// Every 21st patient is a 张 (one of 21 surnames).
	names := []string{"张^伟=张^伟", "李^娜", "王^芳", "刘^洋", "陈^静", "杨^勇", "黄^艳", "赵^杰", "吴^娟", "周^涛", "徐^明",
		"孙^超", "马^丽", "朱^强", "胡^磊", "郭^军", "何^敏", "林^芳", "罗^娜", "高^伟", "梁^静"}
	const workers = 32 // concurrent puts share the writer's commits
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				f := storetest.Fixture{Study: fmt.Sprintf("1.2.826.0.1.%d", i+1), Series: fmt.Sprintf("1.2.826.0.1.%d.1", i+1),
					SOP: fmt.Sprintf("1.2.826.0.1.%d.1.1", i+1), SOPClass: storetest.ClassDX,
					PatientName: names[i%len(names)], PatientID: fmt.Sprintf("P%05d", i), BirthDate: "19700101", Sex: "F",
					StudyDate: fmt.Sprintf("202603%02d", 1+i%28), StudyTime: "093000", Accession: fmt.Sprintf("A%06d", i),
					StudyDescription: "胸部正位", Modality: "DX", SeriesNumber: 1, InstanceNumber: 1, Content: fmt.Sprint(i)}
				if _, err := x.PutInstance(ctx, f.Instance()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := qr.New(qr.Config{AETitle: "PACSD", Index: x, Audit: &recorder{}, Logger: quiet,
		Peers: peers{countyAE: {AETitle: countyAE, MayQuery: true}}})
	want := (total + len(names) - 1) / len(names)

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

	percentiles := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}

	b.Run("handler", func(b *testing.B) {
		req := &dimse.QueryRequest{CallingAETitle: countyAE, CalledAETitle: "PACSD", RemoteAddr: "127.0.0.1:40000",
			MessageID: 1, SOPClassUID: qr.StudyRootFind, TransferSyntaxUID: ts, Identifier: ident}
		var lat []time.Duration
		for b.Loop() {
			n := 0
			t0 := time.Now()
			st := svc.HandleFind(ctx, req, func(uint16, []byte) error { n++; return nil })
			lat = append(lat, time.Since(t0))
			if st.Code != dimse.StatusSuccess || n != want {
				b.Fatalf("status %#04x, %d matches, want %d", st.Code, n, want)
			}
		}
		percentiles(b, lat)
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
		percentiles(b, lat)
	})
}
