package storetest

import (
	"context"
	"fmt"
	"sync"

	"pacsd/store"
)

// Name-search benchmarks (qr's C-FIND, dicomweb's QIDO-RS) run against StudyList: n
// one-instance studies of a township hub, the patients' surnames cycling through 21 common
// ones, so that PatientName=张* finds one study in 21 (tools/benchweb's corpus: 472 of
// 10,000), spelt three ways in turn: ideographic with '^' (张^伟), romanised with
// ideographic (Zhang^Wei=张^伟), ideographic run together (张伟).
var studyListNames = [][2]string{{"张", "Zhang"}, {"李", "Li"}, {"王", "Wang"}, {"刘", "Liu"}, {"陈", "Chen"},
	{"杨", "Yang"}, {"黄", "Huang"}, {"赵", "Zhao"}, {"吴", "Wu"}, {"周", "Zhou"}, {"徐", "Xu"}, {"孙", "Sun"},
	{"马", "Ma"}, {"朱", "Zhu"}, {"胡", "Hu"}, {"郭", "Guo"}, {"何", "He"}, {"林", "Lin"}, {"罗", "Luo"},
	{"高", "Gao"}, {"梁", "Liang"}}

// StudyListZhang is how many of StudyList(n)'s studies PatientName=张* matches, and of
// those zhang* (the romanised spellings).
func StudyListZhang(n int) (zhang, romanised int) {
	for i := 0; i < n; i += len(studyListNames) {
		zhang++
		if (i/len(studyListNames))%3 == 1 {
			romanised++
		}
	}
	return zhang, romanised
}

// StudyList is the fixtures of n studies as described above.
func StudyList(n int) []Fixture {
	// Eight given names: prime to the 21 surnames, so that every 张 is not a 张伟.
	given := [][2]string{{"伟", "Wei"}, {"芳", "Fang"}, {"娜", "Na"}, {"敏", "Min"}, {"静", "Jing"}, {"强", "Qiang"},
		{"秀英", "Xiuying"}, {"丽", "Li"}}
	out := make([]Fixture, n)
	for i := range out {
		s, g := studyListNames[i%len(studyListNames)], given[i%len(given)]
		name := s[0] + "^" + g[0]
		switch (i / len(studyListNames)) % 3 {
		case 1:
			name = s[1] + "^" + g[1] + "=" + name
		case 2:
			name = s[0] + g[0]
		}
		study := fmt.Sprintf("1.2.826.0.1.3680043.10.12.%d", i+1)
		out[i] = Fixture{Study: study, Series: study + ".1", SOP: study + ".1.1", SOPClass: ClassDX,
			PatientName: name, PatientID: fmt.Sprintf("T%02d-%07d", i%30, i/3), BirthDate: fmt.Sprintf("19%02d%02d%02d", 30+i%70, 1+i%12, 1+i%28),
			Sex: []string{"M", "F"}[i%2], StudyDate: fmt.Sprintf("202%d%02d%02d", 3+i%3, 1+i%12, 1+i%28),
			StudyTime: fmt.Sprintf("%02d%02d%02d", 8+i%10, i%60, (i*7)%60), Accession: fmt.Sprintf("A%08d", i),
			StudyDescription: "胸部正位", StudyID: fmt.Sprint(i % 10000), Institution: "城关镇卫生院",
			Modality: "DX", SeriesNumber: 1, InstanceNumber: 1, Content: study}
	}
	return out
}

// PutAll records fixtures in x from workers goroutines at once (the index's writer puts
// concurrent records in one transaction), for benchmarks that need thousands of studies.
func PutAll(ctx context.Context, x store.Index, fs []Fixture, workers int) error {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(fs); i += workers {
				if _, err := x.PutInstance(ctx, fs[i].Instance()); err != nil {
					errs <- fmt.Errorf("put %s: %w", fs[i].SOP, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
