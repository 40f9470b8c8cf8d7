package store

import (
	"context"
	"io"
	"log/slog"
)

// Config sets the Archive's limits.
type Config struct {
	SpoolDir      string // incoming objects are written here first; same filesystem as the folder backend
	MaxObjectSize int64  // 0 = 4 GiB
	MinFreeBytes  int64  // refuse new objects (ErrNoSpace) when the spool filesystem has less free; 0 = 512 MiB
	Logger        *slog.Logger
}

// PutRequest describes an incoming object.
type PutRequest struct {
	Origin Origin
	// When set, the object's (0008,0018)/(0008,0016) must equal these (the DIMSE command's
	// Affected SOP Instance/Class UID), else ErrInvalid and nothing is stored.
	ExpectSOPInstanceUID string
	ExpectSOPClassUID    string
	// StudyInstanceUID, when set, must equal the object's (STOW-RS to /studies/{s}).
	ExpectStudyInstanceUID string
}

// Archive is the one way objects enter and leave pacsd (DESIGN.md section 3).
type Archive struct {
	idx   Index
	blobs Blobs
	cfg   Config
}

// NewArchive builds an archive over an index and a blob store.
func NewArchive(idx Index, blobs Blobs, cfg Config) (*Archive, error) {
	panic("TODO")
}

// Put stores one Part-10 object read from r: spool while hashing, read the header, dedupe,
// blob (durable), index (committed), and only then return. On any error nothing is left
// visible. Errors wrap ErrInvalid, ErrTooLarge, ErrNoSpace or ErrUnavailable.
// If the same SOP instance is already stored with the same SHA-256, Put returns the stored
// record and writes nothing.
func (a *Archive) Put(ctx context.Context, r io.Reader, req PutRequest) (*Instance, error) {
	panic("TODO")
}

// Open returns the record and the Part-10 bytes of one instance, or ErrNotFound.
func (a *Archive) Open(ctx context.Context, sopInstanceUID string) (*Instance, io.ReadSeekCloser, error) {
	panic("TODO")
}

// Index exposes the index for read-only callers (QIDO-RS, WADO-RS listing).
func (a *Archive) Index() Index { return a.idx }

// Recover runs at start-up: removes spool files that never reached the index and reports
// index entries whose blob is missing.
func (a *Archive) Recover(ctx context.Context) error {
	panic("TODO")
}
