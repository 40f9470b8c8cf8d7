package qr_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/qr"
	"pacsd/reading"
	"pacsd/store/sqlite"
)

// TestAddressRuleIsTheAssociations: a query is refused for its address exactly when the
// association would be (reading.Peer.CallsFrom, cmd/pacsd's Accept): an IPv4-mapped
// prefix, a zoned link-local address, an IPv4-mapped caller.
func TestAddressRuleIsTheAssociations(t *testing.T) {
	x, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	ident := identifier(t, explicitLE, nil, "STUDY", key{tag: dicom.TagStudyInstanceUID, vr: "UI"})
	for _, tc := range []struct {
		allowed []string
		remote  string
	}{
		{[]string{"::ffff:127.0.0.0/104"}, "127.0.0.1:40000"},
		{[]string{"127.0.0.0/8"}, "[::ffff:127.0.0.1]:40000"},
		{[]string{"fe80::/10"}, "[fe80::1%eth0]:40000"},
		{[]string{"10.0.0.0/8"}, "127.0.0.1:40000"},
		{[]string{"::ffff:10.0.0.0/104"}, "[::ffff:127.0.0.1]:40000"},
	} {
		p := reading.Peer{AETitle: "WS", MayQuery: true, Addresses: tc.allowed}
		svc := qr.New(qr.Config{AETitle: "PACSD", Index: x, Peers: peers{"WS": p},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		req := &dimse.QueryRequest{CallingAETitle: "WS", CalledAETitle: "PACSD", RemoteAddr: tc.remote, MessageID: 1,
			SOPClassUID: qr.StudyRootFind, TransferSyntaxUID: explicitLE, Identifier: ident}
		st := svc.HandleFind(context.Background(), req, func(uint16, []byte) error { return nil })
		if refused, want := st.Code == dimse.StatusNotAuthorized, !p.CallsFrom(tc.remote); refused != want {
			t.Errorf("allowed %q, caller %s: status %v, association admitted %v", tc.allowed, tc.remote, st, !want)
		}
	}
}
