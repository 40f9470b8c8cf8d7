package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pacsd/hl7"
	"pacsd/reading"
	"pacsd/store/sqlite"
)

// hisListener is the HIS's MLLP listener for reports, on loopback: it answers AA and hands
// each message over.
func hisListener(t *testing.T) (string, <-chan []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(time.Minute))
			raw, err := hl7.ReadFrame(bufio.NewReader(c), 1<<20)
			if err == nil {
				m, perr := hl7.Parse(raw, "")
				ctl := ""
				if perr == nil {
					ctl = m.ControlID()
				}
				hl7.WriteFrame(c, []byte("MSH|^~\\&|HIS|||||||ACK^R01^ACK|A1|P|2.5\rMSA|AA|"+ctl+"\r"))
				select {
				case got <- raw:
				default:
				}
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), got
}

// sendHL7 sends one message to pacsd and returns MSA-1 and the reason.
func sendHL7(t *testing.T, addr string, msg []byte, cs hl7.Charset) (string, string) {
	t.Helper()
	c := hl7.Client{Addr: addr, Timeout: 30 * time.Second}
	ack, err := c.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	code, text, err := hl7.AckCode(ack, cs)
	if err != nil {
		t.Fatalf("acknowledgement %q: %v", ack, err)
	}
	return code, text
}

// TestHL7E2E: an ORM^O01 with a Chinese name (in GB 18030, as the HIS is configured) sent
// over MLLP to the real binary is acknowledged AA and becomes a scheduled procedure; a
// report signed in the reading room goes out as an ORU^R01 to the HIS's MLLP listener
// (started here, loopback) with the Chinese text intact; a malformed message and an order
// for an unknown station are answered AR and AE with the reason, and kept for the
// administrator.
func TestHL7E2E(t *testing.T) {
	dir := t.TempDir()
	peers := filepath.Join(dir, "peers.json")
	if err := os.WriteFile(peers, []byte(`[{"aeTitle": "DR1", "mayStore": true}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	reportAddr, oru := hisListener(t)
	hl7Addr := "127.0.0.1:" + freePort(t)
	n := startPacsd(t, filepath.Join(dir, "data"), "--peers-file", peers, "--hl7-addr", hl7Addr,
		"--hl7-charset", "GB18030", "--hl7-report-addr", reportAddr)
	waitTCP(t, hl7Addr)

	orm := "MSH|^~\\&|HIS|县医院|PACSD|RAD|20260301083000||ORM^O01|MSG0001|P|2.5\r" +
		"PID|1||P20260301^^^HIS||ZHANG^SAN^^^^^L^A~张^三^^^^^L^I||19800102|M\r" +
		"ORC|NW|PL-1|FL-1||SC||^^^20260301093000\r" +
		"OBR|1|PL-1|FL-1|DX001^胸部正位片||||||||||||^李^医生||ACC-HL7-1|||DR1|||DX\r"
	raw, err := hl7.EncodeText(orm, hl7.GB18030) // MSH-18 empty: the configured GB 18030
	if err != nil {
		t.Fatal(err)
	}
	if code, text := sendHL7(t, hl7Addr, raw, hl7.GB18030); code != hl7.AckAccept {
		t.Fatalf("ORM: %s %s", code, text)
	}
	bad := []byte("MSH|^~\\&|HIS||||||ORM^O01|MSG0002|P|2.5||||||UNICODE UTF-8\rPID|1||9||王^五\rORC|NW|PL-2\rOBR|1|PL-2||X^胸片||||||||||||||ACC2|||NOSUCHAE|||DX\r")
	if code, text := sendHL7(t, hl7Addr, bad, hl7.UTF8); code != hl7.AckError || !strings.Contains(text, "stationAE") {
		t.Errorf("order for an unknown station: %s %q", code, text)
	}
	if code, text := sendHL7(t, hl7Addr, []byte("MSH|^~\\&|HIS||||||ADT^A01|MSG0003|P|2.5\rPID|1||9||王^五\r"), hl7.UTF8); code != hl7.AckReject || !strings.Contains(text, "ADT") {
		t.Errorf("ADT: %s %q", code, text)
	}

	// A study arrives and is signed in the reading room.
	file := testdataFiles(t)[0]
	n.stow(t, file)
	study, _, _ := parseHeaderUIDs(t, file)
	admin := newAdminBrowser(t, n)
	csrf := csrfField.FindStringSubmatch(admin.page("/account/password"))
	if csrf == nil {
		t.Fatal("no CSRF token")
	}
	findings, impression := "双肺纹理清晰，心影不大。\n膈面光整|无^异常", "胸部正位片未见明显异常。"
	body, _ := json.Marshal(map[string]any{"version": 1, "findings": findings, "impression": impression})
	req, _ := http.NewRequest(http.MethodPost, n.baseURL+"/api/studies/"+study+"/report/sign", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf[1])
	resp, err := admin.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign: %d %s", resp.StatusCode, b)
	}
	var msg []byte
	select {
	case msg = <-oru:
	case <-time.After(60 * time.Second):
		t.Fatal("no ORU^R01 at the HIS")
	}
	if bytes.Contains(msg, []byte("双肺")) {
		t.Error("the ORU holds UTF-8, not GB 18030")
	}
	m, err := hl7.Parse(msg, hl7.GB18030)
	if err != nil {
		t.Fatal(err)
	}
	var gotF, gotI []string
	for _, s := range m.Segments {
		switch {
		case s.Name() == "OBX" && s.Value(3, 1) == "59776-5":
			gotF = append(gotF, s.Value(5, 1))
		case s.Name() == "OBX" && s.Value(3, 1) == "19005-8":
			gotI = append(gotI, s.Value(5, 1))
		case s.Name() == "OBX" && s.Value(3, 1) == "113014" && s.Value(5, 1) != study:
			t.Errorf("study UID %q, want %s", s.Value(5, 1), study)
		}
	}
	if m.Type() != "ORU^R01" || m.Charset != hl7.GB18030 || strings.Join(gotF, "\n") != findings || strings.Join(gotI, "\n") != impression {
		t.Errorf("ORU %s %s: findings %q impression %q", m.Type(), m.Charset, gotF, gotI)
	}
	if obr := m.Seg("OBR"); obr.Value(25, 1) != "F" || obr.Value(32, 2) == "" {
		t.Errorf("OBR status %q signer %q", obr.Value(25, 1), obr.Value(32, 2))
	}

	// The refused messages are kept for the administrator.
	req, _ = http.NewRequest(http.MethodGet, n.baseURL+"/api/admin/hl7/rejected", nil)
	resp, err = admin.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var kept []struct{ ControlID, Ack, Reason, Message string }
	json.NewDecoder(resp.Body).Decode(&kept)
	resp.Body.Close()
	if len(kept) != 2 || kept[0].ControlID != "MSG0003" || kept[0].Ack != "AR" || kept[1].Ack != "AE" ||
		!strings.Contains(kept[1].Message, "王^五") || kept[1].Reason == "" {
		t.Errorf("kept %+v", kept)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}

	// The order, with its Chinese name, among the scheduled procedures.
	x, err := sqlite.Open(context.Background(), filepath.Join(dir, "data", "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	os, err := x.Reading().Orders(context.Background(), reading.OrderFilter{Accession: "ACC-HL7-1"})
	if err != nil || len(os) != 1 {
		t.Fatalf("orders %+v %v", os, err)
	}
	if o := os[0]; !strings.Contains(o.PatientName, "张^三") || o.PatientID != "P20260301" || o.StationAE != "DR1" ||
		o.ScheduledDate != "20260301" || o.ScheduledTime != "093000" || o.RequestedProcedure != "胸部正位片" || o.CreatedBy != "hl7" {
		t.Errorf("order %+v", o)
	}
	sent, err := x.HL7().Outbound(context.Background(), 10)
	if err != nil || len(sent) != 1 || sent[0].SentAt.IsZero() {
		t.Errorf("outbox %+v %v", sent, err)
	}
}
