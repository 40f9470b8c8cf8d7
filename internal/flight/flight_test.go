package flight

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// TestDoRuns: with nothing under way, the caller's function runs and its value and error
// come back; nothing is kept, so the next call runs again.
func TestDoRuns(t *testing.T) {
	var g Group[string]
	var runs atomic.Int32
	for i := range 3 {
		v, ran, err := g.Do(context.Background(), "k", func() (string, error) {
			runs.Add(1)
			return fmt.Sprint("v", i), nil
		})
		if v != fmt.Sprint("v", i) || !ran || err != nil {
			t.Fatalf("call %d: %q, %v, %v", i, v, ran, err)
		}
	}
	if runs.Load() != 3 {
		t.Errorf("%d runs, want 3", runs.Load())
	}
	boom := errors.New("boom")
	if _, ran, err := g.Do(context.Background(), "k", func() (string, error) { return "", boom }); !ran || err != boom {
		t.Errorf("error: %v, ran %v", err, ran)
	}
}

// TestDoJoin: a caller that asks while work for its key is under way joins it (its own
// function does not run) and leaves when its context ends; another key runs on its own.
func TestDoJoin(t *testing.T) {
	var g Group[string]
	started, release := make(chan struct{}), make(chan struct{})
	type result struct {
		v   string
		ran bool
		err error
	}
	first := make(chan result)
	go func() {
		v, ran, err := g.Do(context.Background(), "k", func() (string, error) {
			close(started)
			<-release
			return "first", nil
		})
		first <- result{v, ran, err}
	}()
	<-started

	// Other keys are not held up.
	if v, ran, err := g.Do(context.Background(), "other", func() (string, error) { return "other", nil }); v != "other" || !ran || err != nil {
		t.Errorf("other key: %q, %v, %v", v, ran, err)
	}

	// A caller whose context has ended, joining the work under way, leaves without it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, ran, err := g.Do(ctx, "k", func() (string, error) {
		t.Error("a joining caller's function ran")
		return "", nil
	})
	if ran || !errors.Is(err, context.Canceled) {
		t.Errorf("joining caller with an ended context: ran %v, %v", ran, err)
	}

	close(release)
	if r := <-first; r.v != "first" || !r.ran || r.err != nil {
		t.Errorf("first caller: %+v", r)
	}
}

// TestDoWaitsForItsOwnWork: the caller whose function runs gets its result even when its
// context ends meanwhile (the function sees the context and decides).
func TestDoWaitsForItsOwnWork(t *testing.T) {
	var g Group[string]
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan struct{})
	var v string
	var ran bool
	var err error
	var finished atomic.Bool
	go func() {
		defer close(done)
		v, ran, err = g.Do(ctx, "k", func() (string, error) {
			close(started)
			<-ctx.Done()
			finished.Store(true)
			return "finished after cancel", nil
		})
	}()
	<-started
	cancel()
	<-done
	if !finished.Load() || v != "finished after cancel" || !ran || err != nil {
		t.Errorf("got %q, ran %v, %v; function finished: %v", v, ran, err, finished.Load())
	}
}

// TestDoLeftBeforeStart: a caller whose context has already ended either runs its function
// to the end or leaves before it starts, never in between.
func TestDoLeftBeforeStart(t *testing.T) {
	var g Group[int]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 200 {
		var started, finished atomic.Bool
		v, ran, err := g.Do(ctx, "k", func() (int, error) {
			started.Store(true)
			defer finished.Store(true)
			return 7, nil
		})
		switch {
		case ran && v == 7 && err == nil && finished.Load():
		case !ran && errors.Is(err, context.Canceled) && !started.Load():
		default:
			t.Fatalf("%d, ran %v, %v; started %v, finished %v", v, ran, err, started.Load(), finished.Load())
		}
	}
	// The key is free again: a live caller runs.
	if v, ran, err := g.Do(context.Background(), "k", func() (int, error) { return 8, nil }); v != 8 || !ran || err != nil {
		t.Errorf("after: %d, %v, %v", v, ran, err)
	}
}

// TestDoPanics: a panic in the function is raised in the caller's goroutine, with the
// original value and stack, and the key is free afterwards.
func TestDoPanics(t *testing.T) {
	var g Group[int]
	func() {
		defer func() {
			p := recover()
			if p == nil {
				t.Fatal("no panic")
			}
			if s := fmt.Sprint(p); !strings.Contains(s, "decoder bug") || !strings.Contains(s, "flight_test.go") {
				t.Errorf("panic value %q", s)
			}
		}()
		g.Do(context.Background(), "k", func() (int, error) { panic("decoder bug") })
	}()
	if v, ran, err := g.Do(context.Background(), "k", func() (int, error) { return 1, nil }); v != 1 || !ran || err != nil {
		t.Errorf("after a panic: %d, %v, %v", v, ran, err)
	}
}
