package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"pacsd/dicom"
)

// Name keys (0015_name_keys.sql): every form in which a study's Patient's Name and
// Referring Physician's Name can be matched is a row of study_names, so that a name search
// is a range search on that table's primary key whatever the archive's size, and the
// studies it finds are then read by their primary key.

// Attributes with name keys.
const (
	attrPatientName = 1
	attrReferring   = 2
)

// Kinds of name keys.
const (
	keyWhole  = 0 // the whole name, groups '='-joined, as the patient_name column holds it
	keyGroup  = 1 // one component group (Alphabetic, Ideographic or Phonetic)
	keyWord   = 2 // one fuzzy word (fuzzyWords)
	keyPinyin = 3 // the pinyin of the name's characters, run together (pinyinKeys)
)

// fuzzyVersion names how fuzzyWords computes the fuzzy words (the pn_fuzzy and rp_fuzzy
// columns and the kind-2 keys). 2: given names inside one-word Chinese names.
const fuzzyVersion = "2"

// nameKeysVersion names how nameKeys computes the keys, with fuzzyVersion; keys written
// under another are recomputed at Open (backfillNames).
const nameKeysVersion = "1"

type studyNameKey struct {
	attr, kind int
	key        string
}

// nameKeys are the keys of a person name as pnColumns normalizes it.
func nameKeys(attr int, p dicom.PersonName) []studyNameKey {
	p = normPN(p)
	var out []studyNameKey
	add := func(kind int, keys ...string) {
		for _, k := range keys {
			if k != "" {
				out = append(out, studyNameKey{attr, kind, k})
			}
		}
	}
	add(keyWhole, p.String())
	add(keyGroup, p.Alphabetic, p.Ideographic, p.Phonetic)
	add(keyWord, fuzzyWords(p)...)
	add(keyPinyin, pinyinKeys(p)...)
	return out
}

// writeNameKeys replaces the name keys of a study.
func writeNameKeys(tx *sql.Tx, studyPK int64, patient, referring dicom.PersonName) error {
	if _, err := tx.Exec("DELETE FROM study_names WHERE study_pk = ?", studyPK); err != nil {
		return dbErr("write name keys", err)
	}
	keys := append(nameKeys(attrPatientName, patient), nameKeys(attrReferring, referring)...)
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
		args = append(args, k.attr, k.kind, k.key, studyPK)
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

// nameAttr is the name-keys attribute of a PN key backed by columns.
var nameAttr = map[dicom.Tag]int{dicom.TagPatientName: attrPatientName, dicom.TagReferringPhysicianName: attrReferring}

// nameSet is the set of studies whose name attr matches v (PS3.4 C.2.2.2, the package
// comment's PN rules), as a SELECT of study_pk over study_names and its arguments: one
// range search per value (per word when fuzzy), combined by UNION ('\'-separated values)
// and INTERSECT (the words of a fuzzy value). universal: v constrains nothing. ok false: a
// value could match an empty name, which has no key; the caller then matches the columns.
func nameSet(attr int, v string, fuzzy bool) (set string, args []any, universal, ok bool) {
	var sets []string
	for _, one := range strings.Split(v, `\`) {
		one = strings.TrimSpace(one)
		if one == "" || one == "*" {
			return "", nil, true, true
		}
		sel := func(kind int, pattern string, wildcard bool) string {
			args = append(args, attr, kind, pattern)
			if wildcard {
				return `SELECT DISTINCT study_pk FROM study_names WHERE attr = ? AND kind = ? AND key LIKE ? ESCAPE '\'`
			}
			return `SELECT DISTINCT study_pk FROM study_names WHERE attr = ? AND kind = ? AND key = ?`
		}
		if fuzzy {
			words := splitWords(fold(one))
			if len(words) == 0 {
				return "", nil, true, true
			}
			// Each word must match the start of some word of the name.
			var w []string
			for _, wd := range words {
				w = append(w, sel(keyWord, likePattern(wd)+"%", true))
			}
			if len(w) == 1 {
				sets = append(sets, w[0])
			} else {
				sets = append(sets, "SELECT study_pk FROM ("+strings.Join(w, " INTERSECT ")+") nw")
			}
			continue
		}
		kind := keyGroup
		if strings.Contains(one, "=") {
			p := dicom.ParsePersonName(one)
			if !strings.ContainsAny(one, "*?") {
				p = normPN(p)
			}
			one, kind = p.String(), keyWhole
		} else if !strings.ContainsAny(one, "*?") {
			one = strings.TrimRight(one, "^ ")
		}
		if strings.Trim(one, "*") == "" {
			return "", nil, false, false // "" or "**": matches an empty name too
		}
		if strings.ContainsAny(one, "*?") {
			sets = append(sets, sel(kind, likePattern(one), true))
		} else {
			sets = append(sets, sel(kind, one, false))
		}
	}
	return strings.Join(sets, " UNION "), args, false, true
}
