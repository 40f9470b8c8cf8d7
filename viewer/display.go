package viewer

import (
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"pacsd/reading"
)

// The reading room shows DICOM values the way a radiologist says them, never the raw codes
// where words belong: ages as 47岁, body parts and kinds of examination in Chinese, image
// counts without the report objects, durations as 3分26秒. One helper per value, used by
// every page that shows it (worklist, study page, printed report, dashboard).

// displayFuncs are the template functions of this file, in lang.
func displayFuncs(lang string) template.FuncMap {
	return template.FuncMap{
		"age":        func(r reading.WorklistRow) string { return displayAge(lang, r.PatientAge, r.BirthDate, r.StudyDate) },
		"bodyPart":   func(code string) string { return displayBodyPart(lang, code) },
		"modalities": func(mods []string) string { return displayModalities(lang, mods) },
		"modality":   func(m string) string { return displayModality(lang, m) },
		"images":     imageCount,
		"duration":   func(d time.Duration) string { return displayDuration(lang, d) },
	}
}

// ageUnits are the units of the Age String VR (PS3.5 6.2, Table 6.2-1: nnnD, nnnW, nnnM,
// nnnY) as each language writes them after the number.
var ageUnits = map[string]map[byte]string{
	"zh": {'D': "天", 'W': "周", 'M': "月", 'Y': "岁"},
	"en": {'D': " d", 'W': " wk", 'M': " mo", 'Y': " y"},
}

// displayAge shows Patient's Age (0010,1010) as 47岁 / 3月 / 2周 / 12天. Without one (or
// with an age of 0, which many modalities send for infants), the age is derived from
// Patient's Birth Date and the Study Date when both are known: whole years from one year
// on, whole months under a year, days under a month. A value that is not an age string is
// shown as sent.
func displayAge(lang, age, birthDate, studyDate string) string {
	age = strings.ToUpper(strings.TrimSpace(age))
	n, unit, ok := parseAge(age)
	if ok && n > 0 {
		return strconv.Itoa(n) + ageUnits[lang][unit]
	}
	if n, unit, derived := ageAt(birthDate, studyDate); derived {
		return strconv.Itoa(n) + ageUnits[lang][unit]
	}
	if ok {
		return "0" + ageUnits[lang][unit]
	}
	return age
}

func parseAge(s string) (int, byte, bool) {
	if len(s) < 2 || len(s) > 4 {
		return 0, 0, false
	}
	unit := s[len(s)-1]
	if _, ok := ageUnits["zh"][unit]; !ok {
		return 0, 0, false
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 0 || strings.ContainsAny(s[:len(s)-1], "+-") {
		return 0, 0, false
	}
	return n, unit, true
}

// ageAt is the age on the study's day of someone born on birth (both DA, YYYYMMDD).
func ageAt(birth, study string) (int, byte, bool) {
	b, err1 := time.Parse("20060102", strings.TrimSpace(birth))
	s, err2 := time.Parse("20060102", strings.TrimSpace(study))
	if err1 != nil || err2 != nil || s.Before(b) {
		return 0, 0, false
	}
	months := (s.Year()-b.Year())*12 + int(s.Month()-b.Month())
	if s.Day() < b.Day() {
		months--
	}
	switch {
	case months >= 12:
		return months / 12, 'Y', true
	case months >= 1:
		return months, 'M', true
	}
	return int(s.Sub(b).Hours() / 24), 'D', true
}

// bodyParts translates the Body Part Examined (0018,0015) defined terms (PS3.16 Annex L,
// the terms of CID 4031 Common Anatomic Regions) that a county's DR and ultrasound send,
// the way Chinese radiology reports name them.
var bodyParts = map[string]string{
	"HEAD": "头部", "BRAIN": "颅脑", "SKULL": "头颅", "FACE": "面部", "ORBIT": "眼眶", "EYE": "眼部",
	"NOSE": "鼻部", "EAR": "耳部", "MAXILLA": "上颌骨", "JAW": "颌骨", "ZYGOMA": "颧骨", "TMJ": "颞下颌关节",
	"MOUTH": "口腔", "PAROTID": "腮腺", "SUBMANDIBULAR": "颌下腺", "HEADNECK": "头颈部",
	"NECK": "颈部", "THYROID": "甲状腺", "LARYNX": "喉部", "TRACHEA": "气管", "CAROTID": "颈动脉",
	"CHEST": "胸部", "LUNG": "肺部", "HEART": "心脏", "BREAST": "乳腺", "AXILLA": "腋窝",
	"MEDIASTINUM": "纵隔", "RIB": "肋骨", "STERNUM": "胸骨", "CLAVICLE": "锁骨", "SCAPULA": "肩胛骨",
	"NECKCHEST": "颈胸部", "CHESTABDOMEN": "胸腹部", "CHESTABDPELVIS": "胸腹盆部", "NECKCHESTABDOMEN": "颈胸腹部",
	"ABDOMEN": "腹部", "ABDOMENPELVIS": "腹盆部", "LIVER": "肝脏", "GALLBLADDER": "胆囊",
	"PANCREAS": "胰腺", "SPLEEN": "脾脏", "KIDNEY": "肾脏", "ADRENAL": "肾上腺", "URETER": "输尿管",
	"STOMACH": "胃", "BLADDER": "膀胱", "PROSTATE": "前列腺", "UTERUS": "子宫", "OVARY": "卵巢",
	"TESTIS": "睾丸", "SCROTUM": "阴囊", "PELVIS": "骨盆", "AORTA": "主动脉", "BACK": "背部", "BUTTOCK": "臀部",
	"SPINE": "脊柱", "CSPINE": "颈椎", "TSPINE": "胸椎", "LSPINE": "腰椎", "SSPINE": "骶椎",
	"CTSPINE": "颈胸椎", "TLSPINE": "胸腰椎", "LSSPINE": "腰骶椎", "SACRUM": "骶骨", "COCCYX": "尾骨",
	"SHOULDER": "肩关节", "HUMERUS": "肱骨", "ARM": "上臂", "ELBOW": "肘关节", "RADIUS": "桡骨",
	"ULNA": "尺骨", "RADIUSULNA": "尺桡骨", "WRIST": "腕关节", "HAND": "手", "FINGER": "手指", "THUMB": "拇指",
	"HIP": "髋关节", "ILIUM": "髂骨", "FEMUR": "股骨", "THIGH": "大腿", "KNEE": "膝关节", "PATELLA": "髌骨",
	"LEG": "小腿", "CALF": "小腿", "TIBIA": "胫骨", "FIBULA": "腓骨", "TIBIAFIBULA": "胫腓骨",
	"ANKLE": "踝关节", "CALCANEUS": "跟骨", "FOOT": "足", "TOE": "足趾", "EXTREMITY": "四肢", "WHOLEBODY": "全身",
}

// displayBodyPart shows a Body Part Examined code in Chinese; a code outside the table, and
// every code in English, is shown as sent.
func displayBodyPart(lang, code string) string {
	code = strings.TrimSpace(code)
	if lang == "zh" {
		if s, ok := bodyParts[strings.ToUpper(strings.ReplaceAll(code, " ", ""))]; ok {
			return s
		}
	}
	return code
}

// modalityNames are the kinds of examination (Modality (0008,0060), PS3.3 C.7.3.1.1.1) as the
// reading room names them. The rule: letters a Chinese radiologist says as letters stay
// letters (DR, CR, CT, MR, DSA, PET), the others are words. DX, the standard's term for
// digital radiography, is DR, which is what everybody calls it (and what many units send).
var modalityNames = map[string]map[string]string{
	"zh": {"DX": "DR", "DR": "DR", "US": "超声", "MG": "乳腺X线", "RF": "透视", "XA": "DSA", "NM": "核医学",
		"PT": "PET", "ES": "内镜", "ECG": "心电图", "OT": "其他"},
	"en": {"DX": "DR", "DR": "DR", "XA": "DSA", "PT": "PET", "OT": "Other"},
}

func displayModality(lang, m string) string {
	if s, ok := modalityNames[lang][m]; ok {
		return s
	}
	return m
}

// displayModalities shows a study's kinds of examination: its imaging modalities only (the
// report SR and documents are not examinations), named, each once.
func displayModalities(lang string, mods []string) string {
	var out []string
	for _, m := range mods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" || !hasImages(reading.SeriesRef{Modality: m}) {
			continue
		}
		if s := displayModality(lang, m); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

// imageCount is the number of images of a study: the instances of its image series, not its
// report SR or PDF.
func imageCount(series []reading.SeriesRef) int {
	n := 0
	for _, s := range series {
		if hasImages(s) {
			n += s.NumInstances
		}
	}
	return n
}

// displayDuration shows a turnaround as 3分26秒, 1小时5分, 2天3小时: the two largest units.
func displayDuration(lang string, d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	units := []struct {
		d      time.Duration
		zh, en string
	}{{24 * time.Hour, "天", " d"}, {time.Hour, "小时", " h"}, {time.Minute, "分", " min"}, {time.Second, "秒", " s"}}
	d = d.Round(time.Second)
	for i, u := range units {
		if d < u.d && i < len(units)-1 {
			continue
		}
		n := int(d / u.d)
		s := unitText(lang, n, u.zh, u.en)
		if i+1 < len(units) {
			next := units[i+1]
			if m := int(d % u.d / next.d); m > 0 {
				s += sep(lang) + unitText(lang, m, next.zh, next.en)
			}
		}
		return s
	}
	return "–"
}

func unitText(lang string, n int, zh, en string) string {
	if lang == "zh" {
		return fmt.Sprintf("%d%s", n, zh)
	}
	return fmt.Sprintf("%d%s", n, en)
}

func sep(lang string) string {
	if lang == "zh" {
		return ""
	}
	return " "
}
