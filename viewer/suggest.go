package viewer

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"pacsd/reading"
)

// suggestTemplate picks the report template the editor offers first for a study, or 0 when
// none fits. A template fits when its modality is one of the study's (or it names none) and
// its body region is the study's: the region of a template comes from its body part, else
// from the words of its name ("四肢关节" is a limb); a study's from Body Part Examined
// (0018,0015), else from the words of its description, else of its series' descriptions.
// A template of a known region is never offered for a study of unknown region: a wrong
// template typed over is worse than choosing one. Ties go to the first in the list.
func suggestTemplate(row reading.WorklistRow, ts []reading.Template) int64 {
	study := regionsOf(row.BodyPart)
	if len(study) == 0 {
		study = regionsOf(row.Description)
	}
	if len(study) == 0 {
		for _, s := range row.Series {
			for r := range regionsOf(s.Description) {
				if study == nil {
					study = map[region]bool{}
				}
				study[r] = true
			}
		}
	}
	part := strings.ToUpper(strings.TrimSpace(row.BodyPart))
	var best int64
	bestScore := 0
	for _, t := range ts {
		score := 0
		switch {
		case t.Modality == "":
		case slices.Contains(row.Modalities, t.Modality):
			score += 2
		default:
			continue
		}
		own := regionsOf(t.BodyPart)
		if len(own) == 0 {
			own = regionsOf(t.Name)
		}
		switch {
		case t.BodyPart != "" && t.BodyPart == part:
			score += 4
		case overlaps(own, study):
			score += 3
		case len(own) == 0 && t.BodyPart == "":
			score++ // a template for any part of its modality
		default:
			continue
		}
		if score > bestScore {
			best, bestScore = t.ID, score
		}
	}
	return best
}

// region is a part of the body as report templates divide it.
type region string

const (
	regionHead      region = "head"
	regionNeck      region = "neck"
	regionChest     region = "chest"
	regionBreast    region = "breast"
	regionAbdomen   region = "abdomen"
	regionPelvis    region = "pelvis" // with gynaecology and obstetrics
	regionSpine     region = "spine"
	regionExtremity region = "extremity"
)

// regionWords name the regions: Body Part Examined values (PS3.16 Annex L) and English
// words as whole words, Chinese words anywhere in the text, the longest first (胸椎 is the
// spine, not the chest; 股骨头 a limb, not the head).
var regionWords = map[string]region{
	"HEAD": regionHead, "SKULL": regionHead, "BRAIN": regionHead,
	"头": regionHead, "头颅": regionHead, "头部": regionHead, "颅": regionHead, "颅脑": regionHead, "脑": regionHead,

	"NECK": regionNeck, "THYROID": regionNeck,
	"颈": regionNeck, "颈部": regionNeck, "甲状腺": regionNeck,

	"CHEST": regionChest, "THORAX": regionChest, "LUNG": regionChest, "LUNGS": regionChest, "RIB": regionChest,
	"RIBS": regionChest, "CXR": regionChest, "HEART": regionChest,
	"胸": regionChest, "胸部": regionChest, "胸片": regionChest, "肺": regionChest, "肋": regionChest,
	"肋骨": regionChest, "心脏": regionChest, "心影": regionChest,

	"BREAST": regionBreast, "乳腺": regionBreast, "乳房": regionBreast,

	"ABDOMEN": regionAbdomen, "ABD": regionAbdomen, "ABDOMINAL": regionAbdomen, "LIVER": regionAbdomen,
	"GALLBLADDER": regionAbdomen, "PANCREAS": regionAbdomen, "SPLEEN": regionAbdomen, "KIDNEY": regionAbdomen,
	"RENAL": regionAbdomen,
	"腹":     regionAbdomen, "腹部": regionAbdomen, "上腹": regionAbdomen, "肝": regionAbdomen, "胆": regionAbdomen,
	"胰": regionAbdomen, "脾": regionAbdomen, "肾": regionAbdomen, "泌尿": regionAbdomen,

	"PELVIS": regionPelvis, "PELVIC": regionPelvis, "UTERUS": regionPelvis, "OVARY": regionPelvis,
	"OBSTETRIC": regionPelvis, "FETUS": regionPelvis,
	"盆腔": regionPelvis, "骨盆": regionPelvis, "子宫": regionPelvis, "宫颈": regionPelvis, "附件": regionPelvis,
	"卵巢": regionPelvis, "妇科": regionPelvis, "产科": regionPelvis, "孕": regionPelvis, "早孕": regionPelvis,
	"胎": regionPelvis, "胎儿": regionPelvis,

	"SPINE": regionSpine, "CSPINE": regionSpine, "TSPINE": regionSpine, "LSPINE": regionSpine, "SSPINE": regionSpine,
	"脊柱": regionSpine, "椎": regionSpine, "颈椎": regionSpine, "胸椎": regionSpine, "腰椎": regionSpine,
	"骶椎": regionSpine, "骶尾": regionSpine, "尾椎": regionSpine,

	"EXTREMITY": regionExtremity, "LIMB": regionExtremity, "HAND": regionExtremity, "WRIST": regionExtremity,
	"ELBOW": regionExtremity, "SHOULDER": regionExtremity, "KNEE": regionExtremity, "ANKLE": regionExtremity,
	"FOOT": regionExtremity, "HIP": regionExtremity, "FEMUR": regionExtremity, "TIBIA": regionExtremity,
	"FIBULA": regionExtremity, "HUMERUS": regionExtremity, "FOREARM": regionExtremity, "LEG": regionExtremity,
	"ARM": regionExtremity, "FINGER": regionExtremity, "TOE": regionExtremity, "CLAVICLE": regionExtremity,
	"四肢": regionExtremity, "关节": regionExtremity, "上肢": regionExtremity, "下肢": regionExtremity,
	"手": regionExtremity, "腕": regionExtremity, "肘": regionExtremity, "肩": regionExtremity, "膝": regionExtremity,
	"踝": regionExtremity, "足": regionExtremity, "髋": regionExtremity, "股骨": regionExtremity,
	"股骨头": regionExtremity, "胫": regionExtremity, "腓": regionExtremity, "尺": regionExtremity,
	"桡": regionExtremity, "肱": regionExtremity, "指": regionExtremity, "趾": regionExtremity,
	"跟骨": regionExtremity, "锁骨": regionExtremity,
}

// longestWord is the length in runes of the longest Chinese word of regionWords.
var longestWord = func() int {
	n := 0
	for w := range regionWords {
		n = max(n, utf8.RuneCountInString(w))
	}
	return n
}()

// regionsOf returns the regions text names (nil when none).
func regionsOf(text string) map[region]bool {
	var out map[region]bool
	add := func(r region) {
		if out == nil {
			out = map[region]bool{}
		}
		out[r] = true
	}
	rs := []rune(strings.ToUpper(text))
	for i := 0; i < len(rs); {
		if rs[i] < utf8.RuneSelf {
			j := i
			for j < len(rs) && rs[j] < utf8.RuneSelf && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			if j == i {
				i++
				continue
			}
			if r, ok := regionWords[string(rs[i:j])]; ok {
				add(r)
			}
			i = j
			continue
		}
		n := min(longestWord, len(rs)-i)
		for ; n > 0; n-- {
			if r, ok := regionWords[string(rs[i:i+n])]; ok {
				add(r)
				break
			}
		}
		i += max(n, 1)
	}
	return out
}

func overlaps(a, b map[region]bool) bool {
	for r := range a {
		if b[r] {
			return true
		}
	}
	return false
}
