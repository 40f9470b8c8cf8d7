package pixel

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenImage is what the golden file records per test object: the parsed Info, and for
// every frame the decoded photometric interpretation and a hash of the samples. The
// reference test judges correctness against DCMTK; this file pins the results, so any
// change in decoding shows up here even where DCMTK is not installed.
type goldenImage struct {
	Info   Info
	Frames []goldenFrame
}

type goldenFrame struct {
	Photometric string
	SHA256      string
}

func TestGolden(t *testing.T) {
	got := map[string]goldenImage{}
	for _, rf := range testImages(t) {
		g := goldenImage{Info: rf.im.Info()}
		for i := 0; i < rf.im.NumFrames(); i++ {
			f, err := rf.im.Frame(context.Background(), i)
			if err != nil {
				t.Fatalf("%s frame %d: %v", rf.name, i, err)
			}
			h := sha256.New()
			var b [2]byte
			for k := 0; k < f.Len(); k++ {
				binary.LittleEndian.PutUint16(b[:], uint16(f.Sample(k)))
				h.Write(b[:])
			}
			g.Frames = append(g.Frames, goldenFrame{Photometric: f.Photometric, SHA256: hex.EncodeToString(h.Sum(nil))})
		}
		got[rf.name] = g
	}
	path := filepath.Join("testdata", "golden", "images.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./dicom/pixel -run TestGolden -update)", err)
	}
	var want map[string]goldenImage
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name, g := range got {
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: not in %s (run with -update)", name, path)
			continue
		}
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if string(gj) != string(wj) {
			t.Errorf("%s differs from %s:\n got  %s\n want %s", name, path, gj, wj)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: in %s but no longer a test image", name, path)
		}
	}
}
