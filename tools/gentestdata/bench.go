package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"pacsd/dicom"
	"pacsd/internal/xorshift"
)

var (
	surnames = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭"}
	given    = []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "建华", "志强"}
)

// benchFile is one planned benchmark object.
type benchFile struct {
	path               string
	kind               string // "large" or "small"
	index              int
	study              int
	series, instance   int
	patient, patientID string
}

// writeBench writes nLarge 2800x2800 and nSmall 64x64 16-bit DX objects in studies of 1-4
// instances. The plan (which file is in which study) is drawn sequentially from the seed;
// the files are then written in parallel, each from its own seeded generator, so the bytes
// do not depend on scheduling.
func writeBench(dir string, nLarge, nSmall int, seed uint64) error {
	plan := planBench(dir, nLarge, nSmall, seed)
	for _, sub := range []string{"large", "small"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	jobs := make(chan benchFile)
	errs := make(chan error, len(plan))
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				if err := writeBenchFile(f, seed); err != nil {
					errs <- fmt.Errorf("%s: %w", f.path, err)
				}
			}
		}()
	}
	for _, f := range plan {
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs // nil when the channel is empty
}

func planBench(dir string, nLarge, nSmall int, seed uint64) []benchFile {
	rng := xorshift.New(seed, "plan")
	var plan []benchFile
	study := 0
	for _, k := range []struct {
		kind  string
		count int
		width int
	}{{"large", nLarge, 4}, {"small", nSmall, 5}} {
		left := 0
		var cur benchFile
		for i := 0; i < k.count; i++ {
			if left == 0 {
				study++
				left = 1 + rng.Intn(4)
				cur = benchFile{
					study:     study,
					patient:   surnames[rng.Intn(len(surnames))] + given[rng.Intn(len(given))],
					patientID: fmt.Sprintf("B%d-%06d", seed, study),
					instance:  0,
				}
			}
			cur.instance++
			cur.series = 1 + (cur.instance-1)/2 // two views per series
			f := cur
			f.kind, f.index = k.kind, i
			f.path = filepath.Join(dir, k.kind, fmt.Sprintf("%0*d.dcm", k.width, i))
			plan = append(plan, f)
			left--
		}
	}
	return plan
}

func writeBenchFile(f benchFile, seed uint64) error {
	size := 2800
	if f.kind == "small" {
		size = 64
	}
	tag := fmt.Sprintf("bench/%d/%s/%d", seed, f.kind, f.index)
	b := newBuilder("GB18030")
	p := patient{name: f.patient, id: f.patientID, birth: "19700101", sex: "O"}
	s := study{key: fmt.Sprintf("bench/%d/%d", seed, f.study), date: "20240401", time: "080000",
		accession: fmt.Sprintf("BA%d%07d", seed, f.study), id: strconv.Itoa(f.study),
		description: "胸部正位", institution: "基准测试卫生院", referring: ""}
	b.common(classDX, tag, p, s, strconv.Itoa(f.series), "DX", f.series, "")
	// common numbered the instance 1 and derived the SOP UID from tag; fix the number.
	b.remove(dicom.TagInstanceNumber)
	b.str(dicom.TagInstanceNumber, "IS", strconv.Itoa(f.instance))
	b.str(dicom.TagImageType, "CS", `ORIGINAL\PRIMARY`)
	b.str(0x00080068, "CS", "FOR PRESENTATION")
	b.str(dicom.TagBodyPartExamined, "CS", "CHEST")
	b.str(0x00281050, "DS", "2048")
	b.str(0x00281051, "DS", "4096")
	b.str(0x20500020, "CS", "IDENTITY")
	length := uint32(size * size * 2)
	b.streamImage(size, size, 1, 16, 12, "MONOCHROME2", length,
		xorshift.Noise(xorshift.New(seed, tag), 0x0FFF0FFF0FFF0FFF))
	return writeFile(f.path, classDX, b.utf8[dicom.TagSOPInstanceUID], b)
}

// streamImage is image with Pixel Data streamed from r.
func (b *builder) streamImage(rows, cols, samples, bits, stored int, pi string, length uint32, r io.Reader) {
	b.image(rows, cols, samples, bits, stored, pi, nil)
	b.remove(dicom.TagPixelData)
	vr := "OW"
	if bits == 8 {
		vr = "OB"
	}
	b.add(elem{tag: dicom.TagPixelData, vr: vr, stream: r, length: length})
}

func writeFile(path, class, sop string, b *builder) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := part10(w, class, sop, dicom.ExplicitVRLittleEndian, b); err != nil {
		return err
	}
	return w.Flush()
}

// writeMultiframe writes n US multi-frame RGB objects of about sizeMB MB each (640x480
// frames of xorshift noise), for tests that must show memory stays bounded.
func writeMultiframe(dir string, n, sizeMB int, seed uint64) error {
	const rows, cols = 480, 640
	frameLen := rows * cols * 3
	frames := max(1, sizeMB*(1<<20)/frameLen)
	if uint64(frames)*uint64(frameLen) > 0xFFFFFFFE {
		return fmt.Errorf("-size %d MB does not fit one Pixel Data element", sizeMB)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		tag := fmt.Sprintf("multiframe/%d/%d", seed, i)
		b := newBuilder("ISO_IR 192")
		p := patient{name: "Multi^Frame=多^帧", id: fmt.Sprintf("MF%d-%04d", seed, i), birth: "19800101", sex: "O"}
		s := study{key: tag, date: "20240402", time: "090000", accession: fmt.Sprintf("MF%d%05d", seed, i),
			id: strconv.Itoa(i + 1), description: "心脏超声", referring: ""}
		b.common(classUSMulti, tag, p, s, "1", "US", 1, "")
		b.str(0x00181063, "DS", "33.3")
		b.str(dicom.TagNumberOfFrames, "IS", strconv.Itoa(frames))
		b.u16(0x00280009, "AT", 0x0018, 0x1063)
		b.streamImage(rows, cols, 3, 8, 8, "RGB", uint32(frames*frameLen),
			xorshift.Noise(xorshift.New(seed, tag), ^uint64(0)))
		path := filepath.Join(dir, fmt.Sprintf("mf_%04d.dcm", i))
		if err := writeFile(path, classUSMulti, b.utf8[dicom.TagSOPInstanceUID], b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}
