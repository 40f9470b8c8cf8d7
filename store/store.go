package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"pacsd/dicom"
)

// Sentinel errors; wrap them with the operation (fmt.Errorf("put %s: %w", uid, ErrInvalid)).
var (
	ErrNotFound    = errors.New("not found")
	ErrInvalid     = errors.New("invalid DICOM object") // unparsable, missing UIDs, UID mismatch
	ErrTooLarge    = errors.New("object too large")
	ErrNoSpace     = errors.New("out of storage space") // disk full or below the free-space floor
	ErrConflict    = errors.New("conflicting object")
	ErrUnavailable = errors.New("storage unavailable")

	// ErrDuplicate: the SOP instance is already stored with other content and the re-sent
	// object may not replace it (PS3.7 C.5: 0x0111 Duplicate SOP Instance). It wraps
	// ErrConflict; ErrOtherSite and ErrOtherStudy wrap it and say why (Archive.Put).
	ErrDuplicate = fmt.Errorf("SOP instance already stored with other content: %w", ErrConflict)
	// ErrOtherSite: the stored version came from another site (or the site of either is
	// unknown): only the sender of the stored version, or an administrator, may replace it.
	ErrOtherSite = fmt.Errorf("%w by another site", ErrDuplicate)
	// ErrOtherStudy: the re-sent object names another study or series than the stored
	// version: an instance never moves silently from one study to another.
	ErrOtherStudy = fmt.Errorf("%w in another study or series", ErrDuplicate)
	// ErrForeignStudy: a new SOP instance names a study that holds another township site's
	// objects. Only that site, and the county, may add to it: another sender must not be
	// able to put images (and with them, new patient attributes) into a site's study.
	ErrForeignStudy = fmt.Errorf("study holds another site's objects: %w", ErrConflict)
)

// Origin says where an object came from.
type Origin struct {
	Transport  string // "dimse" or "stow"
	CallingAE  string
	CalledAE   string
	RemoteAddr string
	// Site names the sender's site for the overwrite rule: a re-sent SOP instance with
	// other content replaces the stored one only when both have the same non-empty Site.
	// The caller sets it from the peers registry: "site:<id>" for a township site,
	// "county" for the county's own peers and users, "ae:<calling AE>" for an unknown sender.
	Site string
	// Quarantined: the sender is unknown and the policy holds its objects until an
	// administrator assigns them (the reading room shows them to administrators only).
	Quarantined bool
}

// Instance is the index record of one stored SOP instance.
type Instance struct {
	StudyInstanceUID  string
	SeriesInstanceUID string
	SOPInstanceUID    string
	SOPClassUID       string
	TransferSyntaxUID string

	BlobKey       string // where Blobs keeps the Part-10 object; only the index maps UIDs to keys
	Size          int64  // bytes of the Part-10 object
	SHA256        string // hex digest of the Part-10 object
	DatasetOffset int64  // where the data set starts in the Part-10 object (after the meta)

	Origin     Origin
	ReceivedAt time.Time

	// Where the bytes are, when the archive writes back to a remote blob store (S3):
	// Uploaded means the remote store holds the object, verified by size and SHA-256;
	// Evicted means the local copy has been removed since (only ever after Uploaded).
	// A folder-only archive leaves both false. PutInstance stores them as given.
	Uploaded bool
	Evicted  bool

	// Attributes of each level as DICOM JSON, taken from the object's header (UTF-8).
	// Patient attributes travel with the study (study root).
	StudyAttrs    dicom.JSONDataset
	SeriesAttrs   dicom.JSONDataset
	InstanceAttrs dicom.JSONDataset
}

// Level is a query/retrieve level. LevelStudy is the zero value: a Query without a level
// searches studies.
type Level int

const (
	// LevelPatient searches patients (PS3.4 C.6.1.1.2). The index keeps no patient records:
	// a patient is the studies sharing a Patient ID and Issuer of Patient ID (each study
	// without a Patient ID is a patient of its own). Its keys are the patient attributes
	// (PatientTag); a hit carries the attributes of the patient's newest study in scope and
	// the numbers of the patient's related studies, series and instances in scope.
	LevelPatient Level = iota - 1
	LevelStudy
	LevelSeries
	LevelInstance
)

// Match is one matching key of a query (PS3.4 C.2.2.2, PS3.18 8.3.4): single value, list of
// UIDs ('\'-separated), wildcards '*' and '?', ranges "a-b" for DA/TM/DT, empty = universal.
type Match struct {
	Tag   dicom.Tag
	Value string
}

// Query is a study-root search. StudyInstanceUID/SeriesInstanceUID scope the search when
// given (as in /studies/{s}/series); Matches may name attributes of the level searched or
// of any level above it.
type Query struct {
	Level             Level
	StudyInstanceUID  string
	SeriesInstanceUID string
	Matches           []Match
	Fuzzy             bool // fuzzymatching=true: PN matching ignores case and accents
	Limit             int  // 0 = no limit
	Offset            int

	// Scope: what the asker may see. SiteID, when non-zero, keeps only the studies the
	// reading room assigns to that site (a township AE's C-FIND). Studies held in
	// quarantine (from an unknown sender) are left out unless WithQuarantined (asked by
	// an administrator).
	SiteID          int64
	WithQuarantined bool
}

// IndexReader is the read side of the Index: what the archive's readers (DICOMweb,
// thumbnails, the viewer, after-ingest work) ask of it. Archive.Index hands out this, not
// the Index, so that every write goes through the Archive. storetest.RunIndex covers it.
type IndexReader interface {
	// Instance returns the record of one SOP instance, or ErrNotFound.
	Instance(ctx context.Context, sopInstanceUID string) (*Instance, error)
	// Instances lists the instances of a study, or of one series when seriesUID != "",
	// ordered by series number, instance number, UID. ErrNotFound when there are none.
	Instances(ctx context.Context, studyUID, seriesUID string) ([]*Instance, error)
	// EachInstanceVersion calls fn with the series UID, SOP Instance UID and content
	// SHA-256 of each instance that Instances would list, in the same order, without
	// decoding any attributes: what names the current version of each object (WADO-RS
	// metadata finds its cached records by it), for a fraction of Instances' cost on a
	// large series. When there are none, fn is not called and the error is nil.
	EachInstanceVersion(ctx context.Context, studyUID, seriesUID string, fn func(seriesUID, sopUID, sha256 string) error) error
	// StudySites lists the distinct Origin.Site values of the study's current instances
	// (none when the study is unknown), for the rule that keeps a site's study its own.
	StudySites(ctx context.Context, studyUID string) ([]string, error)
	// Search answers a query from the index alone. Each hit carries the attributes of its
	// level and every level above, plus the derived ones (ModalitiesInStudy, the numbers
	// of related series and instances). Results are in a stable order (newest study first;
	// series and instance numbers).
	Search(ctx context.Context, q Query) ([]Hit, error)
}

// Index is the catalogue of stored instances: its read side and the writes the Archive
// makes. Implementations: store/sqlite; all must pass storetest.RunIndex. Matching rules
// and the keys an implementation supports are documented by the implementation;
// unsupported keys give an error wrapping ErrInvalid.
type Index interface {
	IndexReader
	// PutInstance records inst. If an instance with the same SOP Instance UID exists, it is
	// replaced and the previous record returned; prev is nil otherwise. A previous record
	// with other content (another SHA-256) is kept as a version (Versions) in the same
	// transaction, replaced at inst.ReceivedAt by inst's sender (Origin.Who); a kept
	// version with inst's content is dropped, the current record holding it now, so that
	// no two records of one instance share a blob. Study/series derived attributes are
	// kept current in the same transaction. The Archive decides who may replace what.
	PutInstance(ctx context.Context, inst *Instance) (prev *Instance, err error)
	// Versions lists the kept earlier versions of an instance, most recently replaced
	// first; none is an empty list, not an error.
	Versions(ctx context.Context, sopInstanceUID string) ([]Version, error)
	// RestoreVersion makes the kept version v current again, in one transaction: v.Instance
	// (whose attributes the Archive reads again from its blob) replaces the current record
	// as PutInstance would, except that the record replaced is kept as a version replaced at
	// `at` by `by`, and v's row goes (the current record holds its blob now). It returns the
	// record replaced. ErrNotFound when the instance, or its version v.ID with v.BlobKey,
	// does not exist.
	RestoreVersion(ctx context.Context, v *Version, at time.Time, by string) (prev *Instance, err error)
	// DeleteInstance removes the record (and empty series/studies). ErrNotFound if absent.
	DeleteInstance(ctx context.Context, sopInstanceUID string) error
	// BlobRefs calls fn for the blob reference of every instance that filter selects,
	// oldest received first for RefsPending and RefsEvictable (the upload and eviction
	// order), in no particular order for RefsAll. RefsAll includes the kept versions'
	// blobs (Check must never take them for leftovers); the others select current
	// records only (a version is neither uploaded nor evicted). At most limit refs when
	// limit > 0.
	BlobRefs(ctx context.Context, filter RefFilter, limit int, fn func(BlobRef) error) error
	// MarkUploaded records that the remote store holds blobKey for the instance. It fails
	// with ErrNotFound when the instance is gone or now points at another blob (replaced
	// while uploading), so the caller can remove what it uploaded.
	MarkUploaded(ctx context.Context, sopInstanceUID, blobKey string) error
	// MarkEvicted records that the local copy of an uploaded blob is gone; ErrNotFound as
	// for MarkUploaded, and also when the blob is not uploaded (it must never be evicted)
	// or already evicted (so that two evictors never both count it).
	MarkEvicted(ctx context.Context, sopInstanceUID, blobKey string) error
	// Usage sums the instances (current records, not kept versions) by where their bytes are.
	Usage(ctx context.Context) (Usage, error)
	// Setting and SetSetting keep small facts about the archive itself (which remote store
	// holds its objects). Setting returns "" for a key never set.
	Setting(ctx context.Context, key string) (string, error)
	SetSetting(ctx context.Context, key, value string) error
	Close() error
}

// RefFilter selects blob references.
type RefFilter int

const (
	RefsAll       RefFilter = iota
	RefsPending             // not yet uploaded to the remote store
	RefsEvictable           // uploaded and still kept locally
)

// BlobRef is what the index knows of one instance's blob.
type BlobRef struct {
	SOPInstanceUID string
	BlobKey        string
	Size           int64
	SHA256         string
	ReceivedAt     time.Time
	Uploaded       bool
	Evicted        bool
}

// Usage counts instances and their bytes by location.
type Usage struct {
	Instances       int64
	Bytes           int64
	PendingObjects  int64 // not yet uploaded (all of them in a folder-only archive)
	PendingBytes    int64
	LocalObjects    int64 // with a local copy (not evicted)
	LocalBytes      int64
	UploadedObjects int64
}

// BlobInfo is one object of a blob store.
type BlobInfo struct {
	Key     string
	Size    int64
	ModTime time.Time // when the object was written; zero if the store cannot tell
}

// Blobs keeps Part-10 objects by key. Implementations: store/file, store/s3; all
// must pass storetest.RunBlobs.
// A successful Put is durable: the bytes are on stable storage before it returns.
// Keys are clean, relative, slash-separated paths whose elements do not start with a dot
// (BlobKey makes them); others are refused with an error wrapping ErrInvalid.
type Blobs interface {
	// Put stores r under key, replacing any object there atomically (readers see the old or
	// the new object, never a mix). size < 0 means unknown; otherwise r must yield exactly
	// size bytes, else nothing is stored. A failed Put leaves no object under key (or the
	// old one).
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Open returns the object, or an error wrapping ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, error)
	// Delete removes the object; deleting an absent key is not an error (S3 semantics).
	Delete(ctx context.Context, key string) error
	// List calls fn for every object.
	List(ctx context.Context, fn func(BlobInfo) error) error
}

// InstanceLocker is implemented by an Index shared by several processes (PostgreSQL in
// cluster mode): LockInstance holds a lock on one SOP Instance UID across all of them
// until unlock is called, so that two nodes receiving the same instance at once do not
// both pass the overwrite rule before either has recorded its version. It waits while
// another holds the lock, until ctx ends. unlock must be called exactly once.
type InstanceLocker interface {
	LockInstance(ctx context.Context, sopInstanceUID string) (unlock func(), err error)
}

// FileAdopter is implemented by Blobs that can take ownership of a local, already written
// file by renaming it into place (the folder backend), which avoids copying a spooled object.
// AdoptFile must leave the object durable (fsync'd file, renamed, directory fsync'd).
type FileAdopter interface {
	AdoptFile(ctx context.Context, key, path string) error
}

// ContextReader returns a reader that fails with ctx's error once ctx ends, so that a long
// copy (a blob written, an instance streamed to a client) stops when its caller is gone.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
