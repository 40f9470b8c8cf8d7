package hl7

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

const ormChinese = "MSH|^~\\&|HIS|XIANYIYUAN|PACS|RAD|20240501083000||ORM^O01|MSG0001|P|2.5||||||UNICODE UTF-8\r" +
	"PID|1||P12345^^^HIS||ZHANG^SAN^^^^^L^A~张^三^^^^^L^I||19800102|M\r" +
	"PV1|1|O|放射科^^^乡镇卫生院\r" +
	"ORC|NW|PL-1|FL-1||SC||^^^20240501093000^^S\r" +
	"OBR|1|PL-1|FL-1|DX001^胸部正位片||||||||||||^李^医生||ACC001|RP1||DR1|||DX|||||||^咳嗽两周\r"

type fakeSink struct {
	mu     sync.Mutex
	orders []Order
	fail   error
}

func (f *fakeSink) PutOrder(_ context.Context, o Order) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.orders = append(f.orders, o)
	return nil
}

func (f *fakeSink) CancelOrder(_ context.Context, o Order) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.orders {
		if p.PlacerOrder == o.PlacerOrder {
			f.orders = append(f.orders[:i], f.orders[i+1:]...)
			return nil
		}
	}
	return ErrUnknownOrder
}

type fakeRejects struct {
	mu   sync.Mutex
	kept []Rejected
}

func (f *fakeRejects) KeepRejected(_ context.Context, r Rejected) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kept = append(f.kept, r)
	return nil
}

func TestParseEscapes(t *testing.T) {
	raw := "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|X1|P|2.5\rOBX|1|FT|C^D||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\g\\X41\\h||\r"
	m, err := Parse([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Seg("OBX").Value(5, 1), "a|b^c&d~e\\f\ngAh"; got != want {
		t.Errorf("OBX-5 = %q, want %q", got, want)
	}
	if m.Type() != "ORU^R01" || m.ControlID() != "X1" {
		t.Errorf("type %q control %q", m.Type(), m.ControlID())
	}
	// Round trip through the builder.
	var b Builder
	b.Add("MSH", "A", "", "", "", "", "", C{"ORU", "R01"}, "X2", "P", "2.5")
	text := "x|y^z&w~v\\u\n第二行"
	b.Add("OBX", "1", "TX", C{"a", "b"}, "", text)
	m2, err := Parse([]byte(b.String()), UTF8)
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.Seg("OBX").Value(5, 1); got != text {
		t.Errorf("round trip = %q, want %q", got, text)
	}
	// Other delimiters (MSH-1, MSH-2).
	m3, err := Parse([]byte("MSH#*!@%#A#B\rPID#1##ID1*x*y*z!ID2##WANG*WU\r"), UTF8)
	if err != nil {
		t.Fatal(err)
	}
	if got := m3.Seg("PID").Get(3, 2, 1, 1); got != "ID2" {
		t.Errorf("PID-3 rep 2 = %q", got)
	}
	if got := m3.Seg("PID").Value(5, 2); got != "WU" {
		t.Errorf("PID-5.2 = %q", got)
	}
}

func TestParseOrderChinese(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		def  Charset
	}{
		{"utf-8", []byte(ormChinese), ""},
		{"gb18030 by MSH-18", gb(t, strings.Replace(ormChinese, "UNICODE UTF-8", "GB 18030-2000", 1)), ""},
		{"gb18030 configured", gb(t, strings.Replace(ormChinese, "UNICODE UTF-8", "", 1)), GB18030},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.raw, tc.def)
			if err != nil {
				t.Fatal(err)
			}
			orders, rj := ParseOrders(m)
			if rj != nil {
				t.Fatal(rj)
			}
			if len(orders) != 1 {
				t.Fatalf("%d orders", len(orders))
			}
			o := orders[0]
			want := Order{Control: "NW", PlacerOrder: "PL-1", FillerOrder: "FL-1", Accession: "ACC001", RequestedProcedureID: "RP1",
				PatientID: "P12345", PatientIDIssuer: "HIS", PatientName: "ZHANG^SAN=张^三", PatientSex: "M", BirthDate: "19800102",
				ProcedureCode: "DX001", ProcedureText: "胸部正位片", Modality: "DX", StationAE: "DR1", Location: "放射科",
				ScheduledAt: time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC), ReferringPhysician: "李^医生", Urgent: true,
				Reason: "咳嗽两周", ControlID: "MSG0001"}
			if o != want {
				t.Errorf("order\n got %+v\nwant %+v", o, want)
			}
		})
	}
}

func gb(t *testing.T, s string) []byte {
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReceiverRefusals(t *testing.T) {
	long := strings.Repeat("9", 20)
	for _, tc := range []struct {
		name, raw, ack, reason string
	}{
		{"not hl7", "hello world", "AR", "MSH"},
		{"bad delimiters", "MSH|^^\\&|A\r", "AR", "delimiters"},
		{"bad charset", "MSH|^~\\&|HIS||||||ORM^O01|C1|P|2.5||||||KOI8-R\rPID|1||1||X\r", "AR", "character set"},
		{"bad utf-8", "MSH|^~\\&|HIS||||||ORM^O01|C1|P|2.5\rPID|1||1||\xff\xfe\r", "AR", "UTF-8"},
		{"unsupported type", "MSH|^~\\&|HIS||||||ADT^A01|C2|P|2.5\rPID|1||1||X\r", "AR", "unsupported message type ADT"},
		{"no control id", "MSH|^~\\&|HIS||||||ORM^O01||P|2.5\r", "AR", "MSH-10"},
		{"no PID", "MSH|^~\\&|HIS||||||ORM^O01|C3|P|2.5\rORC|NW|1\r", "AR", "PID"},
		{"no patient id", "MSH|^~\\&|HIS||||||ORM^O01|C4|P|2.5\rPID|1||||王^五\rORC|NW|1\r", "AE", "PID-3"},
		{"no name", "MSH|^~\\&|HIS||||||ORM^O01|C4|P|2.5\rPID|1||9\rORC|NW|1\r", "AE", "PID-5"},
		{"bad birth date", "MSH|^~\\&|HIS||||||ORM^O01|C5|P|2.5\rPID|1||9||王^五||1980AB01\rORC|NW|1\r", "AE", "PID-7"},
		{"no ORC", "MSH|^~\\&|HIS||||||ORM^O01|C6|P|2.5\rPID|1||9||王^五\r", "AR", "ORC"},
		{"bad control", "MSH|^~\\&|HIS||||||ORM^O01|C7|P|2.5\rPID|1||9||王^五\rORC|ZZ|1\r", "AR", "order control"},
		{"no order number", "MSH|^~\\&|HIS||||||ORM^O01|C8|P|2.5\rPID|1||9||王^五\rORC|NW\r", "AE", "order number"},
		{"long accession", "MSH|^~\\&|HIS||||||ORM^O01|C9|P|2.5\rPID|1||9||王^五\rORC|NW|1\rOBR|1" + strings.Repeat("|", 17) + long + "\r", "AE", "accession"},
		{"unknown cancel", "MSH|^~\\&|HIS||||||ORM^O01|C10|P|2.5\rPID|1||9||王^五\rORC|CA|NOPE\r", "AE", "unknown order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept := &fakeRejects{}
			h := &Receiver{Orders: &fakeSink{}, Rejects: kept}
			ack := h.ServeHL7(context.Background(), "127.0.0.1:1", []byte(tc.raw))
			code, text, err := AckCode(ack, UTF8)
			if err != nil {
				t.Fatalf("ack %q: %v", ack, err)
			}
			if code != tc.ack || !strings.Contains(text, tc.reason) {
				t.Errorf("ack %s %q, want %s with %q", code, text, tc.ack, tc.reason)
			}
			m, _ := Parse(ack, UTF8)
			if m.Seg("ERR").Value(3, 1) == "" {
				t.Errorf("no ERR-3 in %q", ack)
			}
			if len(kept.kept) != 1 || !bytes.Equal(kept.kept[0].Raw, []byte(tc.raw)) || kept.kept[0].Code != tc.ack || kept.kept[0].Reason == "" {
				t.Errorf("kept %+v", kept.kept)
			}
		})
	}
}

func TestReceiverAcceptAndCancel(t *testing.T) {
	sink, kept := &fakeSink{}, &fakeRejects{}
	h := &Receiver{Orders: sink, Rejects: kept}
	raw := gb(t, strings.Replace(ormChinese, "UNICODE UTF-8", "GB 18030-2000", 1))
	ack := h.ServeHL7(context.Background(), "x", raw)
	// The acknowledgement is in the message's character set, and names it.
	code, _, err := AckCode(ack, UTF8)
	if err != nil || code != AckAccept {
		t.Fatalf("ack %q %v", ack, err)
	}
	m, _ := Parse(ack, "")
	if m.Charset != GB18030 || m.Seg("MSA").Value(2, 1) != "MSG0001" || m.Type() != "ACK^O01" {
		t.Errorf("ack %q", ack)
	}
	if len(sink.orders) != 1 || sink.orders[0].PatientName != "ZHANG^SAN=张^三" {
		t.Fatalf("orders %+v", sink.orders)
	}
	cancel := strings.Replace(strings.Replace(ormChinese, "ORC|NW|", "ORC|CA|", 1), "MSG0001", "MSG0002", 1)
	if code, text, _ := AckCode(h.ServeHL7(context.Background(), "x", []byte(cancel)), UTF8); code != AckAccept {
		t.Fatalf("cancel: %s %s", code, text)
	}
	if len(sink.orders) != 0 || len(kept.kept) != 0 {
		t.Errorf("after cancel: orders %+v kept %+v", sink.orders, kept.kept)
	}
	// A sink failure is AE (the sender retries) and the message is kept.
	sink.fail = errors.New("disk full")
	if code, _, _ := AckCode(h.ServeHL7(context.Background(), "x", []byte(ormChinese)), UTF8); code != AckError || len(kept.kept) != 1 {
		t.Errorf("failing sink: %s, kept %d", code, len(kept.kept))
	}
}

func TestOMI(t *testing.T) {
	raw := "MSH|^~\\&|HIS||||||OMI^O23^OMI_O23|M9|P|2.5\rPID|1||77||刘^洋||20010203|F\rORC|NW|P9\rTQ1|1||||||202406011400\rOBR|1|P9||US01^腹部超声\rIPC|A9|R9|1.2.3.4|S9|US||||US_ROOM1\r"
	m, err := Parse([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	o, rj := ParseOrders(m)
	if rj != nil {
		t.Fatal(rj)
	}
	if o[0].Accession != "A9" || o[0].StudyUID != "1.2.3.4" || o[0].Modality != "US" || o[0].StationAE != "US_ROOM1" ||
		!o[0].ScheduledAt.Equal(time.Date(2024, 6, 1, 14, 0, 0, 0, time.UTC)) || o[0].PatientName != "刘^洋" {
		t.Errorf("%+v", o[0])
	}
}

func TestORURoundTrip(t *testing.T) {
	r := Report{StudyUID: "1.2.3", Accession: "ACC001", PatientID: "P1", PatientName: "ZHANG^SAN=张^三", PatientSex: "M",
		Version: 2, Status: "amended", Findings: "双肺纹理清晰。\n心影不大|无^异常", Impression: "胸部未见异常", Signer: "王医生",
		SignedAt: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), Modality: "DX"}
	for _, cs := range []Charset{UTF8, GB18030} {
		text := BuildORU(r, "C1", "PACSD", "县医院", cs, time.FixedZone("CST", 8*3600), r.SignedAt)
		raw, err := EncodeText(text, cs)
		if err != nil {
			t.Fatal(err)
		}
		if cs == GB18030 && bytes.Contains(raw, []byte("双")) {
			t.Error("GB 18030 message holds UTF-8")
		}
		m, err := Parse(raw, "")
		if err != nil {
			t.Fatal(err)
		}
		if m.Charset != cs || m.Type() != "ORU^R01" {
			t.Errorf("%s: %s %s", cs, m.Charset, m.Type())
		}
		var findings, impression []string
		for _, s := range m.Segments {
			if s.Name() == "OBX" && s.Value(3, 1) == "59776-5" {
				findings = append(findings, s.Value(5, 1))
			}
			if s.Name() == "OBX" && s.Value(3, 1) == "19005-8" {
				impression = append(impression, s.Value(5, 1))
			}
		}
		if got := strings.Join(findings, "\n"); got != r.Findings {
			t.Errorf("%s findings %q", cs, got)
		}
		if got := strings.Join(impression, "\n"); got != r.Impression {
			t.Errorf("%s impression %q", cs, got)
		}
		obr := m.Seg("OBR")
		if obr.Value(18, 1) != "ACC001" || obr.Value(25, 1) != "C" || obr.Value(32, 2) != "王医生" || obr.Value(22, 1) != "20240501180000+0800" {
			t.Errorf("OBR %q", obr.Fields)
		}
		if got := xpnToPN(m.Seg("PID"), 5); got != r.PatientName {
			t.Errorf("PID-5 %q", got)
		}
	}
}

func TestReadFrame(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  error
	}{
		{"\x0bMSH|x\x1c\r", "MSH|x", nil},
		{"\r\n\x0bA\x1c\r", "A", nil},
		{"", "", io.EOF},
		{"X\x0bA\x1c\r", "", ErrFraming},
		{"\x0bA\x1cX", "", ErrFraming},
		{"\x0bAB", "", io.ErrUnexpectedEOF},
		{"\x0b" + strings.Repeat("A", 11) + "\x1c\r", "", ErrTooLarge},
	} {
		got, err := ReadFrame(bufio.NewReader(strings.NewReader(tc.in)), 10)
		if (tc.err == nil) != (err == nil) || tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%q: err %v, want %v", tc.in, err, tc.err)
		}
		if tc.err == nil && string(got) != tc.want {
			t.Errorf("%q: %q", tc.in, got)
		}
		if errors.Is(tc.err, ErrTooLarge) && len(got) != 10 {
			t.Errorf("too large: head of %d bytes", len(got))
		}
	}
}

// startServer runs an MLLP server on loopback until the test ends.
func startServer(t *testing.T, h Handler, max int) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, MaxMessage: max, IdleTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestServerOverMLLP(t *testing.T) {
	sink, kept := &fakeSink{}, &fakeRejects{}
	addr := startServer(t, &Receiver{Orders: sink, Rejects: kept}, 4096)
	c := Client{Addr: addr, Timeout: 10 * time.Second}
	ack, err := c.Send(context.Background(), []byte(ormChinese))
	if err != nil {
		t.Fatal(err)
	}
	if code, text, _ := AckCode(ack, UTF8); code != AckAccept {
		t.Fatalf("%s %s", code, text)
	}
	if len(sink.orders) != 1 {
		t.Fatalf("orders %+v", sink.orders)
	}
	// Over the bound: AR, kept (its head), and the connection closed.
	big := []byte("MSH|^~\\&|HIS||||||ORM^O01|BIG1|P|2.5\rNTE|1||" + strings.Repeat("长", 3000) + "\r")
	ack, err = c.Send(context.Background(), big)
	if err != nil {
		t.Fatal(err)
	}
	if code, text, _ := AckCode(ack, UTF8); code != AckReject || !strings.Contains(text, "size bound") {
		t.Errorf("oversize: %s %s", code, text)
	}
	kept.mu.Lock()
	defer kept.mu.Unlock()
	if len(kept.kept) != 1 || kept.kept[0].ControlID != "BIG1" || len(kept.kept[0].Raw) != 4096 {
		t.Errorf("kept %+v", kept.kept)
	}
}

// memOutbox is an Outbox in memory.
type memOutbox struct {
	mu   sync.Mutex
	msgs []Outbound
	sent chan Outbound
}

func (o *memOutbox) EnqueueOutbound(_ context.Context, ms []Outbound) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range ms {
		m.ID = int64(len(o.msgs) + 1)
		o.msgs = append(o.msgs, m)
	}
	return nil
}

func (o *memOutbox) DueOutbound(_ context.Context, now time.Time, limit int) ([]Outbound, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Outbound
	for _, m := range o.msgs {
		if m.SentAt.IsZero() && !m.NextAt.After(now) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (o *memOutbox) MarkOutbound(_ context.Context, m Outbound) error {
	o.mu.Lock()
	o.msgs[m.ID-1] = m
	o.mu.Unlock()
	if !m.SentAt.IsZero() {
		o.sent <- m
	}
	return nil
}

// ackOnce answers AE to the first message and AA to the rest.
type ackOnce struct {
	mu   sync.Mutex
	n    int
	msgs chan *Message
}

func (a *ackOnce) ServeHL7(_ context.Context, _ string, raw []byte) []byte {
	a.mu.Lock()
	a.n++
	n := a.n
	a.mu.Unlock()
	m, err := Parse(raw, "")
	if err != nil {
		return nil
	}
	code := AckAccept
	if n == 1 {
		code = AckError
	}
	a.msgs <- m
	var b Builder
	b.Add("MSH", "HIS", "", "", "", "", "", C{"ACK", "R01"}, "A1", "P", "2.5")
	b.Add("MSA", code, m.ControlID(), "busy")
	return []byte(b.String())
}

func (a *ackOnce) Oversize(context.Context, string, []byte) []byte { return nil }

func TestSenderRetries(t *testing.T) {
	his := &ackOnce{msgs: make(chan *Message, 4)}
	addr := startServer(t, his, 0)
	box := &memOutbox{sent: make(chan Outbound, 1)}
	s := &Sender{Outbox: box, MLLPAddr: addr, Charset: GB18030, Poll: 20 * time.Millisecond, MinBackoff: time.Millisecond,
		Timeout: 10 * time.Second}
	s.Start(context.Background())
	defer s.Stop()
	r := Report{StudyUID: "1.2", Accession: "A1", PatientID: "P", PatientName: "张^三", Version: 1, Status: "final",
		Findings: "正常", Impression: "未见异常", Signer: "王医生", SignedAt: time.Now()}
	if err := s.Enqueue(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	var sent Outbound
	select {
	case sent = <-box.sent:
	case <-time.After(30 * time.Second):
		t.Fatal("not sent")
	}
	if sent.Attempts != 2 {
		t.Errorf("attempts %d, want 2 (AE then AA)", sent.Attempts)
	}
	m1, m2 := <-his.msgs, <-his.msgs
	if m1.ControlID() != m2.ControlID() || m2.Charset != GB18030 || xpnToPN(m2.Seg("PID"), 5) != "张^三" {
		t.Errorf("retry %q %q %s", m1.ControlID(), m2.ControlID(), m2.Charset)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(ormChinese), false)
	f.Add([]byte("MSH#*!@%#A\rPID#1##a*b!c\\X41\\\r"), true)
	f.Add([]byte("MSH|^~\\&|||||||ORM^O01|1|P|2.5||||||GB18030\rPID|\xd5\xc5\r"), true)
	f.Fuzz(func(t *testing.T, raw []byte, gbDefault bool) {
		def := UTF8
		if gbDefault {
			def = GB18030
		}
		h := &Receiver{Orders: &fakeSink{}, Rejects: &fakeRejects{}, Charset: def}
		ack := h.ServeHL7(context.Background(), "f", raw)
		if len(ack) == 0 {
			t.Fatal("no acknowledgement")
		}
		if code, _, err := AckCode(ack, def); err != nil || (code != AckAccept && code != AckError && code != AckReject) {
			t.Fatalf("ack %q: %s %v", ack, code, err)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("\x0bMSH|x\x1c\r\x0bB\x1c\r"))
	f.Add([]byte("\r\n\x0b\x1c"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(in), 16)
		for range 100 {
			b, err := ReadFrame(r, 64)
			if len(b) > 64 {
				t.Fatalf("%d bytes past the bound", len(b))
			}
			if err != nil {
				return
			}
		}
	})
}
