package dicomweb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/store"
	"pacsd/store/storetest"
)

// TestEachMember checks the member scanner against encoding/json on valid objects and
// that it refuses malformed ones rather than splicing garbage into an answer.
func TestEachMember(t *testing.T) {
	valid := []string{
		`{}`,
		` { } `,
		`{"00100010":{"vr":"PN","Value":[{"Alphabetic":"Zhang^Wei","Ideographic":"张^伟"}]}}`,
		`{"00080005":{"vr":"CS","Value":["ISO_IR 192"]},"00200013":{"vr":"IS","Value":[1,-2.5e3,null]}}`,
		`{"0040A730":{"vr":"SQ","Value":[{"0040A160":{"vr":"UT","Value":["a \"quoted\" }] {[ text\\"]}}]}}`,
		"{\n \"00081030\" : {\"vr\":\"LO\",\"Value\":[\"\\u003c\\u0026\\u003e\"]} ,\n\"00100020\":{\"vr\":\"LO\"}\n}",
		`{"x":true,"y":false,"z":null,"n":12}`,
	}
	for _, obj := range valid {
		var want map[string]json.RawMessage
		if err := json.Unmarshal([]byte(obj), &want); err != nil {
			t.Fatalf("test object %s: %v", obj, err)
		}
		got := map[string]json.RawMessage{}
		var order []string
		if err := eachMember([]byte(obj), func(k, v []byte) {
			got[string(k)] = json.RawMessage(v)
			order = append(order, string(k))
		}); err != nil {
			t.Errorf("eachMember(%s): %v", obj, err)
			continue
		}
		if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Errorf("eachMember(%s) = %v, want %v", obj, got, want)
		}
		if len(order) != len(want) {
			t.Errorf("eachMember(%s) called %d times, want %d", obj, len(order), len(want))
		}
	}
	for _, obj := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{"a":"x}`,
		`{"a":{"b":1}`, `{"a":[1,2}`, `{"a":1}x`, `{a:1}`} {
		if err := eachMember([]byte(obj), func(k, v []byte) {}); err == nil {
			t.Errorf("eachMember(%q) accepted a malformed object", obj)
		}
	}
}

// TestAppendJSONString checks the string writer against encoding/json, escapes included.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "DX", "http://h/dicomweb/studies/1.2.3", `a"b\c`, "<&>", "tab\tnl\ncr\r\x01\x1f",
		"张伟", "line\u2028para\u2029", "bad\xffutf8\xc3", "mixed 王^芳 <x>"} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestSplicedEqualsEncoded holds the spliced QIDO answer to the slow path it replaced:
// every hit of every search target over the whole test corpus (all charsets, SR, multi-
// frame), decoded, shaped and encoded with encoding/json, must give the same bytes.
func TestSplicedEqualsEncoded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const base = "http://pacs.example/dicomweb"
	queries := []string{"", "includefield=all", "includefield=00081030,PatientBirthDate,00180015",
		"includefield=00080005&includefield=00080061", "fuzzymatching=true&includefield=00201208",
		"includefield=AvailableTransferSyntaxUID,00080056"}
	n := 0
	for _, target := range []searchTarget{searchStudies, searchAllSeries, searchAllInstances, searchStudySeries,
		searchStudyInstances, searchSeriesInstances} {
		for _, raw := range queries {
			req, err := parseSearch(raw)
			if err != nil {
				t.Fatalf("parseSearch(%q): %v", raw, err)
			}
			hits, err := f.archive.Index().Search(ctx, store.Query{Level: target.level()})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) == 0 {
				t.Fatalf("no hits at level %d", target.level())
			}
			w := newHitWriter(target, req, base)
			for _, h := range hits {
				got, err := w.append(nil, h)
				if err != nil {
					t.Fatalf("append: %v", err)
				}
				ds, err := storetest.HitDataset(h, target.level())
				if err != nil {
					t.Fatal(err)
				}
				want, err := json.Marshal(shapeResult(target, req, ds, base))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Fatalf("target %d, %q, study %s:\nspliced %s\nencoded %s", target, raw, h.StudyUID, got, want)
				}
				if !strings.Contains(string(got), `"00081190":{"vr":"UR","Value":["`+base+`/studies/`) {
					t.Fatalf("no Retrieve URL in %s", got)
				}
				n++
			}
		}
	}
	t.Logf("%d hits compared", n)
}

// shapeResult is the reference the hit writer is held to: the QIDO-RS shaping rules
// (PS3.18 10.6.3.3) applied to a decoded data set, as pacsd answered before it spliced.
func shapeResult(t searchTarget, req *searchRequest, r dicom.JSONDataset, base string) dicom.JSONDataset {
	defaults := defaultReturnKeys[t]
	out := make(dicom.JSONDataset, len(defaults))
	for k, a := range r {
		if req.includeAll || defaults[k] || req.returnKeys[k] {
			out[k] = a
		}
	}
	// Values are UTF-8 whatever the object was encoded in; a Specific Character Set
	// copied from the object would mislabel them (PS3.18 F.2: DICOM JSON is UTF-8).
	if _, ok := out[dicom.TagSpecificCharacterSet.Hex()]; ok {
		out[dicom.TagSpecificCharacterSet.Hex()] = dicom.JSONAttribute{VR: "CS", Value: []any{"ISO_IR 192"}}
	}
	// Instance Availability (0008,0056) "shall be present if known": everything the index
	// lists is retrievable at once (PS3.3 C.4.23.1.1, ONLINE).
	avail := dicom.TagInstanceAvailability.Hex()
	if _, ok := out[avail]; !ok && (req.includeAll || defaults[avail] || req.returnKeys[avail]) {
		out[avail] = dicom.JSONAttribute{VR: "CS", Value: []any{"ONLINE"}}
	}
	if u := retrieveURL(base, t.level(), r); u != "" {
		out[dicom.TagRetrieveURL.Hex()] = dicom.JSONAttribute{VR: "UR", Value: []any{u}}
	}
	return out
}

// retrieveURL is the WADO-RS URL of a result (PS3.18 10.6.3.3, Retrieve URL), or "" when
// the result lacks the UIDs to build it.
func retrieveURL(base string, level store.Level, r dicom.JSONDataset) string {
	return joinRetrieveURL(base, level, r.String(dicom.TagStudyInstanceUID),
		r.String(dicom.TagSeriesInstanceUID), r.String(dicom.TagSOPInstanceUID))
}

// TestQIDOXML: asked for PS3.19 XML, QIDO-RS gives the same results with the same
// attributes as in JSON, one part each.
func TestQIDOXML(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{"/studies", "/instances?includefield=all"} {
		res, _ := f.qido(t, q)
		r := get(t, http.MethodGet, f.url+"/dicomweb"+q, map[string]string{"Accept": `multipart/related; type="application/dicom+xml"`})
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		docs := xmlParts(t, r)
		if len(docs) != len(res) || len(res) == 0 {
			t.Fatalf("%s: %d XML parts, %d JSON results", q, len(docs), len(res))
		}
		for i, doc := range docs {
			m := parseNativeXML(t, doc)
			var tags []string
			for _, a := range m.Attrs {
				tags = append(tags, a.Tag)
			}
			var want []string
			for k := range res[i] {
				want = append(want, k)
			}
			slices.Sort(want)
			if !slices.Equal(tags, want) {
				t.Fatalf("%s result %d: XML tags %v, JSON %v", q, i, tags, want)
			}
			if u := m.attr(dicom.TagRetrieveURL.Hex()); u == nil || len(u.Value) != 1 || u.Value[0].Text != res[i].String(dicom.TagRetrieveURL) {
				t.Errorf("%s result %d: Retrieve URL %+v, JSON %q", q, i, u, res[i].String(dicom.TagRetrieveURL))
			}
			if cs := m.attr(dicom.TagSpecificCharacterSet.Hex()); cs != nil && (len(cs.Value) != 1 || cs.Value[0].Text != "ISO_IR 192") {
				t.Errorf("%s result %d: Specific Character Set %+v", q, i, cs)
			}
		}
	}
}

// TestSortMembers: sortMembers orders members as a stable sort by key and rank does,
// whether they come as sorted runs with a few derived ones (the usual case), in any order,
// or with duplicate keys.
func TestSortMembers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	key := func(n int) []byte { return fmt.Appendf(nil, "%08X", n) }
	for c := range 2000 {
		var ms []member
		for rank := range int8(4) {
			n := rng.IntN(20)
			run := make([]member, n)
			for i := range run {
				run[i] = member{key: key(rng.IntN(40)), val: fmt.Appendf(nil, "%d-%d", c, i), rank: rank}
			}
			if c%3 != 0 { // sorted runs, as records are written
				slices.SortStableFunc(run, compareMembers)
			}
			ms = append(ms, run...)
		}
		want := slices.Clone(ms)
		slices.SortStableFunc(want, compareMembers)
		got := slices.Clone(ms)
		sortMembers(got)
		for i := range want {
			if !bytes.Equal(got[i].key, want[i].key) || got[i].rank != want[i].rank {
				t.Fatalf("case %d: at %d %s/%d, want %s/%d", c, i, got[i].key, got[i].rank, want[i].key, want[i].rank)
			}
		}
	}
}

// TestWriteMembers: writeMembers writes what sorting all members and keeping the highest
// rank of each key writes, whether the runs come in order (merged as they stand), out of
// order, or with a key twice in one run.
func TestWriteMembers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for c := range 3000 {
		var ms []member
		bounds := []int{0}
		runs := 1 + rng.IntN(4)
		for rank := range int8(runs) {
			seen := map[int]bool{}
			for range rng.IntN(12) {
				k := rng.IntN(30)
				if c%4 != 0 && seen[k] {
					continue // a record's keys are unique
				}
				seen[k] = true
				ms = append(ms, member{key: fmt.Appendf(nil, "%08X", k), val: fmt.Appendf(nil, `"%d/%d"`, rank, k), rank: rank})
			}
			if c%5 != 0 {
				slices.SortStableFunc(ms[bounds[len(bounds)-1]:], compareMembers)
			}
			bounds = append(bounds, len(ms))
		}
		ref := slices.Clone(ms)
		slices.SortStableFunc(ref, compareMembers)
		want := []byte{'{'}
		for i, m := range ref {
			if i+1 < len(ref) && bytes.Equal(ref[i+1].key, m.key) {
				continue
			}
			if len(want) > 1 {
				want = append(want, ',')
			}
			want = fmt.Appendf(want, `"%s":%s`, m.key, m.val)
		}
		want = append(want, '}')
		if got := writeMembers(nil, ms, bounds); !bytes.Equal(got, want) {
			t.Fatalf("case %d (bounds %v): got %s, want %s", c, bounds, got, want)
		}
	}
}

// TestAppendRetrieveURL: the Retrieve URL appended without escaping (plain UIDs) is the
// JSON string of joinRetrieveURL, at every level, for plain and unusual UIDs and a base
// that JSON escapes; a missing UID gives none.
func TestAppendRetrieveURL(t *testing.T) {
	for _, base := range []string{"http://127.0.0.1:8042/dicomweb", "https://pacs.example/a&b<c>/dicomweb"} {
		w := newHitWriter(searchStudies, &searchRequest{returnKeys: map[string]bool{}}, base)
		for _, uids := range [][3]string{{"1.2.3", "1.2.3.4", "1.2.3.4.5"}, {"1.2 3", "1/2", "x?y"}, {"1.2", "", ""}, {"", "1", "2"}} {
			for _, level := range []store.Level{store.LevelStudy, store.LevelSeries, store.LevelInstance} {
				got, ok := w.appendRetrieveURL([]byte("x"), level, uids[0], uids[1], uids[2])
				want := joinRetrieveURL(base, level, uids[0], uids[1], uids[2])
				if !ok {
					if want != "" || string(got) != "x" {
						t.Errorf("%s %v level %d: none, but joinRetrieveURL %q (%q)", base, uids, level, want, got)
					}
					continue
				}
				if w := "x" + string(appendJSONString(nil, want)); string(got) != w {
					t.Errorf("%s %v level %d: %s, want %s", base, uids, level, got, w)
				}
			}
		}
	}
}
