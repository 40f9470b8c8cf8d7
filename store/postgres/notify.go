package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// storedChannel is the channel migration 0007's triggers notify, with the Study Instance
// UID of each study whose instances changed.
const storedChannel = "pacsd_stored"

// Back-off between attempts to re-establish the listening connection.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 10 * time.Second
)

// Listen calls fn with the Study Instance UID of each study whose instances change on any
// node sharing this database (a new instance, a new version, a restore, a deletion; this
// node's own included), as each change commits, until ctx ends; then it returns nil. It
// keeps a connection of its own (LISTEN needs one for good, outside the pool), and when
// that connection drops it logs it and connects again with a growing pause. Changes
// committed while it was not listening are not delivered: after every reconnection fn is
// called once with "" (something may have changed), so that a worklist refreshes rather
// than stay stale. fn runs on Listen's goroutine, one call at a time, and must not block
// (publish and return).
func (x *Index) Listen(ctx context.Context, fn func(studyUID string)) error {
	log := slog.Default().With("component", "postgres")
	pause := listenRetryMin
	for attempt := 0; ; attempt++ {
		listening := false
		err := x.listen(ctx, func() {
			listening = true
			if attempt > 0 {
				log.Info("listening for changes from other nodes again")
				fn("")
			}
		}, fn)
		if ctx.Err() != nil {
			return nil
		}
		if listening {
			pause = listenRetryMin
		}
		log.Warn("not listening for changes from other nodes; reconnecting", "err", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, listenRetryMax)
	}
}

// listen connects, LISTENs, calls ready, then delivers notifications until the connection
// fails or ctx ends.
func (x *Index) listen(ctx context.Context, ready func(), fn func(string)) error {
	conn, err := pgx.Connect(ctx, x.url)
	if err != nil {
		return fmt.Errorf("listen: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{storedChannel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return fmt.Errorf("listen: %w", err)
		}
		if n.Channel == storedChannel {
			fn(n.Payload)
		}
	}
}
