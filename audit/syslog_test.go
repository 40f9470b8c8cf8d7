package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"pacsd/audit"
)

// atnaMsg is what a collector reads of a DICOM audit message (PS3.15 A.5.1).
type atnaMsg struct {
	XMLName xml.Name `xml:"AuditMessage"`
	Event   struct {
		Action  string `xml:"EventActionCode,attr"`
		Time    string `xml:"EventDateTime,attr"`
		Outcome int    `xml:"EventOutcomeIndicator,attr"`
		ID      struct {
			Code   string `xml:"csd-code,attr"`
			System string `xml:"codeSystemName,attr"`
			Text   string `xml:"originalText,attr"`
		} `xml:"EventID"`
		Types []struct {
			Code string `xml:"csd-code,attr"`
		} `xml:"EventTypeCode"`
		Description string `xml:"EventOutcomeDescription"`
	} `xml:"EventIdentification"`
	Actors []struct {
		UserID      string `xml:"UserID,attr"`
		AltUserID   string `xml:"AlternativeUserID,attr"`
		Requestor   bool   `xml:"UserIsRequestor,attr"`
		AccessPoint string `xml:"NetworkAccessPointID,attr"`
		AccessType  string `xml:"NetworkAccessPointTypeCode,attr"`
	} `xml:"ActiveParticipant"`
	Source struct {
		ID string `xml:"AuditSourceID,attr"`
	} `xml:"AuditSourceIdentification"`
	Objects []struct {
		ID     string `xml:"ParticipantObjectID,attr"`
		Type   int    `xml:"ParticipantObjectTypeCode,attr"`
		Role   int    `xml:"ParticipantObjectTypeCodeRole,attr"`
		IDType struct {
			Code string `xml:"csd-code,attr"`
		} `xml:"ParticipantObjectIDTypeCode"`
		Name    string `xml:"ParticipantObjectName"`
		Query   string `xml:"ParticipantObjectQuery"`
		Details []struct {
			Type  string `xml:"type,attr"`
			Value string `xml:"value,attr"`
		} `xml:"ParticipantObjectDetail"`
	} `xml:"ParticipantObjectIdentification"`
}

// parseSyslog checks an RFC 5424 message's header and returns its DICOM audit message.
func parseSyslog(t *testing.T, msg string) atnaMsg {
	t.Helper()
	// <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
	f := strings.SplitN(msg, " ", 8)
	if len(f) != 8 {
		t.Fatalf("not an RFC 5424 message: %.80q", msg)
	}
	if f[0] != "<85>1" || f[3] != "pacsd" || f[5] != "IHE+RFC-3881" || f[6] != "-" {
		t.Errorf("header %q", f[:7])
	}
	if _, err := time.Parse(time.RFC3339Nano, f[1]); err != nil {
		t.Errorf("timestamp %q: %v", f[1], err)
	}
	if f[2] != "hub-1" {
		t.Errorf("hostname %q", f[2])
	}
	body, ok := strings.CutPrefix(f[7], "\uFEFF")
	if !ok {
		t.Errorf("MSG does not start with the BOM: %.20q", f[7])
	}
	var m atnaMsg
	if err := xml.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("audit message XML: %v\n%s", err, body)
	}
	return m
}

// readFrame reads one RFC 6587 octet-counted frame.
func readFrame(r *bufio.Reader) (string, error) {
	n, err := r.ReadString(' ')
	if err != nil {
		return "", err
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
	if err != nil || size <= 0 || size > 1<<16 {
		return "", errors.New("bad frame length " + n)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

func newSyslog(t *testing.T, network, addr string, queue int) *audit.Syslog {
	t.Helper()
	s, err := audit.NewSyslog(audit.SyslogConfig{Network: network, Address: addr, Queue: queue,
		Source: audit.Source{ID: "hub-1", SiteID: "县医院", AETitle: "PACSD"}, Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var viewEvent = audit.Event{Time: time.Date(2026, 3, 2, 1, 2, 3, 456789000, time.UTC),
	Actor: audit.User(7, "li.na", "10.0.0.7"), Action: audit.ActionImageView, PatientID: "P0001",
	PatientName: "Zhang^Wei=张^伟", StudyUID: "1.2.840.99", Object: "1.2.840.99.1.1", Outcome: audit.OutcomeSuccess}

// TestSyslogTCP: events recorded go to a TCP collector as octet-counted RFC 5424 messages
// carrying the DICOM audit message with the user, the address, the patient and the study;
// when the collector drops the connection, the forwarder reconnects.
func TestSyslogTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := newSyslog(t, "tcp", ln.Addr().String(), 100)
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	rec := audit.New(openStore(t), audit.Config{Sinks: []audit.Sink{s}})
	go rec.Run()

	rec.Record(context.Background(), viewEvent)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	msg, err := readFrame(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	m := parseSyslog(t, msg)
	if m.Event.ID.Code != "110103" || m.Event.ID.System != "DCM" || m.Event.Action != "R" || m.Event.Outcome != 0 {
		t.Errorf("event identification %+v", m.Event)
	}
	if !strings.HasPrefix(m.Event.Time, "2026-03-02T01:02:03.456789") {
		t.Errorf("event time %q", m.Event.Time)
	}
	if len(m.Actors) != 2 || m.Actors[0].UserID != "li.na" || !m.Actors[0].Requestor || m.Actors[0].AccessPoint != "10.0.0.7" ||
		m.Actors[0].AccessType != "2" || m.Actors[1].UserID != "hub-1" || m.Actors[1].AltUserID != "AETITLES=PACSD" || m.Actors[1].Requestor {
		t.Errorf("active participants %+v", m.Actors)
	}
	if m.Source.ID != "hub-1" {
		t.Errorf("audit source %+v", m.Source)
	}
	if len(m.Objects) != 2 {
		t.Fatalf("participant objects %+v", m.Objects)
	}
	if p := m.Objects[0]; p.ID != "P0001" || p.Name != "Zhang^Wei=张^伟" || p.Type != 1 || p.Role != 1 || p.IDType.Code != "2" {
		t.Errorf("patient %+v", p)
	}
	st := m.Objects[1]
	if st.ID != "1.2.840.99" || st.Type != 2 || st.Role != 3 || st.IDType.Code != "110180" || len(st.Details) != 1 {
		t.Fatalf("study %+v", st)
	}
	if v, _ := base64.StdEncoding.DecodeString(st.Details[0].Value); string(v) != "1.2.840.99.1.1" {
		t.Errorf("study detail %q", v)
	}

	// The collector restarts: the forwarder reconnects, and later events arrive.
	c.Close()
	got := make(chan string, 1)
	go func() {
		c2, err := ln.Accept()
		if err != nil {
			return
		}
		defer c2.Close()
		c2.SetDeadline(time.Now().Add(30 * time.Second))
		if msg, err := readFrame(bufio.NewReader(c2)); err == nil {
			got <- msg
		}
	}()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	failed := audit.Event{Actor: audit.Anonymous("admin", "203.0.113.9"), Action: audit.ActionLogin,
		Outcome: audit.OutcomeFailure, Detail: "密码错误"}
	rec.Record(context.Background(), failed)
wait:
	for {
		select {
		case msg := <-got:
			m := parseSyslog(t, msg)
			if m.Event.ID.Code != "110114" || m.Event.Outcome != 4 || m.Event.Description != "密码错误" ||
				len(m.Event.Types) != 1 || m.Event.Types[0].Code != "110122" || m.Actors[0].AccessPoint != "203.0.113.9" {
				t.Errorf("failed login message %+v", m)
			}
			break wait
		case <-tick.C:
			// A write into the connection the collector closed may be lost with it (TCP
			// tells the writer only later); keep recording until one arrives.
			rec.Record(context.Background(), failed)
		case <-deadline:
			t.Fatal("no message after the collector came back")
		}
	}
	rec.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Run: %v", err)
	}
	if st := s.Stats(); st.Sent < 2 || st.Failures == 0 {
		t.Errorf("stats %+v: want 2 sent or more, and the reconnect's failure counted", st)
	}
}

// TestSyslogUDP: one message per datagram, no length prefix; a query carries its text.
func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := newSyslog(t, "udp", pc.LocalAddr().String(), 100)
	go s.Run()
	defer s.Close()
	s.Send(audit.Event{Time: time.Now(), Actor: audit.AE("TOWN_A_WS", "192.168.3.4"), Action: audit.ActionQuery,
		Object: "PatientName=张*", Outcome: audit.OutcomeSuccess})
	pc.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	m := parseSyslog(t, string(buf[:n]))
	if m.Event.ID.Code != "110112" || m.Actors[0].UserID != "TOWN_A_WS" || m.Actors[0].AltUserID != "AETITLES=TOWN_A_WS" {
		t.Errorf("query message %+v", m)
	}
	if len(m.Objects) != 1 || m.Objects[0].Role != 24 {
		t.Fatalf("objects %+v", m.Objects)
	}
	if q, _ := base64.StdEncoding.DecodeString(m.Objects[0].Query); string(q) != "PatientName=张*" {
		t.Errorf("query %q", q)
	}
}

// TestSyslogDown: with the collector down, Send never blocks: what the queue cannot hold
// is counted as dropped, and recording goes on with every event in the store.
func TestSyslogDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	s := newSyslog(t, "tcp", addr, 3)
	for range 5 {
		s.Send(viewEvent) // Run not started: the queue fills
	}
	if st := s.Stats(); st.Dropped != 2 || st.Queued != 3 {
		t.Errorf("stats %+v, want 2 dropped, 3 queued", st)
	}
	st := openStore(t)
	rec := audit.New(st, audit.Config{Sinks: []audit.Sink{s}})
	go rec.Run()
	go s.Run()
	for range 50 {
		rec.Record(context.Background(), viewEvent)
	}
	rec.Close()
	s.Close()
	p, err := st.Search(context.Background(), audit.Filter{})
	n := 0 // the 50 are identical: folded into fewer rows, each counted
	for _, e := range p.Events {
		n += e.Count
	}
	if err != nil || n != 50 {
		t.Errorf("store has %d events, %v; want 50", n, err)
	}
	if ss := s.Stats(); ss.Sent != 0 || ss.Dropped != 55 || ss.Queued != 0 {
		t.Errorf("stats %+v, want all 55 dropped", ss)
	}
}

// TestATNAEveryAction: every action has its DICOM audit message, and it parses.
func TestATNAEveryAction(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range audit.Actions {
		if !a.Valid() || a.Label() == string(a) {
			t.Errorf("action %q has no Chinese label", a)
		}
		e := viewEvent
		e.Action = a
		b, err := audit.ATNAMessage(e, audit.Source{ID: "hub-1"})
		if err != nil {
			t.Fatal(err)
		}
		var m atnaMsg
		if err := xml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if m.Event.ID.Code == "" || m.Event.ID.Code == "110100" {
			t.Errorf("%s: event ID %q", a, m.Event.ID.Code)
		}
		if !bytes.Contains(b, []byte(`ParticipantObjectID="P0001"`)) {
			t.Errorf("%s: no patient", a)
		}
		seen[m.Event.ID.Code] = true
	}
	if len(seen) != 9 {
		t.Errorf("%d distinct DICOM event IDs, want 9: %v", len(seen), seen)
	}
}
