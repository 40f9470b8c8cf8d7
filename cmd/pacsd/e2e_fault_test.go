package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pacsd/dimse"
)

// sendWithClient stores one Part-10 file over an open association.
func sendWithClient(ctx context.Context, c *dimse.Client, path string) (dimse.Status, error) {
	f, err := inspect(path)
	if err != nil {
		return dimse.Status{}, err
	}
	rc, err := f.open()
	if err != nil {
		return dimse.Status{}, err
	}
	defer rc.Close()
	return c.Store(ctx, f.sopClass, f.sopInstance, f.ts, rc)
}

func dialFor(t *testing.T, ctx context.Context, addr, aet string, files []string) *dimse.Client {
	t.Helper()
	contexts := map[string][]string{}
	for _, p := range files {
		f, err := inspect(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !slices.Contains(contexts[f.sopClass], f.ts) {
			contexts[f.sopClass] = append(contexts[f.sopClass], f.ts)
		}
	}
	c, err := dimse.Dial(ctx, addr, dimse.ClientConfig{CallingAETitle: aet, CalledAETitle: "PACSD", Contexts: contexts})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

// TestSIGKILLDuringIngest: four associations store large DR objects; pacsd is SIGKILLed
// mid-transfer and restarted. Every instance that got a success response is retrievable
// with the bytes that were sent, nothing half-written is visible, the spool is clean.
func TestSIGKILLDuringIngest(t *testing.T) {
	dataDir := t.TempDir()
	n := startPacsd(t, dataDir)
	files := genCorpus(t, 12, 60)

	const assocs = 4
	var acked sync.Map // path -> true
	var nAcked atomic.Int32
	tenth := make(chan struct{}) // closed at the tenth acknowledgement
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for a := 0; a < assocs; a++ {
		var share []string
		for i := a; i < len(files); i += assocs {
			share = append(share, files[i])
		}
		wg.Add(1)
		go func(share []string) {
			defer wg.Done()
			c := dialFor(t, ctx, n.dicomAddr, "TOWNSHIP-KILL", share)
			defer c.Abort()
			for _, p := range share {
				st, err := sendWithClient(ctx, c, p)
				if err != nil {
					return // the server died under us: expected
				}
				if st.Code == dimse.StatusSuccess {
					acked.Store(p, true)
					if nAcked.Add(1) == 10 {
						close(tenth)
					}
				}
			}
		}(share)
	}
	sent := make(chan struct{})
	go func() { wg.Wait(); close(sent) }()
	// Kill once a few objects were acknowledged, while the others are in flight.
	select {
	case <-tenth:
		n.kill()
	case <-sent:
		t.Fatalf("the senders finished (%d of %d acknowledged) before the kill; the test must kill mid-ingest", nAcked.Load(), len(files))
	}
	<-sent
	if int(nAcked.Load()) == len(files) {
		t.Fatalf("all %d objects were stored before the kill; the test must kill mid-ingest", len(files))
	}

	n2 := startPacsd(t, dataDir)
	count := 0
	acked.Range(func(k, _ any) bool {
		count++
		p := k.(string)
		study, series, inst := parseHeaderUIDs(t, p)
		got, code := n2.wadoInstance(t, study, series, inst)
		if code != http.StatusOK {
			t.Errorf("acknowledged %s lost after SIGKILL: WADO-RS %d", filepath.Base(p), code)
			return true
		}
		src, _ := os.ReadFile(p)
		if sum(datasetBytes(t, got)) != sum(datasetBytes(t, src)) {
			t.Errorf("acknowledged %s corrupted after SIGKILL", filepath.Base(p))
		}
		return true
	})
	t.Logf("%d of %d objects acknowledged before SIGKILL", count, len(files))

	// Everything the index shows must be whole: no half-written instance is visible.
	visible := n2.qido(t, "/instances", url.Values{"limit": {"1000"}, "includefield": {"0020000D", "0020000E"}})
	if len(visible) < count {
		t.Errorf("index lists %d instances, fewer than the %d acknowledged", len(visible), count)
	}
	for _, r := range visible {
		if _, code := n2.wadoInstance(t, uidOf(r, "0020000D"), uidOf(r, "0020000E"), uidOf(r, "00080018")); code != http.StatusOK {
			t.Errorf("indexed instance %s not retrievable: %d", uidOf(r, "00080018"), code)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dataDir, "spool", "*")); len(left) != 0 {
		t.Errorf("spool not cleaned after restart: %v", left)
	}

	// The township resends everything (as modalities do after a failure): all succeed.
	c := dialFor(t, ctx, n2.dicomAddr, "TOWNSHIP-KILL", files)
	for _, p := range files {
		if st, err := sendWithClient(ctx, c, p); err != nil || st.Code != dimse.StatusSuccess {
			t.Fatalf("resend %s: %v 0x%04X", filepath.Base(p), err, st.Code)
		}
	}
	c.Release(ctx)
	if got := len(n2.qido(t, "/instances", url.Values{"limit": {"1000"}})); got != len(files) {
		t.Errorf("after resend: %d instances indexed, want %d (each stored once)", got, len(files))
	}
}

// pausingReader delivers the first MiB, then tells the test a transfer is in flight and
// holds the rest back until the test resumes it, so that SIGTERM arrives mid-object.
type pausingReader struct {
	r       *bufio.Reader
	n       int
	started chan struct{}
	resume  chan struct{}
	once    sync.Once
}

func (s *pausingReader) Read(p []byte) (int, error) {
	if s.n > 1<<20 {
		s.once.Do(func() { close(s.started) })
		<-s.resume
	}
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	k, err := s.r.Read(p)
	s.n += k
	return k, err
}

// TestGracefulShutdownFinishesTransfer: SIGTERM stops accepting but lets the C-STORE in
// flight complete with success; the process exits cleanly and the object is kept.
func TestGracefulShutdownFinishesTransfer(t *testing.T) {
	dataDir := t.TempDir()
	n := startPacsd(t, dataDir)
	files := genCorpus(t, 1, 0)
	ctx := context.Background()
	c := dialFor(t, ctx, n.dicomAddr, "TOWNSHIP-TERM", files)
	f, err := inspect(files[0])
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fh.Seek(f.datasetOffset, 0)
	sr := &pausingReader{r: bufio.NewReader(fh), started: make(chan struct{}), resume: make(chan struct{})}
	res := make(chan dimse.Status, 1)
	go func() {
		st, err := c.Store(ctx, f.sopClass, f.sopInstance, f.ts, sr)
		if err != nil {
			t.Errorf("store during shutdown: %v", err)
		}
		res <- st
	}()
	resume := sync.OnceFunc(func() { close(sr.resume) })
	defer resume() // a failing test does not leave the sender blocked
	<-sr.started
	stopped := make(chan error, 1)
	go func() { stopped <- n.stop() }()
	// The rest of the object goes once pacsd has taken the signal and stopped accepting.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", n.dicomAddr)
		if err != nil && strings.Contains(n.log.String(), "shutting down") {
			break
		}
		if err == nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("pacsd still accepting associations after SIGTERM\n%s", n.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resume()
	st := <-res
	if st.Code != dimse.StatusSuccess {
		t.Fatalf("in-flight C-STORE during SIGTERM: status 0x%04X", st.Code)
	}
	c.Release(ctx)
	if err := <-stopped; err != nil {
		t.Fatalf("pacsd exit after SIGTERM: %v\n%s", err, n.log.String())
	}
	n2 := startPacsd(t, dataDir)
	study, series, inst := parseHeaderUIDs(t, files[0])
	if _, code := n2.wadoInstance(t, study, series, inst); code != http.StatusOK {
		t.Fatalf("object stored during shutdown not retrievable: %d", code)
	}
}

// TestBadInputStatuses: a SOP Instance UID that disagrees with the command and an
// unparsable data set get 0xC000 and nothing is stored; a duplicate is a success stored
// once; a disk below the free-space floor gets 0xA700.
func TestBadInputStatuses(t *testing.T) {
	n := startPacsd(t, t.TempDir())
	files := genCorpus(t, 0, 2)
	ctx := context.Background()
	c := dialFor(t, ctx, n.dicomAddr, "TOWNSHIP-BAD", files)
	defer c.Release(ctx)
	f, _ := inspect(files[0])

	open := func() *os.File {
		fh, err := os.Open(f.path)
		if err != nil {
			t.Fatal(err)
		}
		fh.Seek(f.datasetOffset, 0)
		return fh
	}
	fh := open()
	st, err := c.Store(ctx, f.sopClass, "1.2.3.4.5.6.7.8.9", f.ts, fh)
	fh.Close()
	if err != nil || st.Code&0xF000 != 0xC000 {
		t.Errorf("UID mismatch: status 0x%04X err %v, want 0xCxxx", st.Code, err)
	}
	st, err = c.Store(ctx, f.sopClass, "1.2.3.4.5.6.7.8.10", f.ts, strings.NewReader("this is not a data set at all, sorry"))
	if err != nil || st.Code&0xF000 != 0xC000 {
		t.Errorf("garbage data set: status 0x%04X err %v, want 0xCxxx", st.Code, err)
	}
	for i := 0; i < 2; i++ {
		if st, err := sendWithClient(ctx, c, f.path); err != nil || st.Code != 0 {
			t.Fatalf("store #%d: 0x%04X %v", i, st.Code, err)
		}
	}
	got := n.qido(t, "/instances", url.Values{})
	if len(got) != 1 {
		t.Errorf("after mismatch, garbage and a duplicate: %d instances indexed, want 1", len(got))
	}

	full := startPacsd(t, t.TempDir(), "--min-free-mb", "1000000000")
	c2 := dialFor(t, ctx, full.dicomAddr, "TOWNSHIP-FULL", files)
	defer c2.Release(ctx)
	if st, err := sendWithClient(ctx, c2, files[1]); err != nil || st.Code != dimse.StatusOutOfResources {
		t.Errorf("disk below floor: status 0x%04X err %v, want 0xA700", st.Code, err)
	}
}
