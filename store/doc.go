// Package store is the archive's domain: the Instance record, Archive (the one way objects
// enter and leave pacsd), and the two boundaries it stands on: Index (store/sqlite) and
// Blobs (store/file, later store/s3). It knows nothing of DIMSE, DICOMweb or the viewer;
// transports translate its sentinel errors to their own statuses once.
//
// Archive.Put is the ingest path of DESIGN.md section 3: the object is spooled to
// Config.SpoolDir while it is hashed, counted (ErrTooLarge) and its header parsed from the
// same stream (dicom.ReadPart10, stopping before Pixel Data); the rest of the stream is
// checked to end on an element boundary. A bad header, a missing or malformed UID (PS3.5
// 9.1, see ValidUID) or a UID other than the one the request expects is ErrInvalid, and
// nothing is stored. The same object stored before (same SOP Instance UID and SHA-256) is
// answered from the index without writing. Otherwise the spooled file becomes a blob under
// BlobKey (renamed into place when the Blobs is a FileAdopter, copied otherwise), then the
// index commits; only then does Put return. A failed index write removes the new blob. An
// instance re-sent with different content replaces the stored one (the modality's
// corrected version wins), and the old blob is deleted after the commit. Puts of one SOP
// Instance UID are serialised; everything else runs in parallel.
//
// Disk space: Put refuses new objects when the spool filesystem has less than
// Config.MinFreeBytes free, and maps ENOSPC/EDQUOT anywhere on the way to ErrNoSpace.
//
// Archive.Recover (start-up) removes spool files of Puts that never returned and logs the
// differences between index and blob store (Check); it never deletes a blob.
package store
