package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"pacsd/dicom"
	"pacsd/store/sqldb"
)

// Name keys (0015_name_keys.sql): every form in which a study's Patient's Name and
// Referring Physician's Name can be matched is a row of study_names, so that a name search
// is a range search on that table's primary key whatever the archive's size, and the
// studies it finds are then read by their primary key.

// The attributes and kinds of name keys (sqldb.NameKeys).
const (
	attrPatientName = sqldb.AttrPatientName
	attrReferring   = sqldb.AttrReferring
	keyWhole        = sqldb.KeyWhole
	keyGroup        = sqldb.KeyGroup
	keyWord         = sqldb.KeyWord
	keyPinyin       = sqldb.KeyPinyin
	fuzzyVersion    = sqldb.FuzzyVersion
	nameKeysVersion = sqldb.NameKeysVersion
)

// writeNameKeys replaces the name keys of a study.
func writeNameKeys(tx *sql.Tx, studyPK int64, patient, referring dicom.PersonName) error {
	if _, err := tx.Exec("DELETE FROM study_names WHERE study_pk = ?", studyPK); err != nil {
		return dbErr("write name keys", err)
	}
	keys := append(sqldb.NameKeys(attrPatientName, patient), sqldb.NameKeys(attrReferring, referring)...)
	if len(keys) == 0 {
		return nil
	}
	// One statement for all of them (a name has a few dozen keys at most: well within
	// SQLite's bound parameters).
	var b strings.Builder
	b.WriteString("INSERT OR IGNORE INTO study_names (attr, kind, key, study_pk) VALUES ")
	args := make([]any, 0, 4*len(keys))
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?)")
		args = append(args, k.Attr, k.Kind, k.Key, studyPK)
	}
	if _, err := tx.Exec(b.String(), args...); err != nil {
		return dbErr("write name keys", err)
	}
	return nil
}

// backfillBatch is how many studies backfillNames rewrites per transaction: the writer is
// not running yet at Open, but a short transaction keeps the WAL small.
var backfillBatch = 1000

// backfillNames recomputes the fuzzy-word columns and the name keys of every study, in
// batches of backfillBatch studies (each its own transaction), when they were written by
// another version of fuzzyWords or nameKeys, or before study_names existed (0015): SQL
// cannot compute pinyin. It runs at Open before the index serves anything; an interrupted
// backfill starts over at the next Open (rewriting a study's keys is idempotent).
func backfillNames(ctx context.Context, db *sql.DB) error {
	setting := func(key string) (string, error) {
		var v string
		err := db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil
		}
		return v, err
	}
	fuzzy, err := setting("fuzzy_version")
	if err != nil {
		return fmt.Errorf("name keys backfill: %w", err)
	}
	keys, err := setting("name_keys_version")
	if err != nil {
		return fmt.Errorf("name keys backfill: %w", err)
	}
	if fuzzy == fuzzyVersion && keys == nameKeysVersion {
		return nil
	}
	type row struct {
		pk     int64
		pn, rp dicom.PersonName
	}
	for last := int64(0); ; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("name keys backfill: %w", err)
		}
		done, err := func() (bool, error) {
			rows, err := tx.QueryContext(ctx, `SELECT id, pn_alpha, pn_ideo, pn_phon, rp_alpha, rp_ideo, rp_phon
				FROM studies WHERE id > ? ORDER BY id LIMIT ?`, last, backfillBatch)
			if err != nil {
				return false, err
			}
			var todo []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.pk, &r.pn.Alphabetic, &r.pn.Ideographic, &r.pn.Phonetic,
					&r.rp.Alphabetic, &r.rp.Ideographic, &r.rp.Phonetic); err != nil {
					rows.Close()
					return false, err
				}
				todo = append(todo, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return false, err
			}
			for _, r := range todo {
				if _, err := tx.ExecContext(ctx, "UPDATE studies SET pn_fuzzy = ?, rp_fuzzy = ? WHERE id = ?",
					fuzzyName(r.pn), fuzzyName(r.rp), r.pk); err != nil {
					return false, err
				}
				if err := writeNameKeys(tx, r.pk, r.pn, r.rp); err != nil {
					return false, err
				}
				last = r.pk
			}
			if len(todo) == backfillBatch {
				return false, nil
			}
			for k, v := range map[string]string{"fuzzy_version": fuzzyVersion, "name_keys_version": nameKeysVersion} {
				if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", k, v); err != nil {
					return false, err
				}
			}
			return true, nil
		}()
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
		if err != nil {
			return fmt.Errorf("name keys backfill: %w", err)
		}
		if done {
			return nil
		}
	}
}

// nameSet is the set of studies whose name attr matches v (sqldb.NameLookups), as a
// SELECT of study_pk over study_names and its arguments: one range search per value (per
// word when fuzzy), combined by UNION ('\'-separated values) and INTERSECT (the words of a
// fuzzy value). universal: v constrains nothing. ok false: a value could match an empty
// name, which has no key; the caller then matches the columns.
func nameSet(attr int, v string, fuzzy bool) (set string, args []any, universal, ok bool) {
	alts, universal, ok := sqldb.NameLookups(v, fuzzy)
	if universal || !ok {
		return "", nil, universal, ok
	}
	var sets []string
	for _, alt := range alts {
		var w []string
		for _, l := range alt {
			args = append(args, attr, l.Kind, l.Key)
			if l.Like {
				w = append(w, `SELECT DISTINCT study_pk FROM study_names WHERE attr = ? AND kind = ? AND key LIKE ? ESCAPE '\'`)
			} else {
				w = append(w, `SELECT DISTINCT study_pk FROM study_names WHERE attr = ? AND kind = ? AND key = ?`)
			}
		}
		if len(w) == 1 {
			sets = append(sets, w[0])
		} else {
			sets = append(sets, "SELECT study_pk FROM ("+strings.Join(w, " INTERSECT ")+") nw")
		}
	}
	return strings.Join(sets, " UNION "), args, false, true
}
