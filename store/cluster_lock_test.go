package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"pacsd/internal/pgtest"
	"pacsd/store"
	"pacsd/store/s3/miniotest"
)

// TestClusterOverwriteRule: two nodes receive the same SOP instance with other content from
// two sites at the same moment, round after round. The overwrite rule holds across nodes
// (store.InstanceLocker, PostgreSQL's advisory lock): exactly one is stored, the other is
// refused as a duplicate from another site, and no version is kept, since the rule would
// have refused site b's replacing site a's object (or the reverse). Without the cluster
// lock both nodes find the instance absent, both store, and the later one replaces the
// earlier, its version kept.
func TestClusterOverwriteRule(t *testing.T) {
	srv := miniotest.Start(t)
	url := pgtest.DB(t)
	ctx := context.Background()
	up := store.UploadConfig{WriteThrough: true, LocalBudget: -1}
	nodes := []*node{newNode(t, url, srv, "overwrite", up), newNode(t, url, srv, "overwrite", up)}
	const rounds = 25
	for r := range rounds {
		study := fmt.Sprintf("1.2.826.0.9.7.%d", r+1)
		sop := study + ".1.1"
		var data [2][]byte
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, n := range nodes {
			data[i] = obj{study: study, series: study + ".1", sop: sop, pixels: 20000, fill: byte(i + 1)}.bytes()
			req := store.PutRequest{Origin: store.Origin{Transport: "dimse", Site: fmt.Sprintf("site:%d", i+1)}}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = n.a.Put(ctx, bytes.NewReader(data[i]), req)
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: both nodes stored %s", r, sop)
				}
				winner = i
			case !errors.Is(err, store.ErrOtherSite):
				t.Fatalf("round %d: node %d: %v, want stored or ErrOtherSite", r, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: neither node stored %s: %v", r, sop, errs)
		}
		vs, err := nodes[0].idx.Versions(ctx, sop)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 0 {
			t.Fatalf("round %d: %d versions of %s kept, replaced by %q: a site replaced another's object",
				r, len(vs), sop, vs[0].ReplacedBy)
		}
		for i, n := range nodes {
			if got := openBytes(t, n.a, sop); !bytes.Equal(got, data[winner]) {
				t.Fatalf("round %d: node %d reads another content than the one acknowledged", r, i)
			}
		}
	}
}
