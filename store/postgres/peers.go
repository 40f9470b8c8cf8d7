package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// peerCache is the AE table in memory: PeerLookup is asked once per association, so it
// answers from a snapshot instead of reading the table and its addresses each time. Several
// nodes share the table, so a node cannot know of another's change by itself: each lookup
// reads peer_generation (one row, which every change of peers or peer_addresses bumps in
// its own transaction, migration 0003) and loads a new snapshot when it differs from the
// snapshot's. A change made through any node is so seen by the next lookup on every node,
// for the price of one primary-key read per association.
type peerCache struct {
	mu   sync.Mutex // one load at a time
	snap atomic.Pointer[peerSnap]
}

type peerSnap struct {
	gen   int64
	table sqldb.PeerTable
}

// Peer implements reading.PeerLookup.
func (r *Reading) Peer(ctx context.Context, ae string) (reading.Peer, bool, error) {
	var gen int64
	if err := r.x.db.QueryRowContext(ctx, `SELECT gen FROM peer_generation`).Scan(&gen); err != nil {
		return reading.Peer{}, false, readingErr("peer lookup", err)
	}
	s := r.x.peers.snap.Load()
	if s == nil || s.gen != gen {
		var err error
		if s, err = r.loadPeers(ctx, gen); err != nil {
			return reading.Peer{}, false, err
		}
	}
	p, ok := s.table.Lookup(ae)
	return p, ok, nil
}

// loadPeers reads a snapshot of generation gen or newer: the generation and the table in
// one repeatable-read transaction, so that the snapshot is exactly of the generation it
// records.
func (r *Reading) loadPeers(ctx context.Context, gen int64) (*peerSnap, error) {
	c := &r.x.peers
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.snap.Load(); s != nil && s.gen >= gen {
		return s, nil // loaded meanwhile
	}
	tx, err := r.x.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, readingErr("load peers", err)
	}
	defer tx.Rollback()
	s := &peerSnap{}
	if err := tx.QueryRowContext(ctx, `SELECT gen FROM peer_generation`).Scan(&s.gen); err != nil {
		return nil, readingErr("load peers", err)
	}
	peers, err := sqldb.LoadPeers(ctx, tx, `SELECT `+sqldb.PeerCols+` FROM peers ORDER BY ae`)
	if err != nil {
		return nil, readingErr("load peers", err)
	}
	s.table = sqldb.NewPeerTable(peers)
	if old := c.snap.Load(); old == nil || old.gen < s.gen {
		c.snap.Store(s)
	}
	return s, nil
}

// Peers lists the AE table by AE title.
func (r *Reading) Peers(ctx context.Context) ([]reading.Peer, error) {
	return r.peers(ctx, `SELECT `+sqldb.PeerCols+` FROM peers ORDER BY ae`)
}

// peers runs a query of sqldb.PeerCols and attaches each peer's addresses, in one
// transaction: the peers and their addresses of the same moment.
func (r *Reading) peers(ctx context.Context, q string, args ...any) ([]reading.Peer, error) {
	tx, err := r.x.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, readingErr("list peers", err)
	}
	defer tx.Rollback()
	out, err := sqldb.LoadPeers(ctx, tx, q, args...)
	if err != nil {
		return nil, readingErr("list peers", err)
	}
	return out, nil
}

// PeerByID returns one peer.
func (r *Reading) PeerByID(ctx context.Context, id int64) (reading.Peer, error) {
	ps, err := r.peers(ctx, `SELECT `+sqldb.PeerCols+` FROM peers WHERE id = $1`, id)
	if err != nil {
		return reading.Peer{}, err
	}
	if len(ps) == 0 {
		return reading.Peer{}, fmt.Errorf("peer %d: %w", id, reading.ErrNotFound)
	}
	return ps[0], nil
}

// PutPeer creates or replaces a peer and attributes every study again (its AE title may
// have moved to another site).
func (r *Reading) PutPeer(ctx context.Context, p reading.Peer) (reading.Peer, error) {
	if err := p.Normalize(); err != nil {
		return reading.Peer{}, fmt.Errorf("put peer: %w", err)
	}
	now := sqldb.FormatTime(time.Now())
	id := p.ID
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		p.ID = id // inTx may run this again
		if p.SiteID != 0 {
			var ok bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sites WHERE id = $1)`, p.SiteID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return sqldb.NoSuchSite(p.SiteID)
			}
		}
		args := []any{p.AETitle, p.Description, p.Host, p.Port, sqldb.NullID(p.SiteID), p.RequireTLS,
			p.MayStore, p.MayQuery, p.MayRetrieve, p.Destination, now}
		if p.ID == 0 {
			if err := tx.QueryRowContext(ctx, `INSERT INTO peers (ae, description, host, port, site_id, require_tls,
				may_store, may_query, may_retrieve, destination, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
				RETURNING id`, args...).Scan(&p.ID); err != nil {
				return taken("aeTitle", p.AETitle, err)
			}
		} else {
			if err := sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `UPDATE peers SET ae = $1, description = $2,
				host = $3, port = $4, site_id = $5, require_tls = $6, may_store = $7, may_query = $8, may_retrieve = $9,
				destination = $10, updated_at = $11 WHERE id = $12`, append(args, p.ID)...); err != nil {
				return taken("aeTitle", p.AETitle, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM peer_addresses WHERE peer_id = $1`, p.ID); err != nil {
				return err
			}
		}
		if len(p.Addresses) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO peer_addresses (peer_id, address)
				SELECT $1, unnest($2::text[])`, p.ID, p.Addresses); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, resolveSites)
		return err
	})
	if err != nil {
		return reading.Peer{}, readingErr("put peer "+p.AETitle, err)
	}
	return p, nil
}

// DeletePeer removes a peer; studies it sent are attributed again (by institution, or to
// nobody).
func (r *Reading) DeletePeer(ctx context.Context, id int64) error {
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		if err := sqldb.ExecExisting(ctx, tx, reading.ErrNotFound, `DELETE FROM peers WHERE id = $1`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, resolveSites)
		return err
	})
	if err != nil {
		return readingErr(fmt.Sprintf("delete peer %d", id), err)
	}
	return nil
}
