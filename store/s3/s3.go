package s3

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"pacsd/store"
)

// ErrAccess: the server refused our credentials or their permissions. Unlike
// store.ErrUnavailable it does not go away by waiting; an operator has to fix the keys.
var ErrAccess = errors.New("s3 access denied (check the access and secret keys and the bucket policy)")

const (
	// partSize is the multipart part size and the single-PUT limit. 16 MiB keeps a 15 MB
	// DR image in one request and bounds the memory of one upload to one part.
	partSize = 16 << 20
	// peekSize: an upload of unknown size that ends within this many bytes goes as a
	// single PUT, so small objects of unknown size do not cost a 16 MiB part buffer.
	peekSize = 1 << 20
	// maxRetries per request: the write-back spool retries whole uploads later, so one
	// request should fail within about a second when the server is down, not after ten tries.
	maxRetries = 3
	// probeDir holds the object New writes to check write access; its leading dot makes it
	// an invalid blob key, so it can never collide with a blob and List skips it.
	probeDir = ".pacsd/"
)

// Config says where the bucket is and how to reach it (cmd/pacsd fills it from its flags
// and environment). Its String, GoString and LogValue never show the secret key, and
// encoding/json skips it.
type Config struct {
	Endpoint  string // host:port, or a URL whose scheme sets Secure
	Bucket    string
	Region    string // empty: us-east-1 for bucket creation, discovered otherwise
	Prefix    string // optional key prefix ("pacsd/county-a"), so nodes can share a bucket
	Secure    bool   // HTTPS
	AccessKey string
	SecretKey string       `json:"-"`
	Logger    *slog.Logger `json:"-"` // nil: slog.Default()
}

// Name identifies where objects are, for the archive's record of its remote store: the
// bucket and prefix. Not the endpoint, which may change (a new DNS name, a proxy) while the
// objects stay where they are.
func (c Config) Name() string {
	p, err := cleanPrefix(c.Prefix)
	if err != nil {
		p = c.Prefix
	}
	return "s3:" + c.Bucket + "/" + p
}

// String describes the configuration for logs and error messages, without the secret and
// with most of the access key masked.
func (c Config) String() string {
	scheme := "http"
	if c.Secure {
		scheme = "https"
	}
	return fmt.Sprintf("s3 %s://%s bucket %q prefix %q region %q access key %s secret %s",
		scheme, c.Endpoint, c.Bucket, c.Prefix, c.Region, maskKey(c.AccessKey), redacted(c.SecretKey))
}

// GoString keeps %#v from printing the struct fields, secret included.
func (c Config) GoString() string { return "s3.Config{" + c.String() + "}" }

// LogValue is what log/slog prints for a Config.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("bucket", c.Bucket),
		slog.String("prefix", c.Prefix),
		slog.String("region", c.Region),
		slog.Bool("secure", c.Secure),
		slog.String("access_key", maskKey(c.AccessKey)),
		slog.String("secret_key", redacted(c.SecretKey)),
	)
}

func maskKey(k string) string {
	if k == "" {
		return "(none)"
	}
	// The first characters tell an operator which key is configured (AWS keys share the
	// "AKIA" start, MinIO users pick names), without handing out the whole identifier.
	if len(k) > 4 {
		return k[:4] + "…"
	}
	return "…"
}

func redacted(s string) string {
	if s == "" {
		return "(none)"
	}
	return "(set)"
}

// Blobs is a store.Blobs on one bucket (and optional prefix). It is safe for concurrent use.
type Blobs struct {
	client  *minio.Client
	core    minio.Core
	bucket  string
	prefix  string // "" or ends with "/"
	region  string
	log     *slog.Logger
	checked atomic.Bool // Check has succeeded
}

var _ store.Blobs = (*Blobs)(nil)

// New connects to the bucket described by cfg, creates the bucket if it is missing, and
// checks that the credentials may write, read and delete under the prefix, so that a wrong
// configuration fails at start rather than at the first upload. It is Open then Check.
func New(ctx context.Context, cfg Config) (*Blobs, error) {
	b, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if err := b.Check(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Open validates cfg and builds the client without contacting the server, so that pacsd
// can start while the bucket is unreachable (the write-back spool takes the objects).
// Until Check has succeeded once, Put runs it first: a bucket that did not exist when
// pacsd started is created by the first upload after the server comes back.
func Open(cfg Config) (*Blobs, error) {
	endpoint, secure, err := parseEndpoint(cfg.Endpoint, cfg.Secure)
	if err != nil {
		return nil, err
	}
	cfg.Endpoint, cfg.Secure = endpoint, secure
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("s3 bucket %q: %w", cfg.Bucket, err)
	}
	prefix, err := cleanPrefix(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, fmt.Errorf("s3 %s: access and secret key are required", cfg.Endpoint)
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("s3 transport: %w", err)
	}
	// A server that accepts connections but never answers (stopped process, dead NAT
	// entry) must surface as ErrUnavailable well before callers' own deadlines.
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 30 * time.Second
	client, err := minio.New(endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    secure,
		Region:    cfg.Region,
		Transport: tr,
		// Trailing checksums let the server verify a SHA-256 of streamed content that we
		// only know once the last byte has been sent.
		TrailingHeaders: true,
		MaxRetries:      maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", endpoint, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Blobs{
		client: client,
		core:   minio.Core{Client: client},
		bucket: cfg.Bucket,
		prefix: prefix,
		region: cfg.Region,
		log:    log.With("component", "s3", "bucket", cfg.Bucket),
	}, nil
}

// Check creates the bucket if it is missing and checks that the credentials may write,
// read and delete under the prefix. Errors wrap store.ErrUnavailable when the server
// cannot be reached (waiting may help) and ErrAccess when it refuses the keys.
func (b *Blobs) Check(ctx context.Context) error {
	if err := b.ensureBucket(ctx, b.region); err != nil {
		return err
	}
	if err := b.probe(ctx); err != nil {
		return err
	}
	b.checked.Store(true)
	return nil
}

func parseEndpoint(ep string, secure bool) (hostport string, tls bool, err error) {
	if ep == "" {
		return "", false, errors.New("s3: endpoint is required")
	}
	if !strings.Contains(ep, "://") {
		if strings.ContainsAny(ep, "/?#") {
			return "", false, fmt.Errorf("s3 endpoint %q: want host[:port]", ep)
		}
		return ep, secure, nil
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("s3 endpoint %q: want host[:port] or http(s)://host[:port]", ep)
	}
	switch u.Scheme {
	case "http":
		return u.Host, false, nil
	case "https":
		return u.Host, true, nil
	}
	return "", false, fmt.Errorf("s3 endpoint %q: scheme must be http or https", ep)
}

func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if !fs.ValidPath(p) || strings.ContainsAny(p, "\\\x00") {
		return "", fmt.Errorf("s3 prefix %q: want a clean slash-separated path", p)
	}
	return p + "/", nil
}

func (b *Blobs) ensureBucket(ctx context.Context, region string) error {
	ok, err := b.client.BucketExists(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("s3 bucket %s: %w", b.bucket, b.classify(ctx, err))
	}
	if ok {
		return nil
	}
	err = b.client.MakeBucket(ctx, b.bucket, minio.MakeBucketOptions{Region: region})
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.Code == "BucketAlreadyOwnedByYou" {
		return nil // another node created it between our two requests
	}
	if err != nil {
		return fmt.Errorf("s3 create bucket %s: %w", b.bucket, b.classify(ctx, err))
	}
	b.log.Info("s3 bucket created", "region", cmp.Or(region, "us-east-1"))
	return nil
}

// probe writes, reads back and deletes a small object under the prefix.
func (b *Blobs) probe(ctx context.Context) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := b.prefix + probeDir + "probe-" + hex.EncodeToString(rnd[:])
	data := []byte("pacsd write check")
	_, err := b.client.PutObject(ctx, b.bucket, name, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{Checksum: minio.ChecksumSHA256})
	if err != nil {
		return fmt.Errorf("s3 write check in bucket %s: %w", b.bucket, b.classify(ctx, err))
	}
	defer func() {
		if err := b.client.RemoveObject(context.WithoutCancel(ctx), b.bucket, name, minio.RemoveObjectOptions{}); err != nil {
			b.log.Warn("s3 write check: delete probe object", "key", name, "err", b.classify(ctx, err))
		}
	}()
	if _, err := b.client.StatObject(ctx, b.bucket, name, minio.StatObjectOptions{}); err != nil {
		return fmt.Errorf("s3 read check in bucket %s: %w", b.bucket, b.classify(ctx, err))
	}
	return nil
}

func (b *Blobs) objectName(key string) (string, error) {
	// The Blobs contract's key rule, as the folder backend's, so a bucket can be migrated
	// to a folder and back. S3 limits names to 1024 bytes.
	if !store.ValidBlobKey(key) || len(b.prefix)+len(key) > 1024 {
		return "", fmt.Errorf("blob key %q: %w", key, store.ErrInvalid)
	}
	return b.prefix + key, nil
}

// Put uploads r under key. With size >= 0, r must yield exactly size bytes; an upload that
// fails (short or long reader, reader error, cancelled context, server error) leaves no
// object, or the previous one, under key: S3 makes a PUT or a completed multipart upload
// visible at once or not at all, and failed multipart uploads are aborted.
func (b *Blobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	name, err := b.objectName(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	if !b.checked.Load() {
		if err := b.Check(ctx); err != nil {
			return fmt.Errorf("put blob %s: %w", key, err)
		}
	}
	if ra, ok := r.(io.ReaderAt); ok && size > partSize {
		return b.putReaderAt(ctx, key, name, r, ra, size)
	}
	var src *sourceReader
	if size < 0 {
		// Read a little first: small objects of unknown size go as one PUT of known size.
		head := make([]byte, peekSize)
		n, err := io.ReadFull(r, head)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			size = int64(n)
			src = &sourceReader{r: bytes.NewReader(head[:n]), left: size}
		case err != nil:
			return fmt.Errorf("put blob %s: read source: %w", key, err)
		default:
			src = &sourceReader{r: io.MultiReader(bytes.NewReader(head), r), left: -1}
		}
	} else {
		src = &sourceReader{r: r, left: size}
	}
	if size == 0 {
		// minio-go may send an empty body without reading the source at all.
		if err := src.checkEnd(); err != nil {
			return fmt.Errorf("put blob %s: %w", key, err)
		}
	}
	opts := minio.PutObjectOptions{
		ContentType: "application/dicom",
		PartSize:    partSize,
		// The server recomputes the SHA-256 (per part for multipart) and refuses the
		// upload when it differs from what we computed while streaming.
		Checksum: minio.ChecksumSHA256,
	}
	up, err := b.client.PutObject(ctx, b.bucket, name, src, size, opts)
	if err != nil {
		if src.err != nil {
			// The source failed or had the wrong length: not the server's fault, and not
			// something waiting will fix.
			return fmt.Errorf("put blob %s: %w", key, src.err)
		}
		return fmt.Errorf("put blob %s: %w", key, b.classify(ctx, err))
	}
	return b.checkStored(ctx, key, name, up.ETag, src.n)
}

// checkStored trusts, but verifies: the stored object must have every byte we sent, no
// more. Pinned to our upload's ETag: a concurrent Put of the same key may already have
// replaced it, which is the last-writer-wins the contract allows, not a fault of ours.
func (b *Blobs) checkStored(ctx context.Context, key, name, etag string, sent int64) error {
	var stat minio.StatObjectOptions
	if err := stat.SetMatchETag(etag); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	info, err := b.client.StatObject(ctx, b.bucket, name, stat)
	switch err := b.classify(ctx, err); {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return nil // replaced or deleted since: ours was complete when the server took it
	case err != nil:
		return fmt.Errorf("put blob %s: check stored object: %w", key, err)
	}
	if info.Size != sent {
		// Not removed: the key may hold someone else's good object by now, and an object
		// the index never references is found and removed by the consistency check.
		return fmt.Errorf("put blob %s: stored %d bytes, sent %d: %w", key, info.Size, sent, store.ErrUnavailable)
	}
	return nil
}

// putReaderAt uploads a large object from a random-access source (a local file) as
// multipart parts read with ReadAt, streamed from the file: no part is held in memory, so
// eight 100 MB uploads cost kilobytes, not 16 MiB each. The source's length is checked
// before the upload, since parts are read from offsets rather than to an end.
func (b *Blobs) putReaderAt(ctx context.Context, key, name string, r io.Reader, ra io.ReaderAt, size int64) error {
	var off int64
	if sk, ok := r.(io.Seeker); ok {
		var err error
		if off, err = sk.Seek(0, io.SeekCurrent); err != nil {
			return fmt.Errorf("put blob %s: read source: %w", key, err)
		}
	}
	var one [1]byte
	if n, err := ra.ReadAt(one[:], off+size-1); n != 1 {
		return fmt.Errorf("put blob %s: %w (%v)", key, errShort, err)
	}
	if n, _ := ra.ReadAt(one[:], off+size); n != 0 {
		return fmt.Errorf("put blob %s: %w", key, errTooLong)
	}
	opts := minio.PutObjectOptions{
		ContentType: "application/dicom",
		PartSize:    partSize,
		Checksum:    minio.ChecksumSHA256,
		NumThreads:  2, // parts in flight per object; the write-back runs several objects at once
	}
	up, err := b.client.PutObject(ctx, b.bucket, name, io.NewSectionReader(ra, off, size), size, opts)
	if err != nil {
		return fmt.Errorf("put blob %s: %w", key, b.classify(ctx, err))
	}
	return b.checkStored(ctx, key, name, up.ETag, size)
}

var errTooLong = errors.New("source has more bytes than the declared size")

// sourceReader passes the caller's reader to minio-go, counts what it yields and, with a
// declared size, turns a short or long source into an error before the last byte is handed
// over, so the request carrying the object can never complete.
type sourceReader struct {
	r    io.Reader
	left int64 // bytes still expected; -1 when unknown
	n    int64 // bytes handed to the uploader
	err  error // the source's own failure, reported instead of the upload's
	done bool  // the end of a sized source has been checked
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.left == 0 {
		if err := s.checkEnd(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if s.left > 0 && int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	if s.left > 0 {
		s.left -= int64(n)
		if s.left == 0 && err == nil {
			if perr := s.checkEnd(); perr != nil {
				return 0, perr
			}
		}
		if s.left > 0 && err == io.EOF {
			// Not io.ErrUnexpectedEOF itself: minio-go takes that for a short last part.
			s.err = fmt.Errorf("source ended %d bytes early: %w", s.left, errShort)
			return 0, s.err
		}
	}
	if err != nil && err != io.EOF {
		s.err = fmt.Errorf("read source: %w", err)
		return 0, s.err
	}
	s.n += int64(n)
	return n, err
}

var errShort = errors.New("source has fewer bytes than the declared size")

// checkEnd makes sure a source that has yielded its declared size is at EOF.
func (s *sourceReader) checkEnd() error {
	if s.done {
		return s.err
	}
	s.done = true
	var one [1]byte
	for range 100 { // a reader may return 0, nil a few times; io.Reader discourages it
		n, err := s.r.Read(one[:])
		if n > 0 {
			s.err = errTooLong
			return s.err
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			s.err = fmt.Errorf("read source: %w", err)
			return s.err
		}
	}
	s.err = fmt.Errorf("read source: %w", io.ErrNoProgress)
	return s.err
}

// Open returns a reader of the object. It asks the server for the object's size and ETag
// now, so a missing key fails here with store.ErrNotFound; bytes are fetched on demand with
// ranged GETs that use ctx, which must stay live until the reader is closed.
func (b *Blobs) Open(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	name, err := b.objectName(key)
	if err != nil {
		return nil, err
	}
	info, err := b.client.StatObject(ctx, b.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", key, b.classify(ctx, err))
	}
	return &object{b: b, ctx: ctx, key: key, name: name, size: info.Size, etag: info.ETag}, nil
}

// Delete removes the object; a missing object is not an error.
func (b *Blobs) Delete(ctx context.Context, key string) error {
	name, err := b.objectName(key)
	if err != nil {
		return err
	}
	err = b.client.RemoveObject(ctx, b.bucket, name, minio.RemoveObjectOptions{})
	if err != nil {
		if err := b.classify(ctx, err); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete blob %s: %w", key, err)
		}
	}
	return nil
}

// List calls fn for every blob under the prefix, with the prefix removed, in key order.
// The listing is paginated by the server (1000 keys a page), so memory does not grow with
// the bucket. Names that are not valid blob keys (probe objects, foreign files) are skipped.
func (b *Blobs) List(ctx context.Context, fn func(store.BlobInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing when fn fails
	for obj := range b.client.ListObjectsIter(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("list blobs: %w", b.classify(ctx, obj.Err))
		}
		key := strings.TrimPrefix(obj.Key, b.prefix)
		if !store.ValidBlobKey(key) {
			continue
		}
		if err := fn(store.BlobInfo{Key: key, Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// classify maps an error of minio-go to the store's sentinels, keeping the original for
// the message. ctx is the caller's: its own cancellation is reported as such.
func (b *Blobs) classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return cerr
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.Code != "" || er.StatusCode != 0) {
		switch er.Code {
		case "NoSuchKey":
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "AccountProblem":
			return fmt.Errorf("%w: %w", ErrAccess, err)
		case "XMinioStorageFull":
			return fmt.Errorf("%w: %w: %w", store.ErrUnavailable, store.ErrNoSpace, err)
		case "NoSuchBucket", // deleted under us: the objects are not "not found", the store is broken
			"SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "ServiceUnavailable", "InternalError",
			"XMinioServerNotInitialized", "XMinioReadQuorum", "XMinioWriteQuorum",
			// Content damaged on the way: a retry will do.
			"BadDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch", "IncompleteBody":
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		case "PreconditionFailed":
			return fmt.Errorf("%w: object replaced while reading: %w", store.ErrConflict, err)
		}
		switch {
		case er.StatusCode == http.StatusNotFound && er.Code == "":
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case er.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: %w", ErrAccess, err)
		case er.StatusCode >= 500, er.StatusCode == http.StatusTooManyRequests, er.StatusCode == http.StatusRequestTimeout:
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	if isNetwork(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// isNetwork reports errors of the transport: refused or reset connections, timeouts, a
// connection that died mid-response.
func isNetwork(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) ||
		// A dead peer seen by net/http mid-request or mid-body.
		errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded)
}
