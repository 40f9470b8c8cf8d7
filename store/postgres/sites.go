package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// The site registry (reading.Sites), migration 0003_reading.sql. A site's AE titles are
// its peers' (peers.go); every change of the registry attributes every study again in its
// own transaction, so the worklist never sees a half-updated registry.

var _ reading.Repository = (*Reading)(nil)

// pgSQL is how the SQL fragments shared with SQLite (store/sqldb) are written here.
// reading_studies keeps urgent and quarantined as 0 and 1, as SQLite does.
var pgSQL = sqldb.Dialect{Ph: func(n int) string { return "$" + strconv.Itoa(n) }, True: "1", False: "0"}

func (r *Reading) Sites(ctx context.Context) ([]reading.Site, error) {
	sites, err := sqldb.LoadSites(ctx, r.x.db)
	if err != nil {
		return nil, readingErr("list sites", err)
	}
	return sites, nil
}

func (r *Reading) Site(ctx context.Context, id int64) (reading.Site, error) {
	sites, err := r.Sites(ctx)
	if err != nil {
		return reading.Site{}, err
	}
	return sqldb.SiteByID(sites, id)
}

// resolveSites attributes every study again from the registry: an administrator's
// assignment first, then the site of the peer that sent it, then the site of its
// institution. Only the rows whose site changes are written (a registry change at a
// million studies rewrites the few it moves, not every row).
const resolveSites = `UPDATE reading_studies rs SET site_id = v.site FROM (
	SELECT r.study_pk, COALESCE(r.assigned_site,
		(SELECT a.site_id FROM peers a WHERE a.ae = r.calling_ae AND r.calling_ae <> ''),
		(SELECT i.site_id FROM site_institutions i JOIN studies st ON st.id = r.study_pk
			WHERE ascii_lower(i.name) = ascii_lower(st.institution_name) AND st.institution_name <> '')) AS site
	FROM reading_studies r) v
	WHERE rs.study_pk = v.study_pk AND rs.site_id IS DISTINCT FROM v.site`

func (r *Reading) PutSite(ctx context.Context, s reading.Site) (reading.Site, error) {
	if err := s.Normalize(); err != nil {
		return reading.Site{}, fmt.Errorf("put site: %w", err)
	}
	now := sqldb.FormatTime(time.Now())
	id := s.ID
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		s.ID = id // inTx may run this again
		if s.ID == 0 {
			if err := tx.QueryRowContext(ctx, `INSERT INTO sites (name, updated_at) VALUES ($1, $2) RETURNING id`,
				s.Name, now).Scan(&s.ID); err != nil {
				return taken("name", "", err)
			}
		} else {
			if err := sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `UPDATE sites SET name = $1, updated_at = $2 WHERE id = $3`,
				s.Name, now, s.ID); err != nil {
				return taken("name", "", err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM site_institutions WHERE site_id = $1`, s.ID); err != nil {
				return err
			}
		}
		if err := sqldb.PutSitePeers(ctx, tx, pgSQL, s.ID, s.AETitles, now, taken); err != nil {
			return err
		}
		for _, n := range s.Institutions {
			if _, err := tx.ExecContext(ctx, `INSERT INTO site_institutions (name, site_id) VALUES ($1, $2)`, n, s.ID); err != nil {
				return fmt.Errorf("institution %s: %w", n, taken("institutions", n, err))
			}
		}
		_, err := tx.ExecContext(ctx, resolveSites)
		return err
	})
	if err != nil {
		return reading.Site{}, readingErr("put site "+s.Name, err)
	}
	return s, nil
}

func (r *Reading) DeleteSite(ctx context.Context, id int64) error {
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE site_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d users belong to it: %w", n, reading.ErrConflict)
		}
		// Its peers go with it (ON DELETE CASCADE), which bumps peer_generation.
		if err := sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `DELETE FROM sites WHERE id = $1`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, resolveSites)
		return err
	})
	if err != nil {
		return readingErr(fmt.Sprintf("delete site %d", id), err)
	}
	return nil
}
