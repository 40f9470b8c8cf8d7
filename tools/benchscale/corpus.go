package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"time"

	"pacsd/dicom"
	"pacsd/internal/xorshift"
	"pacsd/tools/internal/benchkit"
)

// The corpus is a pure function of (seed, study number): study i, its patient, series and
// instances are drawn from their own xorshift streams, so any study can be made again on
// its own (a resumed load starts at study k without replaying 0..k-1) and nothing of the
// corpus is held in memory. Objects are small (16x16 pixels): the index is what is measured.

// SOP classes (PS3.4 Annex B.5).
const (
	classCR = "1.2.840.10008.5.1.4.1.1.1"
	classDX = "1.2.840.10008.5.1.4.1.1.1.1"
	classMG = "1.2.840.10008.5.1.4.1.1.1.2"
	classCT = "1.2.840.10008.5.1.4.1.1.2"
	classUS = "1.2.840.10008.5.1.4.1.1.6.1"
	classSC = "1.2.840.10008.5.1.4.1.1.7"
)

var (
	latinFamily = []string{"SMITH", "MUELLER", "GARCIA", "ROSSI", "MARTIN", "KIM", "NGUYEN", "SILVA"}
	latinGiven  = []string{"JOHN", "ANNA", "MARIA", "PETER", "LUCA", "SOFIA", "DAVID", "ELENA"}
	// sites are a county's senders: townships' health centres and the county hospital, each
	// with the AE title its devices call from.
	sites = []struct{ institution, ae string }{
		{"城关镇卫生院", "CHENGGUAN_DR"}, {"河口镇卫生院", "HEKOU_DR"}, {"石桥乡卫生院", "SHIQIAO_US"},
		{"新民镇卫生院", "XINMIN_DR"}, {"东湖乡卫生院", "DONGHU_US"}, {"白沙镇卫生院", "BAISHA_DR"},
		{"马坪镇卫生院", "MAPING_US"}, {"县人民医院", "COUNTY_CT"}, {"县中医院", "TCM_DR"},
	}
)

// studyKinds: a county's mix. DR (DX, some CR) with 1-3 images dominates, then ultrasound
// with 5-30 images; a few CT with 100-300 slices carry a large share of the instances.
// About 10 instances per study on average.
var studyKinds = []struct {
	modality, class string
	weight          int // percent
	minN, maxN      int // images per series
	desc            []string
	bodyPart        []string
}{
	{"DX", classDX, 60, 1, 3, []string{"胸部正位", "腰椎正侧位", "膝关节正侧位", "颈椎正侧位"}, []string{"CHEST", "LSPINE", "KNEE", "CSPINE"}},
	{"CR", classCR, 10, 1, 2, []string{"胸部正位", "手部正斜位", "骨盆正位"}, []string{"CHEST", "HAND", "PELVIS"}},
	{"US", classUS, 25, 5, 30, []string{"腹部超声", "甲状腺超声", "产科超声", "心脏超声"}, []string{"ABDOMEN", "THYROID", "PELVIS", "HEART"}},
	{"CT", classCT, 2, 100, 300, []string{"头颅平扫", "胸部平扫"}, []string{"HEAD", "CHEST"}},
	{"MG", classMG, 3, 4, 4, []string{"乳腺钼靶"}, []string{"BREAST"}},
}

// dayZero is the first StudyDate; studies spread over spanDays (five years) after it.
var dayZero = time.Date(2021, 1, 4, 0, 0, 0, 0, time.UTC)

const spanDays = 5 * 364

type patient struct {
	id, name, birth, sex string
	chinese              bool
	zhang                bool // surname 张: what the name searches look for
}

type study struct {
	n                  int
	uid                string
	patient            patient
	date, time         string
	accession, id      string
	desc, referring    string
	charsets           []string // for dicom.EncodeText
	charsetValue       string   // (0008,0005) as written
	site               int
	series             []series
	modalities         []string // distinct, sorted
	instances          int
	modality, bodyPart string
}

type series struct {
	uid, class, modality, desc string
	number, instances          int
}

// patientAt is patient k of the corpus.
func patientAt(seed uint64, k int) patient {
	rng := xorshift.New(seed, "patient/"+strconv.Itoa(k))
	p := patient{
		id:    fmt.Sprintf("P%02d-%08d", 1+rng.Intn(30), 10000000+k),
		birth: dayZero.AddDate(-1-rng.Intn(85), 0, -rng.Intn(365)).Format("20060102"),
		sex:   []string{"M", "F"}[rng.Intn(2)],
	}
	si := rng.Intn(len(benchkit.Surnames))
	s, g := benchkit.Surnames[si], benchkit.GivenNames[rng.Intn(len(benchkit.GivenNames))]
	switch r := rng.Intn(100); {
	case r < 45: // ideographs only, as most township devices fill it
		p.name, p.chinese = s.Han+g.Han, true
		if rng.Intn(2) == 0 {
			p.name = s.Han + "^" + g.Han
		}
	case r < 95: // alphabetic=ideographic (PS3.5 6.2.1.1)
		p.name, p.chinese = s.Pinyin+"^"+g.Pinyin+"="+s.Han+"^"+g.Han, true
	default:
		p.name = latinFamily[rng.Intn(len(latinFamily))] + "^" + latinGiven[rng.Intn(len(latinGiven))]
	}
	p.zhang = p.chinese && s.Han == "张"
	return p
}

// studyAt is study i (0-based) of the corpus.
func studyAt(seed uint64, i int) *study {
	rng := xorshift.New(seed, "study/"+strconv.Itoa(i))
	// About a third of studies are returning patients: an earlier study's patient number.
	k := i
	if i > 0 && rng.Intn(100) < 35 {
		k = rng.Intn(i)
	}
	st := &study{
		n:         i,
		uid:       makeUID(seed, "study", i, 0, 0),
		patient:   patientAt(seed, k),
		date:      dayZero.AddDate(0, 0, rng.Intn(spanDays)).Format("20060102"),
		time:      fmt.Sprintf("%02d%02d%02d", 7+rng.Intn(11), rng.Intn(60), rng.Intn(60)),
		accession: fmt.Sprintf("A%09d", 100000000+i),
		id:        strconv.Itoa(i + 1),
		referring: []string{"", "", "周医生", "Li^Hua=李^华", "王医生"}[rng.Intn(5)],
		site:      rng.Intn(len(sites)),
	}
	// Most devices send UTF-8 today, older ones GB18030, a few GB2312 through ISO 2022;
	// every study declares one (the institution names are Chinese).
	switch r := rng.Intn(100); {
	case r < 60:
		st.charsets, st.charsetValue = []string{"ISO_IR 192"}, "ISO_IR 192"
	case r < 85:
		st.charsets, st.charsetValue = []string{"GB18030"}, "GB18030"
	default:
		st.charsets, st.charsetValue = []string{"", "ISO 2022 IR 58"}, `\ISO 2022 IR 58`
	}
	if !st.patient.chinese {
		st.referring = ""
	}
	w, kind := rng.Intn(100), 0
	for ; w >= studyKinds[kind].weight; kind++ {
		w -= studyKinds[kind].weight
	}
	sk := studyKinds[kind]
	d := rng.Intn(len(sk.desc))
	st.desc, st.modality, st.bodyPart = sk.desc[d], sk.modality, sk.bodyPart[d%len(sk.bodyPart)]
	nSeries := 1
	if r := rng.Intn(100); r >= 85 {
		nSeries = 2
	}
	mods := map[string]bool{}
	for s := 0; s < nSeries; s++ {
		se := series{uid: makeUID(seed, "series", i, s, 0), class: sk.class, modality: sk.modality,
			desc: st.desc, number: s + 1, instances: sk.minN + rng.Intn(sk.maxN-sk.minN+1)}
		// An ultrasound study often carries a secondary-capture report page.
		if s > 0 && sk.modality == "US" {
			se.class, se.modality, se.desc, se.instances = classSC, "OT", "Report", 1
		}
		mods[se.modality] = true
		st.instances += se.instances
		st.series = append(st.series, se)
	}
	for m := range mods {
		st.modalities = append(st.modalities, m)
	}
	sort.Strings(st.modalities)
	return st
}

// makeUID derives a UID under 2.25 (PS3.5 B.2) from the seed and the object's place.
func makeUID(seed uint64, what string, study, series, instance int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "pacsd-benchscale/%d/%s/%d/%d/%d", seed, what, study, series, instance))
	return "2.25." + new(big.Int).SetBytes(h[:16]).String()
}

type elem struct {
	tag  dicom.Tag
	vr   string
	text string
	u16  []uint16
}

// object is the Part-10 bytes of instance j (1-based) of series se of st.
func (st *study) object(seed uint64, se series, j int) ([]byte, string, error) {
	uid := makeUID(seed, "instance", st.n, se.number, j)
	const rows = 16
	bits, stored := 16, 12
	if se.modality == "US" || se.modality == "OT" {
		bits, stored = 8, 8
	}
	site := sites[st.site]
	els := []elem{
		{tag: 0x00080008, vr: "CS", text: `ORIGINAL\PRIMARY`},
		{tag: 0x00080016, vr: "UI", text: se.class},
		{tag: 0x00080018, vr: "UI", text: uid},
		{tag: 0x00080020, vr: "DA", text: st.date},
		{tag: 0x00080021, vr: "DA", text: st.date},
		{tag: 0x00080030, vr: "TM", text: st.time},
		{tag: 0x00080031, vr: "TM", text: st.time},
		{tag: 0x00080050, vr: "SH", text: st.accession},
		{tag: 0x00080060, vr: "CS", text: se.modality},
		{tag: 0x00080070, vr: "LO", text: "BenchScale Imaging"},
		{tag: 0x00080080, vr: "LO", text: site.institution},
		{tag: 0x00080090, vr: "PN", text: st.referring},
		{tag: 0x00081010, vr: "SH", text: site.ae},
		{tag: 0x00081030, vr: "LO", text: st.desc},
		{tag: 0x0008103E, vr: "LO", text: se.desc},
		{tag: 0x00100010, vr: "PN", text: st.patient.name},
		{tag: 0x00100020, vr: "LO", text: st.patient.id},
		{tag: 0x00100030, vr: "DA", text: st.patient.birth},
		{tag: 0x00100040, vr: "CS", text: st.patient.sex},
		{tag: 0x00180015, vr: "CS", text: st.bodyPart},
		{tag: 0x0020000D, vr: "UI", text: st.uid},
		{tag: 0x0020000E, vr: "UI", text: se.uid},
		{tag: 0x00200010, vr: "SH", text: st.id},
		{tag: 0x00200011, vr: "IS", text: strconv.Itoa(se.number)},
		{tag: 0x00200013, vr: "IS", text: strconv.Itoa(j)},
		{tag: 0x00280002, vr: "US", u16: []uint16{1}},
		{tag: 0x00280004, vr: "CS", text: "MONOCHROME2"},
		{tag: 0x00280010, vr: "US", u16: []uint16{rows}},
		{tag: 0x00280011, vr: "US", u16: []uint16{rows}},
		{tag: 0x00280100, vr: "US", u16: []uint16{uint16(bits)}},
		{tag: 0x00280101, vr: "US", u16: []uint16{uint16(stored)}},
		{tag: 0x00280102, vr: "US", u16: []uint16{uint16(stored - 1)}},
		{tag: 0x00280103, vr: "US", u16: []uint16{0}},
	}
	if st.charsetValue != "" {
		els = append(els, elem{tag: 0x00080005, vr: "CS", text: st.charsetValue})
	}
	if se.modality == "OT" {
		els = append(els, elem{tag: 0x00080064, vr: "CS", text: "WSD"})
	}
	if se.modality == "CT" {
		z := fmt.Sprintf("%.1f", -250+float64(j))
		els = append(els,
			elem{tag: 0x00180050, vr: "DS", text: "1.0"},
			elem{tag: 0x00200032, vr: "DS", text: `-175.0\-175.0\` + z},
			elem{tag: 0x00200037, vr: "DS", text: `1\0\0\0\1\0`},
			elem{tag: 0x00201041, vr: "DS", text: z},
			elem{tag: 0x00281052, vr: "DS", text: "-1024"},
			elem{tag: 0x00281053, vr: "DS", text: "1"},
		)
	}
	sort.Slice(els, func(a, b int) bool { return els[a].tag < els[b].tag })

	var b bytes.Buffer
	meta := dicom.FileMeta{SOPClassUID: se.class, SOPInstanceUID: uid,
		TransferSyntaxUID: dicom.ExplicitVRLittleEndian, SourceAETitle: site.ae}
	if _, err := dicom.WriteFileMeta(&b, meta); err != nil {
		return nil, "", err
	}
	enc, err := dicom.NewEncoder(&b, dicom.ExplicitVRLittleEndian)
	if err != nil {
		return nil, "", err
	}
	for _, e := range els {
		switch {
		case e.u16 != nil:
			enc.WriteUint16(e.tag, e.vr, e.u16...)
		case dicom.IsTextVR(e.vr) && e.vr != "UI" && e.tag != 0x00080005:
			v, err := dicom.EncodeText(e.text, st.charsets, e.vr)
			if err != nil {
				return nil, "", fmt.Errorf("study %d %s %q: %w", st.n, e.tag, e.text, err)
			}
			enc.WriteElement(e.tag, e.vr, v)
		default:
			enc.WriteString(e.tag, e.vr, e.text)
		}
	}
	vr := "OW"
	if bits == 8 {
		vr = "OB"
	}
	mask := uint64(0x0FFF0FFF0FFF0FFF)
	if bits == 8 {
		mask = ^uint64(0)
	}
	enc.WriteElementFrom(0x7FE00010, vr, uint32(rows*rows*bits/8), xorshift.Noise(xorshift.New(seed, uid), mask))
	if err := enc.Close(); err != nil {
		return nil, "", err
	}
	return b.Bytes(), uid, nil
}
