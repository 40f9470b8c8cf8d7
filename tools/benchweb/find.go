package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"pacsd/dicom"
	"pacsd/dimse"
)

// C-FIND at the study level (PS3.4 C.6.2, Study Root), from one client for both servers:
// pacsd's own SCU (dimse.Client.Find) on one association per server, requests in sequence,
// interleaved between the servers as the QIDO rows are. DCMTK's findscu would add a
// process start and an association to every query, which is most of a millisecond-scale
// answer.

const studyRootFind = "1.2.840.10008.5.1.4.1.2.2.1"

// findQuery is one C-FIND's matching keys (Specific Character Set ISO_IR 192 declared,
// for the Chinese names); the return keys are those a workstation's study list asks.
type findQuery struct {
	patientID, patientName, studyDate string
}

// identifier encodes q in Implicit VR Little Endian (the transfer syntax proposed), keys
// in ascending tag order.
func (q findQuery) identifier() ([]byte, error) {
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
	enc.WriteString(dicom.TagStudyDate, "DA", q.studyDate)
	enc.WriteString(dicom.TagStudyTime, "TM", "")
	enc.WriteString(dicom.TagAccessionNumber, "SH", "")
	enc.WriteString(0x00080052, "CS", "STUDY") // Query/Retrieve Level
	enc.WriteString(dicom.TagModalitiesInStudy, "CS", "")
	if err := text(dicom.TagStudyDescription, "LO", ""); err != nil {
		return nil, err
	}
	if err := text(dicom.TagPatientName, "PN", q.patientName); err != nil {
		return nil, err
	}
	if err := text(dicom.TagPatientID, "LO", q.patientID); err != nil {
		return nil, err
	}
	enc.WriteString(dicom.TagPatientBirthDate, "DA", "")
	enc.WriteString(dicom.TagStudyInstanceUID, "UI", "")
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// finder is one server's C-FIND association.
type finder struct {
	s *server
	c *dimse.Client
}

func dialFinder(ctx context.Context, s *server) (*finder, error) {
	c, err := dimse.Dial(ctx, s.dicomAddr, dimse.ClientConfig{CallingAETitle: "BENCHWEB", CalledAETitle: s.aet,
		Contexts: map[string][]string{studyRootFind: {dicom.ImplicitVRLittleEndian}}})
	if err != nil {
		return nil, fmt.Errorf("C-FIND association with %s: %w", s.name, err)
	}
	return &finder{s: s, c: c}, nil
}

// find runs one query and returns its time and the Study Instance UIDs of its matches.
func (f *finder) find(ctx context.Context, id []byte) (time.Duration, []string, int64, error) {
	var uids []string
	var size int64
	t0 := time.Now()
	st, err := f.c.Find(ctx, studyRootFind, id, func(_ uint16, rsp []byte) error {
		size += int64(len(rsp))
		ds, err := dicom.ReadDataset(bytes.NewReader(rsp), dicom.ImplicitVRLittleEndian, dicom.ReadOptions{})
		if err != nil {
			return fmt.Errorf("response identifier: %w", err)
		}
		uids = append(uids, strings.TrimSpace(ds.String(dicom.TagStudyInstanceUID)))
		return nil
	})
	d := time.Since(t0)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("C-FIND on %s: %w", f.s.name, err)
	}
	if !st.OK() {
		return 0, nil, 0, fmt.Errorf("C-FIND on %s: final status %v", f.s.name, st)
	}
	return d, uids, size, nil
}

// runFind measures one C-FIND row on both servers: b.warm untimed queries each, then
// queries interleaved server by server. pacsd's matches must be exactly the plan's; the
// other server's are counted (Orthanc matches a PN value against the whole name, so 张*
// does not find Zhang^Wei=张^伟), and a difference is reported in the row.
func runFind(ctx context.Context, b budget, fs []*finder, query func(i int) findQuery, want func(i int) map[string]bool) ([]stats, []int, error) {
	for _, f := range fs {
		for i := 0; i < b.warm; i++ {
			id, err := query(b.maxN + i).identifier()
			if err != nil {
				return nil, nil, err
			}
			if _, _, _, err := f.find(ctx, id); err != nil {
				return nil, nil, err
			}
		}
	}
	out := make([]stats, len(fs))
	counts := make([]int, len(fs))
	for i := 0; i < b.maxN; i++ {
		active := false
		id, err := query(i).identifier()
		if err != nil {
			return nil, nil, err
		}
		for k, f := range fs {
			s := &out[k]
			if i >= b.minN && s.total() >= b.spent {
				continue
			}
			active = true
			d, uids, size, err := f.find(ctx, id)
			if err != nil {
				return nil, nil, err
			}
			s.durs = append(s.durs, d)
			s.bytes += size
			counts[k] = len(uids)
			if k > 0 {
				continue
			}
			if err := sameStudies(uids, want(i)); err != nil {
				s.mismatches++
				if s.firstBad == "" {
					s.firstBad = fmt.Sprintf("%+v: %v", query(i), err)
				}
			}
		}
		if !active {
			break
		}
	}
	return out, counts, nil
}

func sameStudies(got []string, want map[string]bool) error {
	seen := map[string]bool{}
	for _, u := range got {
		if !want[u] {
			return fmt.Errorf("returned study %s that does not match", u)
		}
		if seen[u] {
			return fmt.Errorf("returned study %s twice", u)
		}
		seen[u] = true
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d results, want %d", len(got), len(want))
	}
	return nil
}
