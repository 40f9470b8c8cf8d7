// Package flight runs one piece of work per key at a time and gives its result to every
// caller that asked for the key meanwhile (golang.org/x/sync/singleflight), with the
// context rules pacsd's callers (instance records, decoded frames, thumbnails) share:
//
//   - a caller that joins work already under way waits for it only as long as its own
//     context lasts;
//   - the caller whose function runs waits for it to return, whatever its context does
//     (the function sees that context itself): when Do returns, the work it started is
//     over, so a worker that stops, or a request that ends, leaves nothing running behind;
//   - a panic in the function panics every caller waiting for it, each in its own
//     goroutine (where the HTTP server's recovery sees it), not the process.
//
// Results are not kept: a caller after the work has ended runs it again. The callers keep
// what is worth keeping (internal/lru, files).
package flight

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"golang.org/x/sync/singleflight"
)

// Group is the work under way, by key. The zero Group is ready to use.
type Group[V any] struct {
	g singleflight.Group
}

// errGaveUp is the result of work whose caller's context ended before it started: it was
// not run, and callers that had joined it start again.
var errGaveUp = errors.New("flight: the caller left before its work started")

// panicked carries a panic of the function to the callers.
type panicked struct {
	value any
	stack []byte
}

func (p *panicked) Error() string { return fmt.Sprintf("%v\n\n%s", p.value, p.stack) }

// The states of one caller's function.
const (
	waiting int32 = iota // not started (or never to start: another caller's runs)
	running              // started: the caller waits for it
	left                 // the caller's context ended first: it will not run
)

// Do returns fn's result for key: fn runs unless work for key is under way, whose result
// is then returned instead. ran reports whether this caller's fn ran. A caller that waits
// for another's work and whose ctx ends gets ctx.Err().
func (g *Group[V]) Do(ctx context.Context, key string, fn func() (V, error)) (v V, ran bool, err error) {
	for {
		var state atomic.Int32
		ch := g.g.DoChan(key, func() (r any, err error) {
			if !state.CompareAndSwap(waiting, running) {
				return nil, errGaveUp
			}
			defer func() {
				if p := recover(); p != nil {
					err = &panicked{value: p, stack: debug.Stack()}
				}
			}()
			return fn()
		})
		var res singleflight.Result
		select {
		case res = <-ch:
		case <-ctx.Done():
			if state.CompareAndSwap(waiting, left) {
				return v, false, ctx.Err()
			}
			res = <-ch // this caller's fn is running: it is waited for
		}
		if p, ok := res.Err.(*panicked); ok {
			panic(p)
		}
		if errors.Is(res.Err, errGaveUp) {
			continue // joined the work of a caller that left; start again
		}
		v, _ = res.Val.(V)
		return v, state.Load() == running, res.Err
	}
}
