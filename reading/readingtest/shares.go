package readingtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"pacsd/reading"
)

// testShares: a link is found by its token's hash only; wrong verifications lock it after
// MaxShareAttempts, even when guessed at once from many places; a right one counts an
// opening; revocation keeps its first time, extension unlocks; the list filters and the
// counts are per site; an unknown study gets no link.
func testShares(t *testing.T, e Env) {
	ctx := context.Background()
	r := e.Repo
	e.AddStudy(t, Study{UID: "19.1", Modality: "DX", PatientID: "P1", ReceivedAt: base})
	tok := must(reading.NewShareToken())(t)
	if len(tok) < 22 {
		t.Fatalf("token %q is shorter than 128 bits", tok)
	}
	l := reading.ShareLink{TokenHash: reading.ShareTokenHash(tok), StudyUID: "19.1", Kind: reading.SharePatient,
		Verify: reading.VerifyBirthDate, Answer: reading.VerifyAnswer(reading.VerifyBirthDate, "1980-05-01"),
		CreatedBy: 3, CreatedName: "李医生", CreatedAt: base, ExpiresAt: base.Add(30 * 24 * time.Hour)}
	made := must(r.CreateShare(ctx, l))(t)
	if made.ID == 0 {
		t.Fatal("no ID")
	}
	got := must(r.ShareByHash(ctx, reading.ShareTokenHash(tok)))(t)
	if got.ID != made.ID || got.StudyUID != "19.1" || got.Kind != reading.SharePatient || !got.ExpiresAt.Equal(l.ExpiresAt) ||
		got.Answer != "19800501" || got.CreatedName != "李医生" {
		t.Errorf("read back %+v", got)
	}
	if !got.CheckAnswer("1980 05 01") || got.CheckAnswer("19800502") {
		t.Error("CheckAnswer")
	}
	if _, err := r.ShareByHash(ctx, reading.ShareTokenHash(tok+"x")); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("another token: %v", err)
	}
	l2 := l
	l2.TokenHash, l2.StudyUID = reading.ShareTokenHash("other"), "19.404"
	if _, err := r.CreateShare(ctx, l2); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("a link to an unknown study: %v, want ErrNotFound", err)
	}
	l2.StudyUID, l2.Kind = "19.1", "stranger"
	if _, err := r.CreateShare(ctx, l2); !errors.Is(err, reading.ErrInvalid) {
		t.Errorf("a link of no kind: %v, want ErrInvalid", err)
	}
	// Right, then wrong guesses from many places at once: never more than the limit pass.
	if a := must(r.ShareAttempt(ctx, made.ID, true, base.Add(time.Hour)))(t); a.Opens != 1 || a.Attempts != 0 || !a.LastOpenAt.Equal(base.Add(time.Hour)) {
		t.Errorf("after a right answer: %+v", a)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	counted := 0
	for range 3 * reading.MaxShareAttempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.ShareAttempt(ctx, made.ID, false, base); err == nil {
				mu.Lock()
				counted++
				mu.Unlock()
			} else if !errors.Is(err, reading.ErrConflict) {
				t.Errorf("a wrong attempt: %v", err)
			}
		}()
	}
	wg.Wait()
	locked := must(r.ShareByID(ctx, made.ID))(t)
	if counted != reading.MaxShareAttempts || locked.Attempts != reading.MaxShareAttempts || locked.Usable(base) {
		t.Errorf("%d wrong attempts counted, link %+v: want it locked after %d", counted, locked, reading.MaxShareAttempts)
	}
	if _, err := r.ShareAttempt(ctx, made.ID, true, base); !errors.Is(err, reading.ErrConflict) {
		t.Errorf("the right answer to a locked link: %v, want ErrConflict", err)
	}
	// Extending unlocks; revoking keeps the first time.
	if err := r.ExtendShare(ctx, made.ID, base.Add(90*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if x := must(r.ShareByID(ctx, made.ID))(t); !x.Usable(base) || !x.ExpiresAt.Equal(base.Add(90*24*time.Hour)) {
		t.Errorf("extended: %+v", x)
	}
	if x := must(r.ShareByID(ctx, made.ID))(t); x.Usable(base.Add(91 * 24 * time.Hour)) {
		t.Error("usable after its expiry")
	}
	for _, at := range []time.Time{base.Add(2 * time.Hour), base.Add(3 * time.Hour)} {
		if err := r.RevokeShare(ctx, made.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	if x := must(r.ShareByID(ctx, made.ID))(t); !x.RevokedAt.Equal(base.Add(2*time.Hour)) || x.Usable(base) {
		t.Errorf("revoked: %+v", x)
	}
	if err := r.RevokeShare(ctx, 404, base); !errors.Is(err, reading.ErrNotFound) {
		t.Errorf("revoking an unknown link: %v", err)
	}
	l3 := l
	l3.TokenHash, l3.Kind, l3.CreatedName, l3.CreatedAt = reading.ShareTokenHash("third"), reading.ShareDoctor, "王医生", base.Add(time.Minute)
	must(r.CreateShare(ctx, l3))(t)
	all := must(r.Shares(ctx, reading.ShareFilter{}))(t)
	if len(all) != 2 || all[0].CreatedName != "王医生" {
		t.Errorf("all links, newest first: %+v", all)
	}
	if act := must(r.Shares(ctx, reading.ShareFilter{Active: true, Now: base}))(t); len(act) != 1 || act[0].Kind != reading.ShareDoctor {
		t.Errorf("active links: %+v", act)
	}
	if q := must(r.Shares(ctx, reading.ShareFilter{Query: "李"}))(t); len(q) != 1 || q[0].ID != made.ID {
		t.Errorf("search by creator: %+v", q)
	}
	counts := must(r.ShareCounts(ctx))(t)
	if len(counts) != 1 || counts[0].Links != 2 || counts[0].Opens != 1 {
		t.Errorf("counts: %+v", counts)
	}
}
