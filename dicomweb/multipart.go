package dicomweb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"pacsd/store"
)

// Multipart/related bodies (RFC 2387, RFC 2046 5.1.1) as every WADO-RS resource returns them
// (PS3.18 8.7.3.5). They are written here rather than with mime/multipart so that the exact
// length of a body is known before it is sent (a Content-Length a viewer can show progress
// with), and so that the layout is the plainest one: no preamble, the first line is the
// dash-boundary, which is what the simple parsers in the field (cornerstone's WADO-RS
// loader among them) expect.

// newBoundary returns a random boundary; 128 random bits make a collision with the content
// of a part as unlikely as anything in the archive.
func newBoundary() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("multipart boundary: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// multipartType is the Content-Type of a multipart/related body whose parts are of type
// typ (RFC 2387 3.1: the type parameter names the root part's type; in DICOMweb every part
// has it).
func multipartType(typ, boundary string) string {
	return `multipart/related; type="` + typ + `"; boundary=` + boundary
}

// multipartMedia is the Content-Type of a response of Part-10 objects.
func multipartMedia(boundary string) string { return multipartType(mediaDicom, boundary) }

// partHead describes one part: its headers and the exact number of body bytes, or -1 when
// that is not known before the part is written (a transcoded instance): then the part has
// no Content-Length and ends at the next delimiter, as RFC 2046 parts do.
type partHead struct {
	contentType     string
	contentLocation string // "" for none
	contentRange    string // "" for none (bulk data ranges, see bulkdata.go)
	size            int64
}

// multipartWriter writes a body part by part. The delimiter after a part's body (CRLF "--"
// boundary) is written with that body, not with the next part: a reader knows a part is
// complete as soon as it has arrived, and the stream ends either with the rest of the close
// delimiter ("--" CRLF) or, for the next part, with CRLF and its headers.
type multipartWriter struct {
	w        io.Writer
	boundary string
	parts    int
	buf      []byte
}

// header is what precedes the body of part number n (0-based): the dash-boundary line for
// the first part, the end of the previous delimiter line for the others, then the header
// fields (spelt exactly "Content-Type:", as some parsers compare case-sensitively).
func (m *multipartWriter) header(n int, h partHead) string {
	var b strings.Builder
	if n == 0 {
		b.WriteString("--" + m.boundary)
	}
	b.WriteString("\r\nContent-Type: " + h.contentType + "\r\n")
	if h.contentLocation != "" {
		b.WriteString("Content-Location: " + h.contentLocation + "\r\n")
	}
	if h.contentRange != "" {
		b.WriteString("Content-Range: " + h.contentRange + "\r\n")
	}
	if h.size >= 0 {
		b.WriteString("Content-Length: " + strconv.FormatInt(h.size, 10) + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// delimiter follows every body.
func (m *multipartWriter) delimiter() string { return "\r\n--" + m.boundary }

// closeEnd turns the last delimiter into the close delimiter.
const closeEnd = "--\r\n"

// lengthOf is the exact length of a body holding the given parts.
func (m *multipartWriter) lengthOf(heads []partHead) int64 {
	var n int64
	for i, h := range heads {
		n += int64(len(m.header(i, h))) + h.size + int64(len(m.delimiter()))
	}
	return n + int64(len(closeEnd))
}

// beginPart writes the header of the next part; its body follows, then endPart.
func (m *multipartWriter) beginPart(h partHead) error {
	if _, err := io.WriteString(m.w, m.header(m.parts, h)); err != nil {
		return fmt.Errorf("write part header: %w", err)
	}
	m.parts++
	return nil
}

// endPart writes the delimiter that ends a part's body.
func (m *multipartWriter) endPart() error {
	if _, err := io.WriteString(m.w, m.delimiter()); err != nil {
		return fmt.Errorf("write delimiter: %w", err)
	}
	return nil
}

// writePart sends one part: exactly h.size bytes of r, stopping when ctx ends.
func (m *multipartWriter) writePart(ctx context.Context, h partHead, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.beginPart(h); err != nil {
		return err
	}
	if m.buf == nil {
		m.buf = make([]byte, copyBufferSize)
	}
	n, err := io.CopyBuffer(m.w, io.LimitReader(store.ContextReader(ctx, r), h.size), m.buf)
	if err == nil && n != h.size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("copy part %d after %d of %d bytes: %w", m.parts, n, h.size, err)
	}
	return m.endPart()
}

// close ends the body; it needs at least one part written.
func (m *multipartWriter) close() error {
	if m.parts == 0 {
		return errors.New("multipart body without parts")
	}
	if _, err := io.WriteString(m.w, closeEnd); err != nil {
		return fmt.Errorf("write close delimiter: %w", err)
	}
	return nil
}

// instancePart is the part header of one stored Part-10 object; PS3.18 8.7.3.5.2 has each
// part name its transfer syntax.
func instancePart(rec *store.Instance) partHead {
	return partHead{contentType: mediaDicom + "; transfer-syntax=" + rec.TransferSyntaxUID, size: rec.Size}
}
