package dimse

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pacsd/dicom"
)

// rawAssoc is a hand-driven peer, for what a well-behaved client would never send.
type rawAssoc struct {
	t    *testing.T
	conn net.Conn
	rd   *pduReader
}

func dialRaw(t *testing.T, addr string) *rawAssoc {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(time.Minute)) // a hung test fails instead of hanging
	return &rawAssoc{t: t, conn: conn, rd: &pduReader{r: conn, maxPData: 1 << 20}}
}

func (r *rawAssoc) send(b []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawAssoc) read() pdu {
	r.t.Helper()
	p, err := r.rd.read()
	if err != nil {
		r.t.Fatalf("read PDU: %v", err)
	}
	return p
}

// associate sends an A-ASSOCIATE-RQ proposing Verification (ID 1) and Secondary Capture
// (ID 3) and expects an A-ASSOCIATE-AC.
func (r *rawAssoc) associate() *associateAC {
	r.t.Helper()
	r.send(basicRQ().appendTo(nil))
	ac, ok := r.read().(*associateAC)
	if !ok {
		r.t.Fatal("no A-ASSOCIATE-AC")
	}
	return ac
}

func basicRQ() *associateRQ {
	return &associateRQ{
		ProtocolVersion: 1, CalledAETitle: "PACSD", CallingAETitle: "RAW",
		ApplicationContext: applicationContextName,
		Contexts: []presentationContextRQ{
			{ID: 1, AbstractSyntax: dicom.VerificationSOPClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}},
			{ID: 3, AbstractSyntax: scClass, TransferSyntaxes: []string{dicom.ImplicitVRLittleEndian}},
		},
		UserInfo: userInfo{MaxLength: 16384, ImplementationClassUID: "1.2.3"},
	}
}

// expectAbort reads until an A-ABORT arrives; it returns it.
func (r *rawAssoc) expectAbort() *abortPDU {
	r.t.Helper()
	for {
		p, err := r.rd.read()
		if err != nil {
			r.t.Fatalf("no A-ABORT before %v", err)
		}
		if ab, ok := p.(*abortPDU); ok {
			return ab
		}
	}
}

func pdata(id byte, command, last bool, data []byte) []byte {
	return (&pDataTF{PDVs: []pdv{{ContextID: id, Command: command, Last: last, Data: data}}}).appendTo(nil)
}

func echoWorks(t *testing.T, addr string) {
	t.Helper()
	c, err := Dial(context.Background(), addr, ClientConfig{CalledAETitle: "PACSD"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	st, err := c.Echo(context.Background())
	if err != nil || st.Code != StatusSuccess {
		t.Fatalf("echo: %v %v", st, err)
	}
	if err := c.Release(context.Background()); err != nil {
		t.Fatalf("release: %v", err)
	}
}

func TestMalformedPDUAbortsOnlyThatAssociation(t *testing.T) {
	rec := &recorder{dir: t.TempDir()}
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Store: rec, MaxPDULength: 8192})
	tests := []struct {
		name       string
		associate  bool
		send       []byte
		wantSource byte
		wantReason byte
	}{
		{"HTTP garbage before association", false, []byte("GET / HTTP/1.1\r\nHost: pacs\r\n\r\n"), abortSourceUser, 0},
		{"P-DATA before association", false, pdata(1, true, true, []byte{0}), abortSourceUser, 0},
		{"unknown PDU type", true, pduBytes(0x09, []byte{0, 0, 0, 0}), abortSourceProvider, abortReasonUnrecognizedPDU},
		{"P-DATA over our maximum", true, append([]byte{4, 0}, 0, 0, 0x20, 1), abortSourceProvider, abortReasonInvalidParamValue},
		{"PDV on a context never proposed", true, pdata(9, true, true, []byte{0}), abortSourceProvider, abortReasonInvalidParamValue},
		{"second A-ASSOCIATE-RQ", true, basicRQ().appendTo(nil), abortSourceProvider, abortReasonUnexpectedPDU},
		{"data set without command", true, pdata(3, false, true, []byte{1, 2}), abortSourceUser, 0},
		{"garbage command set", true, pdata(1, true, true, []byte{1, 2, 3}), abortSourceUser, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Another association, established before, must survive.
			other, err := Dial(context.Background(), addr, ClientConfig{CalledAETitle: "PACSD"})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Abort()

			r := dialRaw(t, addr)
			if tt.associate {
				r.associate()
			}
			r.send(tt.send)
			ab := r.expectAbort()
			if ab.Source != tt.wantSource || ab.Reason != tt.wantReason {
				t.Errorf("A-ABORT source %d reason %d, want %d %d", ab.Source, ab.Reason, tt.wantSource, tt.wantReason)
			}
			r.conn.Close()

			if st, err := other.Echo(context.Background()); err != nil || st.Code != StatusSuccess {
				t.Fatalf("other association broken: %v %v", st, err)
			}
			echoWorks(t, addr)
		})
	}
}

func TestAssociationRejections(t *testing.T) {
	tests := []struct {
		name   string
		srv    *Server
		mod    func(*associateRQ)
		result byte
		source byte
		reason byte
	}{
		{"protocol version", &Server{}, func(r *associateRQ) { r.ProtocolVersion = 2 }, rjResultPermanent, rjSourceACSE, rjReasonProtocolVersionNotSupp},
		{"application context", &Server{}, func(r *associateRQ) { r.ApplicationContext = "1.2.3.4" }, rjResultPermanent, rjSourceUser, rjReasonAppContextNotSupported},
		{"called AE", &Server{AETitle: "PACSD", StrictCalledAE: true}, func(r *associateRQ) { r.CalledAETitle = "HUB" }, rjResultPermanent, rjSourceUser, rjReasonCalledAENotRecognized},
		{"accept refuses", &Server{Accept: func(i AssociationInfo) error {
			if i.CallingAETitle != "RAW" || i.RemoteAddr == "" {
				return nil
			}
			return errors.New("unknown site")
		}}, nil, rjResultPermanent, rjSourceUser, rjReasonCallingAENotRecognized},
		{"accept panics", &Server{Accept: func(i AssociationInfo) error {
			if i.CallingAETitle == "RAW" {
				panic("boom")
			}
			return nil
		}}, nil, rjResultTransient, rjSourceUser, rjReasonNoReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _, _ := startServer(t, tt.srv)
			r := dialRaw(t, addr)
			rq := basicRQ()
			if tt.mod != nil {
				tt.mod(rq)
			}
			r.send(rq.appendTo(nil))
			rj, ok := r.read().(*associateRJ)
			if !ok {
				t.Fatal("no A-ASSOCIATE-RJ")
			}
			if *rj != (associateRJ{tt.result, tt.source, tt.reason}) {
				t.Fatalf("got %+v, want %d/%d/%d", *rj, tt.result, tt.source, tt.reason)
			}
			// PS3.8: after A-ASSOCIATE-RJ the requestor closes; we wait for it (Sta13).
			r.conn.Close()
			echoWorks(t, addr)
		})
	}
}

func TestMaxAssociations(t *testing.T) {
	addr, _, _ := startServer(t, &Server{MaxAssociations: 1})
	first, err := Dial(context.Background(), addr, ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Dial(context.Background(), addr, ClientConfig{})
	var rj *RejectError
	if !errors.As(err, &rj) || !rj.Transient() || rj.Source != rjSourcePresentation || rj.Reason != rjReasonLocalLimitExceeded {
		t.Fatalf("second association: %v", err)
	}
	if err := first.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The slot is freed once the first association's goroutine has finished; retry until
	// then (bounded), the limit itself is what is tested above.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := Dial(context.Background(), addr, ClientConfig{})
		if err == nil {
			c.Release(context.Background())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestARTIMWithoutRequest(t *testing.T) {
	addr, _, _ := startServer(t, &Server{ARTIMTimeout: 50 * time.Millisecond})
	r := dialRaw(t, addr)
	// Say nothing: AA-2 closes the connection when ARTIM expires, without a PDU.
	n, err := r.conn.Read(make([]byte, 16))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v; want the server to close", n, err)
	}
}

func TestIdleTimeoutAborts(t *testing.T) {
	addr, _, _ := startServer(t, &Server{IdleTimeout: 50 * time.Millisecond})
	r := dialRaw(t, addr)
	r.associate()
	if ab := r.expectAbort(); ab.Source != abortSourceUser {
		t.Fatalf("abort %+v", ab)
	}
}

// TestUnsupportedCommand: a C-FIND-RQ (with its identifier) gets 0x0211 and the association
// goes on.
func TestUnsupportedCommand(t *testing.T) {
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD"})
	r := dialRaw(t, addr)
	r.associate()
	find := &command{CommandField: cmdCFindRQ, MessageID: 5, AffectedSOPClassUID: "1.2.840.10008.5.1.4.1.2.2.1", HasDataSet: true}
	r.send(pdata(1, true, true, find.encode()))
	r.send(pdata(1, false, false, []byte{8, 0, 0x52, 0}))
	r.send(pdata(1, false, true, []byte{4, 0, 0, 0, 'S', 'T', 'U', 'D'}))
	p, ok := r.read().(*pDataTF)
	if !ok || !p.PDVs[0].Command || !p.PDVs[0].Last {
		t.Fatalf("no response command: %#v", p)
	}
	rsp, err := decodeCommand(p.PDVs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if rsp.CommandField != 0x8020 || rsp.Status != StatusUnrecognizedOperation || rsp.MessageIDBeingRespondedTo != 5 || rsp.HasDataSet {
		t.Fatalf("response %+v", rsp)
	}
	echo := &command{CommandField: cmdCEchoRQ, MessageID: 6, AffectedSOPClassUID: dicom.VerificationSOPClass}
	r.send(pdata(1, true, true, echo.encode()))
	p = r.read().(*pDataTF)
	if rsp, err := decodeCommand(p.PDVs[0].Data); err != nil || rsp.CommandField != cmdCEchoRSP || rsp.Status != 0 || rsp.MessageIDBeingRespondedTo != 6 {
		t.Fatalf("echo after C-FIND: %+v %v", rsp, err)
	}
	r.send((&releaseRQ{}).appendTo(nil))
	if _, ok := r.read().(*releaseRP); !ok {
		t.Fatal("no A-RELEASE-RP")
	}
}

// TestReleaseWhileStoring: a peer that sends A-RELEASE-RQ before reading its C-STORE-RSP
// still gets the response, then the A-RELEASE-RP (PS3.8 Sta8, AR-7).
func TestReleaseWhileStoring(t *testing.T) {
	release := make(chan struct{})
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest, data io.Reader) Status {
		io.Copy(io.Discard, data)
		<-release
		return Status{}
	})
	addr, _, _ := startServer(t, &Server{Store: h})
	r := dialRaw(t, addr)
	r.associate()
	store := &command{CommandField: cmdCStoreRQ, MessageID: 1, AffectedSOPClassUID: scClass, AffectedSOPInstanceUID: "1.2.3", HasDataSet: true}
	r.send(pdata(3, true, true, store.encode()))
	r.send(pdata(3, false, true, []byte{8, 0, 0x18, 0, 0, 0, 0, 0}))
	r.send((&releaseRQ{}).appendTo(nil))
	close(release)
	p, ok := r.read().(*pDataTF)
	if !ok {
		t.Fatal("no C-STORE-RSP")
	}
	if rsp, err := decodeCommand(p.PDVs[0].Data); err != nil || rsp.CommandField != cmdCStoreRSP || rsp.AffectedSOPInstanceUID != "1.2.3" {
		t.Fatalf("response %+v %v", rsp, err)
	}
	if _, ok := r.read().(*releaseRP); !ok {
		t.Fatal("no A-RELEASE-RP after the response")
	}
}

func TestHandlerPanicAndEarlyReturn(t *testing.T) {
	var calls atomic.Int32
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest, data io.Reader) Status {
		switch calls.Add(1) {
		case 1:
			panic("handler bug")
		case 2:
			io.ReadFull(data, make([]byte, 10)) // reads a little and leaves the rest
			return Status{Code: StatusWarningCoercion, ErrorComment: "partial"}
		}
		n, _ := io.Copy(io.Discard, data)
		return Status{ErrorComment: strings.Repeat("x", int(n%2))}
	})
	addr, _, _ := startServer(t, &Server{Store: h, MaxPDULength: 4096})
	c, err := Dial(context.Background(), addr, ClientConfig{Contexts: map[string][]string{scClass: {dicom.ExplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release(context.Background())
	data := bytes.Repeat([]byte{1, 2, 3, 4}, 10000) // many PDUs at 4 KiB
	want := []uint16{StatusProcessingFailure, StatusWarningCoercion, StatusSuccess}
	for i, code := range want {
		st, err := c.Store(context.Background(), scClass, "1.2.3.4", dicom.ExplicitVRLittleEndian, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		if st.Code != code {
			t.Fatalf("store %d: status %v, want 0x%04X", i, st, code)
		}
	}
}

// TestResponseOnlyAfterHandlerReturns: the C-STORE-RSP is the promise that the object is
// durable, so it must not leave before HandleStore returned.
func TestResponseOnlyAfterHandlerReturns(t *testing.T) {
	gotEOF := make(chan struct{})
	release := make(chan struct{})
	var returned atomic.Bool
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest, data io.Reader) Status {
		io.Copy(io.Discard, data)
		close(gotEOF)
		<-release
		returned.Store(true)
		return Status{}
	})
	addr, _, _ := startServer(t, &Server{Store: h})
	c, err := Dial(context.Background(), addr, ClientConfig{Contexts: map[string][]string{scClass: {dicom.ImplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release(context.Background())
	done := make(chan bool, 1)
	go func() {
		st, err := c.Store(context.Background(), scClass, "1.2.3", dicom.ImplicitVRLittleEndian, bytes.NewReader(make([]byte, 1000)))
		done <- err == nil && st.Code == StatusSuccess && returned.Load()
	}()
	<-gotEOF
	select {
	case <-done:
		t.Fatal("C-STORE-RSP arrived while the handler was still running")
	case <-time.After(50 * time.Millisecond): // gives a broken server the chance to answer early
	}
	close(release)
	if ok := <-done; !ok {
		t.Fatal("store failed or answered before the handler returned")
	}
}

// TestShutdownWaitsForDurableStore: the grace period ends while a handler is making an
// object durable; the association is aborted only after its response went out.
func TestShutdownWaitsForDurableStore(t *testing.T) {
	gotEOF := make(chan struct{})
	release := make(chan struct{})
	var handlerCtxErr atomic.Value
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest, data io.Reader) Status {
		io.Copy(io.Discard, data)
		close(gotEOF)
		<-release
		if ctx.Err() != nil {
			handlerCtxErr.Store(ctx.Err())
		}
		return Status{}
	})
	srv := &Server{Store: h}
	addr, _, _ := startServer(t, srv)
	c, err := Dial(context.Background(), addr, ClientConfig{Contexts: map[string][]string{scClass: {dicom.ImplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		st  Status
		err error
	}
	stored := make(chan result, 1)
	go func() {
		st, err := c.Store(context.Background(), scClass, "1.2.3", dicom.ImplicitVRLittleEndian, bytes.NewReader(make([]byte, 5000)))
		stored <- result{st, err}
	}()
	<-gotEOF
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a handler was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	r := <-stored
	if r.err != nil || r.st.Code != StatusSuccess {
		t.Fatalf("store: %v %v", r.st, r.err)
	}
	if err := <-shut; !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v", err)
	}
	if v := handlerCtxErr.Load(); v != nil {
		t.Fatalf("handler context cancelled by Shutdown: %v", v)
	}
	if _, err := c.Echo(context.Background()); err == nil {
		t.Fatal("association survived the shutdown")
	}
	if _, err := Dial(context.Background(), addr, ClientConfig{Timeout: 5 * time.Second}); err == nil {
		t.Fatal("dial after shutdown succeeded")
	}
}

func TestShutdownLetsAssociationsRelease(t *testing.T) {
	srv := &Server{}
	addr, _, _ := startServer(t, srv)
	c, err := Dial(context.Background(), addr, ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	// The association keeps working during the shutdown until its peer releases it.
	if st, err := c.Echo(context.Background()); err != nil || st.Code != StatusSuccess {
		t.Fatalf("echo during shutdown: %v %v", st, err)
	}
	if err := c.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestCloseCancelsHandlers(t *testing.T) {
	started := make(chan struct{})
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest, data io.Reader) Status {
		close(started)
		<-ctx.Done()
		return Status{Code: StatusProcessingFailure}
	})
	srv := &Server{Store: h}
	addr, _, _ := startServer(t, srv)
	c, err := Dial(context.Background(), addr, ClientConfig{Contexts: map[string][]string{scClass: {dicom.ImplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	stored := make(chan error, 1)
	go func() {
		_, err := c.Store(context.Background(), scClass, "1.2.3", dicom.ImplicitVRLittleEndian, bytes.NewReader(make([]byte, 100)))
		stored <- err
	}()
	<-started
	srv.Close() // returns once the handler has returned
	err = <-stored
	var ab *AbortError
	if !errors.As(err, &ab) {
		t.Fatalf("store after Close: %v, want an abort", err)
	}
}

// TestHandlerSeesBrokenAssociation: the SCU gives up in the middle of a data set; the
// handler's reads fail and its context ends.
func TestHandlerSeesBrokenAssociation(t *testing.T) {
	type seen struct {
		readErr error
		ctxErr  error
	}
	got := make(chan seen, 1)
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest, data io.Reader) Status {
		_, err := io.Copy(io.Discard, data)
		<-ctx.Done()
		got <- seen{err, ctx.Err()}
		return Status{}
	})
	addr, _, _ := startServer(t, &Server{Store: h, MaxPDULength: 4096})
	c, err := Dial(context.Background(), addr, ClientConfig{Contexts: map[string][]string{scClass: {dicom.ImplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	failing := io.MultiReader(bytes.NewReader(make([]byte, 20000)), errReader{errors.New("disk error")})
	if _, err := c.Store(context.Background(), scClass, "1.2.3", dicom.ImplicitVRLittleEndian, failing); err == nil || !strings.Contains(err.Error(), "disk error") {
		t.Fatalf("store with a failing reader: %v", err)
	}
	s := <-got
	if s.readErr == nil || s.ctxErr == nil {
		t.Fatalf("handler saw read error %v, context %v", s.readErr, s.ctxErr)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// patternReader yields n deterministic bytes without holding them.
type patternReader struct{ n, off int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	for i := range p {
		p[i] = byte((r.off + int64(i)) * 31 >> 3)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// TestStoreStreamsWithBoundedMemory pushes 64 MiB through Client and Server in-process; the
// bytes allocated must stay far below the data size, i.e. nothing buffers the data set or
// allocates per PDU.
func TestStoreStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large transfer")
	}
	const size = 64 << 20
	sum := make(chan [32]byte, 1)
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest, data io.Reader) Status {
		hh := sha256.New()
		buf := make([]byte, 64<<10)
		io.CopyBuffer(hh, data, buf)
		sum <- [32]byte(hh.Sum(nil))
		return Status{}
	})
	addr, _, _ := startServer(t, &Server{Store: h, Logger: discardLogger()})
	c, err := Dial(context.Background(), addr, ClientConfig{Contexts: map[string][]string{scClass: {dicom.ExplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release(context.Background())
	wantH := sha256.New()
	io.Copy(wantH, &patternReader{n: size})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st, err := c.Store(context.Background(), scClass, "1.2.3", dicom.ExplicitVRLittleEndian, &patternReader{n: size})
	runtime.ReadMemStats(&after)
	if err != nil || st.Code != StatusSuccess {
		t.Fatalf("store: %v %v", st, err)
	}
	if got := <-sum; got != [32]byte(wantH.Sum(nil)) {
		t.Fatal("data set changed on the way")
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes moving %d", alloc, size)
	if alloc > size/8 {
		t.Fatal("the data set was buffered or copied per PDU")
	}
}

// BenchmarkStoreLoopback measures C-STORE throughput through Client and Server in-process.
func BenchmarkStoreLoopback(b *testing.B) {
	const size = 8 << 20
	h := StoreHandlerFunc(func(ctx context.Context, req *StoreRequest, data io.Reader) Status {
		io.Copy(io.Discard, data)
		return Status{}
	})
	srv := &Server{Store: h, Logger: discardLogger()}
	addr, _, _ := startServer(b, srv)
	c, err := Dial(context.Background(), addr, ClientConfig{Contexts: map[string][]string{scClass: {dicom.ExplicitVRLittleEndian}}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Release(context.Background())
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		st, err := c.Store(context.Background(), scClass, "1.2.3", dicom.ExplicitVRLittleEndian, &patternReader{n: size})
		if err != nil || st.Code != 0 {
			b.Fatal(st, err)
		}
	}
}
