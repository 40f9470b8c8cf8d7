package readingtest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"pacsd/reading"
)

// orderEnv registers two sites with a modality each and a county workstation.
func orderEnv(t *testing.T, r reading.Repository) (a, b reading.Site) {
	t.Helper()
	ctx := context.Background()
	a = must(r.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"DR_A"}}))(t)
	b = must(r.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"US_B"}}))(t)
	must(r.PutPeer(ctx, reading.Peer{AETitle: "CT_COUNTY", MayQuery: true}))(t)
	return a, b
}

func newOrder(acc, station, date string) reading.Order {
	return reading.Order{PatientID: "P" + acc, PatientName: "张三", PatientSex: "m", BirthDate: "1960-05-04",
		AccessionNumber: acc, RequestedProcedure: "胸部正位", Modality: "dx", StationAE: station,
		ScheduledDate: date, ScheduledTime: "08:30"}
}

func fieldOf(t *testing.T, err error) *reading.FieldError {
	t.Helper()
	var fe *reading.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a FieldError", err)
	}
	return fe
}

func testScheduledOrders(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	a, b := orderEnv(t, r)

	o := must(r.CreateOrder(ctx, newOrder("A1", "DR_A", "2026-03-02")))(t)
	if o.ID == 0 || o.SiteID != a.ID || o.Status != reading.OrderScheduled || o.StudyUID == "" {
		t.Fatalf("created %+v: want an ID, site %d (the station's), scheduled, a Study Instance UID", o, a.ID)
	}
	// The form's forms become DICOM's; the Chinese name gets its pinyin.
	if o.PatientName != "Zhang^San=张^三" || o.BirthDate != "19600504" || o.ScheduledDate != "20260302" ||
		o.ScheduledTime != "083000" || o.PatientSex != "M" || o.Modality != "DX" || o.RequestedProcedureID != "A1" {
		t.Fatalf("created %+v: values not normalized", o)
	}
	if got := must(r.Order(ctx, o.ID))(t); got.PatientName != o.PatientName || got.StudyUID != o.StudyUID {
		t.Fatalf("read back %+v, want %+v", got, o)
	}

	// Bad input names the field and keeps what was typed.
	for _, c := range []struct {
		edit    func(*reading.Order)
		field   string
		problem string
		kept    func(reading.Order) string
		typed   string
	}{
		{func(o *reading.Order) { o.PatientID = " " }, "patientId", reading.ProblemRequired, nil, ""},
		{func(o *reading.Order) { o.ScheduledDate = "2026-02-30" }, "scheduledDate", reading.ProblemDate,
			func(o reading.Order) string { return o.ScheduledDate }, "2026-02-30"},
		{func(o *reading.Order) { o.BirthDate = "19601" }, "birthDate", reading.ProblemDate,
			func(o reading.Order) string { return o.BirthDate }, "19601"},
		{func(o *reading.Order) { o.ScheduledTime = "25:00" }, "scheduledTime", reading.ProblemTime,
			func(o reading.Order) string { return o.ScheduledTime }, "25:00"},
		{func(o *reading.Order) { o.StationAE = "NOBODY" }, "stationAE", reading.ProblemUnknown,
			func(o reading.Order) string { return o.StationAE }, "NOBODY"},
		{func(o *reading.Order) { o.SiteID = b.ID }, "stationAE", reading.ProblemSite, nil, ""},
		{func(o *reading.Order) { o.PatientSex = "X" }, "patientSex", reading.ProblemValue, nil, ""},
		{func(o *reading.Order) { o.AccessionNumber = "A1" }, "accessionNumber", reading.ProblemTaken, nil, ""},
	} {
		in := newOrder("A2", "DR_A", "20260302")
		c.edit(&in)
		got, err := r.CreateOrder(ctx, in)
		fe := fieldOf(t, err)
		if fe.Field != c.field || fe.Problem != c.problem {
			t.Errorf("%s: got FieldError %s %s", c.field, fe.Field, fe.Problem)
		}
		if c.kept != nil && c.kept(got) != c.typed {
			t.Errorf("%s: the order returned with the error has %q, want what was typed %q", c.field, c.kept(got), c.typed)
		}
	}
	// A county station serves any site; a site's station only its own.
	c := newOrder("B1", "CT_COUNTY", "20260302")
	c.SiteID = b.ID
	if got := must(r.CreateOrder(ctx, c))(t); got.SiteID != b.ID {
		t.Fatalf("order at a county station for site %d got site %d", b.ID, got.SiteID)
	}
	must(r.CreateOrder(ctx, newOrder("B2", "US_B", "20260303")))(t)
	must(r.CreateOrder(ctx, newOrder("A3", "DR_A", "20260304")))(t)

	accs := func(f reading.OrderFilter) []string {
		var out []string
		for _, o := range must(r.Orders(ctx, f))(t) {
			out = append(out, o.AccessionNumber)
		}
		return out
	}
	for _, c := range []struct {
		f    reading.OrderFilter
		want []string
	}{
		{reading.OrderFilter{}, []string{"A1", "B1", "B2", "A3"}},
		{reading.OrderFilter{SiteID: a.ID}, []string{"A1", "A3"}},
		{reading.OrderFilter{SiteID: b.ID}, []string{"B1", "B2"}},
		{reading.OrderFilter{StationAE: "DR_A", DateFrom: "20260303"}, []string{"A3"}},
		{reading.OrderFilter{DateFrom: "20260302", DateTo: "20260303"}, []string{"A1", "B1", "B2"}},
		{reading.OrderFilter{Accession: "B2"}, []string{"B2"}},
		{reading.OrderFilter{PatientID: "PA3", Modality: "DX"}, []string{"A3"}},
		{reading.OrderFilter{Limit: 1}, []string{"A1"}},
	} {
		if got := accs(c.f); !slices.Equal(got, c.want) {
			t.Errorf("Orders(%+v) = %v, want %v", c.f, got, c.want)
		}
	}

	// Update keeps status and UID; cancel; a cancelled order leaves the open list.
	o.RequestedProcedure = "胸部侧位"
	o.StudyUID = "1.2.3"
	up := must(r.UpdateOrder(ctx, o))(t)
	if got := must(r.Order(ctx, o.ID))(t); got.RequestedProcedure != "胸部侧位" || got.StudyUID == "1.2.3" || up.StudyUID != got.StudyUID {
		t.Fatalf("after update: %+v", got)
	}
	if err := r.SetOrderStatus(ctx, o.ID, reading.OrderCancelled); err != nil {
		t.Fatal(err)
	}
	open := reading.OrderFilter{Statuses: []reading.OrderStatus{reading.OrderScheduled, reading.OrderArrived}}
	if got := accs(open); slices.Contains(got, "A1") || len(got) != 3 {
		t.Fatalf("open orders after cancelling A1: %v", got)
	}
	if _, err := r.UpdateOrder(ctx, o); !errors.Is(err, reading.ErrConflict) {
		t.Fatalf("updating a cancelled order: %v, want ErrConflict", err)
	}
	if err := r.SetOrderStatus(ctx, 9999, reading.OrderArrived); !errors.Is(err, reading.ErrNotFound) {
		t.Fatalf("status of a missing order: %v, want ErrNotFound", err)
	}
	if err := r.SetOrderStatus(ctx, o.ID, reading.OrderDone); !errors.Is(err, reading.ErrInvalid) {
		t.Fatalf("setting done by hand: %v, want ErrInvalid", err)
	}
}

func testOrderTying(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	orderEnv(t, r)
	byUID := must(r.CreateOrder(ctx, newOrder("T1", "DR_A", "20260302")))(t)
	byAcc := must(r.CreateOrder(ctx, newOrder("T2", "DR_A", "20260302")))(t)
	byPatient := must(r.CreateOrder(ctx, newOrder("T3", "DR_A", "20260302")))(t)
	never := must(r.CreateOrder(ctx, newOrder("T4", "DR_A", "20260302")))(t)
	other := must(r.CreateOrder(ctx, newOrder("T5", "US_B", "20260302")))(t)

	// The modality took the worklist's Study Instance UID; another used the accession
	// number; a third sent neither, only the patient, date and modality.
	e.AddStudy(t, Study{UID: byUID.StudyUID, PatientID: "PT1", CallingAE: "DR_A", Modality: "DX", StudyDate: "20260302", ReceivedAt: base})
	e.AddStudy(t, Study{UID: "9.2", PatientID: "PT2", Accession: "T2", CallingAE: "DR_A", Modality: "DX", StudyDate: "20260302", ReceivedAt: base})
	e.AddStudy(t, Study{UID: "9.3", PatientID: "PT3", CallingAE: "DR_A", Modality: "DX", StudyDate: "20260302", ReceivedAt: base})
	// The same patient's study of another day, and of another modality, tie nothing.
	e.AddStudy(t, Study{UID: "9.4", PatientID: "PT4", CallingAE: "DR_A", Modality: "DX", StudyDate: "20260305", ReceivedAt: base})
	e.AddStudy(t, Study{UID: "9.5", PatientID: "PT5", CallingAE: "US_B", Modality: "US", StudyDate: "20260302", ReceivedAt: base})
	// A second object of a tied study changes nothing.
	e.AddStudy(t, Study{UID: "9.2", SeriesUID: "9.2.9", PatientID: "PT2", Accession: "T2", CallingAE: "DR_A", Modality: "DX", ReceivedAt: base})

	for _, c := range []struct {
		o      reading.Order
		status reading.OrderStatus
		study  string
	}{
		{byUID, reading.OrderDone, byUID.StudyUID},
		{byAcc, reading.OrderDone, "9.2"},
		{byPatient, reading.OrderDone, "9.3"},
		{never, reading.OrderScheduled, ""},
		{other, reading.OrderScheduled, ""},
	} {
		got := must(r.Order(ctx, c.o.ID))(t)
		if got.Status != c.status || got.ImageStudyUID != c.study {
			t.Errorf("order %s: %s tied to %q, want %s tied to %q", c.o.AccessionNumber, got.Status, got.ImageStudyUID, c.status, c.study)
		}
	}
	// A done order cannot be reopened or edited.
	if err := r.SetOrderStatus(ctx, byAcc.ID, reading.OrderScheduled); !errors.Is(err, reading.ErrConflict) {
		t.Fatalf("reopening a done order: %v, want ErrConflict", err)
	}
}
