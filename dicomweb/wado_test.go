package dicomweb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"pacsd/store"
)

func TestMultipartWriter(t *testing.T) {
	parts := []struct {
		ts   string
		body string
	}{
		{"1.2.840.10008.1.2.1", "first object"},
		{"1.2.840.10008.1.2.4.50", "\r\n--not-the-boundary\r\n"},
		{"1.2.840.10008.1.2", ""},
	}
	for n := 1; n <= len(parts); n++ {
		t.Run(fmt.Sprint(n, " parts"), func(t *testing.T) {
			var buf bytes.Buffer
			mw := &multipartWriter{w: &buf, boundary: "b0undary"}
			var heads []partHead
			for _, p := range parts[:n] {
				rec := &store.Instance{SOPInstanceUID: "1.2", TransferSyntaxUID: p.ts, Size: int64(len(p.body))}
				if err := mw.writePart(context.Background(), instancePart(rec), strings.NewReader(p.body)); err != nil {
					t.Fatal(err)
				}
				heads = append(heads, instancePart(rec))
			}
			if err := mw.close(); err != nil {
				t.Fatal(err)
			}
			if got, want := int64(buf.Len()), mw.lengthOf(heads); got != want {
				t.Errorf("lengthOf = %d, body is %d", want, got)
			}
			mr := multipart.NewReader(&buf, "b0undary")
			for i, p := range parts[:n] {
				part, err := mr.NextPart()
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				if ct := part.Header.Get("Content-Type"); ct != "application/dicom; transfer-syntax="+p.ts {
					t.Errorf("part %d Content-Type %q", i, ct)
				}
				b, _ := io.ReadAll(part)
				if string(b) != p.body {
					t.Errorf("part %d body %q, want %q", i, b, p.body)
				}
			}
			if _, err := mr.NextPart(); err != io.EOF {
				t.Errorf("after the last part: %v, want EOF", err)
			}
		})
	}
}

func TestMultipartWriterShortBlob(t *testing.T) {
	mw := &multipartWriter{w: io.Discard, boundary: "b"}
	rec := &store.Instance{SOPInstanceUID: "1.2", TransferSyntaxUID: "1.2.840.10008.1.2.1", Size: 10}
	err := mw.writePart(context.Background(), instancePart(rec), strings.NewReader("short"))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short blob: %v, want ErrUnexpectedEOF", err)
	}
}

func TestMultipartWriterCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	mw := &multipartWriter{w: io.Discard, boundary: "b"}
	rec := &store.Instance{SOPInstanceUID: "1.2", TransferSyntaxUID: "1.2.840.10008.1.2.1", Size: 3}
	if err := mw.writePart(ctx, instancePart(rec), strings.NewReader("abc")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

func TestMultipartMediaParses(t *testing.T) {
	b, err := newBoundary()
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(multipartMedia(b))
	if err != nil || mt != "multipart/related" || params["type"] != "application/dicom" || params["boundary"] != b {
		t.Errorf("ParseMediaType: %q %v %v", mt, params, err)
	}
	if b2, _ := newBoundary(); b2 == b {
		t.Error("two boundaries alike")
	}
}

func TestETag(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	etag := weakETag(sha)
	if etag != `W/"`+sha+`"` {
		t.Fatalf("weakETag = %q", etag)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("zz", 32), strings.Repeat("a", 63) + `"`} {
		if got := weakETag(bad); got != "" {
			t.Errorf("weakETag(%q) = %q, want none", bad, got)
		}
	}
	tests := []struct {
		field string
		want  bool
	}{
		{"", false},
		{"*", true},
		{`"` + sha + `"`, true},
		{`W/"` + sha + `"`, true},
		{`"other", W/"` + sha + `"`, true},
		{`"other"`, false},
		{sha, false},
	}
	for _, tt := range tests {
		if got := etagMatches(tt.field, etag); got != tt.want {
			t.Errorf("etagMatches(%q) = %v, want %v", tt.field, got, tt.want)
		}
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, http.StatusOK},
		{fmt.Errorf("open 1.2.3: %w", store.ErrNotFound), http.StatusNotFound},
		{fmt.Errorf("x: %w", store.ErrInvalid), http.StatusBadRequest},
		{fmt.Errorf("x: %w", store.ErrTooLarge), http.StatusRequestEntityTooLarge},
		{fmt.Errorf("x: %w", store.ErrConflict), http.StatusConflict},
		{fmt.Errorf("x: %w", store.ErrNoSpace), http.StatusInsufficientStorage},
		{fmt.Errorf("x: %w", store.ErrUnavailable), http.StatusServiceUnavailable},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), http.StatusServiceUnavailable},
		{echo.NewHTTPError(http.StatusNotAcceptable, "no"), http.StatusNotAcceptable},
		{errors.New("disk on fire"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got := HTTPStatus(tt.err); got != tt.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
