package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"pacsd/dicom"
	"pacsd/reading/readingtest"
	"pacsd/store"
	"pacsd/store/sqlite"
)

func TestReadingContract(t *testing.T) {
	readingtest.Run(t, func(t *testing.T) readingtest.Env {
		idx, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		return readingtest.Env{Repo: idx.Reading(), AddStudy: func(t testing.TB, s readingtest.Study) {
			t.Helper()
			if _, err := idx.PutInstance(context.Background(), readingInstance(s)); err != nil {
				t.Fatal(err)
			}
		}}
	})
}

// TestUpgradeKeepsPasswords: accounts made before migration 0005 do not have to change
// their password when pacsd is upgraded; only passwords set from then on can be marked.
func TestUpgradeKeepsPasswords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"}
	for i, name := range []string{"0001_init.sql", "0002_writeback.sql", "0003_reading.sql", "0004_pinyin.sql"} {
		body, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(body), fmt.Sprintf("INSERT INTO schema_version VALUES (%d, 'then')", i+1))
	}
	stmts = append(stmts, `INSERT INTO users (username, role, password_hash) VALUES ('li', 'radiologist', 'h')`)
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%.60s: %v", stmt, err)
		}
	}
	db.Close()

	idx, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open a schema-4 database: %v", err)
	}
	defer idx.Close()
	r := idx.Reading()
	u, err := r.UserByName(ctx, "li")
	if err != nil {
		t.Fatal(err)
	}
	if u.MustChangePassword {
		t.Error("an account older than the must-change flag has it after the upgrade")
	}
	u.MustChangePassword = true
	if err := r.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u, err = r.User(ctx, u.ID); err != nil || !u.MustChangePassword {
		t.Errorf("after setting the flag on an upgraded database: %+v %v", u, err)
	}
}

// readingInstance is the index record of a contract-test study: one instance of one series.
func readingInstance(s readingtest.Study) *store.Instance {
	str := func(vr, v string) dicom.JSONAttribute {
		if v == "" {
			return dicom.JSONAttribute{VR: vr}
		}
		return dicom.JSONAttribute{VR: vr, Value: []any{v}}
	}
	series := s.SeriesUID
	if series == "" {
		series = s.UID + ".1"
	}
	sum := sha256.Sum256([]byte(s.UID))
	return &store.Instance{
		StudyInstanceUID:  s.UID,
		SeriesInstanceUID: series,
		SOPInstanceUID:    series + ".1",
		SOPClassUID:       "1.2.840.10008.5.1.4.1.1.1.1",
		TransferSyntaxUID: "1.2.840.10008.1.2.1",
		BlobKey:           "k/" + s.UID + ".dcm",
		Size:              1,
		SHA256:            hex.EncodeToString(sum[:]),
		Origin:            store.Origin{Transport: "dimse", CallingAE: s.CallingAE, Quarantined: s.Quarantined},
		ReceivedAt:        s.ReceivedAt,
		StudyAttrs: dicom.JSONDataset{
			dicom.TagStudyInstanceUID.Hex(): str("UI", s.UID),
			dicom.TagPatientName.Hex():      {VR: "PN", Value: []any{dicom.PersonNameJSON(s.PatientName)}},
			dicom.TagPatientID.Hex():        str("LO", s.PatientID),
			dicom.TagInstitutionName.Hex():  str("LO", s.Institution),
			dicom.TagStudyDate.Hex():        str("DA", s.StudyDate),
			dicom.TagStudyTime.Hex():        str("TM", s.StudyTime),
			dicom.TagAccessionNumber.Hex():  str("SH", s.Accession),
			dicom.TagStudyDescription.Hex(): str("LO", s.Description),
		},
		SeriesAttrs: dicom.JSONDataset{
			dicom.TagSeriesInstanceUID.Hex(): str("UI", series),
			dicom.TagModality.Hex():          str("CS", s.Modality),
			dicom.TagBodyPartExamined.Hex():  str("CS", s.BodyPart),
		},
		InstanceAttrs: dicom.JSONDataset{},
	}
}
