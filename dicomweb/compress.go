package dicomweb

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
)

// JSON and XML responses are compressed for clients that accept gzip (RFC 9110 8.4.1): a
// series' metadata is mostly repeated keys and shrinks five- to tenfold, which matters on a
// township's uplink. Part-10 objects, frames and bulk data are sent as they are: they are
// compressed already, or large and read once.

// gzipMin: bodies smaller than this are not worth a compression header.
const gzipMin = 1024

// body is a response body built once and sent many times (assembled metadata): its gzip
// form is made on the first request that wants it and kept with it.
type body struct {
	raw  []byte
	etag string

	once sync.Once
	gz   []byte
}

func (b *body) gzipped() []byte {
	b.once.Do(func() { b.gz = gzipBytes(b.raw) })
	return b.gz
}

// cost is what the body holds in memory, counting a gzip form it may come to hold.
func (b *body) cost() int64 { return int64(len(b.raw)+len(b.raw)/4) + 256 }

var gzipPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

func gzipBytes(p []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(p) / 4)
	zw := gzipPool.Get().(*gzip.Writer)
	zw.Reset(&buf)
	zw.Write(p) // a bytes.Buffer does not fail
	zw.Close()
	gzipPool.Put(zw)
	return buf.Bytes()
}

// sendBody writes a complete body with its Content-Type, compressed when the client
// accepts gzip and the body is worth it. b may carry a cached gzip form. HEAD gets the
// headers a GET would get.
func sendBody(c echo.Context, status int, ctype string, raw []byte, b *body) error {
	h := c.Response().Header()
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	out := raw
	if len(raw) >= gzipMin && acceptsGzip(c.Request()) {
		if b != nil {
			out = b.gzipped()
		} else {
			out = gzipBytes(raw)
		}
		h.Set(echo.HeaderContentEncoding, "gzip")
	}
	h.Set(echo.HeaderContentType, ctype)
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(out)))
	c.Response().WriteHeader(status)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	_, err := c.Response().Write(out)
	return err
}
