package dicomweb

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
	"pacsd/store"
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

// TestPlanInstance: the transfer syntax each kind of stored object is sent in (PS3.18
// 8.7.3.4, 8.7.8.2): "S" as stored, "T" transcoded to Explicit VR Little Endian, "-" 406.
func TestPlanInstance(t *testing.T) {
	const (
		le   = "1.2.840.10008.1.2.1"
		jpeg = "1.2.840.10008.1.2.4.50"
		dcm  = `multipart/related; type="application/dicom"`
	)
	image := func(ts string, bits int) *store.Instance {
		return &store.Instance{TransferSyntaxUID: ts, InstanceAttrs: dicom.JSONDataset{
			dicom.TagRows.Hex():                      {VR: "US", Value: []any{256}},
			dicom.TagColumns.Hex():                   {VR: "US", Value: []any{256}},
			dicom.TagBitsAllocated.Hex():             {VR: "US", Value: []any{bits}},
			dicom.TagSamplesPerPixel.Hex():           {VR: "US", Value: []any{1}},
			dicom.TagPhotometricInterpretation.Hex(): {VR: "CS", Value: []any{"MONOCHROME2"}},
		}}
	}
	objects := []struct {
		name string
		in   *store.Instance
	}{
		{"explicit LE", image(le, 16)},
		{"JPEG baseline (lossy)", image(jpeg, 8)},
		{"JPEG lossless", image(dicom.JPEGLosslessSV1, 16)},
		{"implicit LE", image(dicom.ImplicitVRLittleEndian, 16)},
		{"JPEG XL lossless (no decoder)", image(dicom.JPEGXLLossless, 16)},
		{"1-bit (not decodable)", image(dicom.ImplicitVRLittleEndian, 1)},
		{"report, implicit LE", &store.Instance{TransferSyntaxUID: dicom.ImplicitVRLittleEndian}},
	}
	tests := []struct {
		accept string
		want   string // one letter per object, in objects' order
	}{
		{``, "SSSSSSS"},
		{`*/*`, "SSSSSSS"},
		{`multipart/*`, "SSSSSSS"},
		{`multipart/related`, "SSSSSSS"},
		// The default syntax, except for lossy and undecodable objects.
		{dcm, "SSTTSST"},
		{`multipart/related; type=application/dicom; transfer-syntax=*`, "SSSSSSS"},
		{dcm + `; transfer-syntax=` + le, "STTT--T"},
		{dcm + `; transfer-syntax="` + jpeg + `"`, "-S-----"},
		{dcm + `; transfer-syntax=` + le + `, ` + dcm + `; transfer-syntax=*;q=0.1`, "STTTSST"},
		{dcm + `; transfer-syntax=*;q=0`, "-------"},
		// A refused syntax named outright beats a wildcard; the wildcard still takes the
		// transcoded form.
		{dcm + `; transfer-syntax=` + jpeg + `;q=0, */*`, "STSSSSS"},
		{`multipart/related; type="application/octet-stream"`, "-------"},
		{`application/dicom+json`, "-------"},
		{`application/dicom`, "-------"},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			ranges := parseAccept(tt.accept)
			if strings.TrimSpace(tt.accept) == "" {
				ranges = []mediaRange{{typ: "*", sub: "*", q: 1}}
			}
			for i, o := range objects {
				plan, err := planInstance(ranges, o.in)
				got := "S"
				switch {
				case err != nil:
					got = "-"
					he := asHTTPError(t, err, http.StatusNotAcceptable)
					// The message says what to ask for instead.
					if !strings.Contains(he.Message.(string), `type="application/dicom"`) {
						t.Errorf("%s: unhelpful message %q", o.name, he.Message)
					}
				case plan.transcode:
					got = "T"
				}
				if want := tt.want[i : i+1]; got != want {
					t.Errorf("%s: %s, want %s", o.name, got, want)
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
		_, _ = planInstance(ranges, &store.Instance{TransferSyntaxUID: "1.2.840.10008.1.2.4.70"})
		_, _ = negotiateRendered(ranges, true, true)
	})
}
