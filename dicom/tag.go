package dicom

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	sdtag "github.com/suyashkumar/dicom/pkg/tag"
)

// Tag is a data element tag, group in the high 16 bits and element in the low 16 (PS3.5 7.1).
type Tag uint32

// NewTag builds a Tag from its group and element numbers.
func NewTag(group, element uint16) Tag { return Tag(uint32(group)<<16 | uint32(element)) }

// Group is the tag's group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// Element is the tag's element number.
func (t Tag) Element() uint16 { return uint16(t) }

// String formats the tag as "(gggg,eeee)", the way the standard and DCMTK print it.
func (t Tag) String() string { return fmt.Sprintf("(%04X,%04X)", t.Group(), t.Element()) }

// Hex formats the tag as the eight upper-case hex digits used as DICOM JSON keys (PS3.18 F.2.1).
func (t Tag) Hex() string { return fmt.Sprintf("%08X", uint32(t)) }

// IsPrivate reports whether the tag belongs to an odd (private) group.
func (t Tag) IsPrivate() bool { return t.Group()%2 == 1 }

// Well-known tags pacsd reads or writes by name.
const (
	TagFileMetaInformationGroupLength Tag = 0x00020000
	TagFileMetaInformationVersion     Tag = 0x00020001
	TagMediaStorageSOPClassUID        Tag = 0x00020002
	TagMediaStorageSOPInstanceUID     Tag = 0x00020003
	TagTransferSyntaxUID              Tag = 0x00020010
	TagImplementationClassUID         Tag = 0x00020012
	TagImplementationVersionName      Tag = 0x00020013
	TagSourceApplicationEntityTitle   Tag = 0x00020016

	TagSpecificCharacterSet        Tag = 0x00080005
	TagImageType                   Tag = 0x00080008
	TagInstanceCreationDate        Tag = 0x00080012
	TagInstanceCreationTime        Tag = 0x00080013
	TagSOPClassUID                 Tag = 0x00080016
	TagSOPInstanceUID              Tag = 0x00080018
	TagStudyDate                   Tag = 0x00080020
	TagSeriesDate                  Tag = 0x00080021
	TagAcquisitionDate             Tag = 0x00080022
	TagContentDate                 Tag = 0x00080023
	TagStudyTime                   Tag = 0x00080030
	TagSeriesTime                  Tag = 0x00080031
	TagContentTime                 Tag = 0x00080033
	TagAccessionNumber             Tag = 0x00080050
	TagModality                    Tag = 0x00080060
	TagModalitiesInStudy           Tag = 0x00080061
	TagConversionType              Tag = 0x00080064
	TagInstitutionName             Tag = 0x00080080
	TagReferringPhysicianName      Tag = 0x00080090
	TagStationName                 Tag = 0x00081010
	TagStudyDescription            Tag = 0x00081030
	TagSeriesDescription           Tag = 0x0008103E
	TagInstitutionalDepartmentName Tag = 0x00081040
	TagPerformingPhysicianName     Tag = 0x00081050
	TagManufacturer                Tag = 0x00080070
	TagManufacturerModelName       Tag = 0x00081090

	TagPatientName       Tag = 0x00100010
	TagPatientID         Tag = 0x00100020
	TagIssuerOfPatientID Tag = 0x00100021
	TagPatientBirthDate  Tag = 0x00100030
	TagPatientBirthTime  Tag = 0x00100032
	TagPatientSex        Tag = 0x00100040
	TagOtherPatientIDs   Tag = 0x00101000
	TagPatientAge        Tag = 0x00101010
	TagPatientSize       Tag = 0x00101020
	TagPatientWeight     Tag = 0x00101030

	TagBodyPartExamined               Tag = 0x00180015
	TagViewPosition                   Tag = 0x00185101
	TagStudyInstanceUID               Tag = 0x0020000D
	TagSeriesInstanceUID              Tag = 0x0020000E
	TagStudyID                        Tag = 0x00200010
	TagSeriesNumber                   Tag = 0x00200011
	TagInstanceNumber                 Tag = 0x00200013
	TagLaterality                     Tag = 0x00200060
	TagNumberOfStudyRelatedPatients   Tag = 0x00201200
	TagNumberOfStudyRelatedSeries     Tag = 0x00201206
	TagNumberOfStudyRelatedInstances  Tag = 0x00201208
	TagNumberOfSeriesRelatedInstances Tag = 0x00201209

	TagSamplesPerPixel           Tag = 0x00280002
	TagPhotometricInterpretation Tag = 0x00280004
	TagNumberOfFrames            Tag = 0x00280008
	TagRows                      Tag = 0x00280010
	TagColumns                   Tag = 0x00280011
	TagBitsAllocated             Tag = 0x00280100
	TagBitsStored                Tag = 0x00280101
	TagPixelRepresentation       Tag = 0x00280103

	TagRetrieveURL                     Tag = 0x00081190
	TagInstanceAvailability            Tag = 0x00080056 // CS, "ONLINE" for all pacsd holds
	TagTimezoneOffsetFromUTC           Tag = 0x00080201
	TagAvailableTransferSyntaxUID      Tag = 0x00083002 // UI, the syntax an instance is stored in
	TagPerformedProcedureStepStartDate Tag = 0x00400244
	TagPerformedProcedureStepStartTime Tag = 0x00400245
	TagRequestAttributesSequence       Tag = 0x00400275
	TagScheduledProcedureStepID        Tag = 0x00400009
	TagRequestedProcedureID            Tag = 0x00401001

	TagPixelData            Tag = 0x7FE00010
	TagFloatPixelData       Tag = 0x7FE00008
	TagDoubleFloatPixelData Tag = 0x7FE00009

	TagItem                     Tag = 0xFFFEE000
	TagItemDelimitationItem     Tag = 0xFFFEE00D
	TagSequenceDelimitationItem Tag = 0xFFFEE0DD
)

// TagInfo is what the data dictionary (PS3.6) says about a tag.
type TagInfo struct {
	Tag     Tag
	VR      string // the first VR the dictionary lists ("US or SS" -> "US"); "UN" when unknown
	Keyword string // e.g. "PatientName"; "" for private or unknown tags
	Name    string
	VM      string
}

// LookupTag returns the dictionary entry for t. Group length tags (gggg,0000) are UL.
// Private and unknown tags report ok=false with VR "UN".
func LookupTag(t Tag) (info TagInfo, ok bool) {
	if t.Element() == 0 && !t.IsPrivate() {
		return TagInfo{Tag: t, VR: "UL", Keyword: "GenericGroupLength", Name: "Group Length", VM: "1"}, true
	}
	e, err := sdtag.Find(sdtag.Tag{Group: t.Group(), Element: t.Element()})
	if err != nil || len(e.VRs) == 0 {
		return TagInfo{Tag: t, VR: "UN"}, false
	}
	return TagInfo{Tag: t, VR: e.VRs[0], Keyword: e.Keyword, Name: e.Name, VM: e.VM}, true
}

var keywordCache sync.Map // keyword -> Tag

// ParseTag resolves a keyword ("PatientName") or eight hex digits ("00100010", also with a
// "(0010,0010)" or "0010,0010" spelling) to a tag, the way QIDO-RS and C-FIND keys name them
// (PS3.18 8.3.4.1: {attributeID} is a keyword or a tag).
func ParseTag(s string) (Tag, bool) {
	s = strings.TrimSpace(s)
	h := strings.NewReplacer("(", "", ")", "", ",", "").Replace(s)
	if len(h) == 8 {
		if v, err := strconv.ParseUint(h, 16, 32); err == nil {
			return Tag(v), true
		}
	}
	if v, ok := keywordCache.Load(s); ok {
		return v.(Tag), true
	}
	e, err := sdtag.FindByKeyword(s)
	if err != nil || e.Keyword != s {
		return 0, false
	}
	t := NewTag(e.Tag.Group, e.Tag.Element)
	keywordCache.Store(s, t)
	return t, true
}
