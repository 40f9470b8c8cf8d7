package main

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pacsd/dicom"
)

// C-FIND against the real binary with DCMTK's findscu: both information models, every
// level, queries in ISO_IR 192 and GB18030 with Chinese names, the answers compared with
// QIDO-RS's (one matching engine), a township AE's scope, and C-CANCEL.

// findNode starts pacsd with a county workstation (FINDSCU, may query), a township site A
// whose modality TOWNSHIP_A may store and query, and test objects stored: the Chinese ones
// from TOWNSHIP_A (their studies are returned), the others from the county.
func findNode(t *testing.T) (*node, []string) {
	t.Helper()
	needTool(t, "findscu", "storescu")
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites.json")
	peers := filepath.Join(dir, "peers.json")
	if err := os.WriteFile(sites, []byte(`[{"name": "A", "aeTitles": [], "institutions": []}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(peers, []byte(`[
		{"aeTitle": "FINDSCU", "mayQuery": true},
		{"aeTitle": "COUNTY_MOD", "mayStore": true},
		{"aeTitle": "TOWNSHIP_A", "site": "A", "mayStore": true, "mayQuery": true},
		{"aeTitle": "NOQUERY", "mayStore": true}
	]`), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startPacsd(t, filepath.Join(dir, "data"), "--sites-file", sites, "--peers-file", peers)
	var chinese, others, township []string
	for _, f := range testdataFiles(t) {
		switch filepath.Base(f) {
		case "charset_gb18030.dcm", "charset_gb18030_4byte.dcm", "charset_ir58.dcm", "charset_ir58_only.dcm", "charset_utf8.dcm":
			chinese = append(chinese, f)
		case "charset_gbk.dcm", "charset_latin1.dcm", "dr_mono1.dcm", "dr_mono2.dcm", "sc_mono8.dcm",
			"sr_basic_text.dcm", "ts_explicit_le.dcm", "ts_implicit_le.dcm":
			others = append(others, f) // storescu sends these as they are
		}
	}
	for _, f := range chinese {
		township = append(township, readHeader(t, f).Dataset.String(dicom.TagStudyInstanceUID))
	}
	township = sorted(township)
	runTool(t, "storescu", append([]string{"-aec", "PACSD", "-aet", "TOWNSHIP_A", "127.0.0.1", n.dicomPort}, chinese...)...)
	runTool(t, "storescu", append([]string{"-aec", "PACSD", "-aet", "COUNTY_MOD", "127.0.0.1", n.dicomPort}, others...)...)
	return n, township
}

// findscu runs a query (model "-S" or "-P") and returns the response identifiers, text
// decoded by pacsd's dicom package from each response's own character set.
func (n *node) findscu(t *testing.T, aet string, model string, keys ...string) []*dicom.Dataset {
	t.Helper()
	out := t.TempDir()
	args := []string{"-aec", "PACSD", "-aet", aet, model, "-X", "-od", out}
	for _, k := range keys {
		args = append(args, "-k", k)
	}
	runTool(t, "findscu", append(args, "127.0.0.1", n.dicomPort)...)
	files, err := filepath.Glob(filepath.Join(out, "rsp*.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var res []*dicom.Dataset
	for _, f := range files {
		res = append(res, readHeader(t, f).Dataset)
	}
	return res
}

func strs(res []*dicom.Dataset, tag dicom.Tag) []string {
	var out []string
	for _, ds := range res {
		out = append(out, ds.String(tag))
	}
	return out
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// qidoStudies lists the Study Instance UIDs QIDO-RS answers for q.
func (n *node) qidoStudies(t *testing.T, q url.Values) []string {
	t.Helper()
	var out []string
	for _, r := range n.qido(t, "/studies", q) {
		out = append(out, uidOf(r, "0020000D"))
	}
	return sorted(out)
}

func TestFindSCUAgainstPacsd(t *testing.T) {
	n, township := findNode(t)
	all := n.qidoStudies(t, url.Values{})
	zhang := n.qidoStudies(t, url.Values{"PatientName": {"张*"}})
	if len(zhang) < 3 || len(zhang) >= len(all) {
		t.Fatalf("corpus: %d studies with a name group starting with 张 of %d; want several, not all", len(zhang), len(all))
	}

	t.Run("study root STUDY UTF-8 name prefix", func(t *testing.T) {
		res := n.findscu(t, "FINDSCU", "-S", "QueryRetrieveLevel=STUDY", "SpecificCharacterSet=ISO_IR 192",
			"PatientName=张*", "StudyInstanceUID", "PatientID", "NumberOfStudyRelatedInstances")
		if got := sorted(strs(res, dicom.TagStudyInstanceUID)); !slices.Equal(got, zhang) {
			t.Fatalf("C-FIND found %q, QIDO-RS %q", got, zhang)
		}
		for _, ds := range res {
			name := ds.String(dicom.TagPatientName)
			if !strings.Contains(name, "张") {
				t.Errorf("returned name %q does not decode to one with 张", name)
			}
			if n, ok := ds.Int(dicom.TagNumberOfStudyRelatedInstances); !ok || n < 1 {
				t.Errorf("NumberOfStudyRelatedInstances = %d, %v", n, ok)
			}
			if ds.String(0x00080054) != "PACSD" {
				t.Errorf("Retrieve AE Title %q", ds.String(0x00080054))
			}
		}
	})

	t.Run("study root STUDY GB18030 name prefix", func(t *testing.T) {
		gb, err := dicom.EncodeText("张*", []string{"GB18030"}, "PN")
		if err != nil {
			t.Fatal(err)
		}
		res := n.findscu(t, "FINDSCU", "-S", "QueryRetrieveLevel=STUDY", "SpecificCharacterSet=GB18030",
			"PatientName="+string(gb), "StudyInstanceUID")
		if got := sorted(strs(res, dicom.TagStudyInstanceUID)); !slices.Equal(got, zhang) {
			t.Fatalf("C-FIND found %q, QIDO-RS %q", got, zhang)
		}
		for _, ds := range res {
			if cs := strings.Join(ds.Strings(dicom.TagSpecificCharacterSet), `\`); cs != "GB18030" {
				t.Errorf("response character set %q, want the request's GB18030", cs)
			}
			if !strings.Contains(ds.String(dicom.TagPatientName), "张") {
				t.Errorf("returned name %q", ds.String(dicom.TagPatientName))
			}
		}
	})

	t.Run("study root STUDY date range and universal", func(t *testing.T) {
		res := n.findscu(t, "FINDSCU", "-S", "QueryRetrieveLevel=STUDY", "StudyDate=20240101-20241231", "StudyInstanceUID")
		want := n.qidoStudies(t, url.Values{"StudyDate": {"20240101-20241231"}})
		if got := sorted(strs(res, dicom.TagStudyInstanceUID)); !slices.Equal(got, want) || len(want) == 0 {
			t.Fatalf("C-FIND found %q, QIDO-RS %q", got, want)
		}
		if got := n.findscu(t, "FINDSCU", "-S", "QueryRetrieveLevel=STUDY", "StudyInstanceUID"); len(got) != len(all) {
			t.Fatalf("universal: %d studies, QIDO-RS %d", len(got), len(all))
		}
	})

	study := zhang[0]
	t.Run("study root SERIES and IMAGE", func(t *testing.T) {
		series := n.findscu(t, "FINDSCU", "-S", "QueryRetrieveLevel=SERIES", "StudyInstanceUID="+study, "SeriesInstanceUID", "Modality")
		if len(series) == 0 {
			t.Fatal("no series")
		}
		se := series[0].String(dicom.TagSeriesInstanceUID)
		images := n.findscu(t, "FINDSCU", "-S", "QueryRetrieveLevel=IMAGE", "StudyInstanceUID="+study,
			"SeriesInstanceUID="+se, "SOPInstanceUID", "SOPClassUID")
		if len(images) == 0 || images[0].String(dicom.TagSOPInstanceUID) == "" {
			t.Fatalf("images of %s/%s: %d", study, se, len(images))
		}
	})

	t.Run("patient root every level", func(t *testing.T) {
		pats := n.findscu(t, "FINDSCU", "-P", "QueryRetrieveLevel=PATIENT", "SpecificCharacterSet=ISO_IR 192",
			"PatientName=张*", "PatientID", "NumberOfPatientRelatedStudies")
		if len(pats) == 0 {
			t.Fatal("no patients")
		}
		total := 0
		for _, p := range pats {
			k, _ := p.Int(0x00201200)
			total += int(k)
		}
		if total != len(zhang) {
			t.Errorf("patients' related studies add up to %d, want the %d studies", total, len(zhang))
		}
		id := pats[0].String(dicom.TagPatientID)
		studies := n.findscu(t, "FINDSCU", "-P", "QueryRetrieveLevel=STUDY", "PatientID="+id, "StudyInstanceUID")
		if len(studies) == 0 {
			t.Fatalf("no studies of patient %s", id)
		}
		st := studies[0].String(dicom.TagStudyInstanceUID)
		series := n.findscu(t, "FINDSCU", "-P", "QueryRetrieveLevel=SERIES", "PatientID="+id, "StudyInstanceUID="+st, "SeriesInstanceUID")
		if len(series) == 0 {
			t.Fatal("no series")
		}
		images := n.findscu(t, "FINDSCU", "-P", "QueryRetrieveLevel=IMAGE", "PatientID="+id, "StudyInstanceUID="+st,
			"SeriesInstanceUID="+series[0].String(dicom.TagSeriesInstanceUID), "SOPInstanceUID")
		if len(images) == 0 {
			t.Fatal("no images")
		}
	})

	t.Run("township scope", func(t *testing.T) {
		res := n.findscu(t, "TOWNSHIP_A", "-S", "QueryRetrieveLevel=STUDY", "StudyInstanceUID")
		if got := sorted(strs(res, dicom.TagStudyInstanceUID)); !slices.Equal(got, township) {
			t.Fatalf("TOWNSHIP_A sees %q, want its own studies %q", got, township)
		}
	})

	t.Run("not allowed to query", func(t *testing.T) {
		out := t.TempDir()
		outb, _ := runToolErr("findscu", "-v", "-aec", "PACSD", "-aet", "NOQUERY", "-S", "-X", "-od", out,
			"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "127.0.0.1", n.dicomPort)
		files, _ := filepath.Glob(filepath.Join(out, "rsp*.dcm"))
		if len(files) != 0 || !strings.Contains(outb, "Final Find Response (Unknown Status: 0x124)") { // refused: not authorized
			t.Fatalf("NOQUERY got %d responses; findscu said:\n%s", len(files), outb)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		out := runTool(t, "findscu", "-v", "-aec", "PACSD", "-aet", "FINDSCU", "-S", "--cancel", "1",
			"-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "127.0.0.1", n.dicomPort)
		if !strings.Contains(out, "Cancel") {
			t.Fatalf("findscu --cancel 1: no cancel status in\n%s", out)
		}
		if c := strings.Count(out, "Find Response:"); c >= len(all)+1 {
			t.Fatalf("%d responses after a cancel, of %d studies", c, len(all))
		}
	})
}

// runToolErr runs a tool that may fail and returns what it printed.
func runToolErr(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// TestOrthancQueriesPacsd: Orthanc 1.10 with pacsd as a DICOM modality queries it
// (/modalities/pacsd/query, C-FIND in the Study Root model); its answers are those QIDO-RS
// gives.
func TestOrthancQueriesPacsd(t *testing.T) {
	n, _ := findNode(t)
	// Orthanc calls as ORTHANC: a county workstation that may query.
	peers := filepath.Join(t.TempDir(), "peers.json")
	if err := os.WriteFile(peers, []byte(`[{"aeTitle": "ORTHANC", "mayQuery": true}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	n = startPacsd(t, n.dataDir, "--peers-file", peers)
	o := startOrthanc(t, n.dicomPort, nil)

	query := func(t *testing.T, level string, q map[string]string) []map[string]any {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"Level": level, "Query": q})
		var created struct{ ID string }
		o.callJSON(t, "POST", "/modalities/pacsd/query", body, &created)
		var answers []map[string]any
		o.callJSON(t, "GET", "/queries/"+created.ID+"/answers?expand&simplify", nil, &answers)
		return answers
	}
	t.Run("study by patient id", func(t *testing.T) {
		res := query(t, "Study", map[string]string{"PatientID": "CS-UTF8", "PatientName": "", "StudyInstanceUID": ""})
		if len(res) != 1 {
			t.Fatalf("%d answers, want 1: %v", len(res), res)
		}
		// Orthanc 1.10 (DefaultEncoding Latin1, as startOrthanc leaves it) keeps the
		// alphabetic group of the ISO_IR 192 answer and drops the ideographic characters.
		if name, _ := res[0]["PatientName"].(string); !strings.HasPrefix(name, "Zhang^Wei") {
			t.Fatalf("PatientName %q, want the stored Zhang^Wei=张^伟 as Orthanc reads it", name)
		}
	})
	t.Run("studies by date range", func(t *testing.T) {
		want := n.qidoStudies(t, url.Values{"StudyDate": {"20240101-20241231"}})
		var got []string
		for _, a := range query(t, "Study", map[string]string{"StudyDate": "20240101-20241231", "StudyInstanceUID": ""}) {
			s, _ := a["StudyInstanceUID"].(string)
			got = append(got, s)
		}
		if got = sorted(got); !slices.Equal(got, want) || len(want) == 0 {
			t.Fatalf("Orthanc's C-FIND found %q, QIDO-RS %q", got, want)
		}
	})
	t.Run("series of a study", func(t *testing.T) {
		st := n.qidoStudies(t, url.Values{"PatientID": {"CS-UTF8"}})
		res := query(t, "Series", map[string]string{"StudyInstanceUID": st[0], "SeriesInstanceUID": "", "Modality": ""})
		if len(res) == 0 {
			t.Fatal("no series")
		}
	})
}
