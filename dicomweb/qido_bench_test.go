package dicomweb

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"pacsd/audit"
	"pacsd/store/sqlite"
	"pacsd/store/storetest"
)

// BenchmarkQIDOName: QIDO-RS name searches at 10,000 studies (storetest.StudyList: 张*
// matches 477, zhang* 159), every match returned, over HTTP on loopback with the audit
// trail on as pacsd runs it (each search an event written to audit.db, the trail's own
// file beside the index). It reports p50/p99 of single
// requests and the process's CPU per request (go test -run '^$' -bench QIDOName
// ./dicomweb).
func BenchmarkQIDOName(b *testing.B) {
	const studies = 10000
	a, _ := newArchive(b)
	idx := a.Index().(*sqlite.Index)
	if err := storetest.PutAll(context.Background(), idx, storetest.StudyList(studies), 32); err != nil {
		b.Fatal(err)
	}
	trail, err := idx.OpenAudit(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer trail.Close()
	rec := audit.New(trail, audit.Config{Logger: testLogger()})
	go rec.Run()
	defer rec.Close()
	base := serve(b, a, Config{Logger: testLogger(), Audit: rec}) + "/dicomweb/studies?"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, q := range []struct{ name, query string }{
		{"张*", "PatientName=" + url.QueryEscape("张*")},
		{"张伟", "PatientName=" + url.QueryEscape("张伟")},
		{"zhang*", "PatientName=zhang*"},
		{"fuzzy_zhang", "PatientName=zhang&fuzzymatching=true"},
	} {
		b.Run(q.name, func(b *testing.B) { benchGet(b, client, base+q.query, nil) })
	}
}
