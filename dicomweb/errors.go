package dicomweb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"pacsd/dicom/pixel"
	"pacsd/store"
	"pacsd/thumbnail"
)

// The one table from domain errors to HTTP statuses (DESIGN.md section 5; PS3.18 8.5 lists
// the statuses a DICOMweb origin server uses). The message is all a client ever sees: it
// names the kind of failure, never the wrapped internal text.
var errorTable = []struct {
	target  error
	status  int
	message string
}{
	{store.ErrNotFound, http.StatusNotFound, "no such study, series or instance"},
	{store.ErrInvalid, http.StatusBadRequest, "invalid request"},
	{store.ErrTooLarge, http.StatusRequestEntityTooLarge, "object too large"},
	{store.ErrConflict, http.StatusConflict, "conflicts with a stored object"},
	{store.ErrNoSpace, http.StatusInsufficientStorage, "the archive is out of storage space"},
	{store.ErrUnavailable, http.StatusServiceUnavailable, "storage is temporarily unavailable"},
	// Pixel work (rendering, thumbnails, decoded frames, transcoding). An image this server
	// cannot decode has no representation it can produce (406); damaged pixel data is the
	// archive's problem, not the request's.
	{thumbnail.ErrNoImage, http.StatusNotFound, "no image to show: the study, series or instance holds no pixel data"},
	{pixel.ErrNoPixelData, http.StatusNotFound, "the instance has no pixel data"},
	{pixel.ErrUnsupported, http.StatusNotAcceptable, "this server cannot decode the pixel data of this image"},
	{pixel.ErrCorrupt, http.StatusInternalServerError, "the stored pixel data cannot be decoded"},
	// A frame beyond the server's pixel or decode-memory limits (pacsd serve
	// --max-frame-pixels, --decode-memory-mb): the object is kept and served as stored.
	{pixel.ErrTooLarge, http.StatusUnprocessableEntity, "the image is too large for this server to decode; retrieve it as stored (transfer-syntax=*)"},
	// The client went away or the server is shutting down; the status rarely reaches
	// anyone, but 503 tells a retrying proxy the truth.
	{context.Canceled, http.StatusServiceUnavailable, "request cancelled"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "request timed out"},
}

// retryAfterSeconds is sent with 503 so that well-behaved clients back off.
const retryAfterSeconds = "30"

// HTTPStatus is the HTTP status a DICOMweb handler answers err with: an echo.HTTPError's
// own code, else the table's status for a store, pixel or context error, else 500.
func HTTPStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he.Code
	}
	status, _ := lookupError(err)
	return status
}

// lookupError finds err in errorTable: its status and public message, or 500 and the
// generic text for an error the table does not name.
func lookupError(err error) (int, string) {
	for _, e := range errorTable {
		if errors.Is(err, e.target) {
			return e.status, e.message
		}
	}
	return http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError)
}

// publicError turns err into the echo error a handler returns: the status from the table
// and a fixed message. Server-side failures are logged with the wrapped text (which may
// name UIDs and keys, never patient names or IDs); client-side ones only at debug level.
func (s *server) publicError(c echo.Context, op string, err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		s.log.Debug("dicomweb request refused", "op", op, "status", he.Code, "msg", he.Message)
		return he
	}
	status, msg := lookupError(err)
	level := slog.LevelDebug
	if status >= 500 && !errors.Is(err, context.Canceled) {
		level = slog.LevelError
	}
	s.log.Log(c.Request().Context(), level, "dicomweb request failed", "op", op, "status", status, "err", err)
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	return echo.NewHTTPError(status, msg)
}

// badRequest is a 400 whose message tells the client what to fix. Callers quote any
// client-supplied text with %q (and keep it short) so the message stays one clean line.
func badRequest(format string, args ...any) *echo.HTTPError {
	return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// notAcceptable is a 406 explaining which representations are offered.
func notAcceptable(format string, args ...any) *echo.HTTPError {
	return echo.NewHTTPError(http.StatusNotAcceptable, fmt.Sprintf(format, args...))
}

// short trims client-supplied text for error messages, on a rune boundary.
func short(s string) string {
	const max = 64
	for i := range s {
		if i >= max {
			return s[:i] + "..."
		}
	}
	return s
}
