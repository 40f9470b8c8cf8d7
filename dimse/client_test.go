package dimse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pacsd/dicom"
)

func TestProposeContextsLayout(t *testing.T) {
	pcs, err := proposeContexts(map[string][]string{
		"1.2.840.10008.5.1.4.1.1.7":   {dicom.JPEGBaseline8Bit, dicom.ExplicitVRLittleEndian, dicom.JPEGBaseline8Bit},
		"1.2.840.10008.5.1.4.1.1.1.1": {dicom.ImplicitVRLittleEndian},
		dicom.VerificationSOPClass:    {dicom.ImplicitVRLittleEndian},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []presentationContextRQ{
		{1, dicom.VerificationSOPClass, []string{dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian}},
		{3, "1.2.840.10008.5.1.4.1.1.1.1", []string{dicom.ImplicitVRLittleEndian}},
		{5, "1.2.840.10008.5.1.4.1.1.7", []string{dicom.JPEGBaseline8Bit}},
		{7, "1.2.840.10008.5.1.4.1.1.7", []string{dicom.ExplicitVRLittleEndian}},
	}
	if fmt.Sprint(pcs) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", pcs, want)
	}
	many := map[string][]string{}
	for i := range 128 {
		many[fmt.Sprintf("1.2.3.%d", i)] = []string{dicom.ImplicitVRLittleEndian}
	}
	if _, err := proposeContexts(many); err == nil {
		t.Fatal("129 contexts proposed")
	}
	if _, err := proposeContexts(map[string][]string{"1.2.x": {"1.2"}}); err == nil {
		t.Fatal("bad UID accepted")
	}
	// PS3.5 9.1: no empty components (the one UID rule, dicom.CheckUID).
	for _, bad := range []map[string][]string{{"1..2": {"1.2"}}, {"1.2": {"1.2."}}, {".1.2": {"1.2"}}} {
		if _, err := proposeContexts(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	// Leading zeros are tolerated: the client forwards what the archive accepted.
	if _, err := proposeContexts(map[string][]string{"1.2.03": {dicom.ExplicitVRLittleEndian}}); err != nil {
		t.Errorf("leading zero refused: %v", err)
	}
}

func TestSplitContexts(t *testing.T) {
	in := map[string][]string{}
	total := 0
	for i := range 100 {
		in[fmt.Sprintf("1.2.3.%d", i)] = []string{"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}
		total += 2
	}
	groups := SplitContexts(in)
	seen := 0
	for _, g := range groups {
		n := 0
		for _, ts := range g {
			n += len(ts)
		}
		if n > 127 {
			t.Fatalf("group of %d pairs", n)
		}
		if _, err := proposeContexts(g); err != nil {
			t.Fatalf("group does not fit an association: %v", err)
		}
		seen += n
	}
	if seen != total || len(groups) != 2 {
		t.Fatalf("%d groups, %d pairs, want 2 groups of %d pairs", len(groups), seen, total)
	}
}

// TestClientWithOwnServer: echo, stores in several syntaxes, message IDs, statuses.
func TestClientWithOwnServer(t *testing.T) {
	rec := &recorder{dir: t.TempDir(), status: func(r *StoreRequest) Status {
		if r.SOPInstanceUID == "1.2.3.9" {
			return Status{Code: StatusCannotUnderstand, ErrorComment: "bad"}
		}
		return Status{}
	}}
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Store: rec, MaxPDULength: 4096})
	c, err := Dial(context.Background(), addr, ClientConfig{
		CallingAETitle: "SITE-7", CalledAETitle: "PACSD", MaxPDULength: 4096,
		Contexts: map[string][]string{scClass: {dicom.ExplicitVRLittleEndian, dicom.RLELossless, "1.2.3.4.5.6"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var accepted, rejected int
	for _, pc := range c.Contexts() {
		if pc.Accepted() {
			accepted++
		} else if pc.Result == presentationResultTransferSyntax {
			rejected++
		}
	}
	if accepted != 3 || rejected != 1 || !c.CanStore(scClass, dicom.RLELossless) || c.CanStore(scClass, "1.2.3.4.5.6") {
		t.Fatalf("contexts %+v", c.Contexts())
	}
	if st, err := c.Echo(context.Background()); err != nil || st.Code != 0 {
		t.Fatalf("echo: %v %v", st, err)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	steps := []struct {
		uid, ts string
		code    uint16
	}{
		{"1.2.3.1", dicom.ExplicitVRLittleEndian, 0},
		{"1.2.3.2", dicom.RLELossless, 0},
		{"1.2.3.9", dicom.ExplicitVRLittleEndian, StatusCannotUnderstand},
	}
	for _, s := range steps {
		st, err := c.Store(context.Background(), scClass, s.uid, s.ts, bytes.NewReader(payload))
		if err != nil || st.Code != s.code {
			t.Fatalf("store %s: %v %v", s.uid, st, err)
		}
		if got := rec.received(t, s.uid); !bytes.Equal(got, payload) {
			t.Fatalf("store %s: payload changed", s.uid)
		}
	}
	// No context: refused locally, association intact.
	if _, err := c.Store(context.Background(), scClass, "1.2.3.4", dicom.JPEGBaseline8Bit, bytes.NewReader(payload)); !errors.Is(err, ErrNoContext) {
		t.Fatalf("store without context: %v", err)
	}
	if st, err := c.Store(context.Background(), scClass, "1.2.3.5", "", bytes.NewReader(nil)); !errors.Is(err, ErrNoContext) {
		t.Fatalf("store with empty ts: %v %v", st, err)
	}
	if st, err := c.Store(context.Background(), scClass, "1.2.3.6", dicom.ExplicitVRLittleEndian, bytes.NewReader(nil)); err != nil || st.Code != 0 {
		t.Fatalf("empty data set: %v %v", st, err)
	}
	if err := c.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Echo(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("echo after release: %v", err)
	}
	reqs := rec.requests()
	for i, r := range reqs {
		// Echo was message 1; the stores follow.
		if r.MessageID != uint16(i+2) || r.CallingAETitle != "SITE-7" {
			t.Errorf("request %d: message ID %d calling %q", i, r.MessageID, r.CallingAETitle)
		}
	}
}

func TestClientRejected(t *testing.T) {
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD", StrictCalledAE: true})
	_, err := Dial(context.Background(), addr, ClientConfig{CalledAETitle: "NOTME"})
	var rj *RejectError
	if !errors.As(err, &rj) || rj.Transient() || rj.Reason != rjReasonCalledAENotRecognized {
		t.Fatalf("dial: %v", err)
	}
	if _, err := Dial(context.Background(), addr, ClientConfig{CalledAETitle: "ONE\\TWO"}); err == nil {
		t.Fatal("AE title with a backslash accepted")
	}
}

func TestClientContextCancel(t *testing.T) {
	started := make(chan struct{})
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest, data io.Reader) Status {
		io.Copy(io.Discard, data)
		close(started)
		<-ctx.Done() // answers only once the association is gone
		return Status{}
	})
	addr, _, _ := startServer(t, &Server{Store: h})
	c, err := Dial(context.Background(), addr, ClientConfig{Contexts: map[string][]string{scClass: {dicom.ImplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started // the request is out; we are waiting for the response
		cancel()
	}()
	_, err = c.Store(ctx, scClass, "1.2.3", dicom.ImplicitVRLittleEndian, bytes.NewReader(make([]byte, 100)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("store: %v, want context.Canceled", err)
	}
	if _, err := c.Echo(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("association still usable after an interrupted store: %v", err)
	}
}

func TestStoreAll(t *testing.T) {
	rec := &recorder{dir: t.TempDir()}
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Store: rec})
	const other = "1.2.840.10008.5.1.4.1.1.1.1"
	var items []StoreItem
	payload := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100+i) }
	for i, spec := range []struct{ class, ts string }{
		{scClass, dicom.ExplicitVRLittleEndian}, {other, dicom.ImplicitVRLittleEndian},
		{scClass, dicom.JPEGLosslessSV1}, {scClass, "1.2.3.999"}, {other, dicom.ImplicitVRLittleEndian},
	} {
		items = append(items, StoreItem{
			SOPClassUID: spec.class, SOPInstanceUID: fmt.Sprintf("1.2.3.%d", i), TransferSyntaxUID: spec.ts,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload(i))), nil },
		})
	}
	var results []StoreResult
	err := StoreAll(context.Background(), addr, ClientConfig{CalledAETitle: "PACSD"}, items, func(r StoreResult) {
		results = append(results, r)
	})
	if err == nil || !errors.Is(err, ErrNoContext) {
		t.Fatalf("StoreAll: %v, want a failure caused by ErrNoContext", err)
	}
	if len(results) != len(items) {
		t.Fatalf("%d results for %d items", len(results), len(items))
	}
	for _, r := range results {
		if r.Index == 3 {
			if !errors.Is(r.Err, ErrNoContext) {
				t.Errorf("item 3: %v", r.Err)
			}
			continue
		}
		if !r.OK() {
			t.Errorf("item %d: %v %v", r.Index, r.Status, r.Err)
		}
		if got := rec.received(t, items[r.Index].SOPInstanceUID); !bytes.Equal(got, payload(r.Index)) {
			t.Errorf("item %d: data differs", r.Index)
		}
	}
}

// startStorescp runs DCMTK's storescp on a free port until the test ends.
func startStorescp(t *testing.T, dir string, args ...string) string {
	t.Helper()
	requireTools(t, "storescp", "echoscu")
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "storescp", append(append([]string{"-od", dir, "-aet", "DCMTKSCP"}, args...), port)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("storescp output:\n%s", out.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", port)
	deadline := time.Now().Add(30 * time.Second)
	for { // wait until it listens
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("storescp did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientAgainstStorescp: our SCU against DCMTK's SCP, with DCMTK's smallest PDU so
// that our fragmentation is exercised; storescp must write the very data set we sent.
func TestClientAgainstStorescp(t *testing.T) {
	out := t.TempDir()
	addr := startStorescp(t, out, "+xa", "-pdu", "4096")
	dir := t.TempDir()
	files := []testFile{
		makeFile(t, dir, dicom.ExplicitVRLittleEndian, 128, 128, 1),
		makeFile(t, dir, dicom.ImplicitVRLittleEndian, 64, 64, 1),
		makeFile(t, dir, dicom.RLELossless, 64, 64, 2),
	}
	contexts := map[string][]string{}
	for _, f := range files {
		contexts[f.sopClass] = append(contexts[f.sopClass], f.ts)
	}
	c, err := Dial(context.Background(), addr, ClientConfig{CalledAETitle: "DCMTKSCP", Contexts: contexts})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Echo(context.Background()); err != nil || st.Code != 0 {
		t.Fatalf("echo: %v %v", st, err)
	}
	for _, f := range files {
		st, err := c.Store(context.Background(), f.sopClass, f.sopInstance, f.ts, bytes.NewReader(f.dataset))
		if err != nil || st.Code != StatusSuccess {
			t.Fatalf("store %s: %v %v", f.ts, st, err)
		}
	}
	if err := c.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		matches, _ := filepath.Glob(filepath.Join(out, "*"+f.sopInstance+"*"))
		if len(matches) != 1 {
			entries, _ := os.ReadDir(out)
			t.Fatalf("%s: storescp wrote %v (dir: %v)", f.sopInstance, matches, entries)
		}
		b, err := os.ReadFile(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		off, ts := part10DatasetOffset(t, b)
		if ts != f.ts || !bytes.Equal(b[off:], f.dataset) {
			t.Errorf("%s: storescp stored %s, %d bytes; sent %d", f.ts, ts, len(b)-off, len(f.dataset))
		}
	}
}

// TestClientStorescpRejectsContext: a context storescp rejects gives ErrNoContext and
// leaves the association usable.
func TestClientStorescpRejectsContext(t *testing.T) {
	addr := startStorescp(t, t.TempDir())
	const unknown = "1.2.840.10008.5.1.4.1.1.999"
	c, err := Dial(context.Background(), addr, ClientConfig{CalledAETitle: "DCMTKSCP",
		Contexts: map[string][]string{unknown: {dicom.ImplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release(context.Background())
	for _, pc := range c.Contexts() {
		if pc.AbstractSyntax == unknown && pc.Accepted() {
			t.Fatal("storescp accepted an unknown SOP class")
		}
	}
	_, err = c.Store(context.Background(), unknown, "1.2.3", dicom.ImplicitVRLittleEndian, strings.NewReader("x"))
	if !errors.Is(err, ErrNoContext) {
		t.Fatalf("store: %v", err)
	}
	if st, err := c.Echo(context.Background()); err != nil || st.Code != 0 {
		t.Fatalf("echo: %v %v", st, err)
	}
}

// TestParallelClients: several associations at once, one Client per goroutine.
func TestParallelClients(t *testing.T) {
	var stored atomic.Int32
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest, data io.Reader) Status {
		n, err := io.Copy(io.Discard, data)
		if err != nil || n != 50000 {
			return Status{Code: StatusCannotUnderstand}
		}
		stored.Add(1)
		return Status{}
	})
	addr, _, _ := startServer(t, &Server{Store: h, MaxPDULength: 8192, Logger: discardLogger()})
	const clients, each = 4, 5
	errs := make(chan error, clients)
	for g := range clients {
		go func() {
			c, err := Dial(context.Background(), addr, ClientConfig{Contexts: map[string][]string{scClass: {dicom.ImplicitVRLittleEndian}}})
			if err != nil {
				errs <- err
				return
			}
			for i := range each {
				st, err := c.Store(context.Background(), scClass, fmt.Sprintf("1.2.%d.%d", g, i), dicom.ImplicitVRLittleEndian, bytes.NewReader(make([]byte, 50000)))
				if err == nil && st.Code != 0 {
					err = fmt.Errorf("status %v", st)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- c.Release(context.Background())
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := stored.Load(); n != clients*each {
		t.Fatalf("stored %d, want %d", n, clients*each)
	}
}
