package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"pacsd/dicom"
)

// SOP classes of the test files (PS3.4 Annex B.5, PS3.6 Annex A).
const (
	classCR       = "1.2.840.10008.5.1.4.1.1.1"
	classDX       = "1.2.840.10008.5.1.4.1.1.1.1"
	classUSMulti  = "1.2.840.10008.5.1.4.1.1.3.1"
	classSC       = "1.2.840.10008.5.1.4.1.1.7"
	classBasicSR  = "1.2.840.10008.5.1.4.1.1.88.11"
	classEncapPDF = "1.2.840.10008.5.1.4.1.1.104.1"
)

// output is one generated file with what the README and expected.json say about it.
type output struct {
	name     string // path relative to the testdata directory, '/'-separated
	data     []byte
	what     string
	how      string
	expected map[string]string
}

// patient, study and series carry the attributes shared by several files.
type patient struct {
	name, id, birth, sex, age string
}

type study struct {
	key                                 string // names the Study Instance UID
	date, time, accession, id           string
	description, institution, referring string
}

// common adds the Patient, General Study, General Series, General Equipment and SOP
// Common attributes (PS3.3 C.7.1.1, C.7.2.1, C.7.3.1, C.7.5.1, C.12.1).
func (b *builder) common(class, file string, p patient, s study, seriesKey, modality string, seriesNo int, seriesDesc string) {
	b.str(dicom.TagSOPClassUID, "UI", class)
	b.str(dicom.TagSOPInstanceUID, "UI", uid("sop/"+file))
	b.str(dicom.TagInstanceCreationDate, "DA", s.date)
	b.str(dicom.TagInstanceCreationTime, "TM", s.time)
	b.str(dicom.TagStudyDate, "DA", s.date)
	b.str(dicom.TagSeriesDate, "DA", s.date)
	b.str(dicom.TagContentDate, "DA", s.date)
	b.str(dicom.TagStudyTime, "TM", s.time)
	b.str(dicom.TagSeriesTime, "TM", s.time)
	b.str(dicom.TagContentTime, "TM", s.time)
	b.str(dicom.TagAccessionNumber, "SH", s.accession)
	b.str(dicom.TagModality, "CS", modality)
	b.str(dicom.TagManufacturer, "LO", "PACSD TESTDATA")
	if s.institution != "" {
		b.text(dicom.TagInstitutionName, "LO", s.institution)
	}
	b.text(dicom.TagReferringPhysicianName, "PN", s.referring)
	if s.description != "" {
		b.text(dicom.TagStudyDescription, "LO", s.description)
	}
	if seriesDesc != "" {
		b.text(dicom.TagSeriesDescription, "LO", seriesDesc)
	}
	b.text(dicom.TagPatientName, "PN", p.name)
	b.str(dicom.TagPatientID, "LO", p.id)
	b.str(dicom.TagPatientBirthDate, "DA", p.birth)
	b.str(dicom.TagPatientSex, "CS", p.sex)
	if p.age != "" {
		b.str(dicom.TagPatientAge, "AS", p.age)
	}
	b.str(dicom.TagStudyInstanceUID, "UI", uid("study/"+s.key))
	b.str(dicom.TagSeriesInstanceUID, "UI", uid("series/"+s.key+"/"+seriesKey))
	b.str(dicom.TagStudyID, "SH", s.id)
	b.str(dicom.TagSeriesNumber, "IS", strconv.Itoa(seriesNo))
	b.str(dicom.TagInstanceNumber, "IS", "1")
}

// image adds the Image Pixel module (PS3.3 C.7.6.3) with native Pixel Data: OB for 8-bit
// and OW for 16-bit samples in Explicit VR (PS3.5 8.2). The only Implicit VR base file is
// 16-bit, so it gets OW, the one VR Implicit VR Little Endian allows (PS3.5 A.1).
func (b *builder) image(rows, cols, samples, bits, stored int, pi string, pixels []byte) {
	b.u16(dicom.TagSamplesPerPixel, "US", uint16(samples))
	b.str(dicom.TagPhotometricInterpretation, "CS", pi)
	if samples > 1 {
		b.u16(0x00280006, "US", 0) // PlanarConfiguration: colour-by-pixel
	}
	b.u16(dicom.TagRows, "US", uint16(rows))
	b.u16(dicom.TagColumns, "US", uint16(cols))
	b.u16(dicom.TagBitsAllocated, "US", uint16(bits))
	b.u16(dicom.TagBitsStored, "US", uint16(stored))
	b.u16(0x00280102, "US", uint16(stored-1)) // HighBit
	b.u16(dicom.TagPixelRepresentation, "US", 0)
	vr := "OW"
	if bits == 8 {
		vr = "OB"
	}
	b.bytes(dicom.TagPixelData, vr, pixels)
}

// The studies. The DX, the report and the scanned request form of 张伟 are one study in
// three series, as a township centre would send them.
var (
	zhangWei = patient{name: "张伟", id: "CG20240315001", birth: "19790612", sex: "M", age: "044Y"}
	chestCG  = study{key: "zhangwei-chest", date: "20240315", time: "093012", accession: "A20240315001",
		id: "1001", description: "胸部正位", institution: "城关镇卫生院", referring: "李明"}
)

// baseFiles builds every file gentestdata writes in -out mode.
func baseFiles() ([]output, error) {
	var outs []output
	for _, f := range []func() (output, error){
		drMono2, drMono1, usMultiframe, scMono8,
		charsetGB18030, charsetGB18030FourByte, charsetGBK, charsetUTF8, charsetIR58, charsetIR58Only, charsetLatin1,
		srBasicText, pdfEncapsulated,
	} {
		o, err := f()
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	broken, err := brokenFiles()
	if err != nil {
		return nil, err
	}
	return append(outs, broken...), nil
}

// finish writes b as a Part-10 file and records its expected values.
func finish(name, class, ts string, b *builder, what, how string) (output, error) {
	// From the name, not from the data set: broken_no_sopinstanceuid.dcm has none.
	data, err := part10Bytes(class, uid("sop/"+name), ts, b)
	if err != nil {
		return output{}, fmt.Errorf("%s: %w", name, err)
	}
	return output{name: name, data: data, what: what, how: how, expected: expectedOf(b, ts)}, nil
}

// expectedKeys are the attributes expected.json records, by keyword.
var expectedKeys = []struct {
	key string
	tag dicom.Tag
}{
	{"SpecificCharacterSet", dicom.TagSpecificCharacterSet},
	{"SOPClassUID", dicom.TagSOPClassUID},
	{"SOPInstanceUID", dicom.TagSOPInstanceUID},
	{"StudyInstanceUID", dicom.TagStudyInstanceUID},
	{"SeriesInstanceUID", dicom.TagSeriesInstanceUID},
	{"PatientName", dicom.TagPatientName},
	{"PatientID", dicom.TagPatientID},
	{"Modality", dicom.TagModality},
	{"StudyDescription", dicom.TagStudyDescription},
	{"InstitutionName", dicom.TagInstitutionName},
	{"Rows", dicom.TagRows},
	{"Columns", dicom.TagColumns},
	{"NumberOfFrames", dicom.TagNumberOfFrames},
	{"SamplesPerPixel", dicom.TagSamplesPerPixel},
	{"BitsAllocated", dicom.TagBitsAllocated},
	{"BitsStored", dicom.TagBitsStored},
	{"PhotometricInterpretation", dicom.TagPhotometricInterpretation},
}

// alwaysKeys are recorded even when absent (as ""), so tests can rely on them.
var alwaysKeys = map[string]bool{
	"SpecificCharacterSet": true, "SOPInstanceUID": true, "StudyInstanceUID": true,
	"PatientName": true, "TransferSyntaxUID": true, "SOPClassUID": true,
}

func expectedOf(b *builder, ts string) map[string]string {
	m := map[string]string{"TransferSyntaxUID": ts}
	for _, k := range expectedKeys {
		if v, ok := b.utf8[k.tag]; ok {
			m[k.key] = v
		} else if alwaysKeys[k.key] {
			m[k.key] = ""
		}
	}
	return m
}

func drMono2() (output, error) {
	const name = "dr_mono2.dcm"
	const rows, cols = 256, 256
	b := newBuilder("GB18030")
	b.common(classDX, name, zhangWei, chestCG, "dx", "DX", 1, "胸部 后前位")
	b.str(dicom.TagImageType, "CS", `ORIGINAL\PRIMARY`)
	b.str(0x00080068, "CS", "FOR PRESENTATION") // Presentation Intent Type, PS3.3 C.8.11.1
	b.str(0x00080032, "TM", chestCG.time)       // Acquisition Time
	b.str(dicom.TagAcquisitionDate, "DA", chestCG.date)
	b.str(dicom.TagStationName, "SH", "DR01")
	b.str(dicom.TagManufacturerModelName, "LO", "SYNTH-DR 1")
	b.code(0x00082218, "51185008", "SCT", "Chest") // Anatomic Region Sequence, PS3.3 C.8.11.5
	b.str(dicom.TagBodyPartExamined, "CS", "CHEST")
	b.str(0x00181164, "DS", `0.139\0.139`) // Imager Pixel Spacing
	b.str(dicom.TagViewPosition, "CS", "PA")
	b.str(0x00187004, "CS", "SCINTILLATOR") // Detector Type
	b.str(0x00200020, "CS", `L\F`)          // Patient Orientation
	b.str(0x00200062, "CS", "U")            // Image Laterality
	b.str(0x00281040, "CS", "LOG")          // Pixel Intensity Relationship
	b.u16(0x00281041, "SS", 1)              // Pixel Intensity Relationship Sign
	b.str(0x00281050, "DS", "2048")         // Window Center
	b.str(0x00281051, "DS", "4096")         // Window Width
	b.str(0x00281052, "DS", "0")            // Rescale Intercept
	b.str(0x00281053, "DS", "1")            // Rescale Slope
	b.str(0x00281054, "LO", "US")           // Rescale Type
	b.str(0x00282110, "CS", "00")           // Lossy Image Compression
	b.str(0x20500020, "CS", "IDENTITY")     // Presentation LUT Shape, PS3.3 C.8.11.3
	b.image(rows, cols, 1, 16, 12, "MONOCHROME2", le16(chest(cols, rows, 4095)))
	return finish(name, classDX, dicom.ExplicitVRLittleEndian, b,
		"DX for presentation, chest PA, 256x256, 16 bits allocated / 12 stored; Chinese name, institution, descriptions",
		"gentestdata")
}

func drMono1() (output, error) {
	const name = "dr_mono1.dcm"
	const rows, cols = 256, 256
	b := newBuilder("ISO_IR 100")
	p := patient{name: "Müller^Jürgen", id: "KL-88231", birth: "19560203", sex: "M", age: "068Y"}
	s := study{key: "mueller-chest", date: "20240311", time: "141500", accession: "KL24031100017",
		id: "77", description: "Thorax p.a.", institution: "Städtisches Klinikum Süd", referring: "Schäfer^Anna"}
	b.common(classCR, name, p, s, "cr", "CR", 1, "Thorax p.a. stehend")
	b.str(dicom.TagImageType, "CS", `ORIGINAL\PRIMARY`)
	b.str(dicom.TagStationName, "SH", "CR-SUED-2")
	b.str(dicom.TagBodyPartExamined, "CS", "CHEST")
	b.str(dicom.TagViewPosition, "CS", "PA")
	b.str(0x00200020, "CS", `L\F`)
	b.str(0x00281050, "DS", "32768")
	b.str(0x00281051, "DS", "65536")
	// MONOCHROME1 stores the inverse: the minimum sample is white (PS3.3 C.7.6.3.1.2).
	// The stored values are the inverse of the chest picture, so a correct renderer
	// shows the same picture as dr_mono2.dcm.
	px := chest(cols, rows, 65535)
	for i := range px {
		px[i] = 65535 - px[i]
	}
	b.image(rows, cols, 1, 16, 16, "MONOCHROME1", le16(px))
	return finish(name, classCR, dicom.ImplicitVRLittleEndian, b,
		"CR, chest, 256x256, 16 bits allocated / 16 stored, MONOCHROME1 (inverted samples); Latin-1 names",
		"gentestdata")
}

func usMultiframe() (output, error) {
	const name = "us_multiframe.dcm"
	const rows, cols, frames = 120, 160, 8
	b := newBuilder("ISO_IR 192")
	p := patient{name: "Li^Na=李^娜", id: "CG20240316007", birth: "19920430", sex: "F", age: "031Y"}
	s := study{key: "lina-abdomen", date: "20240316", time: "102244", accession: "A20240316007",
		id: "1002", description: "腹部超声", institution: "城关镇卫生院", referring: "王^刚"}
	b.common(classUSMulti, name, p, s, "us", "US", 1, "肝胆脾 动态")
	b.str(dicom.TagImageType, "CS", `ORIGINAL\PRIMARY\ABDOMINAL`)
	b.str(dicom.TagStationName, "SH", "US02")
	b.str(dicom.TagBodyPartExamined, "CS", "ABDOMEN")
	b.str(0x00082144, "IS", "25")             // Recommended Display Frame Rate
	b.str(0x00180040, "IS", "25")             // Cine Rate
	b.str(0x00181063, "DS", "40")             // Frame Time (ms), PS3.3 C.7.6.5
	b.str(dicom.TagNumberOfFrames, "IS", "8") // PS3.3 C.7.6.6
	b.u16(0x00280009, "AT", 0x0018, 0x1063)   // Frame Increment Pointer -> Frame Time
	b.str(0x00282110, "CS", "00")             // Lossy Image Compression
	var px []byte
	for f := 0; f < frames; f++ {
		px = append(px, usFrame(cols, rows, f)...)
	}
	b.image(rows, cols, 3, 8, 8, "RGB", px)
	return finish(name, classUSMulti, dicom.ExplicitVRLittleEndian, b,
		"US multi-frame, 8 frames 160x120 RGB 8-bit (frame k shows k+1 white squares at the top left), cine 25/s",
		"gentestdata")
}

func scMono8() (output, error) {
	const name = "sc_mono8.dcm"
	const rows, cols = 128, 128
	b := newBuilder() // no Specific Character Set: default repertoire
	p := patient{name: "Chen^Jing", id: "SC-0001", birth: "19880101", sex: "F"}
	s := study{key: "chenjing-sc", date: "20240317", time: "080000", accession: "SC0001", id: "5",
		description: "Secondary capture", referring: ""}
	b.common(classSC, name, p, s, "sc", "OT", 1, "")
	b.str(0x00080064, "CS", "WSD") // Conversion Type, PS3.3 C.8.6.1
	b.image(rows, cols, 1, 8, 8, "MONOCHROME2", gray8(cols, rows))
	return finish(name, classSC, dicom.ExplicitVRLittleEndian, b,
		"Secondary Capture, 128x128 8-bit MONOCHROME2, no Specific Character Set (8-bit base for JPEG baseline)",
		"gentestdata")
}

// charsetFile is a small Secondary Capture whose point is its text.
func charsetFile(name string, charsets []string, p patient, s study, what string, extra func(*builder)) (output, error) {
	b := newBuilder(charsets...)
	b.common(classSC, name, p, s, "sc", "OT", 1, "")
	b.str(0x00080064, "CS", "WSD")
	if extra != nil {
		extra(b)
	}
	b.image(32, 32, 1, 8, 8, "MONOCHROME2", gray8(32, 32))
	return finish(name, classSC, dicom.ExplicitVRLittleEndian, b, what, "gentestdata")
}

func charsetStudy(key string) study {
	return study{key: key, date: "20240318", time: "110000", accession: strings.ToUpper("CS-" + key),
		id: "9", referring: ""}
}

func charsetGB18030() (output, error) {
	return charsetFile("charset_gb18030.dcm", []string{"GB18030"},
		patient{name: "王芳", id: "CS-GB18030", birth: "19900101", sex: "F"}, charsetStudy("gb18030"),
		"Specific Character Set GB18030, two-byte characters", nil)
}

func charsetGB18030FourByte() (output, error) {
	s := charsetStudy("gb18030-4byte")
	s.description = "咬𬌗片" // U+2C317 (CJK Extension E): four bytes in GB18030
	return charsetFile("charset_gb18030_4byte.dcm", []string{"GB18030"},
		patient{name: "王㛃", id: "CS-GB18030-4", birth: "19900101", sex: "F"}, s,
		"GB18030 four-byte sequences: U+36C3 in the name, U+2C317 in Study Description (not in GBK)", nil)
}

func charsetGBK() (output, error) {
	s := charsetStudy("gbk")
	s.description = "上腹部CT平扫"
	s.institution = "县人民医院"
	return charsetFile("charset_gbk.dcm", []string{"GBK"},
		patient{name: "刘洋", id: "CS-GBK", birth: "19900101", sex: "M"}, s,
		"Specific Character Set GBK (name, institution, description)", nil)
}

func charsetUTF8() (output, error) {
	return charsetFile("charset_utf8.dcm", []string{"ISO_IR 192"},
		patient{name: "Zhang^Wei=张^伟", id: "CS-UTF8", birth: "19900101", sex: "M"}, charsetStudy("utf8"),
		"ISO_IR 192 (UTF-8), alphabetic and ideographic name groups", nil)
}

func charsetIR58() (output, error) {
	s := charsetStudy("ir58")
	s.description = "胸部正位"
	s.institution = "城关镇卫生院"
	return charsetFile("charset_ir58.dcm", []string{"ISO 2022 IR 6", "ISO 2022 IR 58"},
		patient{name: "Zhang^Wei=张^伟", id: "CS-IR58", birth: "19900101", sex: "M"}, s,
		`ISO 2022 IR 6\ISO 2022 IR 58: GB2312 in G1 via ESC $ ) A, designated again after each delimiter (PS3.5 K.2)`, nil)
}

// charsetIR58Only reproduces PS3.5 Annex K.2 byte for byte, with its empty first value of
// Specific Character Set and the trailing '=' of an empty phonetic group.
func charsetIR58Only() (output, error) {
	b := patient{name: "Zhang^XiaoDong=张^小东=", id: "CS-IR58-K2", birth: "19900101", sex: "M"}
	return charsetFile("charset_ir58_only.dcm", []string{"", "ISO 2022 IR 58"}, b, charsetStudy("ir58-only"),
		`"\ISO 2022 IR 58" (empty first value); Patient's Name is the PS3.5 K.2 example byte for byte`,
		func(b *builder) {
			want := []byte("Zhang^XiaoDong=\x1b$)A\xd5\xc5^\x1b$)A\xd0\xa1\xb6\xab=")
			got := b.elemValue(dicom.TagPatientName)
			if !bytes.Equal(got, want) {
				b.fail(fmt.Errorf("IR 58 encoder gave % X, PS3.5 K.2 shows % X", got, want))
			}
		})
}

func charsetLatin1() (output, error) {
	s := charsetStudy("latin1")
	s.description = "Radiographie thoracique"
	s.institution = "Hôpital Saint-Éloi"
	return charsetFile("charset_latin1.dcm", []string{"ISO_IR 100"},
		patient{name: "Buc^Jérôme", id: "CS-LATIN1", birth: "19900101", sex: "M"}, s,
		"ISO_IR 100 (Latin-1)", nil)
}

// elemValue returns the encoded value of tag as added, or nil.
func (b *builder) elemValue(tag dicom.Tag) []byte {
	for _, e := range b.elems {
		if e.tag == tag {
			return e.value
		}
	}
	return nil
}

// srBasicText is a minimal Basic Text SR (PS3.3 A.35.1): SR Document General and Content
// modules with a root CONTAINER holding one TEXT finding.
func srBasicText() (output, error) {
	const name = "sr_basic_text.dcm"
	b := newBuilder("ISO_IR 192")
	b.common(classBasicSR, name, zhangWei, chestCG, "sr", "SR", 2, "诊断报告")
	b.str(0x0040A040, "CS", "CONTAINER")                             // Value Type
	b.code(0x0040A043, "18748-4", "LN", "Diagnostic imaging report") // Concept Name Code Sequence
	b.str(0x0040A050, "CS", "SEPARATE")                              // Continuity Of Content
	b.str(0x0040A491, "CS", "COMPLETE")                              // Completion Flag
	b.str(0x0040A493, "CS", "UNVERIFIED")                            // Verification Flag
	b.seq(0x00081111)                                                // Referenced Performed Procedure Step Sequence (type 2)
	b.seq(0x0040A372)                                                // Performed Procedure Code Sequence (type 2)
	finding := b.item()
	finding.str(0x0040A010, "CS", "CONTAINS")
	finding.str(0x0040A040, "CS", "TEXT")
	finding.code(0x0040A043, "121071", "DCM", "Finding")
	finding.text(0x0040A160, "UT", "双肺纹理清晰，心影大小正常，膈面光整。印象：胸部未见明显异常。")
	b.seq(0x0040A730, finding) // Content Sequence
	return finish(name, classBasicSR, dicom.ExplicitVRLittleEndian, b,
		"Basic Text SR report for the dr_mono2.dcm study: root CONTAINER, one TEXT finding in Chinese (UT)",
		"gentestdata")
}

// tinyPDF returns a one-page PDF 1.4 with a correct cross-reference table.
func tinyPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	content := "BT /F1 24 Tf 72 770 Td (pacsd test request form) Tj ET"
	objs = append(objs, fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	var buf bytes.Buffer
	buf.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = buf.Len()
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&buf, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&buf, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return buf.Bytes()
}

// pdfEncapsulated is an Encapsulated PDF (PS3.3 A.45.1) in the dr_mono2.dcm study.
func pdfEncapsulated() (output, error) {
	const name = "pdf_encapsulated.dcm"
	b := newBuilder("ISO_IR 192")
	b.common(classEncapPDF, name, zhangWei, chestCG, "doc", "DOC", 3, "检查申请单")
	b.str(0x00080064, "CS", "SD")     // Conversion Type: scanned document
	b.str(0x00280301, "CS", "NO")     // Burned In Annotation
	b.seq(0x0040A043)                 // Concept Name Code Sequence (type 2, empty)
	b.text(0x00420010, "ST", "检查申请单") // Document Title
	pdf := tinyPDF()
	// PS3.3 C.24.2: the document is padded to even length by the encoder (OB, NUL);
	// Encapsulated Document Length gives the true length.
	b.bytes(0x00420011, "OB", pdf)
	b.str(0x00420012, "LO", "application/pdf")
	b.u32(0x00420015, "UL", uint32(len(pdf)))
	return finish(name, classEncapPDF, dicom.ExplicitVRLittleEndian, b,
		fmt.Sprintf("Encapsulated PDF (one page, %d bytes) in the dr_mono2.dcm study", len(pdf)),
		"gentestdata")
}

// brokenFiles are the malformed inputs a reader must refuse (and one that is well encoded
// but lacks SOP Instance UID, which the archive must refuse).
func brokenFiles() ([]output, error) {
	mk := func(name string) *builder {
		b := newBuilder("ISO_IR 192")
		p := patient{name: "Broken^File", id: "BROKEN", birth: "19700101", sex: "O"}
		s := study{key: "broken", date: "20240319", time: "120000", accession: "BROKEN", id: "0",
			description: "malformed input", referring: ""}
		b.common(classSC, name, p, s, "sc", "OT", 1, "")
		b.str(0x00080064, "CS", "WSD")
		b.image(8, 8, 1, 8, 8, "MONOCHROME2", gray8(8, 8))
		return b
	}
	var outs []output

	// Cut in the middle of Patient's Name, well before Pixel Data, so that even a header
	// reader that stops at Pixel Data meets the end of the stream mid-element.
	b := mk("broken/broken_truncated.dcm")
	data, err := part10Bytes(classSC, uid("sop/broken/broken_truncated.dcm"), dicom.ExplicitVRLittleEndian, b)
	if err != nil {
		return nil, err
	}
	at := findExplicitLE(data, dicom.TagPatientName)
	if at < 0 {
		return nil, fmt.Errorf("broken_truncated: Patient's Name not found")
	}
	outs = append(outs, output{name: "broken/broken_truncated.dcm", data: data[:at+8+5],
		what: "valid header cut 5 bytes into the value of Patient's Name (0010,0010)", how: "gentestdata",
		expected: map[string]string{"Malformed": "truncated mid-element"}})

	// Study Description claims 0xFFF0 bytes in a file of a few hundred.
	b = mk("broken/broken_badlength.dcm")
	data, err = part10Bytes(classSC, uid("sop/broken/broken_badlength.dcm"), dicom.ExplicitVRLittleEndian, b)
	if err != nil {
		return nil, err
	}
	at = findExplicitLE(data, dicom.TagStudyDescription)
	if at < 0 || len(data) >= 0xFFF0 {
		return nil, fmt.Errorf("broken_badlength: cannot place the bad length")
	}
	data = append([]byte(nil), data...)
	data[at+6], data[at+7] = 0xF0, 0xFF
	outs = append(outs, output{name: "broken/broken_badlength.dcm", data: data,
		what: "Study Description (0008,1030) length 0xFFF0, beyond the end of the file", how: "gentestdata",
		expected: map[string]string{"Malformed": "element length beyond end of file"}})

	outs = append(outs, output{name: "broken/broken_notdicom.dcm",
		data: []byte("This is not a DICOM file.\nIt is plain text saved with a .dcm name, as users do.\n"),
		what: "plain text", how: "gentestdata",
		expected: map[string]string{"Malformed": "not DICOM"}})

	// Well encoded, no SOP Instance UID in the data set. File Meta Information must name
	// one (PS3.10 7.1), so it carries the UID the data set lacks.
	b = mk("broken/broken_no_sopinstanceuid.dcm")
	b.remove(dicom.TagSOPInstanceUID)
	o, err := finish("broken/broken_no_sopinstanceuid.dcm", classSC, dicom.ExplicitVRLittleEndian, b,
		"well-formed Secondary Capture without SOP Instance UID (0008,0018) in the data set; the meta has one",
		"gentestdata")
	if err != nil {
		return nil, err
	}
	outs = append(outs, o)
	return outs, nil
}

// remove drops tag from the data set (and from the expected values).
func (b *builder) remove(tag dicom.Tag) {
	kept := b.elems[:0]
	for _, e := range b.elems {
		if e.tag != tag {
			kept = append(kept, e)
		}
	}
	b.elems = kept
	delete(b.utf8, tag)
}

// findExplicitLE finds the top-level Explicit VR LE header of tag in a Part-10 stream by
// its tag bytes (the test files have no such byte pattern elsewhere before it).
func findExplicitLE(data []byte, tag dicom.Tag) int {
	pat := []byte{byte(tag.Group()), byte(tag.Group() >> 8), byte(tag.Element()), byte(tag.Element() >> 8)}
	i := bytes.Index(data[132:], pat)
	if i < 0 {
		return -1
	}
	return i + 132
}
