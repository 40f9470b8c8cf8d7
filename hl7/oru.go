package hl7

import (
	"strconv"
	"strings"
	"time"
)

// Report is a signed report version as it goes out to the HIS (ORU^R01 or the webhook's
// JSON). Text is UTF-8; PatientName is a DICOM PN value.
type Report struct {
	StudyUID     string    `json:"studyInstanceUID"`
	Accession    string    `json:"accessionNumber"`
	PlacerOrder  string    `json:"placerOrderNumber,omitempty"`
	FillerOrder  string    `json:"fillerOrderNumber,omitempty"`
	PatientID    string    `json:"patientId"`
	PatientName  string    `json:"patientName"`
	PatientSex   string    `json:"patientSex,omitempty"`
	BirthDate    string    `json:"birthDate,omitempty"`
	Modality     string    `json:"modality,omitempty"`
	Procedure    string    `json:"procedure,omitempty"`
	Version      int       `json:"version"`
	Status       string    `json:"status"` // final or amended
	Findings     string    `json:"findings"`
	Impression   string    `json:"impression"`
	Signer       string    `json:"signer"`
	SignedAt     time.Time `json:"signedAt"`
	AmendReason  string    `json:"amendReason,omitempty"`
	Organization string    `json:"organization,omitempty"`
}

// LOINC codes of the report sections (OBX-3).
var (
	obsFindings   = C{"59776-5", "Procedure Findings", "LN"}
	obsImpression = C{"19005-8", "Radiology Imaging study [Impression]", "LN"}
	obsStudyUID   = C{"113014", "Study Instance UID", "DCM"}
)

// pnToXPN maps a DICOM PN onto XPN repetitions: the alphabetic group, then the ideographic
// and phonetic ones marked I and P (XPN.8, HL7 table 4000).
func pnToXPN(pn string) R {
	var out R
	for g, group := range strings.SplitN(pn, "=", 3) {
		if group == "" {
			continue
		}
		p := strings.SplitN(group, "^", 5)
		for len(p) < 5 {
			p = append(p, "")
		}
		// PN: family^given^middle^prefix^suffix; XPN: family^given^middle^suffix^prefix.
		c := C{p[0], p[1], p[2], p[4], p[3], "", "L", ""}
		switch g {
		case 0:
			c[7] = "A"
		case 1:
			c[7] = "I"
		case 2:
			c[7] = "P"
		}
		if len(out) == 0 && g == 1 {
			c[7] = "I"
		}
		out = append(out, c)
	}
	return out
}

// BuildORU builds the ORU^R01 of a signed report (HL7 v2.5 7.3.1; IHE RAD TF-2 Results
// Management): PID, ORC, OBR with the accession and the result status (F final, C
// corrected), and one OBX per line of the findings and the impression (TX, OBX-4 the
// section), the Study Instance UID as an OBX, the signer in OBR-32. loc is the county's
// time zone; cs is named in MSH-18.
func BuildORU(r Report, controlID string, app, facility string, cs Charset, loc *time.Location, now time.Time) string {
	if loc == nil {
		loc = time.UTC
	}
	ts := func(t time.Time) string { return t.In(loc).Format("20060102150405-0700") }
	status := "F"
	if r.Status == "amended" {
		status = "C"
	}
	var b Builder
	b.Add("MSH", orString(app, "PACSD"), facility, "", "", ts(now), "", C{"ORU", "R01", "ORU_R01"}, controlID,
		"P", "2.5", "", "", "AL", "NE", "", string(cs))
	b.Add("PID", "1", "", R{{r.PatientID}}, "", pnToXPN(r.PatientName), "", r.BirthDate, r.PatientSex)
	b.Add("ORC", "RE", C{r.PlacerOrder}, C{orString(r.FillerOrder, r.Accession)}, "", "CM")
	signer := C{"", r.Signer}
	b.Add("OBR", "1", C{r.PlacerOrder}, C{orString(r.FillerOrder, r.Accession)}, C{"", r.Procedure}, "", "", "", "", "",
		"", "", "", "", "", "", "", "", r.Accession, "", "", "", ts(r.SignedAt), "", r.Modality, status,
		"", "", "", "", "", "", R{signer})
	n := 0
	obx := func(id C, sub string, text string) {
		for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
			n++
			b.Add("OBX", strconv.Itoa(n), "TX", id, sub, line, "", "", "", "", "", status, "", "", ts(r.SignedAt),
				"", R{signer})
		}
	}
	n++
	b.Add("OBX", strconv.Itoa(n), "ST", obsStudyUID, "", r.StudyUID, "", "", "", "", "", status)
	obx(obsFindings, "1", r.Findings)
	obx(obsImpression, "2", r.Impression)
	if r.AmendReason != "" {
		b.Add("NTE", "1", "L", r.AmendReason)
	}
	return b.String()
}

// AckCode reads an acknowledgement: MSA-1 (AA, AE, AR; CA, CE, CR in enhanced mode) and
// MSA-3 or ERR-8.
func AckCode(raw []byte, cs Charset) (code, text string, err error) {
	m, err := Parse(raw, cs)
	if err != nil {
		return "", "", err
	}
	msa := m.Seg("MSA")
	if msa.Name() == "" {
		return "", "", ErrMalformed
	}
	text = msa.Value(3, 1)
	if e := m.Seg("ERR"); e.Name() != "" && text == "" {
		text = orString(e.Value(8, 1), e.Value(3, 2))
	}
	return strings.ToUpper(msa.Value(1, 1)), text, nil
}
