package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"pacsd/dicom"
	"pacsd/internal/xorshift"
	"pacsd/tools/internal/benchkit"
)

// corpusVersion names the cache folder: bump it whenever the generator's output changes,
// so that a cached corpus from an older generator is never measured.
const corpusVersion = 1

// SOP classes of the corpus (PS3.4 Annex B.5).
const (
	classCR = "1.2.840.10008.5.1.4.1.1.1"
	classDX = "1.2.840.10008.5.1.4.1.1.1.1" // For Presentation
	classMG = "1.2.840.10008.5.1.4.1.1.1.2" // For Presentation
	classCT = "1.2.840.10008.5.1.4.1.1.2"
	classUS = "1.2.840.10008.5.1.4.1.1.6.1"
	classSC = "1.2.840.10008.5.1.4.1.1.7"
)

// kind says what an instance is for in the benchmark.
type kind uint8

const (
	kindSmall kind = iota // the 10k-study QIDO corpus
	kindBig               // the one large series, for /metadata
	kindLarge             // ~15 MB DR objects, for retrieval MB/s
)

type patientInfo struct {
	id, name string
	birth    string
	sex      string
	chinese  bool // the name has ideographs: the studies declare a character set that has them
	surname  int  // index in benchkit.Surnames (Chinese names)
}

type studyPlan struct {
	uid        string
	patient    int
	date, time string
	accession  string
	id         string
	desc       string
	referring  string
	charset    string // (0008,0005); "" for ASCII-only studies
	institute  string
	series     []*seriesPlan
	modalities []string // distinct, sorted: what ModalitiesInStudy must list
}

type seriesPlan struct {
	uid, class, modality string
	number               int
	desc, bodyPart       string
	kind                 kind
	instances            []*instancePlan
}

type instancePlan struct {
	uid    string
	number int
	path   string // absolute, once the corpus folder is known
}

type corpus struct {
	dir      string
	seed     uint64
	patients []patientInfo
	studies  []*studyPlan
	big      *studyPlan   // the study with the large series (one series)
	large    []*studyPlan // studies of the ~15 MB objects
}

var (
	latinFamily = []string{"SMITH", "MUELLER", "GARCIA", "ROSSI", "MARTIN", "IVANOV", "KIM", "NGUYEN", "SILVA", "BROWN"}
	latinGiven  = []string{"JOHN", "ANNA", "MARIA", "PETER", "LUCA", "SOFIA", "DAVID", "ELENA", "JAMES", "OLGA"}
	townships   = []string{"城关镇卫生院", "河口镇卫生院", "石桥乡卫生院", "新民镇卫生院", "东湖乡卫生院", "县人民医院"}
	doctors     = []string{"", "", "周医生", "Li^Hua=李^华", "Chen^Ming=陈^明", "王医生"}
)

// studyKinds: primary modality of a study, its weight (in percent), and what its series
// may describe. DX and CR dominate a township's work, then ultrasound.
var studyKinds = []struct {
	modality, class string
	weight          int
	desc            []string // Chinese, English (for ASCII-only studies)
	bodyPart        []string
}{
	{"DX", classDX, 45, []string{"胸部正位", "Chest PA", "胸部侧位", "Chest LAT", "腰椎正侧位", "L-spine AP/LAT", "膝关节正侧位", "Knee AP/LAT"}, []string{"CHEST", "CHEST", "LSPINE", "KNEE"}},
	{"CR", classCR, 20, []string{"胸部正位", "Chest PA", "手部正斜位", "Hand PA/OBL", "骨盆正位", "Pelvis AP"}, []string{"CHEST", "HAND", "PELVIS"}},
	{"US", classUS, 25, []string{"腹部超声", "Abdomen US", "甲状腺超声", "Thyroid US", "产科超声", "Obstetric US", "心脏超声", "Echo"}, []string{"ABDOMEN", "THYROID", "PELVIS", "HEART"}},
	{"CT", classCT, 5, []string{"头颅平扫", "Head plain", "胸部平扫", "Chest plain"}, []string{"HEAD", "CHEST"}},
	{"MG", classMG, 5, []string{"乳腺钼靶", "Mammography"}, []string{"BREAST"}},
}

// dayZero is the first StudyDate; studies are spread over spanDays after it.
var dayZero = time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC)

const spanDays = 728 // 104 weeks

// planCorpus draws the whole corpus from the seed, sequentially, so the same flags always
// give the same studies, UIDs and files. total counts every study (the large series' study
// and the large objects' studies included).
func planCorpus(dir string, total, bigSeries, nLarge int, seed uint64) *corpus {
	rng := xorshift.New(seed, "plan")
	c := &corpus{dir: dir, seed: seed}
	nLargeStudies := (nLarge + 1) / 2
	nSmall := total - 1 - nLargeStudies
	newPatient := func() int {
		n := len(c.patients)
		p := patientInfo{
			id:    fmt.Sprintf("T%02d-%07d", 1+rng.Intn(25), 1000000+n*7+rng.Intn(7)),
			birth: dayZero.AddDate(-1-rng.Intn(85), 0, -rng.Intn(365)).Format("20060102"),
			sex:   []string{"M", "F"}[rng.Intn(2)],
		}
		si := rng.Intn(len(benchkit.Surnames))
		s, g := benchkit.Surnames[si], benchkit.GivenNames[rng.Intn(len(benchkit.GivenNames))]
		p.surname = si
		switch r := rng.Intn(100); {
		case r < 45: // ideographs only, as most township devices fill it
			p.name, p.chinese = s.Han+g.Han, true
			if rng.Intn(2) == 0 {
				p.name = s.Han + "^" + g.Han
			}
		case r < 90: // alphabetic=ideographic (PS3.5 6.2.1.1)
			p.name, p.chinese = s.Pinyin+"^"+g.Pinyin+"="+s.Han+"^"+g.Han, true
		default:
			p.name = latinFamily[rng.Intn(len(latinFamily))] + "^" + latinGiven[rng.Intn(len(latinGiven))]
		}
		c.patients = append(c.patients, p)
		return n
	}
	uidN := 0
	uid := func(what string) string {
		uidN++
		return makeUID(seed, what, uidN)
	}
	newStudy := func(patient int) *studyPlan {
		n := len(c.studies) + 1
		p := c.patients[patient]
		st := &studyPlan{
			uid:       uid("study"),
			patient:   patient,
			date:      dayZero.AddDate(0, 0, rng.Intn(spanDays)).Format("20060102"),
			time:      fmt.Sprintf("%02d%02d%02d", 7+rng.Intn(11), rng.Intn(60), rng.Intn(60)),
			accession: fmt.Sprintf("A%08d", 10000000+n),
			id:        strconv.Itoa(n),
			referring: doctors[rng.Intn(len(doctors))],
			institute: townships[rng.Intn(len(townships))],
		}
		if p.chinese {
			// Most devices send UTF-8 today; older ones GB18030 (both declared).
			st.charset = "ISO_IR 192"
			if rng.Intn(10) < 3 {
				st.charset = "GB18030"
			}
		}
		if !p.chinese {
			st.institute, st.referring = "County Hospital", ""
		}
		c.studies = append(c.studies, st)
		return st
	}
	addSeries := func(st *studyPlan, modality, class, desc, bodyPart string, k kind, n int) *seriesPlan {
		se := &seriesPlan{uid: uid("series"), class: class, modality: modality, number: len(st.series) + 1,
			desc: desc, bodyPart: bodyPart, kind: k}
		for i := 1; i <= n; i++ {
			se.instances = append(se.instances, &instancePlan{uid: uid("instance"), number: i})
		}
		st.series = append(st.series, se)
		return se
	}

	for i := 0; i < nSmall; i++ {
		// About a third of studies are returning patients, so some PatientIDs have several.
		var pi int
		if len(c.patients) > 0 && rng.Intn(100) < 35 {
			pi = rng.Intn(len(c.patients))
		} else {
			pi = newPatient()
		}
		st := newStudy(pi)
		w, k := rng.Intn(100), 0
		for ; w >= studyKinds[k].weight; k++ {
			w -= studyKinds[k].weight
		}
		sk := studyKinds[k]
		nSeries := 1
		switch r := rng.Intn(100); {
		case r >= 90:
			nSeries = 3
		case r >= 60:
			nSeries = 2
		}
		d := rng.Intn(len(sk.desc) / 2)
		if c.patients[pi].chinese {
			st.desc = sk.desc[2*d]
		} else {
			st.desc = sk.desc[2*d+1]
		}
		for s := 0; s < nSeries; s++ {
			mod, class, desc := sk.modality, sk.class, st.desc
			// An ultrasound study often carries a secondary-capture report page; a DX
			// study sometimes a CR view taken on the old plate reader.
			if s > 0 && mod == "US" && rng.Intn(3) == 0 {
				mod, class, desc = "OT", classSC, "Report"
			} else if s > 0 && mod == "DX" && rng.Intn(10) == 0 {
				mod, class = "CR", classCR
			}
			addSeries(st, mod, class, desc, sk.bodyPart[d%len(sk.bodyPart)], kindSmall, 1+rng.Intn(2))
		}
	}

	// The study OHIF would open slowest: a CT series of bigSeries thin slices.
	c.big = newStudy(newPatient())
	c.big.desc = "胸部平扫薄层"
	c.big.charset = "ISO_IR 192"
	addSeries(c.big, "CT", classCT, "1.0mm 肺窗", "CHEST", kindBig, bigSeries)

	for i := 0; i < nLargeStudies; i++ {
		st := newStudy(newPatient())
		st.desc = "胸部正侧位"
		st.charset = "ISO_IR 192"
		addSeries(st, "DX", classDX, "胸部正侧位", "CHEST", kindLarge, min(2, nLarge-2*i))
		c.large = append(c.large, st)
	}

	files := 0
	for _, st := range c.studies {
		mods := map[string]bool{}
		for _, se := range st.series {
			mods[se.modality] = true
			for _, in := range se.instances {
				// At most 1000 files per folder.
				in.path = filepath.Join(dir, kindDir(se.kind), fmt.Sprintf("%03d/%06d.dcm", files/1000, files))
				files++
			}
		}
		for m := range mods {
			st.modalities = append(st.modalities, m)
		}
		sort.Strings(st.modalities)
	}
	return c
}

func kindDir(k kind) string {
	return [...]string{"small", "big", "large"}[k]
}

// makeUID derives a UID under 2.25 (PS3.5 B.2: a UUID as a decimal integer) from the seed
// and a counter, so UIDs are unique per corpus and stable across runs.
func makeUID(seed uint64, what string, n int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("pacsd-benchweb/%d/%s/%d", seed, what, n)))
	return "2.25." + new(big.Int).SetBytes(h[:16]).String()
}

// each calls fn for every instance with its series and study.
func (c *corpus) each(fn func(st *studyPlan, se *seriesPlan, in *instancePlan)) {
	for _, st := range c.studies {
		for _, se := range st.series {
			for _, in := range se.instances {
				fn(st, se, in)
			}
		}
	}
}

func (c *corpus) counts() (studies, instances int) {
	c.each(func(*studyPlan, *seriesPlan, *instancePlan) { instances++ })
	return len(c.studies), instances
}

// write generates every file into c.dir (which must not exist yet: the caller renames a
// finished folder into place), in parallel; each file's bytes depend only on the plan.
func (c *corpus) write() error {
	type job struct {
		st *studyPlan
		se *seriesPlan
		in *instancePlan
	}
	jobs := make(chan job)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := c.writeFile(j.st, j.se, j.in); err != nil {
					select {
					case errs <- fmt.Errorf("write %s: %w", j.in.path, err):
					default:
					}
				}
			}
		}()
	}
	c.each(func(st *studyPlan, se *seriesPlan, in *instancePlan) { jobs <- job{st, se, in} })
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// elem is one top-level element; text values are UTF-8 until encoded in the study's charset.
type elem struct {
	tag  dicom.Tag
	vr   string
	text string
	u16  []uint16
}

func (c *corpus) fileMeta(se *seriesPlan, in *instancePlan) dicom.FileMeta {
	return dicom.FileMeta{SOPClassUID: se.class, SOPInstanceUID: in.uid,
		TransferSyntaxUID: dicom.ExplicitVRLittleEndian, SourceAETitle: "BENCHWEB"}
}

// datasetOffset is where the data set starts in an instance's file (after the preamble and
// File Meta Information), for sending it over DIMSE without re-reading the header.
func (c *corpus) datasetOffset(se *seriesPlan, in *instancePlan) (int64, error) {
	return dicom.WriteFileMeta(io.Discard, c.fileMeta(se, in))
}

func (c *corpus) writeFile(st *studyPlan, se *seriesPlan, in *instancePlan) (err error) {
	if err := os.MkdirAll(filepath.Dir(in.path), 0o755); err != nil {
		return err
	}
	p := c.patients[st.patient]
	rows, bits, stored, pi := 64, 16, 12, "MONOCHROME2"
	switch {
	case se.kind == kindLarge:
		rows = 2800
	case se.modality == "US" || se.modality == "OT":
		bits, stored = 8, 8
	}
	cols := rows
	els := []elem{
		{tag: 0x00080008, vr: "CS", text: `ORIGINAL\PRIMARY`},
		{tag: 0x00080016, vr: "UI", text: se.class},
		{tag: 0x00080018, vr: "UI", text: in.uid},
		{tag: 0x00080020, vr: "DA", text: st.date},
		{tag: 0x00080021, vr: "DA", text: st.date},
		{tag: 0x00080023, vr: "DA", text: st.date},
		{tag: 0x00080030, vr: "TM", text: st.time},
		{tag: 0x00080031, vr: "TM", text: st.time},
		{tag: 0x00080033, vr: "TM", text: st.time},
		{tag: 0x00080050, vr: "SH", text: st.accession},
		{tag: 0x00080060, vr: "CS", text: se.modality},
		{tag: 0x00080070, vr: "LO", text: "BenchWeb Imaging"},
		{tag: 0x00080080, vr: "LO", text: st.institute},
		{tag: 0x00080090, vr: "PN", text: st.referring},
		{tag: 0x00081030, vr: "LO", text: st.desc},
		{tag: 0x0008103E, vr: "LO", text: se.desc},
		{tag: 0x00100010, vr: "PN", text: p.name},
		{tag: 0x00100020, vr: "LO", text: p.id},
		{tag: 0x00100030, vr: "DA", text: p.birth},
		{tag: 0x00100040, vr: "CS", text: p.sex},
		{tag: 0x00180015, vr: "CS", text: se.bodyPart},
		{tag: 0x0020000D, vr: "UI", text: st.uid},
		{tag: 0x0020000E, vr: "UI", text: se.uid},
		{tag: 0x00200010, vr: "SH", text: st.id},
		{tag: 0x00200011, vr: "IS", text: strconv.Itoa(se.number)},
		{tag: 0x00200013, vr: "IS", text: strconv.Itoa(in.number)},
		{tag: 0x00280002, vr: "US", u16: []uint16{1}},
		{tag: 0x00280004, vr: "CS", text: pi},
		{tag: 0x00280010, vr: "US", u16: []uint16{uint16(rows)}},
		{tag: 0x00280011, vr: "US", u16: []uint16{uint16(cols)}},
		{tag: 0x00280030, vr: "DS", text: `0.139\0.139`},
		{tag: 0x00280100, vr: "US", u16: []uint16{uint16(bits)}},
		{tag: 0x00280101, vr: "US", u16: []uint16{uint16(stored)}},
		{tag: 0x00280102, vr: "US", u16: []uint16{uint16(stored - 1)}},
		{tag: 0x00280103, vr: "US", u16: []uint16{0}},
	}
	if st.charset != "" {
		els = append(els, elem{tag: 0x00080005, vr: "CS", text: st.charset})
	}
	if se.modality == "OT" {
		els = append(els, elem{tag: 0x00080064, vr: "CS", text: "WSD"})
	}
	if bits == 16 {
		els = append(els, elem{tag: 0x00281050, vr: "DS", text: "2048"}, elem{tag: 0x00281051, vr: "DS", text: "4096"})
	}
	if se.modality == "CT" {
		z := fmt.Sprintf("%.1f", -250+float64(in.number))
		els = append(els,
			elem{tag: 0x00180050, vr: "DS", text: "1.0"},
			elem{tag: 0x00200032, vr: "DS", text: `-175.0\-175.0\` + z},
			elem{tag: 0x00200037, vr: "DS", text: `1\0\0\0\1\0`},
			elem{tag: 0x00200052, vr: "UI", text: makeUID(c.seed, "for/"+se.uid, 0)},
			elem{tag: 0x00201041, vr: "DS", text: z},
			elem{tag: 0x00281052, vr: "DS", text: "-1024"},
			elem{tag: 0x00281053, vr: "DS", text: "1"},
		)
	}
	sort.Slice(els, func(i, j int) bool { return els[i].tag < els[j].tag })

	f, err := os.Create(in.path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 256<<10)
	if _, err := dicom.WriteFileMeta(w, c.fileMeta(se, in)); err != nil {
		return err
	}
	enc, err := dicom.NewEncoder(w, dicom.ExplicitVRLittleEndian)
	if err != nil {
		return err
	}
	var charsets []string
	if st.charset != "" {
		charsets = []string{st.charset}
	}
	for _, e := range els {
		switch {
		case e.u16 != nil:
			enc.WriteUint16(e.tag, e.vr, e.u16...)
		case dicom.IsTextVR(e.vr) && e.vr != "UI":
			v, err := dicom.EncodeText(e.text, charsets, e.vr)
			if err != nil {
				return fmt.Errorf("%s %q: %w", e.tag, e.text, err)
			}
			enc.WriteElement(e.tag, e.vr, v)
		default:
			enc.WriteString(e.tag, e.vr, e.text)
		}
	}
	// Pixel Data: noise within Bits Stored, so that nothing compresses the bytes away.
	vr, length := "OW", uint32(rows*cols*bits/8)
	if bits == 8 {
		vr = "OB"
	}
	mask := uint64(0x0FFF0FFF0FFF0FFF)
	if bits == 8 {
		mask = ^uint64(0)
	}
	enc.WriteElementFrom(0x7FE00010, vr, length, xorshift.Noise(xorshift.New(c.seed, in.uid), mask))
	if err := enc.Close(); err != nil {
		return err
	}
	return w.Flush()
}

// openDataset returns an instance's data set (no preamble, no File Meta Information), as
// DIMSE carries it. Small files are read whole; large ones are streamed.
func (c *corpus) openDataset(se *seriesPlan, in *instancePlan, off int64) (io.ReadCloser, error) {
	if se.kind != kindLarge {
		b, err := os.ReadFile(in.path)
		if err != nil {
			return nil, err
		}
		if int64(len(b)) < off || !bytes.Equal(b[128:132], []byte("DICM")) {
			return nil, fmt.Errorf("%s: not a Part-10 file of this corpus", in.path)
		}
		return io.NopCloser(bytes.NewReader(b[off:])), nil
	}
	f, err := os.Open(in.path)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{bufio.NewReaderSize(f, 256<<10), f}, nil
}

// weeks returns n one-week StudyDate ranges ("YYYYMMDD-YYYYMMDD") drawn from the span.
func weeks(n int, seed uint64) []string {
	rng := xorshift.New(seed, "weeks")
	out := make([]string, n)
	for i := range out {
		from := dayZero.AddDate(0, 0, rng.Intn(spanDays-6))
		out[i] = from.Format("20060102") + "-" + from.AddDate(0, 0, 6).Format("20060102")
	}
	return out
}

// patientIDs returns n PatientIDs drawn from the corpus's patients (small studies only).
func (c *corpus) patientIDs(n int) []string {
	rng := xorshift.New(c.seed, "patients")
	out := make([]string, n)
	for i := range out {
		out[i] = c.patients[c.studies[rng.Intn(len(c.studies)-1-len(c.large))].patient].id
	}
	return out
}

// expect is the set of Study Instance UIDs a QIDO query must match, from the plan.
func (c *corpus) expect(query string) map[string]bool {
	key, val, _ := strings.Cut(query, "=")
	val, _, _ = strings.Cut(val, "&")
	out := map[string]bool{}
	for _, st := range c.studies {
		ok := false
		switch key {
		case "PatientID":
			ok = c.patients[st.patient].id == val
		case "StudyDate":
			from, to, _ := strings.Cut(val, "-")
			ok = st.date >= from && st.date <= to
		case "PatientName":
			ok = nameMatches(c.patients[st.patient], val, strings.Contains(query, "fuzzymatching=true"))
		case "ModalitiesInStudy":
			for _, m := range st.modalities {
				ok = ok || m == val
			}
		default:
			ok = true
		}
		if ok {
			out[st.uid] = true
		}
	}
	return out
}

// nameMatches says whether a patient's name matches a PatientName value of the benchmark
// (pacsd's rules, store/sqlite's package comment): without '=', a value matches when one
// component group matches, ignoring ASCII case, '*' only at the end here. Fuzzy: the
// benchmark asks only "zhang", which finds the Chinese names of surname 张 (by their pinyin
// or their alphabetic group); no given name of the corpus reads zhang.
func nameMatches(p patientInfo, val string, fuzzy bool) bool {
	if fuzzy {
		if val != "zhang" {
			panic("benchweb: fuzzy query not in the plan: " + val)
		}
		return p.chinese && benchkit.Surnames[p.surname].Han == "张"
	}
	return benchkit.NameMatches(p.name, val)
}
