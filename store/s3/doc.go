// Package s3 keeps Part-10 objects in an S3-compatible bucket (MinIO, AWS S3, Ceph RGW): the
// blob store of pacsd nodes that share object storage. It implements store.Blobs on
// github.com/minio/minio-go/v7, the only package of pacsd that imports it.
//
// Put streams: with a known size it sends exactly that many bytes (one PUT up to 16 MiB,
// multipart above, one part buffered at a time), refuses readers that yield more or fewer,
// asks the server to verify a SHA-256 checksum of the content and checks the stored size.
// Unknown sizes are uploaded as streaming multipart. Open checks that the object exists
// (so a missing key fails at Open, not at the first Read) and then reads with ranged GETs:
// a Read after Seek asks for the rest of the object from the new offset, ReadAt asks for
// exactly the bytes it needs (frames), and every GET is pinned to the ETag seen at Open so
// a reader never mixes two versions of an object.
//
// Errors wrap store.ErrNotFound (no such key), store.ErrUnavailable (connection refused,
// timeouts, 5xx, a missing bucket: try again later), store.ErrInvalid (bad keys) and
// ErrAccess (wrong or insufficient credentials).
//
// It is not an index and it does not choose keys: store.BlobKey does (a hashed leading element
// spreads load over key prefixes; the content hash keeps versions apart), and the index is the
// only map from UIDs to keys. A Config prefix lets several pacsd nodes or environments share
// one bucket. It is not durable local storage either: the archive's write-back spool keeps
// the acknowledged copy until an upload has succeeded.
package s3
