package sqlite

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
// answers from a snapshot, never with SQL. Every change through the repository bumps gen
// after its commit; the next lookup sees a snapshot older than gen and loads a new one.
// A snapshot records the gen read before its query, so a change committed while it loads
// makes it stale at once.
type peerCache struct {
	gen  atomic.Uint64
	mu   sync.Mutex // one load at a time
	snap atomic.Pointer[peerSnap]
}

type peerSnap struct {
	gen  uint64
	byAE sqldb.PeerTable
}

// changed marks the snapshot stale; called after every committed change of the table.
func (c *peerCache) changed() { c.gen.Add(1) }

// Peer implements reading.PeerLookup.
func (r *Reading) Peer(ctx context.Context, ae string) (reading.Peer, bool, error) {
	snap, err := r.peerSnapshot(ctx)
	if err != nil {
		return reading.Peer{}, false, err
	}
	p, ok := snap.byAE.Lookup(ae)
	return p, ok, nil
}

func (r *Reading) peerSnapshot(ctx context.Context) (*peerSnap, error) {
	c := &r.x.peers
	if s := c.snap.Load(); s != nil && s.gen == c.gen.Load() {
		return s, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	gen := c.gen.Load()
	if s := c.snap.Load(); s != nil && s.gen == gen {
		return s, nil
	}
	peers, err := r.Peers(ctx)
	if err != nil {
		return nil, err
	}
	s := &peerSnap{gen: gen, byAE: sqldb.NewPeerTable(peers)}
	c.snap.Store(s)
	return s, nil
}

// Peers lists the AE table by AE title.
func (r *Reading) Peers(ctx context.Context) ([]reading.Peer, error) {
	return r.peers(ctx, `SELECT `+sqldb.PeerCols+` FROM peers ORDER BY ae`)
}

// peers runs a query of peerCols and attaches each peer's addresses.
func (r *Reading) peers(ctx context.Context, q string, args ...any) ([]reading.Peer, error) {
	// One read transaction: the peers and their addresses of the same moment.
	tx, err := r.x.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
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
	ps, err := r.peers(ctx, `SELECT `+sqldb.PeerCols+` FROM peers WHERE id = ?`, id)
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
	now := fmtTime(time.Now())
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		if p.SiteID != 0 {
			var n int
			if err := tx.QueryRow(`SELECT count(*) FROM sites WHERE id = ?`, p.SiteID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return sqldb.NoSuchSite(p.SiteID)
			}
		}
		args := []any{p.AETitle, p.Description, p.Host, p.Port, nullSite(p.SiteID), p.RequireTLS,
			p.MayStore, p.MayQuery, p.MayRetrieve, p.Destination, now}
		if p.ID == 0 {
			res, err := tx.Exec(`INSERT INTO peers (ae, description, host, port, site_id, require_tls, may_store,
				may_query, may_retrieve, destination, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)`, args...)
			if err != nil {
				return taken("aeTitle", p.AETitle, err)
			}
			if p.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		} else {
			if err := execExisting(tx, reading.ErrNotFound, `UPDATE peers SET ae = ?, description = ?, host = ?,
				port = ?, site_id = ?, require_tls = ?, may_store = ?, may_query = ?, may_retrieve = ?,
				destination = ?, updated_at = ? WHERE id = ?`, append(args, p.ID)...); err != nil {
				return taken("aeTitle", p.AETitle, err)
			}
			if _, err := tx.Exec(`DELETE FROM peer_addresses WHERE peer_id = ?`, p.ID); err != nil {
				return err
			}
		}
		for _, a := range p.Addresses {
			if _, err := tx.Exec(`INSERT INTO peer_addresses (peer_id, address) VALUES (?, ?)`, p.ID, a); err != nil {
				return err
			}
		}
		_, err := tx.Exec(resolveSites)
		return err
	})
	r.x.peers.changed()
	if err != nil {
		return reading.Peer{}, readingErr("put peer "+p.AETitle, err)
	}
	return p, nil
}

// DeletePeer removes a peer; studies it sent are attributed again (by institution, or to
// nobody).
func (r *Reading) DeletePeer(ctx context.Context, id int64) error {
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		if err := execExisting(tx, reading.ErrNotFound, `DELETE FROM peers WHERE id = ?`, id); err != nil {
			return err
		}
		_, err := tx.Exec(resolveSites)
		return err
	})
	r.x.peers.changed()
	if err != nil {
		return readingErr(fmt.Sprintf("delete peer %d", id), err)
	}
	return nil
}
