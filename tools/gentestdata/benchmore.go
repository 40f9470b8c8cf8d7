package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"pacsd/dicom"
	"pacsd/internal/xorshift"
)

const (
	classUS = "1.2.840.10008.5.1.4.1.1.6.1" // Ultrasound Image Storage
	classCT = "1.2.840.10008.5.1.4.1.1.2"   // CT Image Storage
)

// usCineEvery: one ultrasound object in this many is a cine, the others stills.
const (
	usCineEvery  = 4
	usCineFrames = 40
)

// writeBenchUS writes n ultrasound objects of one examination each as a township
// ultrasound machine sends them: 640x480 RGB stills (US Image Storage) and, one in
// usCineEvery, a cine of usCineFrames frames (US Multi-frame Image Storage), about 37 MB.
func writeBenchUS(dir string, n int, seed uint64) error {
	const rows, cols = 480, 640
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	frameLen := rows * cols * 3
	for i := 0; i < n; i++ {
		tag := fmt.Sprintf("bench/%d/us/%d", seed, i)
		exam := i / 5 // five objects an examination
		class, frames := classUS, 1
		if i%usCineEvery == usCineEvery-1 {
			class, frames = classUSMulti, usCineFrames
		}
		b := newBuilder("GB18030")
		p := patient{name: surnames[exam%len(surnames)] + given[exam%len(given)], id: fmt.Sprintf("U%d-%05d", seed, exam),
			birth: "19850101", sex: "F"}
		s := study{key: fmt.Sprintf("bench/%d/us/%d", seed, exam), date: "20240402", time: "100000",
			accession: fmt.Sprintf("BU%d%06d", seed, exam), id: strconv.Itoa(exam + 1), description: "腹部超声",
			institution: "基准测试卫生院"}
		b.common(class, tag, p, s, "1", "US", 1, "")
		b.remove(dicom.TagInstanceNumber)
		b.str(dicom.TagInstanceNumber, "IS", strconv.Itoa(i%5+1))
		if frames > 1 {
			b.str(0x00181063, "DS", "33.3")
			b.str(dicom.TagNumberOfFrames, "IS", strconv.Itoa(frames))
			b.u16(0x00280009, "AT", 0x0018, 0x1063)
		}
		b.streamImage(rows, cols, 3, 8, 8, "RGB", uint32(frames*frameLen),
			xorshift.Noise(xorshift.New(seed, tag), ^uint64(0)))
		path := filepath.Join(dir, fmt.Sprintf("us_%04d.dcm", i))
		if err := writeFile(path, class, b.utf8[dicom.TagSOPInstanceUID], b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// writeBenchCT writes n CT slices of 512x512 16-bit (512 KB each), one series of a study
// per 100 slices.
func writeBenchCT(dir string, n int, seed uint64) error {
	const size = 512
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		tag := fmt.Sprintf("bench/%d/ct/%d", seed, i)
		exam := i / 100
		b := newBuilder("GB18030")
		p := patient{name: surnames[exam%len(surnames)] + given[(exam+3)%len(given)], id: fmt.Sprintf("C%d-%05d", seed, exam),
			birth: "19600101", sex: "M"}
		s := study{key: fmt.Sprintf("bench/%d/ct/%d", seed, exam), date: "20240403", time: "110000",
			accession: fmt.Sprintf("BC%d%06d", seed, exam), id: strconv.Itoa(exam + 1), description: "头颅平扫",
			institution: "基准测试卫生院"}
		b.common(classCT, tag, p, s, "1", "CT", 1, "")
		b.remove(dicom.TagInstanceNumber)
		b.str(dicom.TagInstanceNumber, "IS", strconv.Itoa(i%100+1))
		b.str(dicom.TagImageType, "CS", `ORIGINAL\PRIMARY\AXIAL`)
		b.str(0x00281052, "DS", "-1024") // Rescale Intercept
		b.str(0x00281053, "DS", "1")     // Rescale Slope
		b.streamImage(size, size, 1, 16, 12, "MONOCHROME2", size*size*2,
			xorshift.Noise(xorshift.New(seed, tag), 0x0FFF0FFF0FFF0FFF))
		path := filepath.Join(dir, fmt.Sprintf("ct_%04d.dcm", i))
		if err := writeFile(path, classCT, b.utf8[dicom.TagSOPInstanceUID], b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}
