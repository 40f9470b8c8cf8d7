package store_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is an archive's clock in tests (store.WithClock): it stands still until the
// test moves it, so the ingest gap and UploadConfig.YieldMax pass when the test says, not
// when a loaded machine gets round to it. It counts its readings: the uploader reads it
// each time it weighs a pending upload against ingest.
type testClock struct {
	ns    atomic.Int64
	reads atomic.Int64
}

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *testClock) Now() time.Time {
	c.reads.Add(1)
	return time.Unix(0, c.ns.Load())
}

func (c *testClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// waitUntil polls cond until it holds, failing the test after a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logCounter is a slog.Handler that counts the messages logged (and passes them on), so
// that a test can wait for an event the archive only logs.
type logCounter struct {
	slog.Handler
	mu   *sync.Mutex
	msgs map[string]int
}

func newLogCounter(next slog.Handler) logCounter {
	return logCounter{Handler: next, mu: new(sync.Mutex), msgs: map[string]int{}}
}

func (h logCounter) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs[r.Message]++
	h.mu.Unlock()
	return h.Handler.Handle(ctx, r)
}

func (h logCounter) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func (h logCounter) WithGroup(name string) slog.Handler {
	h.Handler = h.Handler.WithGroup(name)
	return h
}

func (h logCounter) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msgs[msg]
}
