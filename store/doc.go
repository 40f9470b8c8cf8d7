// Package store is the archive's domain: the Instance record, Archive (the one way objects
// enter and leave pacsd), and the two boundaries it stands on: Index (store/sqlite) and
// Blobs (store/file, store/s3). It knows nothing of DIMSE, DICOMweb or the viewer;
// transports translate its sentinel errors to their own statuses once.
//
// Archive.Put is the ingest path of DESIGN.md section 3: the object is spooled to
// Config.SpoolDir while it is hashed, counted (ErrTooLarge) and its header parsed from the
// same stream (dicom.ReadPart10, stopping before Pixel Data); the rest of the stream is
// checked to end on an element boundary. A bad header, a missing or malformed UID (PS3.5
// 9.1, leading zeros allowed) or a UID other than the one the request expects is ErrInvalid, and
// nothing is stored. The same object stored before (same SOP Instance UID and SHA-256) is
// answered from the index without writing. Otherwise the spooled file becomes a blob under
// BlobKey (renamed into place when the Blobs is a FileAdopter, copied otherwise), then the
// index commits; only then does Put return. A failed index write removes the new blob. An
// instance re-sent with different content replaces the stored one only from the site that
// sent it and in the same study and series (the modality's corrected version wins);
// otherwise it is refused (ErrOtherSite, ErrOtherStudy: ErrDuplicate) and the stored one
// stays. A replaced version is kept, blob and all: the index lists it (Archive.Versions)
// and an administrator may make it current again (Archive.Restore). The archive deletes no
// blob a record points at, current or kept. Puts of one SOP Instance UID are serialised;
// everything else runs in parallel.
//
// Disk space: Put refuses new objects when the spool filesystem has less than
// Config.MinFreeBytes free, and maps ENOSPC/EDQUOT anywhere on the way to ErrNoSpace.
//
// Write-back (Config.Remote, an S3 bucket): Put is unchanged, so the local blob store holds
// every acknowledged object first and the index records it as not uploaded. Archive.Start
// runs an uploader that takes the index's not-uploaded instances oldest first, streams each
// local copy to the remote store while checking it against the indexed size and SHA-256
// (store/s3 has the server verify a SHA-256 checksum too), and records the upload in the
// index; failures back off (UploadConfig.RetryMin/RetryMax) and are retried for ever. Uploads
// yield to ingest for up to UploadConfig.YieldMax. An evictor then removes local copies of
// uploaded objects, oldest received first, beyond UploadConfig.LocalBudget; reads use the
// local copy when there is one, else the remote object. While more than
// UploadConfig.MaxPending bytes wait for upload, Put answers ErrNoSpace. Because the work
// list is the index, a crash loses no upload: Start finds what is still pending.
//
// Archive.Recover (start-up) removes spool files of Puts that never returned;
// Archive.CheckInBackground, once pacsd listens, logs the differences between index and
// local blob store while Puts go on; neither deletes a blob. Archive.Reindex rebuilds a lost
// index from the objects. Archive.Check
// compares the index with both stores (and with CheckOptions.Hash, their bytes), and with
// CheckOptions.Repair removes unreferenced blobs older than a grace period.
package store
