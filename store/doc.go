// Package store is the archive's domain: the Instance record, Archive (the one way objects
// enter and leave pacsd), and the two boundaries it stands on: Index (store/sqlite) and
// Blobs (store/file, later store/s3). It knows nothing of DIMSE, DICOMweb or the viewer;
// transports translate its sentinel errors to their own statuses once.
package store
