package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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

// eventsChannel carries the reading room's events among nodes (PublishEvent): "<node>
// <kind>", the node that published it and the event's kind.
const eventsChannel = "pacsd_events"

// Listen calls fn with the Study Instance UID of each study whose instances change on any
// node sharing this database (a new instance, a new version, a restore, a deletion; this
// node's own included), as each change commits, until ctx ends; then it returns nil. It is
// ListenAll with Stored only.
func (x *Index) Listen(ctx context.Context, fn func(studyUID string)) error {
	return x.ListenAll(ctx, Notices{Stored: fn})
}

// Notices is what ListenAll delivers; a nil function is not listened for.
type Notices struct {
	// Stored gets the Study Instance UID of each study whose instances changed (migration
	// 0007's triggers).
	Stored func(studyUID string)
	// Event gets the kind of each reading-room event another node published (PublishEvent):
	// a claim, a report signed, a critical finding. Node is this node's id, as given to
	// PublishEvent: its own events, already delivered at home, are skipped.
	Event func(kind string)
	Node  string
}

// ListenAll delivers what n asks for until ctx ends; then it returns nil. It keeps one
// connection of its own for every channel (LISTEN needs one for good, outside the pool),
// and when that connection drops it logs it and connects again with a growing pause.
// Notifications sent while it was not listening are not delivered: after every
// reconnection Stored and Event are called once with "" (something may have changed), so
// that a worklist refreshes rather than stay stale. The functions run on ListenAll's
// goroutine, one call at a time, and must not block (publish and return).
func (x *Index) ListenAll(ctx context.Context, n Notices) error {
	log := slog.Default().With("component", "postgres")
	pause := listenRetryMin
	for attempt := 0; ; attempt++ {
		listening := false
		err := x.listen(ctx, func() {
			listening = true
			if attempt > 0 {
				log.Info("listening for changes from other nodes again")
				n.missed()
			}
		}, n)
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

// missed tells the listeners that notifications may have been lost.
func (n Notices) missed() {
	if n.Stored != nil {
		n.Stored("")
	}
	if n.Event != nil {
		n.Event("")
	}
}

// channels are the channels n listens on.
func (n Notices) channels() []string {
	var chs []string
	if n.Stored != nil {
		chs = append(chs, storedChannel)
	}
	if n.Event != nil {
		chs = append(chs, eventsChannel)
	}
	return chs
}

// deliver hands one notification to its listener.
func (n Notices) deliver(channel, payload string) {
	switch channel {
	case storedChannel:
		n.Stored(payload)
	case eventsChannel:
		node, kind, ok := strings.Cut(payload, " ")
		if ok && node != n.Node && kind != "" {
			n.Event(kind)
		}
	}
}

// listen connects, LISTENs, calls ready, then delivers notifications until the connection
// fails or ctx ends.
func (x *Index) listen(ctx context.Context, ready func(), n Notices) error {
	conn, err := pgx.Connect(ctx, x.url)
	if err != nil {
		return fmt.Errorf("listen: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range n.channels() {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	ready()
	for {
		note, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return fmt.Errorf("listen: %w", err)
		}
		n.deliver(note.Channel, note.Payload)
	}
}

// PublishEvent tells the other nodes' ListenAll of a reading-room event of this node
// (node: its id, NewNodeID) of the given kind. PostgreSQL delivers it to every listening
// node, this one included (which skips it by its id).
func (x *Index) PublishEvent(ctx context.Context, node, kind string) error {
	if _, err := x.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, eventsChannel, node+" "+kind); err != nil {
		return dbErr("publish event "+kind, err)
	}
	return nil
}

// NewNodeID returns a fresh id for this process among the nodes (PublishEvent, Notices.Node):
// random, so that two processes never share one, even on one host and port after a restart.
func NewNodeID() string {
	return rand.Text()
}
