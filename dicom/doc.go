// Package dicom is pacsd's model of DICOM data: reading a Part-10 header or a bare data set
// from a stream (stopping before Pixel Data), Specific Character Set decoding to UTF-8,
// Person Name component groups, the DICOM JSON model (PS3.18 Annex F), transfer syntax and
// SOP class facts, and Part-10 writing.
//
// It wraps github.com/suyashkumar/dicom v1.1.0 for the data dictionary and never re-exports
// it: no other pacsd package imports that module. It knows nothing of storage or networking.
package dicom
