package viewer

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// hub fans change notices out to the open event streams. A notice carries only its kind:
// each browser re-asks for its worklist under its own user's scope, so nothing about a
// study travels to somebody who may not see it.
type hub struct {
	mu     sync.Mutex
	subs   map[chan string]struct{}
	closed chan struct{}
	once   sync.Once

	// Set by ShareEvents: the kinds published here and not yet sent to the other nodes,
	// and the sender's wake-up.
	unshared map[string]bool
	kick     chan struct{}
}

// eventKinds are the kinds of event the reading room publishes (worklist.js listens for
// them by name). One from another node of any other kind is dropped: it would be written
// into the stream as it came.
var eventKinds = []string{"studies", "critical"}

func newHub() *hub { return &hub{subs: map[chan string]struct{}{}, closed: make(chan struct{})} }

// maxStreams bounds the open event streams (each is a goroutine and a connection).
const maxStreams = 1000

func (h *hub) subscribe() (chan string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= maxStreams {
		return nil, false
	}
	ch := make(chan string, 1)
	h.subs[ch] = struct{}{}
	return ch, true
}

func (h *hub) unsubscribe(ch chan string) {
	h.mu.Lock()
	delete(h.subs, ch)
	h.mu.Unlock()
}

// publish tells this node's open streams, and the other nodes' once ShareEvents is on, of a
// change made here. It never blocks.
func (h *hub) publish(kind string) {
	h.deliver(kind)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kick == nil {
		return
	}
	h.unshared[kind] = true
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// deliver tells this node's open streams only: for what the other nodes hear by other
// means (stored objects: postgres.Index.Listen) or heard from them. It never blocks: a
// stream that has a notice pending needs no second one.
func (h *hub) deliver(kind string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- kind:
		default:
		}
	}
}

func (h *hub) close() { h.once.Do(func() { close(h.closed) }) }

// ShareEvents sends the events this node's reading room publishes (a claim, a report
// signed, a critical finding) to send too, so that the other nodes' live worklists hear
// of them (cmd/pacsd: postgres.Index.PublishEvent; they deliver them with EventElsewhere).
// Objects stored are not sent: the other nodes hear of them from the index. send runs on a
// goroutine of its own until ctx ends, after the change it announces; events published
// while it runs fold into one call per kind. A failed send is logged: the other nodes'
// worklists are then stale until their next refresh.
func (v *Viewer) ShareEvents(ctx context.Context, send func(ctx context.Context, kind string) error) {
	h := v.events
	h.mu.Lock()
	h.unshared, h.kick = map[string]bool{}, make(chan struct{}, 1)
	kick := h.kick
	h.mu.Unlock()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
			h.mu.Lock()
			kinds := slices.Sorted(maps.Keys(h.unshared))
			clear(h.unshared)
			h.mu.Unlock()
			for _, kind := range kinds {
				if err := send(ctx, kind); err != nil && ctx.Err() == nil {
					v.log.Warn("event not sent to the other nodes", "kind", kind, "err", err)
				}
			}
		}
	}()
}

// EventElsewhere tells this node's open streams of an event another node's reading room
// published (ShareEvents there). "" means events may have been missed: every kind.
func (v *Viewer) EventElsewhere(kind string) {
	if kind == "" {
		for _, k := range eventKinds {
			v.events.deliver(k)
		}
		return
	}
	if slices.Contains(eventKinds, kind) {
		v.events.deliver(kind)
	}
}

// eventStream is the live worklist's server-sent event stream (text/event-stream).
func (v *Viewer) eventStream(c echo.Context) error {
	ch, ok := v.events.subscribe()
	if !ok {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "too many event streams")
	}
	defer v.events.unsubscribe(ch)
	w := c.Response()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy must not hold the stream back
	w.WriteHeader(http.StatusOK)
	// retry: how long the browser waits before reconnecting after the stream ends.
	fmt.Fprint(w, "retry: 5000\n\n")
	w.Flush()
	ping := time.NewTicker(25 * time.Second) // keeps idle proxies from closing the stream
	defer ping.Stop()
	ctx := c.Request().Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-v.events.closed:
			return nil
		case kind := <-ch:
			fmt.Fprintf(w, "event: %s\ndata: {}\n\n", kind)
			w.Flush()
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			w.Flush()
		}
	}
}
