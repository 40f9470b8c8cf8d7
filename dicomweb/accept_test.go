package dicomweb

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestParseAccept(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []mediaRange
	}{
		{"quoted type", `multipart/related; type="application/dicom"; transfer-syntax=*`,
			[]mediaRange{{typ: "multipart", sub: "related", q: 1, params: map[string]string{"type": "application/dicom", "transfer-syntax": "*"}}}},
		{"unquoted type", `multipart/related;type=application/dicom`,
			[]mediaRange{{typ: "multipart", sub: "related", q: 1, params: map[string]string{"type": "application/dicom"}}}},
		{"case and spaces", `  MULTIPART/Related ;  TYPE = "Application/DICOM" `,
			[]mediaRange{{typ: "multipart", sub: "related", q: 1, params: map[string]string{"type": "Application/DICOM"}}}},
		{"several with q", `application/json;q=0.5, application/dicom+json`,
			[]mediaRange{{typ: "application", sub: "json", q: 0.5}, {typ: "application", sub: "dicom+json", q: 1}}},
		{"comma inside quotes", `multipart/related; type="a,b", */*;q=0.1`,
			[]mediaRange{{typ: "multipart", sub: "related", q: 1, params: map[string]string{"type": "a,b"}}, {typ: "*", sub: "*", q: 0.1}}},
		{"escaped quote", `a/b; x="c\"d"`,
			[]mediaRange{{typ: "a", sub: "b", q: 1, params: map[string]string{"x": `c"d`}}}},
		{"accept-ext after q", `text/html;q=0.3;level=1`,
			[]mediaRange{{typ: "text", sub: "html", q: 0.3}}},
		{"invalid q read as 1", `a/b;q=abc, c/d;q=2, e/f;q=-1`,
			[]mediaRange{{typ: "a", sub: "b", q: 1}, {typ: "c", sub: "d", q: 1}, {typ: "e", sub: "f", q: 1}}},
		{"q=0 kept", `a/b;q=0`, []mediaRange{{typ: "a", sub: "b", q: 0}}},
		{"bare star", `*`, []mediaRange{{typ: "*", sub: "*", q: 1}}},
		{"garbage skipped", `;;, foo, /, text/, */json, a b/c, ok/yes`,
			[]mediaRange{{typ: "ok", sub: "yes", q: 1}}},
		{"empty", ``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseAccept(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseAccept(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseAcceptBounded(t *testing.T) {
	got := parseAccept(strings.Repeat("a/b,", 1000))
	if len(got) != maxAcceptRanges {
		t.Errorf("kept %d ranges, want %d", len(got), maxAcceptRanges)
	}
}

func TestNegotiateSearch(t *testing.T) {
	tests := []struct {
		accept string
		want   string // media type, or "406"
	}{
		{"", mediaDicomJSON},
		{"*/*", mediaDicomJSON},
		{"application/*", mediaDicomJSON},
		{"application/dicom+json", mediaDicomJSON},
		{"application/dicom+json; charset=utf-8", mediaDicomJSON},
		{"application/json", mediaJSON},
		{"application/dicom+json;q=0.5, application/json", mediaJSON},
		{"application/json;q=0.5, application/dicom+json", mediaDicomJSON},
		{"application/json, application/dicom+json", mediaDicomJSON},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", mediaDicomJSON},
		// The most specific range decides: dicom+json is refused, application/json is not.
		{"application/dicom+json;q=0, */*", mediaJSON},
		{"application/dicom+json;q=0", "406"},
		{"text/html", "406"},
		{"application/dicom+xml", "406"}, // XML comes as multipart/related, one part per result
		{`multipart/related; type="application/dicom+xml"`, mediaDicomXML},
		{`multipart/related; type=application/dicom+xml`, mediaDicomXML},
		{`Multipart/Related; Type="Application/DICOM+XML"`, mediaDicomXML},
		{`multipart/related; type="application/dicom+xml", application/dicom+json`, mediaDicomJSON},
		{`multipart/related; type="application/dicom+xml", application/dicom+json;q=0.5`, mediaDicomXML},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			got, err := negotiateSearch(tt.accept)
			switch tt.want {
			case "406":
				he := asHTTPError(t, err, http.StatusNotAcceptable)
				if !strings.Contains(he.Message.(string), "application/dicom+json") {
					t.Errorf("message %q does not say what is offered", he.Message)
				}
			default:
				if err != nil || got != tt.want {
					t.Errorf("negotiateSearch(%q) = %q, %v; want %q", tt.accept, got, err, tt.want)
				}
			}
		})
	}
}

func TestNegotiateInstance(t *testing.T) {
	const (
		le   = "1.2.840.10008.1.2.1"
		jpeg = "1.2.840.10008.1.2.4.50"
	)
	tests := []struct {
		accept       string
		leOK, jpegOK bool
	}{
		{`*/*`, true, true},
		{`multipart/*`, true, true},
		{`multipart/related`, true, true},
		{`multipart/related; type="application/dicom"`, true, true},
		{`multipart/related; type=application/dicom; transfer-syntax=*`, true, true},
		{`multipart/related; type="application/dicom"; transfer-syntax=` + le, true, false},
		{`multipart/related; type="application/dicom"; transfer-syntax="` + jpeg + `"`, false, true},
		{`multipart/related; type="application/dicom"; transfer-syntax=` + le +
			`, multipart/related; type="application/dicom"; transfer-syntax=*;q=0.1`, true, true},
		{`multipart/related; type="application/dicom"; transfer-syntax=*;q=0`, false, false},
		// A refused syntax named outright beats a wildcard.
		{`multipart/related; type="application/dicom"; transfer-syntax=` + jpeg + `;q=0, */*`, true, false},
		{`multipart/related; type="application/octet-stream"`, false, false},
		{`application/dicom+json`, false, false},
		{`application/dicom`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			ranges := parseAccept(tt.accept)
			for ts, want := range map[string]bool{le: tt.leOK, jpeg: tt.jpegOK} {
				err := negotiateInstance(ranges, ts)
				if want {
					if err != nil {
						t.Errorf("%s: %v, want acceptable", ts, err)
					}
					continue
				}
				he := asHTTPError(t, err, http.StatusNotAcceptable)
				// The message says what to ask for instead.
				if !strings.Contains(he.Message.(string), `type="application/dicom"`) {
					t.Errorf("%s: unhelpful message %q", ts, he.Message)
				}
			}
		})
	}
}

func asHTTPError(t *testing.T, err error, status int) *echo.HTTPError {
	t.Helper()
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("error %v, want HTTP %d", err, status)
	}
	if he.Code != status {
		t.Fatalf("status %d (%v), want %d", he.Code, he.Message, status)
	}
	return he
}

// FuzzParseAccept: any Accept field parses without panicking into bounded, normalised
// ranges, and negotiation over them never panics.
func FuzzParseAccept(f *testing.F) {
	for _, s := range []string{
		`multipart/related; type="application/dicom"; transfer-syntax=*`,
		`application/dicom+json, application/json;q=0.9, */*;q=0.1`,
		`multipart/related; type="a\"b,c"; q=0.5; ext=1`,
		`*`, `;;,`, `"`, `a/b; x="`, `a/b; x="\`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ranges := parseAccept(s)
		if len(ranges) > maxAcceptRanges {
			t.Fatalf("%d ranges", len(ranges))
		}
		for _, r := range ranges {
			if r.q < 0 || r.q > 1 {
				t.Fatalf("q %v out of range", r.q)
			}
			if !isToken(r.typ) || !isToken(r.sub) || r.typ != strings.ToLower(r.typ) || r.sub != strings.ToLower(r.sub) {
				t.Fatalf("type %q/%q not a lower-case token", r.typ, r.sub)
			}
			if r.typ == "*" && r.sub != "*" {
				t.Fatalf("range */%s", r.sub)
			}
		}
		_, _ = negotiateSearch(s)
		_ = negotiateInstance(ranges, "1.2.840.10008.1.2.1")
	})
}
