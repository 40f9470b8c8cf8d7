package qr_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/qr"
	"pacsd/reading"
)

// BenchmarkWorklistFind: Modality Worklist C-FIND with 10,000 scheduled procedures (20
// stations over 10 days, about 50 a station a day): a modality's morning query (its station,
// today), a county console's day (every station, a date range), and a name search over
// every open order (1,250 match; the first Config.MaxResults are sent). It reports the latency percentiles of single queries (the handler and
// the repository, without the network).
func BenchmarkWorklistFind(b *testing.B) {
	const total, stations, days = 10000, 20, 10
	f := newMWLFixture(b)
	ctx := context.Background()
	site, err := f.repo.Site(ctx, f.peers["DR_A"].SiteID)
	if err != nil {
		b.Fatal(err)
	}
	for i := range stations {
		ae := fmt.Sprintf("ST%02d", i)
		if _, err := f.repo.PutPeer(ctx, reading.Peer{AETitle: ae, SiteID: site.ID, MayStore: true, MayQuery: true}); err != nil {
			b.Fatal(err)
		}
		f.peers[ae] = reading.Peer{AETitle: ae, SiteID: site.ID, MayQuery: true}
	}
	names := []string{"张三", "李四", "王五", "赵六", "陈伟", "刘芳", "杨洋", "黄磊"}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// Concurrent creators, so that the index's writer commits them in groups.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += 8 {
				day := start.AddDate(0, 0, (i/stations)%days).Format("20060102")
				_, err := f.repo.CreateOrder(ctx, reading.Order{PatientID: fmt.Sprintf("P%05d", i),
					PatientName: names[i%len(names)], AccessionNumber: fmt.Sprintf("A%06d", i), RequestedProcedure: "胸部正位",
					Modality: "DX", StationAE: fmt.Sprintf("ST%02d", i%stations), ScheduledDate: day,
					ScheduledTime: fmt.Sprintf("%02d%02d", 8+i%9, i%60)})
				if err != nil {
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
	day := start.AddDate(0, 0, 3).Format("20060102")
	for _, q := range []struct {
		name  string
		ae    string
		top   []key
		sps   []key
		match int
	}{
		{"modality-today", "ST07", nil, []key{{tag: qr.TagScheduledStationAETitle, vr: "AE", value: "ST07"},
			{tag: qr.TagScheduledProcedureStepStartDate, vr: "DA", value: day}}, total / stations / days},
		{"county-day", countyAE, nil, []key{{tag: qr.TagScheduledProcedureStepStartDate, vr: "DA", value: day + "-" + day}}, total / days},
		{"name-all-days", countyAE, []key{{tag: dicom.TagPatientName, vr: "PN", value: "张*"}}, nil, min(total/len(names), qr.DefaultMaxResults)},
	} {
		ident := mwlIdentifier(b, utf8CS, topKeys(q.top...), spsKeys(q.sps...))
		req := &dimse.QueryRequest{CallingAETitle: q.ae, CalledAETitle: "PACSD", RemoteAddr: "127.0.0.1:40000",
			MessageID: 1, SOPClassUID: qr.ModalityWorklistFind, TransferSyntaxUID: explicitLE, Identifier: ident}
		b.Run(q.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				n := 0
				t0 := time.Now()
				st := f.handler.HandleFind(ctx, req, func(uint16, []byte) error { n++; return nil })
				lat = append(lat, time.Since(t0))
				if st.Code != dimse.StatusSuccess || n != q.match {
					b.Fatalf("status %#04x, %d matches, want %d", st.Code, n, q.match)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
