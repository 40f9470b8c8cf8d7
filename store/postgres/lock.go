package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"pacsd/store"
)

// instanceLockClass is the first key of the two-key advisory locks LockInstance takes (the
// second is a hash of the SOP Instance UID): "pacs" in ASCII. PostgreSQL keeps the two-key
// space apart from the one-key space of migrationLock.
const instanceLockClass = 0x70616373

// lockConns bounds the connections that hold instance locks. They are a pool of their own:
// a Put holds its lock's connection while it uses the main pool (the lookup, the index
// write), and with one pool a burst of Puts could hold every connection and wait for
// another forever. A holder needs no second lock connection, so this pool always drains.
// It caps the Puts of one node past the overwrite decision at once (their blob writes
// included); PostgreSQL's default max_connections (100) still leaves room for several nodes
// beside the main pool (24).
const lockConns = 8

// Retry pauses of a lock held elsewhere: pg_try_advisory_lock and a pause rather than the
// waiting pg_advisory_lock, so that a waiter holds no connection (many copies of one
// instance arriving at once cannot take the lock pool from Puts of other instances).
const (
	lockRetryMin = 2 * time.Millisecond
	lockRetryMax = 100 * time.Millisecond
)

// instanceLocks is the lock pool, opened at the first LockInstance.
type instanceLocks struct {
	once sync.Once
	db   *sql.DB
	err  error
}

func (l *instanceLocks) open(url string) (*sql.DB, error) {
	l.once.Do(func() {
		db, err := sql.Open("pgx", url)
		if err != nil {
			l.err = fmt.Errorf("lock pool: %w", err)
			return
		}
		db.SetMaxOpenConns(lockConns)
		db.SetMaxIdleConns(lockConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		l.db = db
	})
	return l.db, l.err
}

// close closes the pool; a LockInstance after it fails.
func (l *instanceLocks) close() error {
	l.once.Do(func() { l.err = errors.New("lock pool: index closed") })
	if l.db == nil {
		return nil
	}
	return l.db.Close()
}

var _ store.InstanceLocker = (*Index)(nil)

// LockInstance implements store.InstanceLocker with a session advisory lock on a hash of
// the UID (two UIDs sharing a hash only wait for each other), held on a connection of the
// lock pool until unlock. Should that connection break meanwhile, PostgreSQL drops the
// lock with it: the index write that follows still stands, only unguarded.
func (x *Index) LockInstance(ctx context.Context, sopInstanceUID string) (unlock func(), err error) {
	db, err := x.locks.open(x.url)
	if err != nil {
		return nil, dbErr("lock instance "+sopInstanceUID, err)
	}
	h := fnv.New32a()
	h.Write([]byte(sopInstanceUID))
	key := int32(h.Sum32())
	pause := lockRetryMin
	for {
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, dbErr("lock instance "+sopInstanceUID, err)
		}
		var got bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, $2)`, instanceLockClass, key).Scan(&got); err != nil {
			conn.Close()
			return nil, dbErr("lock instance "+sopInstanceUID, err)
		}
		if got {
			return func() { x.unlockInstance(ctx, conn, key) }, nil
		}
		conn.Close()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock instance %s: %w", sopInstanceUID, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, lockRetryMax)
	}
}

// unlockInstance releases the lock and returns its connection to the pool; a connection
// whose unlock failed is discarded instead (closing its session drops the lock).
func (x *Index) unlockInstance(ctx context.Context, conn *sql.Conn, key int32) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var released bool
	err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, instanceLockClass, key).Scan(&released)
	if err != nil || !released {
		slog.Default().Warn("instance lock not released; dropping its connection", "component", "postgres", "err", err)
		conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	conn.Close()
}
