// Package miniotest runs a real MinIO server on 127.0.0.1 for tests: one process per Start,
// with its own data folder under t.TempDir() and fresh random credentials, killed when the
// test ends. Stop and Restart (same folder, same port) let fault tests take it away and
// bring it back.
//
// The server binary is built once by scripts/minio.sh and cached; Start looks for it in
// $PACSD_MINIO, then the cache ($PACSD_CACHE or ~/.cache/pacsd/bin), then PATH. A missing
// binary fails the test (it does not skip: a skipped S3 suite looks like a passing one);
// go test -short skips.
package miniotest
