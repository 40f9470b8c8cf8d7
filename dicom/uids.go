package dicom

import "strings"

// Transfer syntax UIDs pacsd accepts (PS3.5 Section 10 and Annex A).
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
}

var transferSyntaxes = []TransferSyntax{
	{UID: ExplicitVRLittleEndian, Name: "Explicit VR Little Endian", ExplicitVR: true},
	{UID: ImplicitVRLittleEndian, Name: "Implicit VR Little Endian"},
	{UID: DeflatedExplicitVRLittleEndian, Name: "Deflated Explicit VR Little Endian", ExplicitVR: true, Deflated: true},
	{UID: ExplicitVRBigEndian, Name: "Explicit VR Big Endian (retired)", ExplicitVR: true, BigEndian: true},
	{UID: JPEGBaseline8Bit, Name: "JPEG Baseline (Process 1)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGExtended12Bit, Name: "JPEG Extended (Process 2 & 4)", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEGLossless, Name: "JPEG Lossless, Non-Hierarchical (Process 14)", ExplicitVR: true, Encapsulated: true},
	{UID: JPEGLosslessSV1, Name: "JPEG Lossless, First-Order Prediction (Process 14 SV1)", ExplicitVR: true, Encapsulated: true},
	{UID: JPEGLSLossless, Name: "JPEG-LS Lossless", ExplicitVR: true, Encapsulated: true},
	{UID: JPEGLSNearLossless, Name: "JPEG-LS Near-Lossless", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: JPEG2000Lossless, Name: "JPEG 2000 (Lossless Only)", ExplicitVR: true, Encapsulated: true},
	{UID: JPEG2000, Name: "JPEG 2000", ExplicitVR: true, Encapsulated: true, Lossy: true},
	{UID: RLELossless, Name: "RLE Lossless", ExplicitVR: true, Encapsulated: true},
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
	"1.2.840.10008.5.1.4.1.1.88.11":  "Basic Text SR Storage",
	"1.2.840.10008.5.1.4.1.1.88.22":  "Enhanced SR Storage",
	"1.2.840.10008.5.1.4.1.1.88.33":  "Comprehensive SR Storage",
	"1.2.840.10008.5.1.4.1.1.88.50":  "Mammography CAD SR Storage",
	"1.2.840.10008.5.1.4.1.1.88.59":  "Key Object Selection Document Storage",
	"1.2.840.10008.5.1.4.1.1.88.67":  "X-Ray Radiation Dose SR Storage",
	"1.2.840.10008.5.1.4.1.1.104.1":  "Encapsulated PDF Storage",
	"1.2.840.10008.5.1.4.1.1.128":    "Positron Emission Tomography Image Storage",
	"1.2.840.10008.5.1.4.1.1.481.1":  "RT Image Storage",
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
