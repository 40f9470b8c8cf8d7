package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"pacsd/dicom"
)

// Config sets the Archive's limits.
type Config struct {
	SpoolDir      string // incoming objects are written here first; same filesystem as the folder backend
	MaxObjectSize int64  // 0 = 4 GiB
	MinFreeBytes  int64  // refuse new objects (ErrNoSpace) when the spool filesystem has less free; 0 = 512 MiB; < 0 = no floor
	Logger        *slog.Logger
	// FallbackCharset decodes text whose character set is undeclared or unknown and is not
	// valid UTF-8 (dicom.ReadOptions.FallbackCharset): "GB18030" for sites whose modalities
	// send Chinese without (0008,0005). "" reads such bytes as ISO 8859-1.
	FallbackCharset string

	// Remote, when set, is where objects are kept for good (S3): Put makes the object
	// durable in the local blob store and indexes it, then returns; a background uploader
	// copies it to Remote (see UploadConfig and Archive.Start). Nil: the local blob store is
	// the archive.
	Remote Blobs
	Upload UploadConfig

	// now is the archive's clock: received times, the ingest gap, upload yielding. Nil is
	// time.Now; tests set it (export_test.go) to move time instead of sleeping past it.
	now func() time.Time
}

const (
	defaultMaxObjectSize = 4 << 30
	defaultMinFreeBytes  = 512 << 20

	// Spool files are named spoolPrefix + random + spoolSuffix; Recover removes exactly
	// those, so that a spool directory shared with anything else loses nothing else.
	spoolPrefix = "put-"
	spoolSuffix = ".spool"
)

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
	idx    Index
	blobs  Blobs // the local store: the archive itself, or the write-back cache before Remote
	remote Blobs // nil for a folder-only archive
	cfg    Config
	log    *slog.Logger
	locks  uidLocks
	wb     *writeBack // nil unless remote != nil

	puts    atomic.Int32 // Puts in progress
	lastPut atomic.Int64 // when the last Put ended, unix nanoseconds

	mu       sync.Mutex
	onStored []func(*Instance)
}

// OnStored registers fn to be called after each Put that stored a new object (not for a
// duplicate), once the object is durable and indexed: thumbnails, the viewer's live
// worklist. fn runs on the Put's goroutine and must not block (queue and return).
func (a *Archive) OnStored(fn func(*Instance)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onStored = append(a.onStored, fn)
}

// putting marks a Put in progress until the returned function is called.
func (a *Archive) putting() func() {
	a.puts.Add(1)
	return func() {
		a.lastPut.Store(a.cfg.now().UnixNano())
		a.puts.Add(-1)
	}
}

// ingestGap is how long after the last Put ingest counts as paused: the gap between two
// C-STOREs of one association is well under it.
const ingestGap = 250 * time.Millisecond

// Ingesting reports whether objects are arriving: a Put is in progress or ended moments
// ago. Background work (uploads, thumbnails) yields to ingest while it is true, so that
// modalities get the disk and CPU first.
func (a *Archive) Ingesting() bool {
	return a.puts.Load() > 0 || a.cfg.now().Sub(time.Unix(0, a.lastPut.Load())) < ingestGap
}

// NewArchive builds an archive over an index and a blob store. The spool directory is
// created when missing.
func NewArchive(idx Index, blobs Blobs, cfg Config) (*Archive, error) {
	if idx == nil || blobs == nil {
		return nil, errors.New("new archive: index and blobs are required")
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("new archive: SpoolDir is required")
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("new archive: spool: %w", err)
	}
	if cfg.MaxObjectSize <= 0 {
		cfg.MaxObjectSize = defaultMaxObjectSize
	}
	if cfg.MinFreeBytes == 0 {
		cfg.MinFreeBytes = defaultMinFreeBytes
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	a := &Archive{idx: idx, blobs: blobs, remote: cfg.Remote, cfg: cfg, log: log.With("component", "archive")}
	if a.remote != nil {
		a.wb = newWriteBack(a)
	}
	return a, nil
}

// Put stores one Part-10 object read from r, in the steps of DESIGN.md section 3: spool
// while hashing and parse the header from the same bytes, check the UIDs, decide (same
// content already stored, or a new version), make the blob durable, commit the index, and
// only then return. On any error nothing is left visible. Errors wrap ErrInvalid,
// ErrTooLarge, ErrNoSpace or ErrUnavailable; an error reading r itself (a peer gone away)
// or the end of ctx is returned wrapped as it is. If the same SOP instance is already
// stored with the same SHA-256, Put returns the stored record and writes nothing. If it is
// stored with other content, the overwrite rule decides (mayReplace): from the site that
// sent the stored version (same non-empty Origin.Site) and in the same study and series,
// the new object becomes the current version (the modality's corrected version wins) and
// the old one is kept as a version (Versions, Restore), its blob untouched; otherwise Put
// refuses with an error wrapping ErrOtherStudy or ErrOtherSite (both ErrDuplicate, an
// ErrConflict), the stored object stays as it is, and the refusal is logged.
//
// The header is parsed from the stream as it is spooled (a TeeReader under the parser's
// bufio.Reader; dicom.ReadPart10 stops before Pixel Data), so a large object is read once
// and never re-read from disk; a bad header or a UID that does not match the request fails
// before the pixel data is spooled. Put may then return before r is exhausted: the caller
// discards the rest. The rest is checked to end on an element boundary (readTail), so a
// truncated object is refused rather than acknowledged. The exceptions are re-read from
// the spool and parsed whole (checkSpooled): deflated data sets, whose structure readTail
// cannot see, and objects with an undefined-length element after Pixel Data.
//
// Put writes the one log line of each object, whatever its transport: its outcome (stored,
// replaced, duplicate, refused, failed), where it came from (with its site), its SOP
// Instance UID, size and duration, and for a refused re-send the reason. Never patient data.
func (a *Archive) Put(ctx context.Context, r io.Reader, req PutRequest) (*Instance, error) {
	start := a.cfg.now()
	res, err := a.put(ctx, r, req)
	a.logPut(ctx, req, res, err, a.cfg.now().Sub(start))
	if err != nil {
		return nil, err
	}
	return res.inst, nil
}

// putResult is what a Put did, for its log line.
type putResult struct {
	inst    *Instance // on error, what was learnt of the object: nil before its header was read
	outcome string    // on success
	oldKey  string    // putReplaced: the blob of the version replaced (kept)
}

// Outcomes of a Put that succeeded.
const (
	putStored    = "stored"
	putReplaced  = "replaced" // a new version of an instance stored with other content
	putDuplicate = "duplicate"
)

// put is Put without its log line.
func (a *Archive) put(ctx context.Context, r io.Reader, req PutRequest) (putResult, error) {
	if err := a.admit(ctx); err != nil {
		return putResult{}, err
	}
	defer a.putting()()
	sp, err := a.createSpool()
	if err != nil {
		return putResult{}, err
	}
	defer sp.discard()

	// 1-2. Spool while hashing, parse the header from the same bytes, check the UIDs.
	inst, err := a.spoolAndParse(ctx, sp, r, req)
	if err != nil {
		return putResult{inst: inst}, err
	}
	// One SOP instance at a time from here on: two copies of the same instance arriving
	// together (a retry racing the original) must not interleave their decisions, blob
	// writes and index writes, nor a Put a Restore or an eviction.
	defer a.locks.lock(inst.SOPInstanceUID)()
	// In cluster mode the other nodes too: the decision and the index write must not
	// interleave with theirs (InstanceLocker).
	if l, ok := a.idx.(InstanceLocker); ok {
		unlock, err := l.LockInstance(ctx, inst.SOPInstanceUID)
		if err != nil {
			return putResult{inst: inst}, indexError("put "+inst.SOPInstanceUID+": lock", err)
		}
		defer unlock()
	}

	// 3. Same content already stored: nothing to write. Other content: the overwrite rule.
	existing, same, err := a.decide(ctx, inst)
	if err != nil {
		return putResult{inst: inst}, err
	}
	if same {
		return putResult{inst: existing, outcome: putDuplicate}, nil
	}
	// 4. The blob durable.
	undo, err := a.makeDurable(ctx, sp, inst, existing)
	if err != nil {
		return putResult{inst: inst}, err
	}
	// 4b. In cluster mode (UploadConfig.WriteThrough), in the remote store too.
	if undo, err = a.wb.writeThrough(ctx, inst, existing, undo); err != nil {
		return putResult{inst: inst}, err
	}
	// 5. The index committed: only now success.
	prev, err := a.commit(ctx, inst)
	if err != nil {
		undo()
		return putResult{inst: inst}, err
	}
	res := putResult{inst: inst, outcome: putStored}
	if prev != nil && prev.BlobKey != inst.BlobKey {
		// The index keeps prev as a version: its blob stays where it is.
		res.outcome, res.oldKey = putReplaced, prev.BlobKey
	}
	a.announce(inst)
	return res, nil
}

// admit refuses a Put before anything is written: ctx already ended, too little free
// space, or too much waiting for upload.
func (a *Archive) admit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if err := a.checkFree(); err != nil {
		return err
	}
	return a.wb.checkSpool()
}

// spoolFile is one incoming object in the spool directory, until the blob store adopts it
// (a rename) or it is discarded.
type spoolFile struct {
	f       *os.File // nil once closed
	path    string
	adopted bool
}

func (a *Archive) createSpool() (*spoolFile, error) {
	f, err := os.CreateTemp(a.cfg.SpoolDir, spoolPrefix+"*"+spoolSuffix)
	if err != nil {
		return nil, ioError("put: create spool file", err)
	}
	return &spoolFile{f: f, path: f.Name()}, nil
}

// close closes the file once; the spooled bytes stay for the blob store.
func (s *spoolFile) close() error {
	f := s.f
	s.f = nil
	return f.Close()
}

// discard closes the file and removes it unless the blob store adopted it.
func (s *spoolFile) discard() {
	if s.f != nil {
		s.f.Close()
	}
	if !s.adopted {
		os.Remove(s.path)
	}
}

// The buffers of spoolAndParse, reused from Put to Put: a small object would otherwise
// allocate, and the collector clear, 320 KB of buffers for a few KB of data.
var (
	spoolWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}
	parseReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
)

// spoolAndParse writes r to the spool while hashing it and parses the header from the same
// bytes (steps 1-2): the instance it returns is described, checked against the request,
// and sized and hashed, with the spool file complete and closed. On error it returns the
// instance when the header was read.
func (a *Archive) spoolAndParse(ctx context.Context, sp *spoolFile, r io.Reader, req PutRequest) (*Instance, error) {
	hash := sha256.New()
	bw := spoolWriters.Get().(*bufio.Writer)
	bw.Reset(sp.f)
	defer func() { bw.Reset(nil); spoolWriters.Put(bw) }()
	sink := &sinkWriter{w: io.MultiWriter(bw, hash)}
	src := &sourceReader{ctx: ctx, r: r, max: a.cfg.MaxObjectSize}
	// Every byte pulled from r passes the TeeReader into the spool exactly once, whether the
	// header parser or readTail pulls it. ReadPart10 reads a *bufio.Reader directly and
	// leaves it on the Pixel Data tag, so readTail continues at the right place. The header
	// it returns holds copies, not slices of br's buffer, so br is reused once we return.
	br := parseReaders.Get().(*bufio.Reader)
	br.Reset(io.TeeReader(src, sink))
	defer func() { br.Reset(nil); parseReaders.Put(br) }()

	hdr, err := dicom.ReadPart10(br, dicom.ReadOptions{FallbackCharset: a.cfg.FallbackCharset})
	if err != nil {
		return nil, a.streamError("put: read header", err, src, sink, true)
	}
	inst, err := describe(hdr, req)
	if err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	inst.Origin = req.Origin
	recheck, err := readTail(br, inst.TransferSyntaxUID)
	if err != nil {
		return inst, a.streamError("put "+inst.SOPInstanceUID, err, src, sink, false)
	}
	if err := bw.Flush(); err != nil {
		return inst, ioError("put "+inst.SOPInstanceUID+": spool", err)
	}
	if err := sp.close(); err != nil {
		return inst, ioError("put "+inst.SOPInstanceUID+": spool", err)
	}
	if recheck {
		if err := checkSpooled(sp.path); err != nil {
			return inst, ioError("put "+inst.SOPInstanceUID+": check", err)
		}
	}
	inst.Size = src.n
	inst.SHA256 = hex.EncodeToString(hash.Sum(nil))
	return inst, nil
}

// decide looks up the stored version of inst's SOP instance (step 3): same reports that it
// holds the same content and its blob is there, so nothing is to be written. Other content
// goes by the overwrite rule (mayReplace, the one place it is written): refused with an
// error wrapping ErrDuplicate, or inst becomes the instance's new version and existing the
// old one (kept by the index). existing is nil when the instance is new.
func (a *Archive) decide(ctx context.Context, inst *Instance) (existing *Instance, same bool, err error) {
	existing, err = a.idx.Instance(ctx, inst.SOPInstanceUID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, false, mayJoin(inst, func() ([]string, error) {
			sites, err := a.idx.StudySites(ctx, inst.StudyInstanceUID)
			if err != nil {
				return nil, indexError("put "+inst.SOPInstanceUID+": look up the study", err)
			}
			return sites, nil
		})
	case err != nil:
		return nil, false, indexError("put "+inst.SOPInstanceUID+": look up", err)
	case existing.SHA256 != inst.SHA256:
		if err := mayReplace(existing, inst); err != nil {
			return existing, false, err
		}
		return existing, false, nil
	case a.present(ctx, existing):
		return existing, true, nil
	}
	// The index promises a blob that is gone: take the re-sent copy to repair it.
	a.log.Error("indexed blob missing; storing the re-sent copy",
		"sop_instance_uid", inst.SOPInstanceUID, "blob_key", existing.BlobKey)
	return existing, false, nil
}

// makeDurable puts the spooled object into the blob store under its key (step 4): adopted
// by a rename where the blob store allows it, copied otherwise. undo removes the new blob
// of a Put that will not be acknowledged, unless another record may point at that key: the
// existing record (same content re-stored to repair it) or a kept version with this content
// (a site re-sending an earlier version of its own).
func (a *Archive) makeDurable(ctx context.Context, sp *spoolFile, inst, existing *Instance) (undo func(), err error) {
	inst.BlobKey = BlobKey(inst.StudyInstanceUID, inst.SeriesInstanceUID, inst.SOPInstanceUID, inst.SHA256)
	undo = func() {
		if (existing != nil && existing.BlobKey == inst.BlobKey) || a.keptVersion(ctx, inst) {
			return
		}
		if err := a.blobs.Delete(context.WithoutCancel(ctx), inst.BlobKey); err != nil {
			a.log.Warn("cannot remove blob of a failed put", "blob_key", inst.BlobKey, "err", err)
		}
	}
	if ad, ok := a.blobs.(FileAdopter); ok {
		if err := ad.AdoptFile(ctx, inst.BlobKey, sp.path); err != nil {
			// The rename may have happened before a later step (directory fsync) failed.
			undo()
			return nil, ioError("put "+inst.SOPInstanceUID+": store blob", err)
		}
		sp.adopted = true
	} else if err := a.putBlob(ctx, inst.BlobKey, sp.path, inst.Size); err != nil {
		undo()
		return nil, ioError("put "+inst.SOPInstanceUID+": store blob", err)
	}
	return undo, nil
}

// commit indexes inst (step 5) and hands it to the write-back uploader. prev is the record
// it replaced, if any.
func (a *Archive) commit(ctx context.Context, inst *Instance) (prev *Instance, err error) {
	inst.ReceivedAt = a.cfg.now().UTC()
	// A new local blob, to be uploaded if there is a remote, unless written through already.
	inst.Uploaded, inst.Evicted = a.wb.writesThrough(), false
	prev, err = a.idx.PutInstance(ctx, inst)
	if err != nil {
		return nil, indexError("put "+inst.SOPInstanceUID+": index", err)
	}
	a.wb.stored(inst, prev)
	return prev, nil
}

// announce calls the OnStored functions.
func (a *Archive) announce(inst *Instance) {
	a.mu.Lock()
	fns := a.onStored
	a.mu.Unlock()
	for _, fn := range fns {
		fn(inst)
	}
}

// logPut writes the one log line of a Put. Refusals and failures are warnings (a sender
// was told no), and so is a replaced version (a modality's correction).
func (a *Archive) logPut(ctx context.Context, req PutRequest, res putResult, err error, took time.Duration) {
	lvl, outcome, msg := slog.LevelInfo, res.outcome, "object stored"
	switch {
	case errors.Is(err, ErrDuplicate):
		lvl, outcome, msg = slog.LevelWarn, "refused", "re-sent object with other content refused; the stored version stays"
	case errors.Is(err, ErrForeignStudy):
		lvl, outcome, msg = slog.LevelWarn, "refused", "object refused: its study belongs to another site"
	case err != nil && (errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLarge)):
		lvl, outcome, msg = slog.LevelWarn, "refused", "object refused"
	case err != nil:
		lvl, outcome, msg = slog.LevelWarn, "failed", "object not stored"
	case outcome == putReplaced:
		lvl, msg = slog.LevelWarn, "object replaced by a new version"
	case outcome == putDuplicate:
		msg = "duplicate object, nothing written"
	}
	sop := req.ExpectSOPInstanceUID
	if res.inst != nil {
		sop = res.inst.SOPInstanceUID
	}
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs, slog.String("outcome", outcome), slog.String("transport", req.Origin.Transport))
	if req.Origin.CallingAE != "" {
		attrs = append(attrs, slog.String("calling_ae", req.Origin.CallingAE))
	}
	attrs = append(attrs, slog.String("remote", req.Origin.RemoteAddr))
	if req.Origin.Site != "" {
		attrs = append(attrs, slog.String("site", req.Origin.Site))
	}
	attrs = append(attrs, slog.String("sop_instance_uid", sop))
	switch {
	case errors.Is(err, ErrOtherStudy):
		attrs = append(attrs, slog.String("reason", "other study or series"))
	case errors.Is(err, ErrOtherSite):
		attrs = append(attrs, slog.String("reason", "other site"))
	case errors.Is(err, ErrForeignStudy):
		attrs = append(attrs, slog.String("reason", "study of another site"))
	}
	if err == nil {
		attrs = append(attrs, slog.String("study_instance_uid", res.inst.StudyInstanceUID), slog.Int64("size", res.inst.Size))
	}
	if res.oldKey != "" {
		attrs = append(attrs, slog.String("old_blob_key", res.oldKey), slog.String("blob_key", res.inst.BlobKey))
	}
	attrs = append(attrs, slog.Duration("duration", took))
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	a.log.LogAttrs(ctx, lvl, msg, attrs...)
}

// describe builds the record of a parsed header and checks it against the request.
func describe(hdr *dicom.Header, req PutRequest) (*Instance, error) {
	if hdr == nil || hdr.Dataset == nil {
		return nil, fmt.Errorf("no data set: %w", ErrInvalid)
	}
	ds := hdr.Dataset
	uid := func(t dicom.Tag) string { return dicom.TrimUID(ds.String(t)) }
	inst := &Instance{
		StudyInstanceUID:  uid(dicom.TagStudyInstanceUID),
		SeriesInstanceUID: uid(dicom.TagSeriesInstanceUID),
		SOPInstanceUID:    uid(dicom.TagSOPInstanceUID),
		SOPClassUID:       uid(dicom.TagSOPClassUID),
		TransferSyntaxUID: dicom.TrimUID(hdr.TransferSyntax),
		DatasetOffset:     hdr.DatasetOffset,
	}
	if inst.SOPClassUID == "" && hdr.Meta != nil {
		inst.SOPClassUID = dicom.TrimUID(hdr.Meta.String(dicom.TagMediaStorageSOPClassUID))
	}
	if inst.TransferSyntaxUID == "" {
		// No File Meta Information: the reader guessed Implicit VR Little Endian.
		inst.TransferSyntaxUID = dicom.ImplicitVRLittleEndian
	}
	for _, c := range []struct{ name, v string }{
		{"StudyInstanceUID", inst.StudyInstanceUID},
		{"SeriesInstanceUID", inst.SeriesInstanceUID},
		{"SOPInstanceUID", inst.SOPInstanceUID},
		{"SOPClassUID", inst.SOPClassUID},
	} {
		if c.v == "" {
			return nil, fmt.Errorf("missing %s: %w", c.name, ErrInvalid)
		}
		if !dicom.ValidUID(c.v, dicom.UIDLeadingZeros) {
			return nil, fmt.Errorf("%s %q is not a valid UID (PS3.5 9.1): %w", c.name, c.v, ErrInvalid)
		}
	}
	for _, c := range []struct{ name, want, got string }{
		{"SOPInstanceUID", req.ExpectSOPInstanceUID, inst.SOPInstanceUID},
		{"SOPClassUID", req.ExpectSOPClassUID, inst.SOPClassUID},
		{"StudyInstanceUID", req.ExpectStudyInstanceUID, inst.StudyInstanceUID},
	} {
		if c.want != "" && c.want != c.got {
			return nil, fmt.Errorf("%s %s does not match the expected %s: %w", c.name, c.got, c.want, ErrInvalid)
		}
	}
	inst.StudyAttrs = LevelAttrs(ds, LevelStudy)
	inst.SeriesAttrs = LevelAttrs(ds, LevelSeries)
	inst.InstanceAttrs = LevelAttrs(ds, LevelInstance)
	return inst, nil
}

func (a *Archive) putBlob(ctx context.Context, key, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return a.blobs.Put(ctx, key, f, size)
}

// present reports whether the blob of an indexed instance can be read. An uploaded blob is
// taken on the index's word: the upload was verified, and asking the remote store on every
// duplicate would make a re-sent study as slow as the remote.
func (a *Archive) present(ctx context.Context, inst *Instance) bool {
	if inst.Uploaded && a.remote != nil {
		return true
	}
	rc, err := a.blobs.Open(ctx, inst.BlobKey)
	if err != nil {
		return false
	}
	rc.Close()
	return true
}

// checkFree refuses new objects below the free-space floor, before anything is written: a
// modality told "out of resources" (0xA700) retries later, one told "success" must be right.
func (a *Archive) checkFree() error {
	if a.cfg.MinFreeBytes < 0 {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(a.cfg.SpoolDir, &st); err != nil {
		return fmt.Errorf("put: free space of %s: %w: %w", a.cfg.SpoolDir, ErrUnavailable, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < a.cfg.MinFreeBytes {
		return fmt.Errorf("put: %d bytes free on the spool filesystem, floor is %d: %w", free, a.cfg.MinFreeBytes, ErrNoSpace)
	}
	return nil
}

// streamError tells apart why spooling stopped: the size limit, the spool disk, the peer
// (or ctx), or bytes that are not DICOM (a bad header, or a stream that ends inside an
// element after it).
func (a *Archive) streamError(op string, err error, src *sourceReader, sink *sinkWriter, parsing bool) error {
	switch {
	case src.tooLarge:
		return fmt.Errorf("%s: more than %d bytes: %w", op, a.cfg.MaxObjectSize, ErrTooLarge)
	case sink.err != nil:
		return ioError(op+": spool", sink.err)
	case src.err != nil:
		return fmt.Errorf("%s: %w", op, src.err)
	case parsing:
		return fmt.Errorf("%s: %w: %w", op, ErrInvalid, err)
	case errors.Is(err, ErrInvalid):
		return fmt.Errorf("%s: %w", op, err)
	}
	return ioError(op, err)
}

// ioError wraps a local I/O error: ErrNoSpace for a full disk or quota, the error itself
// when it already carries a sentinel or a context error, ErrUnavailable otherwise.
func ioError(op string, err error) error {
	switch {
	case IsNoSpace(err):
		if errors.Is(err, ErrNoSpace) {
			return fmt.Errorf("%s: %w", op, err)
		}
		return fmt.Errorf("%s: %w: %w", op, ErrNoSpace, err)
	case hasSentinel(err):
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// indexError is ioError for index errors (which implementations already classify).
func indexError(op string, err error) error { return ioError(op, err) }

func hasSentinel(err error) bool {
	for _, s := range []error{ErrNotFound, ErrInvalid, ErrTooLarge, ErrNoSpace, ErrConflict, ErrUnavailable,
		context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// sourceReader reads the incoming object, counting it, enforcing the size limit and
// remembering the peer's own error, which the DICOM parser would otherwise report as if the
// bytes were malformed.
type sourceReader struct {
	ctx      context.Context
	r        io.Reader
	max      int64
	n        int64
	tooLarge bool
	err      error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return 0, err
	}
	if s.n > s.max {
		s.tooLarge = true
		return 0, ErrTooLarge
	}
	if rest := s.max + 1 - s.n; int64(len(p)) > rest {
		p = p[:rest] // one byte past the limit is enough to know
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.n > s.max {
		s.tooLarge = true
		return n, ErrTooLarge
	}
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// sinkWriter remembers the first spool write error (TeeReader reports it as a read error).
type sinkWriter struct {
	w   io.Writer
	err error
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// Open returns the record and the Part-10 bytes of one instance, or ErrNotFound. With a
// remote store the local copy is read when there is one (recent studies: the radiologists'
// reading), else the remote object.
func (a *Archive) Open(ctx context.Context, sopInstanceUID string) (*Instance, io.ReadSeekCloser, error) {
	inst, err := a.idx.Instance(ctx, sopInstanceUID)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", sopInstanceUID, err)
	}
	rc, err := a.openBlob(ctx, inst)
	if err != nil {
		return nil, nil, err
	}
	return inst, rc, nil
}

func (a *Archive) openBlob(ctx context.Context, inst *Instance) (io.ReadSeekCloser, error) {
	sop := inst.SOPInstanceUID
	if !inst.Evicted || a.remote == nil {
		rc, err := a.blobs.Open(ctx, inst.BlobKey)
		switch {
		case err == nil:
			return rc, nil
		case !errors.Is(err, ErrNotFound):
			return nil, ioError("open "+sop, err)
		}
		// Evicted after the record was read, or lost: the remote copy may still serve.
	}
	if a.remote != nil && inst.Uploaded {
		rc, err := a.remote.Open(ctx, inst.BlobKey)
		if err == nil {
			return rc, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, ioError("open "+sop+" from the remote store", err)
		}
	}
	// The index promised this object: a missing blob is damage, not a wrong request.
	a.log.Error("indexed blob missing", "sop_instance_uid", sop, "blob_key", inst.BlobKey,
		"uploaded", inst.Uploaded, "evicted", inst.Evicted)
	return nil, fmt.Errorf("open %s: blob %s missing: %w", sop, inst.BlobKey, ErrUnavailable)
}

// Index gives readers (QIDO-RS, WADO-RS, thumbnails, the viewer) the index's read side;
// every write goes through the Archive.
func (a *Archive) Index() IndexReader { return a.idx }

// uidLocks serialises work on one SOP Instance UID; entries live only while in use.
type uidLocks struct {
	mu sync.Mutex
	m  map[string]*uidLock
}

type uidLock struct {
	mu   sync.Mutex
	refs int
}

func (l *uidLocks) lock(uid string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*uidLock)
	}
	e := l.m[uid]
	if e == nil {
		e = &uidLock{}
		l.m[uid] = e
	}
	e.refs++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, uid)
		}
		l.mu.Unlock()
	}
}
