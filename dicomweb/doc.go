// Package dicomweb serves the DICOMweb Studies Service (PS3.18 10) over a store.Archive,
// on the echo router: QIDO-RS search (PS3.18 10.6) answered from the index alone, and
// WADO-RS instance retrieval (PS3.18 10.4) streamed from the blob store.
//
// This first cut covers:
//
//   - QIDO-RS on /studies, /series, /instances and their study/series-scoped forms, returning
//     application/dicom+json (PS3.18 Annex F) with the default attribute sets of
//     PS3.18 Table 10.6.3-3/4/5, includefield, limit/offset paging and fuzzymatching.
//   - WADO-RS of a study, a series or one instance as
//     multipart/related; type="application/dicom", each part the stored Part-10 object.
//
// It is not (yet): STOW-RS, /metadata, /frames, /bulkdata, /rendered, /thumbnail, CORS,
// transcoding, or the multipart/related; type="application/dicom+xml" QIDO representation.
// Those answer 404 (no route) or 406 (representation not offered) until a later issue adds
// them.
//
// Choices a client may notice:
//
//   - Query strings are decoded as application/x-www-form-urlencoded (net/url.ParseQuery),
//     as browsers and most HTTP libraries encode them: "%E5%BC%A0*" is "张*" and a literal '+'
//     means a space. A '+' that is meant literally, as in a DT offset "+0800", must be sent
//     as %2B. Decoded values must be UTF-8; anything else is refused with 400.
//
//   - An unknown query parameter on QIDO-RS is refused with 400 rather than ignored, so that
//     a misspelt key ("PatientsName") does not silently widen a search. The accept query
//     parameter (PS3.18 8.3.3.1) replaces the Accept header field, for links.
//
//   - Accept fields are read leniently: q-values, quoted or unquoted type parameters, any
//     case, several fields. Unparsable ranges are skipped, not answered with 400.
//
//   - A search without matches is 200 with an empty JSON array, not 204 No Content: every
//     client then parses one shape of answer.
//
//   - WADO-RS sends each instance in the transfer syntax it was stored in. Accepting
//     transfer-syntax=*, or naming no transfer syntax, or naming the stored one, gets it;
//     naming another one is 406 until transcoding exists. (PS3.18 8.7.3.5.2 makes Explicit
//     VR Little Endian the default when no transfer-syntax is named; sending the stored
//     syntax instead is what origin servers commonly do and never alters pixel data.)
//
//   - Responses carry PHI: searches are "private, no-store"; instances are "private" with a
//     weak ETag from their SHA-256 (If-None-Match gives 304). A failure after the first part
//     of a study has gone out breaks the connection rather than ending the body cleanly, so
//     no client mistakes a partial study for a whole one.
//
// The package knows store and dicom and nothing of DIMSE or the viewer. Errors from store
// are translated to HTTP statuses in one table (errors.go); response bodies never carry
// internal error text.
package dicomweb
