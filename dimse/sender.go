package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"pacsd/dicom"
)

// StoreItem is one data set for StoreAll.
type StoreItem struct {
	SOPClassUID       string
	SOPInstanceUID    string
	TransferSyntaxUID string
	// Open returns the data set (bare: no preamble, no File Meta Information) encoded in
	// TransferSyntaxUID. It is called when the item's turn comes; the reader is closed after.
	Open func() (io.ReadCloser, error)
	// Uncompressed, when set, returns the data set re-encoded in Explicit VR Little Endian
	// with native pixel data. StoreAll then also proposes Explicit VR Little Endian for the
	// SOP class and uses it when the peer accepts the class but not TransferSyntaxUID
	// (PS3.5 10.1: every SCP accepts Implicit VR LE; most accept Explicit VR LE too, and
	// many older workstations nothing compressed).
	Uncompressed func() (io.ReadCloser, error)
}

// StoreResult reports what became of one item.
type StoreResult struct {
	Index  int // into the items given to StoreAll
	Status Status
	// Err is set when no status was received: ErrNoContext (the peer accepted no
	// presentation context for the item's SOP class and transfer syntax), an Open error, or
	// the association failing.
	Err error
	// Uncompressed: the item was sent re-encoded in Explicit VR Little Endian, because the
	// peer did not accept its own transfer syntax.
	Uncompressed bool
}

// OK reports whether the peer took responsibility for the item (success or warning).
func (r StoreResult) OK() bool { return r.Err == nil && r.Status.OK() }

type contextPair struct{ abstract, ts string }

// SplitContexts splits (abstract syntax -> transfer syntaxes) into groups that each fit one
// association: 127 presentation contexts, the 128th being Verification (PS3.8 9.3.2.2).
// Pairs are taken in abstract syntax order, so the split is deterministic.
func SplitContexts(contexts map[string][]string) []map[string][]string {
	var pairs []contextPair
	abstracts := make([]string, 0, len(contexts))
	for as := range contexts {
		abstracts = append(abstracts, as)
	}
	sort.Strings(abstracts)
	for _, as := range abstracts {
		var seen []string
		for _, ts := range contexts[as] {
			if !slices.Contains(seen, ts) {
				seen = append(seen, ts)
				pairs = append(pairs, contextPair{as, ts})
			}
		}
	}
	var groups []map[string][]string
	for len(pairs) > 0 {
		n := min(len(pairs), maxPresentationContexts-1)
		g := map[string][]string{}
		for _, p := range pairs[:n] {
			g[p.abstract] = append(g[p.abstract], p.ts)
		}
		groups = append(groups, g)
		pairs = pairs[n:]
	}
	return groups
}

// StoreAll sends items to the SCP at addr, as `pacsd send` does: items are grouped so that
// each association proposes at most 128 presentation contexts (one per SOP class and
// transfer syntax, see Dial), sent in their order within each group, one association after
// the other. report (may be nil) is called once per item. When an association fails in the
// middle, the remaining items of its group go over a new one. StoreAll returns nil when the
// peer took every item, else an error counting the failures (the first cause wrapped).
func StoreAll(ctx context.Context, addr string, cfg ClientConfig, items []StoreItem, report func(StoreResult)) error {
	if report == nil {
		report = func(StoreResult) {}
	}
	all := map[string][]string{}
	for _, it := range items {
		if !slices.Contains(all[it.SOPClassUID], it.TransferSyntaxUID) {
			all[it.SOPClassUID] = append(all[it.SOPClassUID], it.TransferSyntaxUID)
		}
	}
	// The fallback comes after every syntax of the class's own items, so SplitContexts
	// keeps it in the same association as them unless a class has over a hundred syntaxes.
	for _, it := range items {
		if it.Uncompressed != nil && !slices.Contains(all[it.SOPClassUID], dicom.ExplicitVRLittleEndian) {
			all[it.SOPClassUID] = append(all[it.SOPClassUID], dicom.ExplicitVRLittleEndian)
		}
	}
	var failed int
	var firstErr error
	fail := func(r StoreResult) {
		failed++
		if firstErr == nil {
			if r.Err != nil {
				firstErr = r.Err
			} else {
				firstErr = fmt.Errorf("status %s", r.Status)
			}
		}
	}
	for _, g := range SplitContexts(all) {
		var todo []int
		for i, it := range items {
			if slices.Contains(g[it.SOPClassUID], it.TransferSyntaxUID) {
				todo = append(todo, i)
			}
		}
		// An item goes over the association that proposes its own syntax, and only there.
		gcfg := cfg
		gcfg.Contexts = g
		for len(todo) > 0 {
			c, err := Dial(ctx, addr, gcfg)
			if err != nil {
				for _, i := range todo {
					r := StoreResult{Index: i, Err: err}
					fail(r)
					report(r)
				}
				todo = nil
				break
			}
			var broken bool
			todo, broken = storeGroup(ctx, c, items, todo, func(r StoreResult) {
				if !r.OK() {
					fail(r)
				}
				report(r)
			})
			if !broken {
				if err := c.Release(ctx); err != nil && firstErr == nil {
					firstErr = err
				}
			}
			if ctx.Err() != nil {
				for _, i := range todo {
					r := StoreResult{Index: i, Err: ctx.Err()}
					fail(r)
					report(r)
				}
				todo = nil
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("dimse store: %d of %d failed: %w", failed, len(items), firstErr)
	}
	return firstErr
}

// storeGroup sends items[todo...] over c. When the association breaks it returns the items
// not yet tried and broken=true (the failing item is reported, not retried: the peer may
// have stored it).
func storeGroup(ctx context.Context, c *Client, items []StoreItem, todo []int, report func(StoreResult)) (rest []int, broken bool) {
	for k, i := range todo {
		r, broken := storeOne(ctx, c, items[i])
		r.Index = i
		report(r)
		if broken {
			return todo[k+1:], true
		}
	}
	return nil, false
}

// storeOne sends one item through s: in its own transfer syntax when s accepted a context
// for it, else in Explicit VR Little Endian through item.Uncompressed when s accepted that,
// else not at all (ErrNoContext). The one rule of StoreAll and StoreVia. broken: s failed
// (any Store error but ErrNoContext): the association is gone.
func storeOne(ctx context.Context, s SubStorer, it StoreItem) (r StoreResult, broken bool) {
	open, ts, uncompressed := it.Open, it.TransferSyntaxUID, false
	if !s.CanStore(it.SOPClassUID, ts) {
		if it.Uncompressed == nil || !s.CanStore(it.SOPClassUID, dicom.ExplicitVRLittleEndian) {
			return StoreResult{Err: fmt.Errorf("C-STORE %s: %w for %s in %q", it.SOPInstanceUID, ErrNoContext, it.SOPClassUID, ts)}, false
		}
		open, ts, uncompressed = it.Uncompressed, dicom.ExplicitVRLittleEndian, true
	}
	rc, err := open()
	if err != nil {
		return StoreResult{Err: fmt.Errorf("open %s: %w", it.SOPInstanceUID, err), Uncompressed: uncompressed}, false
	}
	defer rc.Close()
	st, err := s.Store(ctx, it.SOPClassUID, it.SOPInstanceUID, ts, rc)
	return StoreResult{Status: st, Err: err, Uncompressed: uncompressed}, err != nil && !errors.Is(err, ErrNoContext)
}

// StoreVia sends items through s in order, with StoreAll's choice of transfer syntax per
// item (its own if s accepted it, else Explicit VR Little Endian through Uncompressed, else
// ErrNoContext): a C-GET handler sends with the SubStorer of the request's association, a
// C-MOVE handler through a *Client dialled to the destination. report (may be nil) is
// called once per item, Index into items. When s fails (the association is lost, or ctx
// ends), the items not yet tried are reported with that error without being tried, and
// StoreVia returns it; else it returns nil (refusals are in the reports).
func StoreVia(ctx context.Context, s SubStorer, items []StoreItem, report func(StoreResult)) error {
	if report == nil {
		report = func(StoreResult) {}
	}
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			for j := i; j < len(items); j++ {
				report(StoreResult{Index: j, Err: context.Cause(ctx)})
			}
			return context.Cause(ctx)
		}
		r, broken := storeOne(ctx, s, it)
		r.Index = i
		report(r)
		if broken {
			for j := i + 1; j < len(items); j++ {
				report(StoreResult{Index: j, Err: r.Err})
			}
			return r.Err
		}
	}
	return nil
}
