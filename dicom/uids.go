package dicom

import "strings"

// Transfer syntax UIDs pacsd accepts for storage (PS3.5 Section 10 and Annex A, PS3.6
// Table A-1): every one of that table a storage SCP can be sent, retired ones included. An
// archive keeps every object as sent, so it accepts syntaxes it cannot decode (video, JPEG XL,
// the retired arithmetic and hierarchical JPEG processes); dicom/pixel says which it decodes.
// Not accepted, so that a sender falls back to a syntax it also proposed:
//   - JPIP Referenced and JPIP HTJ2K Referenced, plain and Deflate (1.2.840.10008.1.2.4.94,
//     .95, .204, .205): Pixel Data is replaced by a URL on the sender's JPIP server. PS3.5
//     10.8 calls them inappropriate for permanent storage and forbids them in PS3.10 files,
//     and an archive that keeps Part-10 files would keep a link, not the image.
//   - the XML and MIME encodings (1.2.840.10008.1.2.6.1, .6.2, retired) and the SMPTE ST
//     2110 real-time video and audio syntaxes (1.2.840.10008.1.2.7.x): not encodings of a
//     stored data set.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
	JPEGBaseline8Bit               = "1.2.840.10008.1.2.4.50"
	JPEGExtended12Bit              = "1.2.840.10008.1.2.4.51"
	JPEGLossless                   = "1.2.840.10008.1.2.4.57"
	JPEGLosslessSV1                = "1.2.840.10008.1.2.4.70"
	JPEGLSLossless                 = "1.2.840.10008.1.2.4.80"
	JPEGLSNearLossless             = "1.2.840.10008.1.2.4.81"
	JPEG2000Lossless               = "1.2.840.10008.1.2.4.90"
	JPEG2000                       = "1.2.840.10008.1.2.4.91"
	RLELossless                    = "1.2.840.10008.1.2.5"

	// Newer storage syntaxes, named by their PS3.6 Table A-1 keywords.
	EncapsulatedUncompressedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.98"
	JPEG2000MCLossless                             = "1.2.840.10008.1.2.4.92"
	JPEG2000MC                                     = "1.2.840.10008.1.2.4.93"
	MPEG2MPML                                      = "1.2.840.10008.1.2.4.100"
	MPEG2MPMLF                                     = "1.2.840.10008.1.2.4.100.1"
	MPEG2MPHL                                      = "1.2.840.10008.1.2.4.101"
	MPEG2MPHLF                                     = "1.2.840.10008.1.2.4.101.1"
	MPEG4HP41                                      = "1.2.840.10008.1.2.4.102"
	MPEG4HP41F                                     = "1.2.840.10008.1.2.4.102.1"
	MPEG4HP41BD                                    = "1.2.840.10008.1.2.4.103"
	MPEG4HP41BDF                                   = "1.2.840.10008.1.2.4.103.1"
	MPEG4HP422D                                    = "1.2.840.10008.1.2.4.104"
	MPEG4HP422DF                                   = "1.2.840.10008.1.2.4.104.1"
	MPEG4HP423D                                    = "1.2.840.10008.1.2.4.105"
	MPEG4HP423DF                                   = "1.2.840.10008.1.2.4.105.1"
	MPEG4HP42STEREO                                = "1.2.840.10008.1.2.4.106"
	MPEG4HP42STEREOF                               = "1.2.840.10008.1.2.4.106.1"
	HEVCMP51                                       = "1.2.840.10008.1.2.4.107"
	HEVCM10P51                                     = "1.2.840.10008.1.2.4.108"
	JPEGXLLossless                                 = "1.2.840.10008.1.2.4.110"
	JPEGXLJPEGRecompression                        = "1.2.840.10008.1.2.4.111"
	JPEGXL                                         = "1.2.840.10008.1.2.4.112"
	HTJ2KLossless                                  = "1.2.840.10008.1.2.4.201"
	HTJ2KLosslessRPCL                              = "1.2.840.10008.1.2.4.202"
	HTJ2K                                          = "1.2.840.10008.1.2.4.203"
	DeflatedImageFrameCompression                  = "1.2.840.10008.1.2.8.1"

	// Retired JPEG processes (PS3.5 A.4.1, PS3.6 Table A-1, retired): modalities and DCMTK
	// (dcmcjpeg +ps, +pp) still send them, so they are accepted and stored as sent. Only the
	// Huffman-coded, non-hierarchical ones are also decoded (dicom/pixel).
	JPEGExtended35                         = "1.2.840.10008.1.2.4.52"
	JPEGSpectralSelectionNonHierarchical68 = "1.2.840.10008.1.2.4.53"
	JPEGSpectralSelectionNonHierarchical79 = "1.2.840.10008.1.2.4.54"
	JPEGFullProgressionNonHierarchical1012 = "1.2.840.10008.1.2.4.55"
	JPEGFullProgressionNonHierarchical1113 = "1.2.840.10008.1.2.4.56"
	JPEGLosslessNonHierarchical15          = "1.2.840.10008.1.2.4.58"
	JPEGExtendedHierarchical1618           = "1.2.840.10008.1.2.4.59"
	JPEGExtendedHierarchical1719           = "1.2.840.10008.1.2.4.60"
	JPEGSpectralSelectionHierarchical2022  = "1.2.840.10008.1.2.4.61"
	JPEGSpectralSelectionHierarchical2123  = "1.2.840.10008.1.2.4.62"
	JPEGFullProgressionHierarchical2426    = "1.2.840.10008.1.2.4.63"
	JPEGFullProgressionHierarchical2527    = "1.2.840.10008.1.2.4.64"
	JPEGLosslessHierarchical28             = "1.2.840.10008.1.2.4.65"
	JPEGLosslessHierarchical29             = "1.2.840.10008.1.2.4.66"

	// Papyrus 3 Implicit VR Little Endian (PS3.6 Table A-1, retired): Implicit VR Little
	// Endian under another name, from the Papyrus 3 file format. DCMTK no longer knows it,
	// but old files carry it and pacsd's own sender proposes a file's syntax as is.
	Papyrus3ImplicitVRLittleEndian = "1.2.840.10008.1.20"
)

// Well-known SOP classes outside the storage list.
const (
	VerificationSOPClass = "1.2.840.10008.1.1"
	// ImplementationClassUID identifies pacsd in A-ASSOCIATE and File Meta Information
	// (PS3.7 D.3.3.2). It sits under the 2.25 UUID-derived root, so it needs no registered org root.
	ImplementationClassUID    = "2.25.178146563190893376187392471620383245081"
	ImplementationVersionName = "PACSD_01"
)

// TransferSyntax describes how a data set is encoded on the wire or in a file.
type TransferSyntax struct {
	UID          string
	Name         string
	ExplicitVR   bool
	BigEndian    bool
	Deflated     bool // the data set after the File Meta Information is a raw deflate stream (PS3.5 A.5)
	Encapsulated bool // Pixel Data holds compressed fragments (PS3.5 A.4)
	Lossy        bool
	// Video: Pixel Data holds one video bit stream for all the frames (MPEG-2, MPEG-4
	// AVC/H.264, HEVC/H.265; PS3.5 8.2.5-8.2.8 and their sections of Annex A.4), not a codestream per
	// frame.
	// Its fragments are pieces of that stream (one, or any number in the Fragmentable
	// syntaxes), so counting or splitting fragments says nothing about frames, and no
	// frame exists until a video decoder has run.
	Video bool
}

var transferSyntaxes = []TransferSyntax{
	{UID: ExplicitVRLittleEndian, Name: "Explicit VR Little Endian", ExplicitVR: true},
	{UID: ImplicitVRLittleEndian, Name: "Implicit VR Little Endian"},
	{UID: DeflatedExplicitVRLittleEndian, Name: "Deflated Explicit VR Little Endian", ExplicitVR: true, Deflated: true},
	{UID: ExplicitVRBigEndian, Name: "Explicit VR Big Endian (retired)", ExplicitVR: true, BigEndian: true},
	{UID: Papyrus3ImplicitVRLittleEndian, Name: "Papyrus 3 Implicit VR Little Endian (Retired)"},
	{UID: JPEGBaseline8Bit, Name: "JPEG Baseline (Process 1)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGExtended12Bit, Name: "JPEG Extended (Process 2 & 4)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGLossless, Name: "JPEG Lossless, Non-Hierarchical (Process 14)", ExplicitVR: true, Encapsulated: true},
	{UID: JPEGLosslessSV1, Name: "JPEG Lossless, First-Order Prediction (Process 14 SV1)", ExplicitVR: true, Encapsulated: true},
	{UID: JPEGLSLossless, Name: "JPEG-LS Lossless", ExplicitVR: true, Encapsulated: true},
	{UID: JPEGLSNearLossless, Name: "JPEG-LS Near-Lossless", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEG2000Lossless, Name: "JPEG 2000 (Lossless Only)", ExplicitVR: true, Encapsulated: true},
	{UID: JPEG2000, Name: "JPEG 2000", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: RLELossless, Name: "RLE Lossless", ExplicitVR: true, Encapsulated: true},

	// Native frame bytes, one fragment per frame (PS3.5 A.4), so that frames can be located
	// and sent one by one like compressed ones.
	{UID: EncapsulatedUncompressedExplicitVRLittleEndian, Name: "Encapsulated Uncompressed Explicit VR Little Endian", ExplicitVR: true, Encapsulated: true},
	{UID: JPEG2000MCLossless, Name: "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)", ExplicitVR: true, Encapsulated: true},
	{UID: JPEG2000MC, Name: "JPEG 2000 Part 2 Multi-component Image Compression", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: HTJ2KLossless, Name: "High-Throughput JPEG 2000 Image Compression (Lossless Only)", ExplicitVR: true, Encapsulated: true},
	{UID: HTJ2KLosslessRPCL, Name: "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)", ExplicitVR: true, Encapsulated: true},
	{UID: HTJ2K, Name: "High-Throughput JPEG 2000 Image Compression", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGXLLossless, Name: "JPEG XL Lossless", ExplicitVR: true, Encapsulated: true},
	// The recompressed JPEG decodes to the samples of that JPEG, which was lossy.
	{UID: JPEGXLJPEGRecompression, Name: "JPEG XL JPEG Recompression", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGXL, Name: "JPEG XL", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: DeflatedImageFrameCompression, Name: "Deflated Image Frame Compression", ExplicitVR: true, Encapsulated: true},
	// Retired JPEG processes: stored as sent.
	{UID: JPEGExtended35, Name: "JPEG Extended (Process 3 & 5) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGSpectralSelectionNonHierarchical68, Name: "JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGSpectralSelectionNonHierarchical79, Name: "JPEG Spectral Selection, Non-Hierarchical (Process 7 & 9) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGFullProgressionNonHierarchical1012, Name: "JPEG Full Progression, Non-Hierarchical (Process 10 & 12) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGFullProgressionNonHierarchical1113, Name: "JPEG Full Progression, Non-Hierarchical (Process 11 & 13) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGLosslessNonHierarchical15, Name: "JPEG Lossless, Non-Hierarchical (Process 15) (Retired)", ExplicitVR: true, Encapsulated: true},
	{UID: JPEGExtendedHierarchical1618, Name: "JPEG Extended, Hierarchical (Process 16 & 18) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGExtendedHierarchical1719, Name: "JPEG Extended, Hierarchical (Process 17 & 19) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGSpectralSelectionHierarchical2022, Name: "JPEG Spectral Selection, Hierarchical (Process 20 & 22) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGSpectralSelectionHierarchical2123, Name: "JPEG Spectral Selection, Hierarchical (Process 21 & 23) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGFullProgressionHierarchical2426, Name: "JPEG Full Progression, Hierarchical (Process 24 & 26) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGFullProgressionHierarchical2527, Name: "JPEG Full Progression, Hierarchical (Process 25 & 27) (Retired)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGLosslessHierarchical28, Name: "JPEG Lossless, Hierarchical (Process 28) (Retired)", ExplicitVR: true, Encapsulated: true},
	{UID: JPEGLosslessHierarchical29, Name: "JPEG Lossless, Hierarchical (Process 29) (Retired)", ExplicitVR: true, Encapsulated: true},
	// Video: every profile is lossy.
	{UID: MPEG2MPML, Name: "MPEG2 Main Profile / Main Level", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG2MPMLF, Name: "Fragmentable MPEG2 Main Profile / Main Level", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG2MPHL, Name: "MPEG2 Main Profile / High Level", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG2MPHLF, Name: "Fragmentable MPEG2 Main Profile / High Level", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG4HP41, Name: "MPEG-4 AVC/H.264 High Profile / Level 4.1", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG4HP41F, Name: "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.1", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG4HP41BD, Name: "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG4HP41BDF, Name: "Fragmentable MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG4HP422D, Name: "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG4HP422DF, Name: "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG4HP423D, Name: "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG4HP423DF, Name: "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG4HP42STEREO, Name: "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: MPEG4HP42STEREOF, Name: "Fragmentable MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: HEVCMP51, Name: "HEVC/H.265 Main Profile / Level 5.1", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
	{UID: HEVCM10P51, Name: "HEVC/H.265 Main 10 Profile / Level 5.1", ExplicitVR: true, Encapsulated: true, Lossy: true, Video: true},
}

// LookupTransferSyntax returns what pacsd knows of a transfer syntax UID.
func LookupTransferSyntax(uid string) (TransferSyntax, bool) {
	for _, ts := range transferSyntaxes {
		if ts.UID == uid {
			return ts, true
		}
	}
	return TransferSyntax{}, false
}

// TransferSyntaxes lists the transfer syntaxes pacsd accepts for storage, uncompressed first,
// Explicit VR Little Endian before Implicit (explicit VRs survive for private tags).
func TransferSyntaxes() []TransferSyntax {
	out := make([]TransferSyntax, len(transferSyntaxes))
	copy(out, transferSyntaxes)
	return out
}

// storageSOPClasses are the Storage SOP classes of PS3.4 Annex B.5 that a county hub sees,
// plus the rest of the current list; IsStorageSOPClass also accepts any UID under the
// standard storage root so that classes added to the standard later are not refused.
var storageSOPClasses = map[string]string{
	"1.2.840.10008.5.1.4.1.1.1":      "Computed Radiography Image Storage",
	"1.2.840.10008.5.1.4.1.1.1.1":    "Digital X-Ray Image Storage - For Presentation",
	"1.2.840.10008.5.1.4.1.1.1.1.1":  "Digital X-Ray Image Storage - For Processing",
	"1.2.840.10008.5.1.4.1.1.1.2":    "Digital Mammography X-Ray Image Storage - For Presentation",
	"1.2.840.10008.5.1.4.1.1.1.2.1":  "Digital Mammography X-Ray Image Storage - For Processing",
	"1.2.840.10008.5.1.4.1.1.1.3":    "Digital Intra-Oral X-Ray Image Storage - For Presentation",
	"1.2.840.10008.5.1.4.1.1.1.3.1":  "Digital Intra-Oral X-Ray Image Storage - For Processing",
	"1.2.840.10008.5.1.4.1.1.2":      "CT Image Storage",
	"1.2.840.10008.5.1.4.1.1.2.1":    "Enhanced CT Image Storage",
	"1.2.840.10008.5.1.4.1.1.3.1":    "Ultrasound Multi-frame Image Storage",
	"1.2.840.10008.5.1.4.1.1.3":      "Ultrasound Multi-frame Image Storage (Retired)",
	"1.2.840.10008.5.1.4.1.1.4":      "MR Image Storage",
	"1.2.840.10008.5.1.4.1.1.4.1":    "Enhanced MR Image Storage",
	"1.2.840.10008.5.1.4.1.1.6.1":    "Ultrasound Image Storage",
	"1.2.840.10008.5.1.4.1.1.6":      "Ultrasound Image Storage (Retired)",
	"1.2.840.10008.5.1.4.1.1.6.2":    "Enhanced US Volume Storage",
	"1.2.840.10008.5.1.4.1.1.7":      "Secondary Capture Image Storage",
	"1.2.840.10008.5.1.4.1.1.7.1":    "Multi-frame Single Bit Secondary Capture Image Storage",
	"1.2.840.10008.5.1.4.1.1.7.2":    "Multi-frame Grayscale Byte Secondary Capture Image Storage",
	"1.2.840.10008.5.1.4.1.1.7.3":    "Multi-frame Grayscale Word Secondary Capture Image Storage",
	"1.2.840.10008.5.1.4.1.1.7.4":    "Multi-frame True Color Secondary Capture Image Storage",
	"1.2.840.10008.5.1.4.1.1.11.1":   "Grayscale Softcopy Presentation State Storage",
	"1.2.840.10008.5.1.4.1.1.12.1":   "X-Ray Angiographic Image Storage",
	"1.2.840.10008.5.1.4.1.1.12.2":   "X-Ray Radiofluoroscopic Image Storage",
	"1.2.840.10008.5.1.4.1.1.13.1.3": "Breast Tomosynthesis Image Storage",
	"1.2.840.10008.5.1.4.1.1.20":     "Nuclear Medicine Image Storage",
	"1.2.840.10008.5.1.4.1.1.66":     "Raw Data Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.1": "VL Endoscopic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.4": "VL Photographic Image Storage",
	// Video IODs: their Pixel Data is an MPEG-2, MPEG-4 or HEVC stream (PS3.3 A.32.5-A.32.7).
	"1.2.840.10008.5.1.4.1.1.77.1.1.1": "Video Endoscopic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.2.1": "Video Microscopic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.4.1": "Video Photographic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.5.1": "Ophthalmic Photography 8 Bit Image Storage",
	"1.2.840.10008.5.1.4.1.1.88.11":    "Basic Text SR Storage",
	"1.2.840.10008.5.1.4.1.1.88.22":    "Enhanced SR Storage",
	"1.2.840.10008.5.1.4.1.1.88.33":    "Comprehensive SR Storage",
	"1.2.840.10008.5.1.4.1.1.88.50":    "Mammography CAD SR Storage",
	"1.2.840.10008.5.1.4.1.1.88.59":    "Key Object Selection Document Storage",
	"1.2.840.10008.5.1.4.1.1.88.67":    "X-Ray Radiation Dose SR Storage",
	"1.2.840.10008.5.1.4.1.1.104.1":    "Encapsulated PDF Storage",
	"1.2.840.10008.5.1.4.1.1.128":      "Positron Emission Tomography Image Storage",
	"1.2.840.10008.5.1.4.1.1.481.1":    "RT Image Storage",
}

// videoSOPClasses are the Storage SOP classes whose objects may be encoded in a video
// transfer syntax (TransferSyntax.Video). PS3.5 8.2 and Annex A.4 define the MPEG-2, MPEG-4
// AVC/H.264 and HEVC/H.265 syntaxes for 8-bit YBR_PARTIAL_420 colour (HEVC Main 10: up to 10
// bits), one stream holding every frame. So an IOD can carry video only if it is multi-frame
// and PS3.3 lets its Photometric Interpretation be YBR_PARTIAL_420 "for MPEG2, MPEG-4
// AVC/H.264, HEVC/H.265 Transfer Syntaxes", which it does for:
//   - Video Endoscopic, Video Microscopic, Video Photographic (A.32.5-A.32.7, VL Image
//     Module C.8.12.1.1.1): made for video;
//   - Ultrasound Multi-frame (A.7, US Image Module C.8.5.6.1.2): cine clips;
//   - Multi-frame True Color Secondary Capture (A.8.5.4): captured video;
//   - Ophthalmic Photography 8 Bit (Ophthalmic Photography Image Module C.8.17.2): "single
//     images and cine sequences".
//
// Not the single-frame classes that share those modules (Ultrasound, VL Endoscopic,
// Photographic...: a video of one image is no video), the retired Ultrasound Multi-frame
// (1.2.840.10008.5.1.4.1.1.3, retired before the video syntaxes existed), Ophthalmic
// Photography 16 Bit (16 bits stored), nor the greyscale multi-frame IODs (XA, XRF,
// Enhanced XA/XRF/US Volume, grayscale secondary capture, NM...), which allow only MONOCHROME
// or PALETTE COLOR and so no video stream.
var videoSOPClasses = map[string]bool{
	"1.2.840.10008.5.1.4.1.1.77.1.1.1": true, // Video Endoscopic Image Storage
	"1.2.840.10008.5.1.4.1.1.77.1.2.1": true, // Video Microscopic Image Storage
	"1.2.840.10008.5.1.4.1.1.77.1.4.1": true, // Video Photographic Image Storage
	"1.2.840.10008.5.1.4.1.1.3.1":      true, // Ultrasound Multi-frame Image Storage
	"1.2.840.10008.5.1.4.1.1.7.4":      true, // Multi-frame True Color Secondary Capture Image Storage
	"1.2.840.10008.5.1.4.1.1.77.1.5.1": true, // Ophthalmic Photography 8 Bit Image Storage
}

// CanCarryVideo reports whether objects of a Storage SOP class may be encoded in a video
// transfer syntax (see videoSOPClasses). The SCP offers video syntaxes only to these classes:
// accepting MPEG-2 for a CR would make the sender convert a radiograph to video, or fail.
func CanCarryVideo(sopClass string) bool {
	return videoSOPClasses[sopClass]
}

// StorageSOPClasses lists the storage SOP class UIDs pacsd names explicitly.
func StorageSOPClasses() []string {
	out := make([]string, 0, len(storageSOPClasses))
	for uid := range storageSOPClasses {
		out = append(out, uid)
	}
	return out
}

// IsStorageSOPClass reports whether uid is a Storage SOP class: listed, or under the standard
// storage root 1.2.840.10008.5.1.4.1.1 (PS3.4 Annex B), which holds only storage classes.
func IsStorageSOPClass(uid string) bool {
	if _, ok := storageSOPClasses[uid]; ok {
		return true
	}
	return strings.HasPrefix(uid, "1.2.840.10008.5.1.4.1.1.")
}

// SOPClassName returns the human name of a SOP class UID, or the UID itself.
func SOPClassName(uid string) string {
	if n, ok := storageSOPClasses[uid]; ok {
		return n
	}
	if uid == VerificationSOPClass {
		return "Verification SOP Class"
	}
	return uid
}
