// Package dicom is pacsd's model of DICOM data: reading a Part-10 header or a bare data set
// from a stream (stopping before Pixel Data), Specific Character Set decoding to UTF-8,
// Person Name component groups, the DICOM JSON model (PS3.18 Annex F), transfer syntax and
// SOP class facts, and Part-10 writing.
//
// # Why pacsd reads DICOM itself
//
// github.com/suyashkumar/dicom supplies the data dictionary (tag names, keywords and VRs)
// and nothing else; its parser does not fit an archive's ingest path:
//
//   - Offsets. Every Element carries the offset of its value in the data set stream and a
//     Header the offsets of the data set and of Pixel Data, so WADO-RS BulkDataURIs and
//     frames are served as ranged reads of the stored object.
//   - Stopping before Pixel Data. A C-STORE or STOW-RS stream is read up to Pixel Data
//     while it is spooled; the pixels flow to the spool untouched and are never held in
//     memory.
//   - Byte-exact pass-through. The reader only looks at the bytes its caller tees into the
//     spool; what is stored is what the sender sent, never a re-encoding.
//   - Bounded allocation. Every length read from the wire is checked against the stream,
//     the enclosing item and ReadOptions before anything is allocated from it, so a lying
//     length cannot exhaust memory.
//
// The dictionary is wrapped, never re-exported: no other pacsd package imports that
// module. This package knows nothing of storage or networking.
package dicom
