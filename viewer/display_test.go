package viewer

import (
	"testing"
	"time"

	"pacsd/reading"
)

func TestDisplayAge(t *testing.T) {
	for _, c := range []struct {
		lang, age, birth, study, want string
	}{
		{"zh", "047Y", "", "", "47岁"},
		{"zh", "003M", "", "", "3月"},
		{"zh", "002W", "", "", "2周"},
		{"zh", "012D", "", "", "12天"},
		{"zh", " 047Y", "", "", "47岁"},
		{"zh", "100Y", "", "", "100岁"},
		{"en", "047Y", "", "", "47 y"},
		{"en", "003M", "", "", "3 mo"},
		// Patient's Age missing: from the birth date to the study date.
		{"zh", "", "19790315", "20260314", "46岁"},
		{"zh", "", "19790315", "20260315", "47岁"},
		{"zh", "", "20251110", "20260302", "3月"},
		{"zh", "", "20260220", "20260302", "10天"},
		{"zh", "", "20250302", "20260302", "1岁"},
		{"zh", "", "20240229", "20250228", "11月"},
		// An infant's 000Y says less than its dates.
		{"zh", "000Y", "20260220", "20260302", "10天"},
		{"zh", "000Y", "", "", "0岁"},
		// Unknown either way, or not an age string: nothing to derive, shown as sent.
		{"zh", "", "19790315", "", ""},
		{"zh", "", "", "20260302", ""},
		{"zh", "", "20270101", "20260302", ""},
		{"zh", "47", "", "", "47"},
		{"zh", "4Y7", "", "", "4Y7"},
		{"zh", "-47Y", "", "", "-47Y"},
	} {
		if got := displayAge(c.lang, c.age, c.birth, c.study); got != c.want {
			t.Errorf("displayAge(%s, %q, %q, %q) = %q, want %q", c.lang, c.age, c.birth, c.study, got, c.want)
		}
	}
}

func TestDisplayBodyPart(t *testing.T) {
	for _, c := range []struct{ lang, code, want string }{
		{"zh", "CHEST", "胸部"},
		{"zh", "LSPINE", "腰椎"},
		{"zh", "CSPINE", "颈椎"},
		{"zh", "chest", "胸部"},
		{"zh", "ABDOMEN ", "腹部"},
		{"zh", "KNEE", "膝关节"},
		{"zh", "THYROID", "甲状腺"},
		{"zh", "BREAST", "乳腺"},
		{"zh", "TIBIAFIBULA", "胫腓骨"},
		{"zh", "XYZ", "XYZ"}, // unknown: the code as sent
		{"zh", "", ""},
		{"en", "CHEST", "CHEST"},
	} {
		if got := displayBodyPart(c.lang, c.code); got != c.want {
			t.Errorf("displayBodyPart(%s, %q) = %q, want %q", c.lang, c.code, got, c.want)
		}
	}
}

func TestDisplayModalities(t *testing.T) {
	for _, c := range []struct {
		lang string
		mods []string
		want string
	}{
		{"zh", []string{"DX", "SR"}, "DR"},
		{"zh", []string{"DX"}, "DR"},
		{"zh", []string{"DR"}, "DR"},
		{"zh", []string{"DR", "DX"}, "DR"},
		{"zh", []string{"CR"}, "CR"},
		{"zh", []string{"US", "SR", "DOC"}, "超声"},
		{"zh", []string{"DOC", "SR", "KO", "PR"}, ""},
		{"zh", []string{"CT", "DX"}, "CT/DR"},
		{"zh", []string{"XX"}, "XX"},
		{"en", []string{"DX", "SR"}, "DR"},
		{"en", []string{"US"}, "US"},
	} {
		if got := displayModalities(c.lang, c.mods); got != c.want {
			t.Errorf("displayModalities(%s, %q) = %q, want %q", c.lang, c.mods, got, c.want)
		}
	}
}

func TestImageCount(t *testing.T) {
	for _, c := range []struct {
		name   string
		series []reading.SeriesRef
		want   int
	}{
		{"none", nil, 0},
		{"DR and its report", []reading.SeriesRef{{Modality: "DX", NumInstances: 2}, {Modality: "SR", NumInstances: 1}}, 2},
		{"US, SR, PDF", []reading.SeriesRef{{Modality: "US", NumInstances: 5}, {Modality: "SR", NumInstances: 2},
			{Modality: "DOC", NumInstances: 1}}, 5},
		{"two image series", []reading.SeriesRef{{Modality: "CR", NumInstances: 1}, {Modality: "CR", NumInstances: 3}}, 4},
	} {
		if got := imageCount(c.series); got != c.want {
			t.Errorf("%s: imageCount = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestDisplayDuration(t *testing.T) {
	for _, c := range []struct {
		lang string
		d    time.Duration
		want string
	}{
		{"zh", 3*time.Minute + 26*time.Second, "3分26秒"},
		{"zh", time.Hour + 5*time.Minute, "1小时5分"},
		{"zh", time.Hour + 5*time.Minute + 59*time.Second, "1小时5分"},
		{"zh", 2 * time.Hour, "2小时"},
		{"zh", 5 * time.Minute, "5分"},
		{"zh", 42 * time.Second, "42秒"},
		{"zh", 1500 * time.Millisecond, "2秒"},
		{"zh", 50*time.Hour + 10*time.Minute, "2天2小时"},
		{"zh", 0, "–"},
		{"en", 3*time.Minute + 26*time.Second, "3 min 26 s"},
		{"en", time.Hour + 5*time.Minute, "1 h 5 min"},
	} {
		if got := displayDuration(c.lang, c.d); got != c.want {
			t.Errorf("displayDuration(%s, %v) = %q, want %q", c.lang, c.d, got, c.want)
		}
	}
}
