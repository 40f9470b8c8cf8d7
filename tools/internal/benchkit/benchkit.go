// Package benchkit is what pacsd's benchmark commands share (tools/benchweb, the DICOMweb
// benchmark against Orthanc at 10k studies, and tools/benchscale, pacsd alone at a
// million instances on SQLite and PostgreSQL): the Chinese names their corpora draw, the
// study-level C-FIND both send and the name rule both check answers by, and the small
// process and machine readings of their reports.
package benchkit

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"pacsd/dicom"
)

// Name is one name part in ideographs and in pinyin.
type Name struct{ Han, Pinyin string }

// Surnames and GivenNames are common Chinese family and given names; a corpus draws
// patients' names from them in the forms township devices send.
var (
	Surnames = []Name{
		{"王", "Wang"}, {"李", "Li"}, {"张", "Zhang"}, {"刘", "Liu"}, {"陈", "Chen"}, {"杨", "Yang"},
		{"黄", "Huang"}, {"赵", "Zhao"}, {"吴", "Wu"}, {"周", "Zhou"}, {"徐", "Xu"}, {"孙", "Sun"},
		{"马", "Ma"}, {"朱", "Zhu"}, {"胡", "Hu"}, {"郭", "Guo"}, {"何", "He"}, {"林", "Lin"},
		{"罗", "Luo"}, {"高", "Gao"},
	}
	GivenNames = []Name{
		{"伟", "Wei"}, {"芳", "Fang"}, {"娜", "Na"}, {"敏", "Min"}, {"静", "Jing"}, {"丽", "Li"},
		{"强", "Qiang"}, {"磊", "Lei"}, {"军", "Jun"}, {"洋", "Yang"}, {"勇", "Yong"}, {"艳", "Yan"},
		{"杰", "Jie"}, {"娟", "Juan"}, {"涛", "Tao"}, {"明", "Ming"}, {"超", "Chao"}, {"秀英", "Xiuying"},
		{"建华", "Jianhua"}, {"志强", "Zhiqiang"}, {"桂兰", "Guilan"}, {"国强", "Guoqiang"},
		{"小红", "Xiaohong"}, {"海燕", "Haiyan"},
	}
)

// NameMatches says whether a PatientName value of the benchmarks matches a stored name
// (pacsd's rule, store/sqlite's package comment): without '=', a value matches when one
// component group matches, ignoring ASCII case; '*' only at the end here. Fuzzy matching is
// each corpus's own (it knows its surnames).
func NameMatches(name, val string) bool {
	prefix, wild := strings.CutSuffix(val, "*")
	for _, g := range strings.Split(name, "=") {
		g = strings.ToLower(g)
		if wild && strings.HasPrefix(g, strings.ToLower(prefix)) || !wild && g == strings.ToLower(val) {
			return true
		}
	}
	return false
}

// StudyRootFind is the Study Root Query/Retrieve Information Model - FIND SOP class.
const StudyRootFind = "1.2.840.10008.5.1.4.1.2.2.1"

// StudyFind is a study-level C-FIND's matching keys ("" = universal matching).
type StudyFind struct {
	PatientID, PatientName, StudyDate string
}

// Identifier encodes q in Implicit VR Little Endian (the transfer syntax the benchmarks
// propose), keys in ascending tag order, Specific Character Set ISO_IR 192 for the Chinese
// names, with the return keys a workstation's study list asks.
func (q StudyFind) Identifier() ([]byte, error) {
	var b bytes.Buffer
	enc, err := dicom.NewEncoder(&b, dicom.ImplicitVRLittleEndian)
	if err != nil {
		return nil, err
	}
	charsets := []string{"ISO_IR 192"}
	text := func(tag dicom.Tag, vr, v string) error {
		raw, err := dicom.EncodeText(v, charsets, vr)
		if err != nil {
			return fmt.Errorf("%s %q: %w", tag, v, err)
		}
		enc.WriteElement(tag, vr, raw)
		return nil
	}
	enc.WriteString(dicom.TagSpecificCharacterSet, "CS", "ISO_IR 192")
	enc.WriteString(dicom.TagStudyDate, "DA", q.StudyDate)
	enc.WriteString(dicom.TagStudyTime, "TM", "")
	enc.WriteString(dicom.TagAccessionNumber, "SH", "")
	enc.WriteString(0x00080052, "CS", "STUDY") // Query/Retrieve Level
	enc.WriteString(dicom.TagModalitiesInStudy, "CS", "")
	if err := text(dicom.TagStudyDescription, "LO", ""); err != nil {
		return nil, err
	}
	if err := text(dicom.TagPatientName, "PN", q.PatientName); err != nil {
		return nil, err
	}
	if err := text(dicom.TagPatientID, "LO", q.PatientID); err != nil {
		return nil, err
	}
	enc.WriteString(dicom.TagPatientBirthDate, "DA", "")
	enc.WriteString(dicom.TagStudyInstanceUID, "UI", "")
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Loadavg is the machine's 1, 5 and 15 minute load averages, "?" if unknown: a report
// says how busy the shared machine was.
func Loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// FreePort is a loopback TCP port free now, for a server the benchmark starts.
func FreePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// Memory is a process's memory line of /proc/<pid>/status in bytes ("VmRSS": resident
// now, "VmHWM": its peak); 0 if unknown.
func Memory(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
