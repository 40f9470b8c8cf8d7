// Package dicomweb serves the DICOMweb Studies Service (PS3.18 10) and the URI Service
// (PS3.18 9) over a store.Archive, on the echo router:
//
//   - QIDO-RS search (PS3.18 10.6) on /studies, /series, /instances and their study- and
//     series-scoped forms, answered from the index alone, as application/dicom+json
//     (Annex F) or multipart/related; type="application/dicom+xml" (PS3.19 Native DICOM
//     Model), with includefield, limit/offset and fuzzymatching.
//   - WADO-RS (PS3.18 10.4): instances of a study, series or one instance as
//     multipart/related; type="application/dicom", as stored or transcoded to Explicit VR
//     Little Endian; metadata at all three levels; frames, as stored or decoded; bulk
//     data; rendered images (10.4.1.1.3) and thumbnails (10.4.1.1.4, Supplement 203) of
//     studies, series, instances and frames.
//   - STOW-RS (PS3.18 10.5): POST /studies and /studies/{study}, parts streamed one by one
//     into Archive.Put; the Store Instances Response (Annex I) in JSON or XML.
//   - WADO-URI (PS3.18 9) at /wado: application/dicom (as stored or Explicit VR Little
//     Endian), application/pdf for Encapsulated PDF, image/jpeg and image/png for images.
//   - A capabilities document at the root (JSON, or HTML for a browser).
//
// It is not (yet): transcoding to compressed syntaxes, rendering of non-image objects
// (reports, PDF) or to image/gif and video, presentation states, STOW of metadata plus bulk
// data, or matching on attributes inside sequences.
//
// # Metadata and its cache
//
// The first request that needs an object's metadata reads its header once (cache.go,
// record.go): the DICOM JSON, where each bulk value and each frame lies. That record is
// kept in a file under Config.CacheDir named by SOP Instance UID and content SHA-256 (a
// replaced instance gets a new record) and in a byte-bounded LRU. A series' or study's
// metadata is the concatenation of its instances' records, kept whole (with its gzip
// form) until an instance changes. Values over 1 KiB and Pixel Data are sent by
// BulkDataURI: relative references by default ("instances/{uid}/bulkdata/7FE00010" in a
// series' metadata, resolved against the request URL, which is also how OHIF resolves
// them), absolute under Config.PublicURL when it is set. Bulk data paths name tags from
// the top level down with 1-based item numbers between them ("00400275/2/00091010").
//
// Metadata is built at ingest too: Register returns a Service whose Start subscribes to the
// archive's new objects (Archive.OnStored) and builds their records in the background with
// one worker that yields to ingest (warm.go), so the first series metadata request after a
// study arrives only assembles them.
//
// # Frames and bulk data
//
// Frames are located from headers alone: the Pixel Data value for native data; for
// encapsulated data the Extended or Basic Offset Table, one fragment per frame, or, failing
// those, the fragments that start a codestream. Uncompressed frames and values go out
// little endian (swapped from Explicit VR Big Endian, inflated from a deflated data set)
// as application/octet-stream; compressed frames go out as stored, typed image/jpeg,
// image/jls, image/jp2, image/jpx or image/dicom-rle, or as application/octet-stream with
// the transfer-syntax parameter when a client accepts transfer-syntax=* (what OHIF sends).
// A media type without transfer-syntax stands for its default syntax (PS3.18 8.7.3.5.2):
// a client asking for plain application/octet-stream frames of a compressed image, or
// naming transfer-syntax=1.2.840.10008.1.2.1, gets them decoded, one frame at a time, as
// the native Pixel Data of Explicit VR Little Endian would hold them (pixel-interleaved,
// 8 or 16 bits allocated, colour JPEG as RGB); 406 when this server has no decoder for the
// syntax, with a message saying what is offered. One byte range (Range) is honoured on bulk
// data and WADO-URI objects.
//
// # Transfer syntaxes of instances
//
// PS3.18 8.7.3.4 makes Explicit VR Little Endian the default syntax of a DICOM payload and
// requires an origin server to be able to convert to it, except pixel data it holds only
// in lossy form or that would be too long uncompressed; 8.7.8.2 selects, for a media type
// named without transfer-syntax, that default. pacsd reads it so (transcode.go):
//
//   - transfer-syntax=* gets every instance as stored, byte for byte;
//   - transfer-syntax=1.2.840.10008.1.2.1 gets every instance in Explicit VR Little
//     Endian, transcoded (dicom/pixel.TranscodeExplicitLE) where it is stored otherwise;
//     406 for an object that cannot be (a codec or pixel layout dicom/pixel lacks);
//   - transfer-syntax=1.2.840.10008.1.2.4.50 gets 8-bit unsigned images (ultrasound,
//     secondary capture) in JPEG Baseline (dicom/pixel.TranscodeJPEGBaseline, quality 90),
//     for viewers that ask for it; other images are 406 unless the client also takes
//     their stored form;
//   - type="application/dicom" without transfer-syntax gets the default: Explicit VR
//     Little Endian, except lossy compressed objects and objects too large for it (as
//     stored, as 8.7.3.4 allows), and objects this server cannot decode (as stored too,
//     rather than nothing);
//   - an Accept field that names no instance type (*/*, multipart/related without type,
//     none at all) accepts every representation: the stored one is sent. The first cut
//     sent the stored syntax whenever none was named; only clients naming
//     application/dicom without a syntax see a difference.
//
// WADO-URI follows the same rules with its transferSyntax parameter (PS3.18 9.4.2.4), with
// Explicit VR Little Endian as its only transcoding.
// Each part is selected on its own (8.7.8.2 Note 1) and streamed as it is transcoded, a
// frame at a time: a study is never in memory, and a transcoded part has no Content-Length
// (the response none either). Its ETag names the syntax as well as the content.
//
// # Rendered images and thumbnails
//
// The rendered resources (render.go, PS3.18 10.4.1.1.3, parameters 8.3.5.1) render
// through dicom/pixel: image/jpeg by default, image/png on request. One frame, or an
// instance with one frame, is one image; several frames, a series or a study are
// multipart/related, one part per frame; a multi-frame instance is one image (its first
// frame) unless the client names multipart/related. Frames are decoded once at the
// smallest power-of-two size from 256 pixels the output needs and kept in a byte-bounded
// LRU (Config.FrameCacheBytes), so a viewer's window/level drag costs one render per step.
// Thumbnails (thumbnails.go) are the thumbnail service's (Config.Thumbnails) cached JPEGs,
// rendered on demand for another viewport, PNG, or a frame; an object without an image has
// none (404). WADO-URI renders with the same code (rows, columns, windowCenter,
// windowWidth, region, frameNumber, imageQuality).
//
// # Choices a client may notice
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
//     case, several fields, legacy names (image/x-jls). Unparsable ranges are skipped.
//
//   - A search without matches is 200 with an empty JSON array, not 204 No Content.
//
//   - Instance-level search results carry Available Transfer Syntax UID (0008,3002) by
//     default (PS3.18 10.6.3.3.3 allows it), with one value: the syntax the object is
//     stored in, the one retrieval can assure (transfer-syntax=*). Explicit VR Little
//     Endian, the default WADO-RS transcodes to where it can, is not listed. It is also a
//     matching key of instance-level searches; series and study results never carry it.
//
//   - WADO-RS instances go out in their stored transfer syntax when transfer-syntax=* or
//     no instance type is named, in Explicit VR Little Endian when that is named or is the
//     default (see Transfer syntaxes of instances above); naming any other syntax is 406.
//
//   - Rendered images are never scaled up (a browser scales up without loss); annotation
//     is accepted and nothing is drawn (burning patient names into images browsers keep
//     would spread PHI); iccprofile is ignored.
//
//   - STOW-RS answers 200 when every part was stored, 202 when some were not, 409 when none
//     was (400 for a body that is not multipart, 415 for a Content-Type other than
//     multipart/related; type="application/dicom"). Failure Reasons: 0xC000 unreadable or
//     malformed, 0xA900 identifying attributes missing or invalid, 0x0122 not a storage SOP
//     class, 0xA700 out of resources, 0x0110 processing failure, 0xC409 Study Instance UID
//     other than the one in the URL. Parts whose UIDs cannot be read are listed in Other
//     Failures Sequence (0008,119A). No Warning Reason is ever sent: objects are stored
//     byte for byte.
//
//   - Responses carry PHI: searches are "private, no-store"; instances, frames, bulk
//     data, rendered images and instance thumbnails "private, max-age=3600" with an ETag;
//     series and study thumbnails "private, max-age=0" with an ETag (they change as
//     instances arrive); metadata "private, no-cache" with an ETag (If-None-Match gives
//     304). JSON and XML bodies are gzip-compressed when accepted.
//     Cross-origin reads are allowed only for Config.AllowedOrigins.
//
//   - A failure after the first byte of a multipart body has gone out breaks the
//     connection rather than ending the body cleanly, so no client mistakes a partial
//     study for a whole one.
//
// The package knows store, dicom, dicom/pixel and thumbnail, and nothing of DIMSE or the
// viewer. Errors from store are translated to HTTP statuses in one table (errors.go) and to
// STOW-RS Failure Reasons in another (stow.go); response bodies never carry internal error
// text.
package dicomweb
