// Package storetest holds the contract suites every store.Blobs and store.Index
// implementation must pass (RunBlobs, RunIndex), and the fixtures they share, so that the
// folder and S3 blob stores, and any index, are held to one behaviour; and SearchDatasets,
// search hits decoded into one data set each, the reference tests hold results to. It is
// imported by tests only.
package storetest
