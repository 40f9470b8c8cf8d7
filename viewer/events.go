package viewer

import (
	"fmt"
	"net/http"
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
}

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

// publish never blocks: a stream that has a notice pending needs no second one.
func (h *hub) publish(kind string) {
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
