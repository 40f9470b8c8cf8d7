package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/tools/internal/benchkit"
)

// C-FIND at the study level (PS3.4 C.6.2, Study Root), from one client for both servers:
// pacsd's own SCU (dimse.Client.Find) on one association per server, requests in sequence,
// interleaved between the servers as the QIDO rows are. DCMTK's findscu would add a
// process start and an association to every query, which is most of a millisecond-scale
// answer.

// findQuery is one C-FIND's matching keys (benchkit.StudyFind: Specific Character Set
// ISO_IR 192 declared, the return keys a workstation's study list asks).
type findQuery = benchkit.StudyFind

// finder is one server's C-FIND association.
type finder struct {
	s *server
	c *dimse.Client
}

func dialFinder(ctx context.Context, s *server) (*finder, error) {
	c, err := dimse.Dial(ctx, s.dicomAddr, dimse.ClientConfig{CallingAETitle: "BENCHWEB", CalledAETitle: s.aet,
		Contexts: map[string][]string{benchkit.StudyRootFind: {dicom.ImplicitVRLittleEndian}}})
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
	st, err := f.c.Find(ctx, benchkit.StudyRootFind, id, func(_ uint16, rsp []byte) error {
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
			id, err := query(b.maxN + i).Identifier()
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
		id, err := query(i).Identifier()
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
