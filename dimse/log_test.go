package dimse

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/logtest"
)

// TestLogsComponent: the server's log lines carry component=dimse (DESIGN.md section 5).
func TestLogsComponent(t *testing.T) {
	logs := &logtest.Buffer{}
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD",
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	c, err := Dial(context.Background(), addr, ClientConfig{CallingAETitle: "SITE-7", CalledAETitle: "PACSD",
		Contexts: map[string][]string{"1.2.840.10008.1.1": {dicom.ImplicitVRLittleEndian}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The server logs the association's end after the release is answered: poll for it.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), `msg="association ended"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no end of association logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for l := range strings.Lines(logs.String()) {
		if !strings.Contains(l, "component=dimse") {
			t.Errorf("line without component=dimse: %s", l)
		}
	}
}
