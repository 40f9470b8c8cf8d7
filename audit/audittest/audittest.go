// Package audittest is the contract every audit.Store passes: events kept as given, the
// filters, newest-first paging by cursor, retention, and the Recorder on top of the store
// (nothing lost by many concurrent callers, everything written by Close).
package audittest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"pacsd/audit"
)

// Run runs the contract against the stores open makes (a new, empty one per call).
func Run(t *testing.T, open func(t *testing.T) audit.Store) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("Filters", func(t *testing.T) { testFilters(t, open(t)) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, open(t)) })
	t.Run("Purge", func(t *testing.T) { testPurge(t, open(t)) })
	t.Run("Recorder", func(t *testing.T) { testRecorder(t, open(t)) })
}

// base is long enough ago that events at it may be purged.
var base = time.Date(2024, 3, 2, 1, 0, 0, 0, time.UTC)

func all(t *testing.T, s audit.Store, f audit.Filter) []audit.Event {
	t.Helper()
	var out []audit.Event
	for {
		p, err := s.Search(context.Background(), f)
		if err != nil {
			t.Fatalf("Search(%+v): %v", f, err)
		}
		out = append(out, p.Events...)
		if p.Next == "" {
			return out
		}
		f.After = p.Next
	}
}

func ids(evs []audit.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Object)
	}
	return out
}

func testRoundTrip(t *testing.T, s audit.Store) {
	ctx := context.Background()
	want := []audit.Event{{
		Time:  base.Add(123456789 * time.Nanosecond),
		Actor: audit.User(7, "li.na", "10.1.2.3"), Action: audit.ActionReportSign,
		PatientID: "P0001", PatientName: "Zhang^Wei=张^伟", StudyUID: "1.2.840.1", Object: "v2",
		Outcome: audit.OutcomeSuccess, Detail: "修订：左肺结节",
	}, {
		Time:  base.In(time.FixedZone("CST", 8*3600)).Add(time.Second), // stored as UTC
		Actor: audit.AE("TOWN_A_DR", "192.168.5.9"), Action: audit.ActionRetrieve,
		StudyUID: "1.2.840.1", Outcome: audit.OutcomeFailure, Detail: "not allowed",
	}, {
		Time:  base.Add(2 * time.Second),
		Actor: audit.Anonymous("admin", "203.0.113.7"), Action: audit.ActionLogin, Outcome: audit.OutcomeFailure,
		Detail: "bad password", Count: 3, // three identical failures folded (Recorder)
	}, {
		Time: base.Add(3 * time.Second), Actor: audit.System(), Action: audit.ActionDelete, Object: "1.2.3",
		Outcome: audit.OutcomeSuccess,
	}}
	if err := s.Append(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, nil); err != nil {
		t.Fatalf("Append(nil): %v", err)
	}
	got := all(t, s, audit.Filter{})
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i, g := range got {
		w := want[len(want)-1-i] // newest first
		w.Time, w.Count = w.Time.UTC(), max(w.Count, 1)
		if g.ID == 0 {
			t.Errorf("event %d has no ID", i)
		}
		w.ID = g.ID
		if !g.Time.Equal(w.Time) || g.Time.Location() != time.UTC {
			t.Errorf("time %v, want %v in UTC", g.Time, w.Time)
		}
		g.Time = w.Time
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if got[0].ID <= got[1].ID {
		t.Errorf("IDs not increasing with time: %d after %d", got[0].ID, got[1].ID)
	}
	// What a store keeps is what Normalize makes of an event.
	raw := audit.Event{Time: base.Add(4 * time.Second), Actor: audit.User(1, "x", ""), Action: audit.ActionQuery,
		Object: "PatientName=张*\n\x00", Detail: string([]byte{0xff, 'a'})}
	if err := s.Append(ctx, []audit.Event{raw}); err != nil {
		t.Fatal(err)
	}
	g := all(t, s, audit.Filter{Actions: []audit.Action{audit.ActionQuery}})[0]
	raw.Normalize()
	if g.Object != raw.Object || g.Detail != raw.Detail || g.Outcome != audit.OutcomeSuccess {
		t.Errorf("stored %q %q %q, want normalized %q %q success", g.Object, g.Detail, g.Outcome, raw.Object, raw.Detail)
	}
}

func testFilters(t *testing.T, s audit.Store) {
	ctx := context.Background()
	li := audit.User(2, "Li.Na", "10.0.0.2")
	wang := audit.User(3, "wang", "10.0.0.3")
	dr := audit.AE("TOWN_A_DR", "192.168.1.5")
	evs := []audit.Event{
		{Object: "a", Actor: li, Action: audit.ActionStudyView, PatientID: "P1", PatientName: "Zhang^Wei=张^伟", StudyUID: "1.1"},
		{Object: "b", Actor: li, Action: audit.ActionImageView, PatientID: "P1", PatientName: "Zhang^Wei=张^伟", StudyUID: "1.1"},
		{Object: "c", Actor: wang, Action: audit.ActionStudyView, PatientID: "P2", PatientName: "李^娜", StudyUID: "1.2"},
		{Object: "d", Actor: dr, Action: audit.ActionRetrieve, PatientID: "P2", PatientName: "李^娜", StudyUID: "1.2"},
		{Object: "e", Actor: audit.Anonymous("li.na", "10.9.9.9"), Action: audit.ActionLogin, Outcome: audit.OutcomeFailure},
		{Object: "f", Actor: li, Action: audit.ActionLogin},
		{Object: "g", Actor: wang, Action: audit.ActionReportSign, PatientID: "P10", PatientName: "Zhang^Li", StudyUID: "1.3"},
		{Object: "h", Actor: wang, Action: audit.ActionStudyView, PatientID: "p1", PatientName: "欧阳^娜娜", StudyUID: "1.4"},
	}
	for i := range evs {
		evs[i].Time = base.Add(time.Duration(i) * time.Hour)
	}
	// Two appends: a search spans batches.
	if err := s.Append(ctx, evs[:3]); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, evs[3:]); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    audit.Filter
		want []string
	}{
		{"all", audit.Filter{}, []string{"h", "g", "f", "e", "d", "c", "b", "a"}},
		{"patient id exact and case-sensitive", audit.Filter{PatientID: "P1"}, []string{"b", "a"}},
		{"study", audit.Filter{StudyUID: "1.2"}, []string{"d", "c"}},
		{"user any case, with failed logins typed as it", audit.Filter{UserName: "li.na"}, []string{"f", "e", "b", "a"}},
		{"ae title", audit.Filter{AETitle: "TOWN_A_DR"}, []string{"d"}},
		{"one action", audit.Filter{Actions: []audit.Action{audit.ActionLogin}}, []string{"f", "e"}},
		{"actions", audit.Filter{Actions: []audit.Action{audit.ActionRetrieve, audit.ActionReportSign}}, []string{"g", "d"}},
		{"failures", audit.Filter{Outcome: audit.OutcomeFailure}, []string{"e"}},
		{"failed logins of a user", audit.Filter{UserName: "LI.NA", Actions: []audit.Action{audit.ActionLogin}, Outcome: audit.OutcomeFailure}, []string{"e"}},
		{"from", audit.Filter{From: base.Add(6 * time.Hour)}, []string{"h", "g"}},
		{"to excluded", audit.Filter{To: base.Add(2 * time.Hour)}, []string{"b", "a"}},
		{"range in another zone", audit.Filter{From: base.Add(2 * time.Hour).In(time.FixedZone("CST", 8*3600)), To: base.Add(4 * time.Hour)}, []string{"d", "c"}},
		{"name ideographic prefix", audit.Filter{PatientName: "张"}, []string{"b", "a"}},
		{"name ideographic whole", audit.Filter{PatientName: "张伟"}, []string{"b", "a"}},
		{"name with caret", audit.Filter{PatientName: "张^伟"}, []string{"b", "a"}},
		{"name alphabetic prefix, any case", audit.Filter{PatientName: "zhang"}, []string{"g", "b", "a"}},
		{"name alphabetic with space", audit.Filter{PatientName: "zhang wei"}, []string{"b", "a"}},
		{"name pinyin of characters", audit.Filter{PatientName: "lin"}, []string{"d", "c"}},
		{"name pinyin compound surname", audit.Filter{PatientName: "ouyang"}, []string{"h"}},
		{"name and user", audit.Filter{PatientName: "李", UserName: "wang"}, []string{"c"}},
		{"name no match", audit.Filter{PatientName: "赵"}, nil},
		{"name wildcard characters are literal", audit.Filter{PatientName: "%"}, nil},
		{"name and range", audit.Filter{PatientName: "zhang", From: base.Add(time.Hour)}, []string{"g", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(all(t, s, tc.f)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// The same, one event per page.
			f := tc.f
			f.Limit = 1
			if got := ids(all(t, s, f)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("one per page: got %q, want %q", got, tc.want)
			}
		})
	}
}

func testPaging(t *testing.T, s audit.Store) {
	ctx := context.Background()
	var evs []audit.Event
	for i := range 25 {
		// Pairs share a time: the order within the same instant is the order of appending.
		evs = append(evs, audit.Event{Time: base.Add(time.Duration(i/2) * time.Second), Actor: audit.System(),
			Action: audit.ActionQuery, Object: fmt.Sprintf("%02d", i)})
	}
	if err := s.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	var got []string
	f := audit.Filter{Limit: 10}
	var sizes []int
	for {
		p, err := s.Search(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(p.Events))
		got = append(got, ids(p.Events)...)
		if p.Next == "" {
			break
		}
		f.After = p.Next
	}
	if !reflect.DeepEqual(sizes, []int{10, 10, 5}) {
		t.Errorf("page sizes %v, want [10 10 5]", sizes)
	}
	var want []string
	for i := 24; i >= 0; i-- {
		want = append(want, fmt.Sprintf("%02d", i))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pages hold %q, want %q", got, want)
	}
	// A page that ends exactly at the end says so.
	if p, err := s.Search(ctx, audit.Filter{Limit: 25}); err != nil || len(p.Events) != 25 || p.Next != "" {
		t.Errorf("Limit 25 of 25: %d events, next %q, %v", len(p.Events), p.Next, err)
	}
	if p, err := s.Search(ctx, audit.Filter{Limit: audit.MaxPage + 1}); err != nil || len(p.Events) != 25 {
		t.Errorf("Limit beyond MaxPage: %d events, %v", len(p.Events), err)
	}
	for _, bad := range []string{"x", "2024-03-02~1", "~", "2024-03-02T01:00:00.000000000Z~0"} {
		if _, err := s.Search(ctx, audit.Filter{After: bad}); !errors.Is(err, audit.ErrInvalid) {
			t.Errorf("cursor %q: %v, want ErrInvalid", bad, err)
		}
	}
}

func testPurge(t *testing.T, s audit.Store) {
	ctx := context.Background()
	var evs []audit.Event
	for i := range 1500 { // more than one purge transaction's worth in some stores
		evs = append(evs, audit.Event{Time: base.Add(time.Duration(i) * time.Minute), Actor: audit.User(1, "li", ""),
			Action: audit.ActionStudyView, PatientID: "P1", PatientName: "张^伟", Object: fmt.Sprint(i)})
	}
	recent := audit.Event{Time: time.Now().Add(-time.Hour), Actor: audit.User(1, "li", ""), Action: audit.ActionStudyView,
		PatientName: "张^伟", Object: "recent"}
	if err := s.Append(ctx, append(evs, recent)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Purge(ctx, time.Now().Add(-audit.MinRetention+time.Hour)); !errors.Is(err, audit.ErrInvalid) {
		t.Errorf("purge inside the retention period: %v, want ErrInvalid", err)
	}
	n, err := s.Purge(ctx, base.Add(1200*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1200 {
		t.Errorf("purged %d, want 1200", n)
	}
	got := all(t, s, audit.Filter{})
	if len(got) != 301 || got[0].Object != "recent" || got[len(got)-1].Object != "1200" {
		t.Errorf("after purge: %d events, newest %q, oldest %q; want 301, recent, 1200", len(got), got[0].Object, got[len(got)-1].Object)
	}
	// The name search forgets the purged events too.
	if got := all(t, s, audit.Filter{PatientName: "张伟"}); len(got) != 301 {
		t.Errorf("name search after purge: %d events, want 301", len(got))
	}
	if n, err := s.Purge(ctx, base.Add(1200*time.Minute)); err != nil || n != 0 {
		t.Errorf("second purge: %d, %v; want 0", n, err)
	}
}

// testRecorder: many goroutines record at once through a small buffer (so that some callers
// find it full and write their own event); after Close every event is in the store, once.
func testRecorder(t *testing.T, s audit.Store) {
	r := audit.New(s, audit.Config{Buffer: 8, MaxBatch: 16})
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	const workers, each = 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r.Record(context.Background(), audit.Event{Actor: audit.User(int64(w), fmt.Sprint("u", w), ""),
					Action: audit.ActionImageView, Object: fmt.Sprintf("%d/%d", w, i)})
				// A search the worker repeats: folded or not, every one is counted.
				r.Record(context.Background(), audit.Event{Actor: audit.User(int64(w), fmt.Sprint("u", w), ""),
					Action: audit.ActionQuery, Object: "/studies?PatientID=P1"})
			}
		}()
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Run returned %v, want ErrClosed", err)
	}
	got := all(t, s, audit.Filter{Actions: []audit.Action{audit.ActionImageView}, Limit: audit.MaxPage})
	seen := map[string]int{}
	for _, e := range got {
		seen[e.Object]++
		if e.Time.IsZero() {
			t.Errorf("event %s has no time", e.Object)
		}
	}
	if len(got) != workers*each || len(seen) != workers*each {
		t.Errorf("%d events stored (%d distinct), want %d", len(got), len(seen), workers*each)
	}
	searches := map[string]int{}
	for _, e := range all(t, s, audit.Filter{Actions: []audit.Action{audit.ActionQuery}, Limit: audit.MaxPage}) {
		searches[e.Actor.UserName] += e.Count
	}
	for w := range workers {
		if n := searches[fmt.Sprint("u", w)]; n != each {
			t.Errorf("u%d: searches counted %d times, want %d", w, n, each)
		}
	}
	st := r.Stats()
	if st.Recorded != 2*workers*each || st.Written != 2*workers*each || st.Lost != 0 || st.Queued != 0 {
		t.Errorf("stats %+v", st)
	}
	// After Close the caller writes its event itself.
	r.Record(context.Background(), audit.Event{Actor: audit.System(), Action: audit.ActionDelete, Object: "late"})
	if got := all(t, s, audit.Filter{Actions: []audit.Action{audit.ActionDelete}}); len(got) != 1 {
		t.Errorf("event recorded after Close: %d stored, want 1", len(got))
	}
}
