package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/dimse"
)

var updateConformance = flag.Bool("update", false, "rewrite the generated tables of docs/conformance.md")

const conformancePath = "../../docs/conformance.md"

// TestConformanceStatement keeps docs/conformance.md true: its generated tables are what the
// code lists, and a running pacsd, asked for every SOP class and transfer syntax the document
// names, answers as the document says, and refuses the classes it does not name.
func TestConformanceStatement(t *testing.T) {
	doc, err := os.ReadFile(conformancePath)
	if err != nil {
		t.Fatal(err)
	}
	n := startPacsd(t, t.TempDir())

	// What the running server accepts for the query/retrieve models, syntax by syntax:
	// generated into the document from the live answer, so the table is what the SCP does.
	qrClasses := documentedQR(t, string(doc))
	if len(qrClasses) < 6 {
		t.Fatalf("the document lists %d query/retrieve SOP classes with UIDs, want the six of its overview", len(qrClasses))
	}
	var allTS []string
	for _, ts := range dicom.TransferSyntaxes() {
		allTS = append(allTS, ts.UID)
	}
	qrAccepted := acceptedSyntaxes(t, n.dicomAddr, qrClasses[0].uid, allTS)

	gen := map[string]string{
		"storage-sop-classes":       storageClassTable(),
		"storage-transfer-syntaxes": syntaxTable(allTS),
		"query-transfer-syntaxes":   syntaxTable(qrAccepted),
	}
	want := string(doc)
	for name, table := range gen {
		want = replaceGenerated(t, want, name, table)
	}
	if want != string(doc) {
		if *updateConformance {
			if err := os.WriteFile(conformancePath, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("docs/conformance.md: generated tables differ from the code (run go test ./cmd/pacsd -run TestConformanceStatement -update and review the diff)")
		}
	}

	// Every query/retrieve class the document lists is accepted in each syntax its table
	// names, and in no other.
	for _, c := range qrClasses {
		got := acceptedSyntaxes(t, n.dicomAddr, c.uid, allTS)
		if !slices.Equal(got, qrAccepted) {
			t.Errorf("%s (%s): accepted syntaxes %v, the document says %v", c.name, c.uid, got, qrAccepted)
		}
	}
	// The Modality Worklist (4.2.1.3.5), in the query/retrieve syntaxes.
	const mwl = "1.2.840.10008.5.1.4.31"
	if !strings.Contains(string(doc), "| Modality Worklist Information Model - FIND | "+mwl+" |") {
		t.Errorf("the document does not list the Modality Worklist (%s)", mwl)
	}
	if got := acceptedSyntaxes(t, n.dicomAddr, mwl, allTS); !slices.Equal(got, qrAccepted) {
		t.Errorf("Modality Worklist: accepted syntaxes %v, the document says %v", got, qrAccepted)
	}
	// Storage Commitment Push Model (4.2.1.3.6), in the query/retrieve syntaxes.
	const commit = "1.2.840.10008.1.20.1"
	if !strings.Contains(string(doc), "| Storage Commitment Push Model | "+commit+" |") {
		t.Errorf("the document does not list the Storage Commitment Push Model (%s)", commit)
	}
	if got := acceptedSyntaxes(t, n.dicomAddr, commit, allTS); !slices.Equal(got, qrAccepted) {
		t.Errorf("Storage Commitment: accepted syntaxes %v, the document says %v", got, qrAccepted)
	}
	// Every storage class, and every storage syntax for a class that can carry video and one
	// that cannot.
	proposeAll(t, n.dicomAddr, dicom.StorageSOPClasses(), []string{dicom.ExplicitVRLittleEndian}, func(pc dimse.PresentationContext) {
		if !pc.Accepted() {
			t.Errorf("storage class %s (%s) refused (result %d); the document lists it", dicom.SOPClassName(pc.AbstractSyntax), pc.AbstractSyntax, pc.Result)
		}
	})
	video := "1.2.840.10008.5.1.4.1.1.77.1.4.1" // Video Photographic Image Storage
	if !dicom.CanCarryVideo(video) {
		t.Fatalf("%s is expected to carry video", video)
	}
	if got := acceptedSyntaxes(t, n.dicomAddr, video, allTS); !slices.Equal(got, allTS) {
		t.Errorf("video class: accepted %d of the %d documented storage syntaxes; missing %v", len(got), len(allTS), missing(allTS, got))
	}
	var still []string
	for _, ts := range dicom.TransferSyntaxes() {
		if !ts.Video {
			still = append(still, ts.UID)
		}
	}
	if got := acceptedSyntaxes(t, n.dicomAddr, "1.2.840.10008.5.1.4.1.1.1.1", allTS); !slices.Equal(got, still) {
		t.Errorf("DX: accepted %v, want every documented non-video syntax %v", got, still)
	}

	// Classes the document does not name are refused: the SCP offers nothing undocumented.
	undocumented := []string{
		"1.2.840.10008.3.1.2.3.3",     // Modality Performed Procedure Step
		"1.2.840.10008.5.1.1.9",       // Basic Grayscale Print Management Meta
		"1.2.840.10008.5.1.4.1.2.3.1", // Patient/Study Only Q/R - FIND (retired)
		"1.2.840.10008.5.1.4.1.2.4.2", // Composite Instance Root Retrieve - MOVE
		"1.2.840.10008.5.1.4.1.2.5.3", // Composite Instance Retrieve Without Bulk Data - GET
		"1.2.840.10008.5.1.4.20.1",    // Defined Procedure Protocol Information Model - FIND
	}
	for _, uid := range undocumented {
		if strings.Contains(string(doc), uid) {
			t.Errorf("%s is named in the document but treated here as undocumented: update the test", uid)
		}
	}
	proposeAll(t, n.dicomAddr, undocumented, []string{dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian}, func(pc dimse.PresentationContext) {
		if pc.Accepted() {
			t.Errorf("%s accepted, but the conformance statement does not list it", pc.AbstractSyntax)
		}
	})
}

type sopClassRow struct{ name, uid string }

// documentedQR reads the query/retrieve SOP classes of the document's table in 4.2.1.3.4
// (rows "| name | UID |" whose UID is under the Q/R root).
func documentedQR(t *testing.T, doc string) []sopClassRow {
	t.Helper()
	var out []sopClassRow
	row := regexp.MustCompile(`^\|\s*([^|]+?)\s*\|\s*(1\.2\.840\.10008\.5\.1\.4\.1\.2\.[0-9.]+)\s*\|`)
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, sopClassRow{m[1], m[2]})
		}
	}
	return out
}

// acceptedSyntaxes proposes abstract with each of syntaxes in its own presentation context
// and returns those accepted, in the order given.
func acceptedSyntaxes(t *testing.T, addr, abstract string, syntaxes []string) []string {
	t.Helper()
	var got []string
	proposeAll(t, addr, []string{abstract}, syntaxes, func(pc dimse.PresentationContext) {
		if pc.Accepted() {
			got = append(got, pc.TransferSyntax)
		}
	})
	slices.SortFunc(got, func(a, b string) int { return slices.Index(syntaxes, a) - slices.Index(syntaxes, b) })
	return got
}

// proposeAll proposes every (abstract, syntax) pair, one presentation context each, over
// as many associations as that takes, and calls fn with each answer.
func proposeAll(t *testing.T, addr string, abstracts, syntaxes []string, fn func(dimse.PresentationContext)) {
	t.Helper()
	all := map[string][]string{}
	for _, a := range abstracts {
		all[a] = syntaxes
	}
	for _, group := range dimse.SplitContexts(all) {
		c, err := dimse.Dial(context.Background(), addr, dimse.ClientConfig{CallingAETitle: "CONFORMANCE", CalledAETitle: "PACSD", Contexts: group})
		if err != nil {
			t.Fatalf("associate: %v", err)
		}
		for _, pc := range c.Contexts() {
			if pc.AbstractSyntax == dicom.VerificationSOPClass && len(all[pc.AbstractSyntax]) == 0 {
				continue
			}
			fn(pc)
		}
		if err := c.Release(context.Background()); err != nil {
			t.Fatalf("release: %v", err)
		}
	}
}

func missing(want, got []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
		}
	}
	return out
}

func storageClassTable() string {
	var b strings.Builder
	b.WriteString("| SOP Class | UID |\n|---|---|\n")
	classes := dicom.StorageSOPClasses()
	slices.SortFunc(classes, func(a, b string) int { return strings.Compare(dicom.SOPClassName(a), dicom.SOPClassName(b)) })
	for _, uid := range classes {
		fmt.Fprintf(&b, "| %s | %s |\n", dicom.SOPClassName(uid), uid)
	}
	return b.String()
}

func syntaxTable(uids []string) string {
	var b strings.Builder
	b.WriteString("| Transfer Syntax | UID |\n|---|---|\n")
	for _, uid := range uids {
		ts, _ := dicom.LookupTransferSyntax(uid)
		fmt.Fprintf(&b, "| %s | %s |\n", ts.Name, uid)
	}
	return b.String()
}

// replaceGenerated puts body between the document's markers for name.
func replaceGenerated(t *testing.T, doc, name, body string) string {
	t.Helper()
	open := "<!-- generated: " + name + " -->\n"
	i := strings.Index(doc, open)
	if i < 0 {
		t.Fatalf("docs/conformance.md has no %q marker", open)
	}
	j := strings.Index(doc[i:], "<!-- /generated -->")
	if j < 0 {
		t.Fatalf("docs/conformance.md: marker %q not closed", name)
	}
	return doc[:i+len(open)] + body + doc[i+j:]
}
