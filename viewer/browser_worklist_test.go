package viewer

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/internal/browsertest"
	"pacsd/reading"
	"pacsd/store"
)

// TestWorklistInBrowser runs browsertest/worklist.mjs against a real reading room: what the
// radiologist sees in the worklist (ages, body parts and kinds of examination in Chinese,
// image counts without the report objects, the received time in the county's zone), the
// two orders, opening a study by its row, an urgent study moving to the top, and the
// administrator's refused form naming the field and keeping what was typed, with the users
// table's headers over their columns. See the scenario for the steps.
func TestWorklistInBrowser(t *testing.T) {
	browsertest.Require(t)
	en := newEnv(t)
	en.admin() // the administrator has chosen their password: admin-password-1
	ctx := context.Background()
	if _, err := en.idx.Reading().PutSite(ctx, reading.Site{Name: "甲镇卫生院", AETitles: []string{"TOWN_A"}}); err != nil {
		t.Fatal(err)
	}
	en.user("doc", reading.RoleRadiologist, 0)

	// Received in this order: A (a DR chest with its report SR and a PDF), B (a lumbar
	// spine without Patient's Age), C (an ultrasound of a baby). Examined B, A, C.
	type study struct {
		UID, Name, Received string
	}
	put := func(o object) time.Time {
		t.Helper()
		in, err := en.archive.Put(ctx, bytes.NewReader(o.bytes(t)), store.PutRequest{
			Origin: store.Origin{Transport: "dimse", CallingAE: "TOWN_A"}})
		if err != nil {
			t.Fatal(err)
		}
		return in.ReceivedAt
	}
	a := object{study: "2.25.7001", series: "2.25.7001.1", sop: "2.25.7001.1.1", name: "王建国", sex: "M", age: "047Y",
		date: "20260301", time: "080000", modality: "DX", bodyPart: "CHEST", image: true}
	recvA := put(a)
	put(object{study: a.study, series: "2.25.7001.2", sop: "2.25.7001.2.1", name: a.name, date: a.date, time: a.time,
		modality: "SR", class: "1.2.840.10008.5.1.4.1.1.88.11"})
	put(object{study: a.study, series: "2.25.7001.3", sop: "2.25.7001.3.1", name: a.name, date: a.date, time: a.time,
		modality: "DOC", class: "1.2.840.10008.5.1.4.1.1.104.1"})
	b := object{study: "2.25.7002", series: "2.25.7002.1", sop: "2.25.7002.1.1", name: "李秀英", sex: "F",
		birth: "19790315", date: "20260302", time: "101500", modality: "DX", bodyPart: "LSPINE", image: true}
	recvB := put(b)
	c := object{study: "2.25.7003", series: "2.25.7003.1", sop: "2.25.7003.1.1", name: "赵小红", sex: "F", age: "003M",
		date: "20260228", time: "153000", modality: "US", bodyPart: "ABDOMEN", image: true}
	recvC := put(c)
	local := func(t time.Time) string { return t.In(en.viewer.loc).Format("2006-01-02 15:04") }

	sc := map[string]any{
		"doc":   map[string]string{"username": "doc", "password": "password-doc"},
		"admin": map[string]string{"username": "admin", "password": en.adminPW},
		"a":     study{a.study, a.name, local(recvA)},
		"b":     study{b.study, b.name, local(recvB)},
		"c":     study{c.study, c.name, local(recvC)},
	}
	scJSON, _ := json.Marshal(sc)
	res := browsertest.Run(t, "worklist.mjs", browsertest.Options{
		BaseURL: en.srv.URL,
		Env:     map[string]string{"WORKLIST_SCENARIO": string(scJSON)},
		Timeout: 3 * time.Minute,
	})
	browsertest.Report(t, res)
	browsertest.RequireSteps(t, res,
		"the worklist shows ages, body parts and kinds of examination in words",
		"the image count leaves out the report SR and PDF",
		"the received time is shown and either column sorts the list",
		"a click anywhere on a row, or Enter on it, opens the study",
		"ctrl-click on a row opens the study in a new tab",
		"the study page and its header say the same words",
		"an urgent study moves to the top in either order",
		"a refused user form names the field and keeps what was typed",
		"the users table's headers sit over their columns",
		"no failed requests",
	)
}

// object is a small DICOM object of the worklist scenario: a 64x64 image when image is set,
// else a header only (an SR or a PDF as the worklist sees them: a series of its modality).
type object struct {
	study, series, sop, class         string
	name, sex, age, birth, date, time string
	modality, bodyPart                string
	image                             bool
}

func (o object) bytes(t testing.TB) []byte {
	t.Helper()
	class := o.class
	if class == "" {
		class = "1.2.840.10008.5.1.4.1.1.1.1" // Digital X-Ray Image Storage - For Presentation
		if o.modality == "US" {
			class = "1.2.840.10008.5.1.4.1.1.6.1" // Ultrasound Image Storage
		}
	}
	var out bytes.Buffer
	if _, err := dicom.WriteFileMeta(&out, dicom.FileMeta{SOPClassUID: class, SOPInstanceUID: o.sop,
		TransferSyntaxUID: dicom.ExplicitVRLittleEndian}); err != nil {
		t.Fatal(err)
	}
	enc, err := dicom.NewEncoder(&out, dicom.ExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	text := func(tag uint32, vr, s string) {
		if s == "" {
			return
		}
		b, err := dicom.EncodeText(s, []string{"ISO_IR 192"}, vr)
		if err != nil {
			t.Fatal(err)
		}
		enc.WriteElement(dicom.Tag(tag), vr, b)
	}
	// Elements in ascending tag order (PS3.5 7.1).
	text(0x00080005, "CS", "ISO_IR 192")
	text(0x00080016, "UI", class)
	text(0x00080018, "UI", o.sop)
	text(0x00080020, "DA", o.date)
	text(0x00080030, "TM", o.time)
	text(0x00080060, "CS", o.modality)
	text(0x00100010, "PN", o.name)
	text(0x00100020, "LO", "P"+o.study[len(o.study)-4:])
	text(0x00100030, "DA", o.birth)
	text(0x00100040, "CS", o.sex)
	text(0x00101010, "AS", o.age)
	text(0x00180015, "CS", o.bodyPart)
	text(0x0020000D, "UI", o.study)
	text(0x0020000E, "UI", o.series)
	text(0x00200011, "IS", "1")
	text(0x00200013, "IS", "1")
	if o.image {
		const w, h = 64, 64
		enc.WriteUint16(dicom.Tag(0x00280002), "US", 1)
		text(0x00280004, "CS", "MONOCHROME2")
		enc.WriteUint16(dicom.Tag(0x00280010), "US", h)
		enc.WriteUint16(dicom.Tag(0x00280011), "US", w)
		enc.WriteUint16(dicom.Tag(0x00280100), "US", 8)
		enc.WriteUint16(dicom.Tag(0x00280101), "US", 8)
		enc.WriteUint16(dicom.Tag(0x00280102), "US", 7)
		enc.WriteUint16(dicom.Tag(0x00280103), "US", 0)
		px := make([]byte, w*h)
		for i := range px {
			px[i] = byte((i%w)*4 ^ (i/w)*2)
		}
		enc.WriteElement(dicom.Tag(0x7FE00010), "OB", px)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
