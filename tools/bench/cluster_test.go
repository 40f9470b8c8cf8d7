package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"pacsd/internal/peertest"
	"pacsd/internal/pgtest"
	"pacsd/store/s3/miniotest"
)

// TestClusterTiny runs -cluster at a tiny scale, real parts throughout (pacsd built from
// this tree, PostgreSQL, MinIO, storescu), so that the benchmark cannot rot: every
// configuration must index every object it acknowledged (runCluster counts them over
// QIDO-RS on the last node, which for two nodes includes the other node's), each node must
// have received its share and used CPU and memory, and the report must say the ratio and
// the machine's limits.
func TestClusterTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, MinIO and pacsd processes")
	}
	peertest.Tool(t, "storescu")
	if _, err := miniotest.Binary(); err != nil {
		peertest.Missing(t, "%v", err)
	}
	if _, err := pgtest.Bin("postgres"); err != nil {
		peertest.Missing(t, "%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	const objects, assocs = 36, 4
	res, err := runCluster(ctx, &out, clusterOptions{small: objects, assocs: assocs, work: t.TempDir()})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d configurations measured, want 3", len(res))
	}
	for i, want := range []struct {
		nodes   int
		cluster bool
	}{{1, true}, {2, true}, {1, false}} {
		r := res[i]
		if r.config.nodes != want.nodes || r.config.cluster != want.cluster || len(r.nodes) != want.nodes {
			t.Fatalf("configuration %d: %+v with %d node results, want %d nodes, cluster %v", i, r.config, len(r.nodes), want.nodes, want.cluster)
		}
		if r.objects != objects || r.seconds <= 0 || r.rate() <= 0 {
			t.Errorf("%s, %d node(s): %d objects in %.3f s", r.config.name, r.config.nodes, r.objects, r.seconds)
		}
		sum := 0
		for k, n := range r.nodes {
			sum += n.objects
			if n.objects == 0 || n.cpu <= 0 || n.peakRSS <= 0 || n.rss <= 0 {
				t.Errorf("%s, node %d of %d: %+v: every node receives objects and uses CPU and memory", r.config.name, k+1, want.nodes, n)
			}
		}
		if sum != objects {
			t.Errorf("%s: the nodes' shares add up to %d, want %d", r.config.name, sum, objects)
		}
		// PostgreSQL and MinIO do work for every object of a cluster node (the index
		// commit, the bucket PUT), none for the embedded one (not measured there).
		if want.cluster && (r.postgres <= 0 || r.minio <= 0) {
			t.Errorf("%s, %d node(s): postgres CPU %v, minio CPU %v: both take part in every store", r.config.name, want.nodes, r.postgres, r.minio)
		}
		if !want.cluster && (r.postgres != 0 || r.minio != 0) {
			t.Errorf("embedded: postgres CPU %v, minio CPU %v counted", r.postgres, r.minio)
		}
		if r.sender <= 0 || r.busy <= 0 || r.busy > 1 {
			t.Errorf("%s, %d node(s): sender CPU %v, machine busy %.2f", r.config.name, want.nodes, r.sender, r.busy)
		}
	}
	for _, s := range []string{"two nodes / one node:", "cores", "load average:", "peak RSS MB"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the report lacks %q", s)
		}
	}
}
