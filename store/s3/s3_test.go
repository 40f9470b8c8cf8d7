package s3_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pacsd/store"
	"pacsd/store/s3"
	"pacsd/store/s3/miniotest"
	"pacsd/store/storetest"
)

var seq atomic.Int64

// unique returns a name no other store of this test binary uses (buckets: 3-63 chars,
// lower case).
func unique(kind string) string { return fmt.Sprintf("%s-%d", kind, seq.Add(1)) }

func config(srv *miniotest.Server, bucket, prefix string) s3.Config {
	return s3.Config{Endpoint: srv.Endpoint, Bucket: bucket, Prefix: prefix, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
}

func open(t testing.TB, cfg s3.Config) *s3.Blobs {
	t.Helper()
	b, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("s3.New(%v): %v", cfg, err)
	}
	return b
}

// TestS3 shares one MinIO server between subtests; the fault test has its own.
func TestS3(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()

	t.Run("ContractPrefix", func(t *testing.T) {
		// One bucket, a fresh prefix per store: List must see only its own prefix, stripped.
		bucket := unique("contract")
		storetest.RunBlobs(t, func(t *testing.T) store.Blobs {
			return open(t, config(srv, bucket, "node/"+unique("p")))
		})
	})

	t.Run("ContractBucket", func(t *testing.T) {
		storetest.RunBlobs(t, func(t *testing.T) store.Blobs {
			return open(t, config(srv, unique("bucket"), ""))
		})
	})

	t.Run("BucketAutoCreation", func(t *testing.T) {
		bucket := unique("auto")
		b := open(t, config(srv, bucket, "x"))
		admin := open(t, config(srv, bucket, "")) // the bucket exists now: New just checks it
		if err := b.Put(ctx, "k.dcm", strings.NewReader("data"), 4); err != nil {
			t.Fatal(err)
		}
		var keys []string
		if err := admin.List(ctx, func(bi store.BlobInfo) error { keys = append(keys, bi.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		// Without a prefix the other store sees the full name; New's probe object is gone.
		if len(keys) != 1 || keys[0] != "x/k.dcm" {
			t.Fatalf("keys in bucket = %q, want [x/k.dcm]", keys)
		}
	})

	t.Run("RangedReads", func(t *testing.T) { testRangedReads(t, srv) })

	t.Run("LargeStreamingPut", func(t *testing.T) {
		b := open(t, config(srv, unique("large"), ""))
		const size = 64 << 20
		for _, tc := range []struct {
			name string
			size int64 // declared
		}{
			{"known size", size},
			{"unknown size", -1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := unique("big") + ".dcm"
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				if err := b.Put(ctx, key, newGenerator(size, 7), tc.size); err != nil {
					t.Fatalf("Put: %v", err)
				}
				runtime.ReadMemStats(&after)
				// Everything allocated during the Put, freed or not: an implementation that
				// held the object in memory would allocate at least its size. One 16 MiB
				// part buffer plus request overhead is what streaming costs.
				alloc := after.TotalAlloc - before.TotalAlloc
				t.Logf("allocated %d MiB during a %d MiB Put", alloc>>20, size>>20)
				if alloc >= size/2 {
					t.Fatalf("Put of %d MiB allocated %d MiB: it buffers the object", size>>20, alloc>>20)
				}
				rc, err := b.Open(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				if n, err := io.Copy(&compareWriter{want: newGenerator(size, 7)}, rc); err != nil || n != size {
					t.Fatalf("read back %d bytes, %v; want %d equal bytes", n, err, int64(size))
				}
			})
		}
	})

	t.Run("UnknownSizePut", func(t *testing.T) {
		b := open(t, config(srv, unique("unknown"), ""))
		for _, n := range []int{0, 1, 1 << 20, 1<<20 + 1, 17 << 20} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				key := fmt.Sprintf("u/%d.dcm", n)
				// iotest-style one-byte-at-a-time reads would be slow at 17 MiB; a plain
				// io.Reader (no WriterTo, no Seeker) is what matters.
				if err := b.Put(ctx, key, onlyReader{newGenerator(int64(n), 3)}, -1); err != nil {
					t.Fatalf("Put: %v", err)
				}
				var size int64 = -1
				if err := b.List(ctx, func(bi store.BlobInfo) error {
					k, s := bi.Key, bi.Size
					if k == key {
						size = s
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if size != int64(n) {
					t.Fatalf("stored size %d, want %d", size, n)
				}
				rc, err := b.Open(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				if got, err := io.Copy(&compareWriter{want: newGenerator(int64(n), 3)}, rc); err != nil || got != int64(n) {
					t.Fatalf("read back %d, %v", got, err)
				}
			})
		}
	})

	t.Run("IncompleteLargePut", func(t *testing.T) {
		// The contract suite's short/long cases are single PUTs; these go multipart.
		b := open(t, config(srv, unique("partial"), ""))
		for _, tc := range []struct {
			name string
			r    io.Reader
			size int64
		}{
			{"short", newGenerator(20<<20, 1), 40 << 20},
			{"long", newGenerator(40<<20+1, 1), 40 << 20},
			{"reader error", io.MultiReader(newGenerator(20<<20, 1), failingReader{}), 40 << 20},
			{"reader error unknown size", io.MultiReader(newGenerator(20<<20, 1), failingReader{}), -1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := b.Put(ctx, "p.dcm", tc.r, tc.size); err == nil || errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("Put = %v, want a source error (not ErrUnavailable)", err)
				}
				if _, err := b.Open(ctx, "p.dcm"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("after a failed Put, Open = %v, want ErrNotFound", err)
				}
			})
		}
	})

	t.Run("WrongCredentials", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			mod        func(*s3.Config)
			wantAccess bool
		}{
			{"wrong secret", func(c *s3.Config) { c.SecretKey = "wrong-secret-0123456789" }, true},
			{"unknown access key", func(c *s3.Config) { c.AccessKey = "nobody" }, true},
			{"no keys", func(c *s3.Config) { c.AccessKey, c.SecretKey = "", "" }, false},
			{"bad endpoint", func(c *s3.Config) { c.Endpoint = "http://" + srv.Endpoint + "/path" }, false},
			{"bad bucket name", func(c *s3.Config) { c.Bucket = "Upper_Case" }, false},
			{"bad prefix", func(c *s3.Config) { c.Prefix = "a/../b" }, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := config(srv, unique("creds"), "")
				tc.mod(&cfg)
				_, err := s3.New(ctx, cfg)
				if err == nil {
					t.Fatal("New succeeded")
				}
				if got := errors.Is(err, s3.ErrAccess); got != tc.wantAccess {
					t.Fatalf("New: %v; errors.Is(ErrAccess) = %v, want %v", err, got, tc.wantAccess)
				}
				if errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("New: %v: a configuration error must not look transient", err)
				}
				if cfg.SecretKey != "" && strings.Contains(err.Error(), cfg.SecretKey) {
					t.Fatalf("error shows the secret: %v", err)
				}
				t.Logf("New: %v", err)
			})
		}
	})

	t.Run("SecretNeverShown", func(t *testing.T) {
		cfg := config(srv, unique("secret"), "")
		var logs bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		cfg.Logger = logger

		b := open(t, cfg) // creates the bucket: logs
		logger.Info("configured", "s3", cfg)
		j, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, openErr := b.Open(ctx, "missing.dcm")
		wrong := cfg
		wrong.SecretKey = cfg.SecretKey + "x"
		_, newErr := s3.New(ctx, wrong)
		shown := map[string]string{
			"String": cfg.String(), "%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg),
			"%#v": fmt.Sprintf("%#v", cfg), "pointer": fmt.Sprint(&cfg), "json": string(j),
			"slog": logs.String(), "Open error": fmt.Sprint(openErr), "New error": fmt.Sprint(newErr),
		}
		for what, s := range shown {
			if strings.Contains(s, cfg.SecretKey) {
				t.Errorf("%s shows the secret: %s", what, s)
			}
		}
		if !strings.Contains(logs.String(), cfg.Bucket) || !strings.Contains(shown["String"], cfg.Bucket) {
			t.Fatalf("the checks above looked at nothing: logs %q, String %q", logs.String(), shown["String"])
		}
		// Blobs logs through Config.Logger, as the s3 component.
		if !strings.Contains(logs.String(), `"msg":"s3 bucket created","component":"s3"`) {
			t.Errorf("bucket creation not logged through Config.Logger: %s", logs.String())
		}
	})

	t.Run("ListStopsOnError", func(t *testing.T) {
		b := open(t, config(srv, unique("liststop"), ""))
		for i := range 5 {
			if err := b.Put(ctx, fmt.Sprintf("k%d.dcm", i), strings.NewReader("x"), 1); err != nil {
				t.Fatal(err)
			}
		}
		stop := errors.New("enough")
		calls := 0
		err := b.List(ctx, func(store.BlobInfo) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("List = %v after %d calls, want fn's error after 1", err, calls)
		}
	})
}

// testRangedReads reads through a recording proxy to see which ranges go over the wire.
func testRangedReads(t *testing.T, srv *miniotest.Server) {
	ctx := context.Background()
	bucket := unique("ranges")
	direct := open(t, config(srv, bucket, ""))
	const size = 64 << 20
	data := make([]byte, size)
	if _, err := io.ReadFull(newGenerator(size, 5), data); err != nil {
		t.Fatal(err)
	}
	if err := direct.Put(ctx, "r.dcm", bytes.NewReader(data), size); err != nil {
		t.Fatal(err)
	}
	proxy := newRecordingProxy(t, srv.URL())
	cfg := config(srv, bucket, "")
	cfg.Endpoint = proxy.addr
	b := open(t, cfg)

	t.Run("SeekRead", func(t *testing.T) {
		proxy.reset()
		rc, err := b.Open(ctx, "r.dcm")
		if err != nil {
			t.Fatal(err)
		}
		const off, n = 8 << 20, 4096
		if pos, err := rc.Seek(off, io.SeekStart); err != nil || pos != off {
			t.Fatalf("Seek = %d, %v", pos, err)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(rc, buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, data[off:off+n]) {
			t.Fatal("bytes after Seek differ")
		}
		// Relative seeks and a second read reuse nothing stale.
		if pos, err := rc.Seek(-2*n, io.SeekCurrent); err != nil || pos != off-n {
			t.Fatalf("Seek(-2n, current) = %d, %v", pos, err)
		}
		if _, err := io.ReadFull(rc, buf); err != nil || !bytes.Equal(buf, data[off-n:off]) {
			t.Fatalf("read after relative Seek: %v", err)
		}
		if pos, err := rc.Seek(-10, io.SeekEnd); err != nil || pos != size-10 {
			t.Fatalf("Seek(-10, end) = %d, %v", pos, err)
		}
		tail, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(tail, data[size-10:]) {
			t.Fatalf("tail = %d bytes, %v", len(tail), err)
		}
		rc.Close()
		reqs := proxy.wait(t, "r.dcm")
		if len(reqs) != 4 { // HEAD at Open, then one GET per position
			t.Fatalf("%d requests, want HEAD and 3 GETs: %+v", len(reqs), reqs)
		}
		if reqs[0].method != http.MethodHead {
			t.Fatalf("first request %s, want HEAD (Open checks existence)", reqs[0].method)
		}
		for i, want := range []string{fmt.Sprintf("bytes=%d-", off), fmt.Sprintf("bytes=%d-", off-n), fmt.Sprintf("bytes=%d-", size-10)} {
			r := reqs[i+1]
			if r.method != http.MethodGet || r.rangeHdr != want {
				t.Fatalf("request %d: %s %q, want GET %q", i+1, r.method, r.rangeHdr, want)
			}
			if r.ifMatch == "" {
				t.Fatalf("request %d has no If-Match: a replaced object could be read torn", i+1)
			}
		}
		// The open-ended GETs were abandoned after a few KiB: what crossed the proxy is
		// bounded by socket buffers, far below the 56 MiB that followed the offset.
		var moved int64
		for _, r := range reqs {
			moved += r.bytes
		}
		t.Logf("%d bytes crossed the proxy for 8 KiB read", moved)
		if moved > 24<<20 {
			t.Fatalf("%d MiB crossed the proxy for 8 KiB read", moved>>20)
		}
	})

	t.Run("ReadAt", func(t *testing.T) {
		proxy.reset()
		rc, err := b.Open(ctx, "r.dcm")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		ra, ok := rc.(io.ReaderAt)
		if !ok {
			t.Fatal("the reader is no io.ReaderAt: frames would need Seek+Read")
		}
		for _, tc := range []struct {
			off, n  int64
			wantN   int
			wantEOF bool
		}{
			{off: 1000, n: 5000, wantN: 5000},
			{off: 0, n: 1, wantN: 1},
			{off: size - 100, n: 300, wantN: 100, wantEOF: true},
			{off: size, n: 10, wantN: 0, wantEOF: true},
		} {
			buf := make([]byte, tc.n)
			n, err := ra.ReadAt(buf, tc.off)
			if n != tc.wantN || (err == io.EOF) != tc.wantEOF || (err != nil && err != io.EOF) {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; want %d, EOF %v", tc.n, tc.off, n, err, tc.wantN, tc.wantEOF)
			}
			if !bytes.Equal(buf[:n], data[tc.off:tc.off+int64(n)]) {
				t.Fatalf("ReadAt at %d: bytes differ", tc.off)
			}
		}
		reqs := proxy.wait(t, "r.dcm")
		if len(reqs) != 4 { // HEAD, then one bounded GET per ReadAt inside the object
			t.Fatalf("%d requests, want HEAD and 3 GETs: %+v", len(reqs), reqs)
		}
		for i, want := range []struct {
			rng   string
			bytes int64
		}{{"bytes=1000-5999", 5000}, {"bytes=0-0", 1}, {fmt.Sprintf("bytes=%d-%d", size-100, size-1), 100}} {
			r := reqs[i+1]
			if r.rangeHdr != want.rng || r.bytes != want.bytes {
				t.Fatalf("ReadAt request %d: %q, %d bytes; want %q, %d bytes", i+1, r.rangeHdr, r.bytes, want.rng, want.bytes)
			}
		}
	})

	t.Run("PutAsksForChecksum", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			size     int64
			declared int64
			puts     int // PUT requests carrying bytes: 1 single, or one per part
		}{
			{"single", 100 << 10, 100 << 10, 1},
			{"multipart", 20 << 20, 20 << 20, 2},
			{"unknown size", 20 << 20, -1, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				proxy.reset()
				name := unique("sum") + ".dcm"
				if err := b.Put(ctx, name, newGenerator(tc.size, 2), tc.declared); err != nil {
					t.Fatal(err)
				}
				puts := 0
				for i, r := range proxy.wait(t, name) {
					if r.method != http.MethodPut {
						continue
					}
					puts++
					if r.checksum == "" {
						t.Fatalf("request %d, a PUT of %s, carries no SHA-256 for the server to verify", i, name)
					}
				}
				if puts != tc.puts {
					t.Fatalf("%d PUTs of %s, want %d", puts, name, tc.puts)
				}
			})
		}
	})

	t.Run("OpenMissingAtOpen", func(t *testing.T) {
		proxy.reset()
		_, err := b.Open(ctx, "nothing/here.dcm")
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Open = %v, want ErrNotFound", err)
		}
		if reqs := proxy.wait(t, "here.dcm"); len(reqs) != 1 || reqs[0].method != http.MethodHead {
			t.Fatalf("Open sent %+v, want one HEAD", reqs)
		}
	})

	t.Run("ReplacedWhileReading", func(t *testing.T) {
		if err := direct.Put(ctx, "v.dcm", strings.NewReader("version one"), 11); err != nil {
			t.Fatal(err)
		}
		rc, err := b.Open(ctx, "v.dcm")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if err := direct.Put(ctx, "v.dcm", strings.NewReader("version two"), 11); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(rc); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("reading an object replaced after Open: %v, want ErrConflict", err)
		}
	})
}

// TestUnavailable: with MinIO stopped every operation fails with ErrUnavailable (so the
// archive keeps its spooled copy and retries), and the same Blobs works again after a restart.
func TestUnavailable(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	b := open(t, config(srv, unique("outage"), "p"))
	if err := b.Put(ctx, "before.dcm", strings.NewReader("before"), 6); err != nil {
		t.Fatal(err)
	}
	held, err := b.Open(ctx, "before.dcm") // opened before, read during the outage
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	srv.Stop()
	ops := map[string]func() error{
		"Put":        func() error { return b.Put(ctx, "during.dcm", strings.NewReader("during"), 6) },
		"Put -1":     func() error { return b.Put(ctx, "during.dcm", strings.NewReader("during"), -1) },
		"Open":       func() error { _, err := b.Open(ctx, "before.dcm"); return err },
		"Read":       func() error { _, err := io.ReadAll(held); return err },
		"Delete":     func() error { return b.Delete(ctx, "before.dcm") },
		"List":       func() error { return b.List(ctx, func(store.BlobInfo) error { return nil }) },
		"New":        func() error { _, err := s3.New(ctx, config(srv, unique("outage"), "")); return err },
		"Open (new)": func() error { _, err := b.Open(ctx, "never.dcm"); return err },
	}
	for name, op := range ops {
		err := op()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with MinIO stopped: %v, want ErrUnavailable", name, err)
		}
		if err != nil && strings.Contains(err.Error(), srv.SecretKey) {
			t.Errorf("%s: error shows the secret: %v", name, err)
		}
	}

	srv.Restart()
	if err := b.Put(ctx, "after.dcm", strings.NewReader("after"), 5); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	for key, want := range map[string]string{"before.dcm": "before", "after.dcm": "after"} {
		rc, err := b.Open(ctx, key)
		if err != nil {
			t.Fatalf("Open %s after restart: %v", key, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != want {
			t.Fatalf("%s after restart = %q, %v", key, got, err)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	srv := miniotest.Start(t)
	b := open(t, config(srv, unique("cancel"), ""))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, err := range map[string]error{
		"Put":    b.Put(ctx, "c.dcm", strings.NewReader("x"), 1),
		"Open":   func() error { _, err := b.Open(ctx, "c.dcm"); return err }(),
		"Delete": b.Delete(ctx, "c.dcm"),
		"List":   b.List(ctx, func(store.BlobInfo) error { return nil }),
	} {
		if !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled only", name, err)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	srv := miniotest.Start(b)
	blobs := open(b, config(srv, unique("bench"), ""))
	const size = 15 << 20 // a DR image
	data := make([]byte, size)
	if _, err := io.ReadFull(newGenerator(size, 9), data); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(size)
	i := 0
	for b.Loop() {
		i++
		// onlyReader: the archive streams from a spool file or a pipe, not from memory.
		if err := blobs.Put(ctx, fmt.Sprintf("b/%d.dcm", i), onlyReader{bytes.NewReader(data)}, size); err != nil {
			b.Fatal(err)
		}
	}
}

// generator yields n deterministic pseudo-random bytes without holding them.
type generator struct {
	r    *rand.PCG
	left int64
	word [8]byte
	used int // bytes of word already handed out
}

func newGenerator(n int64, seed uint64) *generator {
	return &generator{r: rand.NewPCG(seed, 99), left: n, used: 8}
}

func (g *generator) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n := len(p)
	for len(p) >= 8 && g.used == 8 { // whole words while aligned: the common case
		binary.LittleEndian.PutUint64(p, g.r.Uint64())
		p = p[8:]
	}
	for i := range p {
		if g.used == 8 {
			v := g.r.Uint64()
			binary.LittleEndian.PutUint64(g.word[:], v)
			g.used = 0
		}
		p[i] = g.word[g.used]
		g.used++
	}
	g.left -= int64(n)
	return n, nil
}

// compareWriter checks what is written against want, without holding either.
type compareWriter struct {
	want io.Reader
	buf  []byte
	off  int64
}

func (c *compareWriter) Write(p []byte) (int, error) {
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	w := c.buf[:len(p)]
	if _, err := io.ReadFull(c.want, w); err != nil {
		return 0, fmt.Errorf("more bytes than expected at %d", c.off)
	}
	if !bytes.Equal(p, w) {
		return 0, fmt.Errorf("bytes differ in the %d bytes at %d", len(p), c.off)
	}
	c.off += int64(len(p))
	return len(p), nil
}

type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("spool disk went away") }

// recordingProxy forwards to MinIO and records, per request, what the client asked for and
// how many body bytes went back.
//
// Requests are kept in the order they arrived, not the order they finished: a response the
// client abandons (an open-ended GET dropped after a few KiB by a Seek) finishes only when
// the proxy notices the client has gone, which on a busy machine can be after a later,
// short request has finished. Recording on completion made the order, and so
// RangedReads/SeekRead, depend on the scheduler.
type recordingProxy struct {
	addr string
	mu   sync.Mutex
	reqs []*proxied    // in order of arrival
	done chan struct{} // signalled after each finished request
}

type proxied struct {
	method, path, rangeHdr, ifMatch string
	checksum                        string // the SHA-256 the client asked the server to verify
	status                          int    // of the response; 0 until headers were sent
	bytes                           int64
	finished                        bool
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{done: make(chan struct{}, 1)}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // SigV4 signs the Host the client used
		},
		ErrorLog: nil,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := r.Header.Get("X-Amz-Checksum-Sha256") // in the headers (parts) ...
		if strings.EqualFold(r.Header.Get("X-Amz-Trailer"), "x-amz-checksum-sha256") {
			sum = "trailer" // ... or after the streamed body
		}
		// Recorded before anything is forwarded: the client cannot have its answer, and so
		// cannot send its next request, before this one is in the list.
		rec := &proxied{method: r.Method, path: r.URL.Path, rangeHdr: r.Header.Get("Range"),
			ifMatch: r.Header.Get("If-Match"), checksum: sum}
		p.mu.Lock()
		p.reqs = append(p.reqs, rec)
		p.mu.Unlock()
		cw := &countingWriter{ResponseWriter: w}
		// Deferred: ReverseProxy panics with http.ErrAbortHandler when the client drops a
		// response midway, which is exactly the case we want to see.
		defer func() {
			p.mu.Lock()
			rec.status, rec.bytes, rec.finished = cw.status, cw.n, true
			p.mu.Unlock()
			select { // a wakeup for wait; one pending is enough
			case p.done <- struct{}{}:
			default:
			}
		}()
		rp.ServeHTTP(cw, r)
	}))
	t.Cleanup(srv.Close)
	p.addr = strings.TrimPrefix(srv.URL, "http://")
	return p
}

func (p *recordingProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = nil
}

// wait returns, in order of arrival, every request for object name since reset once all of
// them have finished (handlers of abandoned responses finish when the proxy notices the
// client has gone). Call it after the client's calls have returned: each of their requests
// has arrived by then, so the list is complete. Requests for other names (New's checks) are
// ignored, and so are requests MinIO refused with a 5xx status, which minio-go retries:
// the retry is the request that counts.
func (p *recordingProxy) wait(t *testing.T, name string) []proxied {
	t.Helper()
	timeout := time.After(time.Minute) // a hang, not a slow machine
	for {
		p.mu.Lock()
		var got []proxied
		pending := 0
		for _, r := range p.reqs {
			if !strings.HasSuffix(r.path, "/"+name) {
				continue
			}
			if !r.finished {
				pending++
			} else if r.status < 500 {
				got = append(got, *r)
			}
		}
		p.mu.Unlock()
		if pending == 0 {
			return got
		}
		select {
		case <-p.done:
		case <-timeout:
			t.Fatalf("%d requests for %s still unfinished; finished: %+v", pending, name, got)
		}
	}
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 { // 1xx are interim
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
