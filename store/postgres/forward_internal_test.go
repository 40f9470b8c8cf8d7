package postgres

import (
	"context"
	"fmt"
	"testing"

	"pacsd/internal/pgtest"
	"pacsd/store"
)

// TestEnqueueForwards: PutInstance's queueing follows the rules (every criterion, enabled
// flags, quarantine) and queues an instance once per destination however many rules match.
func TestEnqueueForwards(t *testing.T) {
	ctx := context.Background()
	x, err := Open(ctx, pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := x.db.ExecContext(ctx, `INSERT INTO forward_destinations (id, name, kind, ae, enabled) VALUES
		(1, 'a', 'dicom', 'A', true), (2, 'b', 'dicom', 'B', true), (3, 'off', 'dicom', 'C', false);
		INSERT INTO forward_rules (dest_id, modality, enabled) VALUES (1, 'CT', true), (1, '', true), (2, 'MR', true),
			(2, '', false), (3, '', true);
		INSERT INTO forward_rules (dest_id, site, calling_ae, sop_class) VALUES (2, 'site:1', 'CT1', '1.2.3')`); err != nil {
		t.Fatal(err)
	}
	put := func(sop, modality string, o store.Origin) {
		t.Helper()
		tx, err := x.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		inst := &store.Instance{StudyInstanceUID: "9.1", SOPInstanceUID: sop, SOPClassUID: "1.2.3", Origin: o}
		if err := enqueueForwards(ctx, tx, inst, modality); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	put("1", "CT", store.Origin{Site: "site:1", CallingAE: "CT1"}) // a, b (the site rule)
	put("1", "CT", store.Origin{Site: "site:1", CallingAE: "CT1"}) // pending already: not again
	put("2", "CT", store.Origin{Site: "site:2", CallingAE: "CT1"}) // a
	put("3", "MR", store.Origin{})                                 // a, b
	put("4", "MR", store.Origin{Quarantined: true})                // none
	rows, err := x.db.QueryContext(ctx, `SELECT sop_uid, dest_id, study_uid, state, next_at <> '' FROM forward_queue ORDER BY sop_uid, dest_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var sop, study, state string
		var dest int
		var timed bool
		if err := rows.Scan(&sop, &dest, &study, &state, &timed); err != nil {
			t.Fatal(err)
		}
		if study != "9.1" || state != "pending" || !timed {
			t.Errorf("row %s/%d: study %q state %q timed %v", sop, dest, study, state, timed)
		}
		got = append(got, sop+"/"+string(rune('0'+dest)))
	}
	want := "[1/1 1/2 2/1 3/1 3/2]"
	if s := fmt.Sprint(got); s != want {
		t.Fatalf("queued %s, want %s", s, want)
	}
}
