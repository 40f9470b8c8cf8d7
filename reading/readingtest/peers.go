package readingtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"pacsd/reading"
)

// aesOf is the AE titles of site id as Sites and Site list them, and as the peers say.
func aesOf(t *testing.T, r reading.Repository, id int64) (fromSites, fromSite, fromPeers []string) {
	t.Helper()
	ctx := context.Background()
	for _, s := range must(r.Sites(ctx))(t) {
		if s.ID == id {
			fromSites = s.AETitles
		}
	}
	fromSite = must(r.Site(ctx, id))(t).AETitles
	for _, p := range must(r.Peers(ctx))(t) {
		if p.SiteID == id {
			fromPeers = append(fromPeers, p.AETitle)
		}
	}
	slices.Sort(fromPeers)
	return fromSites, fromSite, fromPeers
}

// oneModel fails the test unless site id's AE titles are want, whichever way they are read.
func oneModel(t *testing.T, r reading.Repository, when string, id int64, want ...string) {
	t.Helper()
	a, b, c := aesOf(t, r, id)
	if !slices.Equal(a, want) || !slices.Equal(b, want) || !slices.Equal(c, want) {
		t.Errorf("%s: site %d AE titles: Sites %q, Site %q, peers %q; want %q", when, id, a, b, c, want)
	}
}

func lookup(t *testing.T, r reading.Repository, ae string) (reading.Peer, bool) {
	t.Helper()
	p, ok, err := r.Peer(context.Background(), ae)
	if err != nil {
		t.Fatal(err)
	}
	return p, ok
}

func testPeers(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	a := must(r.PutSite(ctx, reading.Site{Name: "甲镇"}))(t)
	if _, ok := lookup(t, r, "WS1"); ok {
		t.Fatal("WS1 found before it was registered")
	}
	ws := must(r.PutPeer(ctx, reading.Peer{AETitle: " WS1 ", Description: "放射科工作站", Host: "10.0.0.5", Port: 104,
		Addresses: []string{"10.0.0.5", "10.0.1.0/24", " ", "10.0.0.5", "::ffff:10.0.2.7"}, MayQuery: true,
		MayRetrieve: true, Destination: true}))(t)
	if ws.ID == 0 || ws.AETitle != "WS1" || !slices.Equal(ws.Addresses, []string{"10.0.0.5/32", "10.0.1.0/24", "10.0.2.7/32"}) {
		t.Fatalf("PutPeer returned %+v", ws)
	}
	// The lookup sees the change at once, with trailing spaces of the AE title ignored.
	got, ok := lookup(t, r, "WS1  ")
	if !ok || got.ID != ws.ID || got.Host != "10.0.0.5" || got.Port != 104 || !got.MayQuery || !got.Destination ||
		got.MayStore || got.SiteID != 0 || !slices.Equal(got.Addresses, ws.Addresses) {
		t.Fatalf("Peer(WS1) = %+v, %v; want %+v", got, ok, ws)
	}
	if byID := must(r.PeerByID(ctx, ws.ID))(t); byID.Description != "放射科工作站" || !slices.Equal(byID.Addresses, ws.Addresses) {
		t.Errorf("PeerByID = %+v", byID)
	}
	// Replacing it replaces every setting, the addresses too.
	ws.Addresses, ws.MayRetrieve, ws.RequireTLS = nil, false, true
	must(r.PutPeer(ctx, ws))(t)
	if got, _ := lookup(t, r, "WS1"); len(got.Addresses) != 0 || got.MayRetrieve || !got.RequireTLS {
		t.Errorf("after replacing: %+v", got)
	}
	// A site's peer.
	dr := must(r.PutPeer(ctx, reading.Peer{AETitle: "TOWN_A_DR", SiteID: a.ID, MayStore: true, Addresses: []string{"192.168.10.0/24"}}))(t)
	if got, ok := lookup(t, r, "TOWN_A_DR"); !ok || got.SiteID != a.ID || !got.MayStore {
		t.Errorf("Peer(TOWN_A_DR) = %+v, %v", got, ok)
	}
	if ps := must(r.Peers(ctx))(t); len(ps) != 2 || ps[0].AETitle != "TOWN_A_DR" || ps[1].AETitle != "WS1" {
		t.Errorf("Peers = %+v, want TOWN_A_DR and WS1 by AE title", ps)
	}

	// Refusals.
	for _, c := range []struct {
		what     string
		p        reading.Peer
		sentinel error
	}{
		{"taken AE title", reading.Peer{AETitle: "WS1"}, reading.ErrConflict},
		{"no AE title", reading.Peer{AETitle: " "}, reading.ErrInvalid},
		{"long AE title", reading.Peer{AETitle: "WORKSTATION_12345"}, reading.ErrInvalid},
		{"bad address", reading.Peer{AETitle: "X", Addresses: []string{"10.0.0.300"}}, reading.ErrInvalid},
		{"bad prefix", reading.Peer{AETitle: "X", Addresses: []string{"10.0.0.0/33"}}, reading.ErrInvalid},
		{"bad port", reading.Peer{AETitle: "X", Host: "h", Port: 70000}, reading.ErrInvalid},
		{"destination without port", reading.Peer{AETitle: "X", Host: "h", Destination: true}, reading.ErrInvalid},
		{"destination without host", reading.Peer{AETitle: "X", Port: 104, Destination: true}, reading.ErrInvalid},
		{"unknown site", reading.Peer{AETitle: "X", SiteID: 9999}, reading.ErrInvalid},
		{"unknown ID", reading.Peer{ID: 9999, AETitle: "X"}, reading.ErrNotFound},
	} {
		if _, err := r.PutPeer(ctx, c.p); !errors.Is(err, c.sentinel) {
			t.Errorf("%s: PutPeer(%+v): %v, want %v", c.what, c.p, err, c.sentinel)
		}
	}
	if _, ok := lookup(t, r, "X"); ok {
		t.Error("a refused peer is found")
	}
	if err := r.DeletePeer(ctx, 9999); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("DeletePeer(9999): %v, want ErrNotFound", err)
	}
	if _, err := r.PeerByID(ctx, 9999); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("PeerByID(9999): %v, want ErrNotFound", err)
	}
	if err := r.DeletePeer(ctx, dr.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup(t, r, "TOWN_A_DR"); ok {
		t.Error("a deleted peer is found")
	}
}

// testPeersOneModel: a site's AE titles are its peers' titles, whichever way they change.
func testPeersOneModel(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	e.AddStudy(t, Study{UID: "9.1", CallingAE: "TOWN_A", ReceivedAt: base})
	a := must(r.PutSite(ctx, reading.Site{Name: "甲镇", AETitles: []string{"TOWN_A", "TOWN_A_US"}}))(t)
	b := must(r.PutSite(ctx, reading.Site{Name: "乙镇"}))(t)
	oneModel(t, r, "after PutSite", a.ID, "TOWN_A", "TOWN_A_US")
	// The sites form makes store-only peers.
	pa, ok := lookup(t, r, "TOWN_A")
	if !ok || pa.SiteID != a.ID || !pa.MayStore || pa.MayQuery || pa.MayRetrieve || pa.Destination {
		t.Fatalf("Peer(TOWN_A) after PutSite = %+v, %v; want a store-only peer of site %d", pa, ok, a.ID)
	}
	// A peer given more rights keeps them when the site is saved again with its title.
	pa.MayQuery, pa.Addresses = true, []string{"192.168.1.0/24"}
	must(r.PutPeer(ctx, pa))(t)
	a.Name = "甲镇卫生院"
	must(r.PutSite(ctx, a))(t)
	if got, _ := lookup(t, r, "TOWN_A"); got.ID != pa.ID || !got.MayQuery || !slices.Equal(got.Addresses, []string{"192.168.1.0/24"}) {
		t.Errorf("after saving the site again, TOWN_A = %+v; want its settings kept", got)
	}
	// PutPeer moving an AE title to another site moves it, and the study it sent.
	pa.SiteID = b.ID
	must(r.PutPeer(ctx, pa))(t)
	oneModel(t, r, "after PutPeer moved TOWN_A", a.ID, "TOWN_A_US")
	oneModel(t, r, "after PutPeer moved TOWN_A", b.ID, "TOWN_A")
	if got := siteOf(t, r, "9.1"); got != b.ID {
		t.Errorf("study 9.1 from TOWN_A at site %d, want %d", got, b.ID)
	}
	// A title a peer of another site (or of the county) has cannot be given to a site.
	must(r.PutPeer(ctx, reading.Peer{AETitle: "COUNTY_WS", MayQuery: true}))(t)
	for _, ae := range []string{"TOWN_A", "COUNTY_WS"} {
		_, err := r.PutSite(ctx, reading.Site{ID: a.ID, Name: a.Name, AETitles: []string{"TOWN_A_US", ae}})
		var fe *reading.FieldError
		if !errors.Is(err, reading.ErrConflict) || !errors.As(err, &fe) || fe.Field != "aeTitles" || fe.Value != ae {
			t.Errorf("PutSite taking %s: %v, want a conflict on aeTitles %q", ae, err, ae)
		}
	}
	oneModel(t, r, "after refused PutSite", a.ID, "TOWN_A_US")
	// Leaving a title out of the site removes its peer.
	a.AETitles = nil
	must(r.PutSite(ctx, a))(t)
	oneModel(t, r, "after PutSite without titles", a.ID)
	if _, ok := lookup(t, r, "TOWN_A_US"); ok {
		t.Error("TOWN_A_US still a peer after its site dropped it")
	}
	// DeletePeer takes the title from its site; the study it sent is unknown again.
	must(r.PutPeer(ctx, reading.Peer{AETitle: "TOWN_A_US", SiteID: a.ID, MayStore: true}))(t)
	oneModel(t, r, "after PutPeer added TOWN_A_US", a.ID, "TOWN_A_US")
	if err := r.DeletePeer(ctx, pa.ID); err != nil {
		t.Fatal(err)
	}
	oneModel(t, r, "after DeletePeer", b.ID)
	if got := siteOf(t, r, "9.1"); got != 0 {
		t.Errorf("study 9.1 at site %d after its peer was deleted, want unknown", got)
	}
	// A site's peers go with it.
	if err := r.DeleteSite(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup(t, r, "TOWN_A_US"); ok {
		t.Error("TOWN_A_US still a peer after its site was deleted")
	}
}

// testQuarantine: studies held in quarantine are left out of the worklist unless asked
// for, and an assignment releases them to a site for good.
func testQuarantine(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	e.AddStudy(t, Study{UID: "8.1", CallingAE: "STRANGER", Quarantined: true, ReceivedAt: base})
	e.AddStudy(t, Study{UID: "8.2", CallingAE: "OTHER", ReceivedAt: base.Add(time.Minute)})
	list := func(f reading.WorklistFilter) []string { return allPages(t, r, f, 10) }
	if got := list(reading.WorklistFilter{}); !slices.Equal(got, []string{"8.2"}) {
		t.Errorf("worklist = %v, want only 8.2", got)
	}
	if got := list(reading.WorklistFilter{WithQuarantined: true}); !slices.Equal(got, []string{"8.2", "8.1"}) {
		t.Errorf("worklist with quarantined = %v, want 8.2, 8.1", got)
	}
	if got := list(reading.WorklistFilter{QuarantinedOnly: true}); !slices.Equal(got, []string{"8.1"}) {
		t.Errorf("quarantined only = %v, want 8.1", got)
	}
	row := must(r.Study(ctx, "8.1"))(t)
	if !row.Quarantined || row.SiteID != 0 {
		t.Errorf("Study(8.1) = quarantined %v site %d", row.Quarantined, row.SiteID)
	}
	if ta := must(r.Turnaround(ctx, base.Add(-time.Hour), base.Add(time.Hour), 0))(t); ta.UnreadCount != 1 ||
		ta.OldestUnread == nil || ta.OldestUnread.StudyUID != "8.2" {
		t.Errorf("turnaround counts the quarantined study: %d unread, oldest %+v", ta.UnreadCount, ta.OldestUnread)
	}
	a := must(r.PutSite(ctx, reading.Site{Name: "甲镇"}))(t)
	if err := r.AssignStudy(ctx, "8.1", 9999); !errors.Is(err, reading.ErrInvalid) {
		t.Errorf("AssignStudy to no site: %v, want ErrInvalid", err)
	}
	if err := r.AssignStudy(ctx, "no.such", a.ID); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("AssignStudy of no study: %v, want ErrNotFound", err)
	}
	if err := r.AssignStudy(ctx, "8.1", a.ID); err != nil {
		t.Fatal(err)
	}
	if row := must(r.Study(ctx, "8.1"))(t); row.Quarantined || row.SiteID != a.ID {
		t.Errorf("after assignment: quarantined %v site %d, want released to %d", row.Quarantined, row.SiteID, a.ID)
	}
	if got := list(reading.WorklistFilter{SiteID: a.ID}); !slices.Equal(got, []string{"8.1"}) {
		t.Errorf("site's worklist = %v, want 8.1", got)
	}
	// The assignment outlives changes of the registry.
	must(r.PutSite(ctx, reading.Site{Name: "乙镇", AETitles: []string{"STRANGER"}}))(t)
	if got := siteOf(t, r, "8.1"); got != a.ID {
		t.Errorf("after STRANGER joined another site, study 8.1 at site %d, want %d (assigned)", got, a.ID)
	}
}
