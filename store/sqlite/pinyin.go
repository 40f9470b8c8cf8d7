package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"unicode"

	"github.com/mozillazg/go-pinyin"

	"pacsd/dicom"
)

// maxPinyinKeys bounds the readings kept per name: heteronyms multiply (单田芳 has three
// surname readings); only the first two characters' alternatives are expanded, which is
// where surnames are, and the product is capped.
const maxPinyinKeys = 8

// pinyinKeys is the pinyin of the Han characters of a person name (its alphabetic and
// ideographic groups, since a name sent only in characters lands in the first group): every
// reading of the first two characters, the common reading of the rest, syllables run
// together in lower case. Nil when the name has no Han character.
func pinyinKeys(p dicom.PersonName) []string {
	var han []rune
	for _, g := range []string{p.Ideographic, p.Alphabetic} {
		for _, r := range g {
			if unicode.Is(unicode.Han, r) {
				han = append(han, r)
			}
		}
		if len(han) > 0 {
			break // the ideographic group when there is one, else the alphabetic
		}
	}
	if len(han) == 0 {
		return nil
	}
	keys := []string{""}
	args := pinyin.Args{Style: pinyin.Normal, Heteronym: true}
	for i, r := range han {
		readings := pinyin.SinglePinyin(r, args)
		if len(readings) == 0 {
			continue // not in the dictionary: the characters still match as themselves
		}
		if i >= 2 {
			readings = readings[:1]
		}
		var next []string
		for _, k := range keys {
			for _, rd := range readings {
				if len(next) < maxPinyinKeys {
					next = append(next, k+rd)
				}
			}
		}
		keys = next
	}
	if keys[0] == "" {
		return nil
	}
	return keys
}

// pinyinWords is pinyinKeys' contribution to pn_fuzzy: each character's common reading as a
// word, and the run-together keys, so fuzzy QIDO matches "zhang", "wei" and "zhangwei".
func pinyinWords(p dicom.PersonName) []string {
	keys := pinyinKeys(p)
	if keys == nil {
		return nil
	}
	var words []string
	for _, g := range []string{p.Ideographic, p.Alphabetic} {
		for _, part := range splitWords(g) {
			var syl []string
			for _, r := range part {
				if unicode.Is(unicode.Han, r) {
					if rd := pinyin.SinglePinyin(r, pinyin.Args{Style: pinyin.Normal}); len(rd) > 0 {
						syl = append(syl, rd[0])
					}
				}
			}
			words = append(words, syl...)
		}
		if len(words) > 0 {
			break
		}
	}
	return append(words, keys...)
}

// writePinyin replaces a study's pinyin keys.
func writePinyin(tx *sql.Tx, studyPK int64, p dicom.PersonName) error {
	if _, err := tx.Exec("DELETE FROM study_pinyin WHERE study_pk = ?", studyPK); err != nil {
		return dbErr("write pinyin", err)
	}
	for _, k := range pinyinKeys(p) {
		if _, err := tx.Exec("INSERT OR IGNORE INTO study_pinyin (study_pk, key) VALUES (?, ?)", studyPK, k); err != nil {
			return dbErr("write pinyin", err)
		}
	}
	return nil
}

// fuzzyVersion names how pn_fuzzy and rp_fuzzy are computed (fuzzyName); rows written under
// an older one are recomputed once at open. 2: given names inside one-word Chinese names.
const fuzzyVersion = "2"

// backfillNames fills study_pinyin (and the pinyin words of pn_fuzzy) for studies written
// before migration 4, once: the migration cannot compute pinyin in SQL. It also recomputes
// the fuzzy-word columns when fuzzyName has changed since they were written.
func backfillNames(ctx context.Context, db *sql.DB) error {
	setting := func(key string) (string, bool, error) {
		var v string
		err := db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
		if err == sql.ErrNoRows {
			return "", false, nil
		}
		return v, err == nil, err
	}
	_, pinyinDone, err := setting("pinyin_backfilled")
	if err != nil {
		return fmt.Errorf("pinyin backfill: %w", err)
	}
	fuzzy, _, err := setting("fuzzy_version")
	if err != nil {
		return fmt.Errorf("pinyin backfill: %w", err)
	}
	if pinyinDone && fuzzy == fuzzyVersion {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("pinyin backfill: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, pn_alpha, pn_ideo, pn_phon, rp_alpha, rp_ideo, rp_phon FROM studies
		WHERE pn_alpha != '' OR pn_ideo != '' OR pn_phon != '' OR rp_alpha != '' OR rp_ideo != '' OR rp_phon != ''`)
	if err != nil {
		return fmt.Errorf("pinyin backfill: %w", err)
	}
	type row struct {
		pk     int64
		pn, rp dicom.PersonName
	}
	var todo []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.pk, &r.pn.Alphabetic, &r.pn.Ideographic, &r.pn.Phonetic,
			&r.rp.Alphabetic, &r.rp.Ideographic, &r.rp.Phonetic); err != nil {
			rows.Close()
			return fmt.Errorf("pinyin backfill: %w", err)
		}
		todo = append(todo, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pinyin backfill: %w", err)
	}
	withPinyin := 0
	for _, r := range todo {
		if !pinyinDone && pinyinKeys(r.pn) != nil {
			withPinyin++
			if err := writePinyin(tx, r.pk, r.pn); err != nil {
				return fmt.Errorf("pinyin backfill: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE studies SET pn_fuzzy = ?, rp_fuzzy = ? WHERE id = ?",
			fuzzyName(r.pn), fuzzyName(r.rp), r.pk); err != nil {
			return fmt.Errorf("pinyin backfill: %w", err)
		}
	}
	if !pinyinDone {
		if _, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES ('pinyin_backfilled', ?)", fmt.Sprint(withPinyin)); err != nil {
			return fmt.Errorf("pinyin backfill: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO settings (key, value) VALUES ('fuzzy_version', ?)", fuzzyVersion); err != nil {
		return fmt.Errorf("pinyin backfill: %w", err)
	}
	return tx.Commit()
}
