package pixel

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"pacsd/dicom"
	"pacsd/internal/peertest"
)

// repoRoot is the module root (dicom/pixel is two levels down).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// openPath reads the header of a Part-10 file and opens its pixels.
func openPath(t testing.TB, path string) (*Image, *dicom.Header) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	hdr, err := dicom.ReadPart10(f, dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: read header: %v", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	im, err := Open(f, st.Size(), hdr)
	if err != nil {
		t.Fatalf("%s: open: %v", path, err)
	}
	return im, hdr
}

// openBytes opens an in-memory Part-10 object.
func openBytes(t testing.TB, b []byte) (*Image, error) {
	t.Helper()
	hdr, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
	if err != nil {
		t.Fatalf("read header: %v", err)
	}
	return Open(bytes.NewReader(b), int64(len(b)), hdr)
}

func allFrames(t testing.TB, im *Image) []*Frame {
	t.Helper()
	var out []*Frame
	for i := 0; i < im.NumFrames(); i++ {
		f, err := im.Frame(context.Background(), i)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		out = append(out, f)
	}
	return out
}

// needTool skips the test when a reference binary is missing (scripts/deps.sh installs
// them; make test runs it first), and fails it in CI, where a skipped reference would
// pass unchecked code.
func needTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		peertest.Tool(t, n)
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// pnm is one PGM/PPM image: samples row by row, pixel-interleaved for PPM.
type pnm struct {
	w, h, channels, maxval int
	data                   []int
}

// readPNM parses P2/P3 (ASCII, any maxval) and P5/P6 (binary, 8 or 16 bits).
func readPNM(path string) (*pnm, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(bytes.NewReader(b))
	var p pnm
	// The header is four whitespace-separated tokens; '#' starts a comment to the end of
	// the line (OpenJPEG's tools write one).
	var tok [4]string
	for k := range tok {
		for {
			c, err := r.ReadByte()
			if err != nil {
				return nil, fmt.Errorf("%s: header: %w", path, err)
			}
			switch {
			case c == '#':
				if _, err := r.ReadString('\n'); err != nil {
					return nil, fmt.Errorf("%s: header: %w", path, err)
				}
				continue
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				if tok[k] == "" {
					continue
				}
			default:
				tok[k] += string(c)
				continue
			}
			break
		}
	}
	magic := tok[0]
	if _, err := fmt.Sscan(tok[1]+" "+tok[2]+" "+tok[3], &p.w, &p.h, &p.maxval); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	switch magic {
	case "P2", "P5":
		p.channels = 1
	case "P3", "P6":
		p.channels = 3
	default:
		return nil, fmt.Errorf("%s: not a PGM/PPM (%q)", path, magic)
	}
	n := p.w * p.h * p.channels
	p.data = make([]int, n)
	if magic == "P2" || magic == "P3" {
		for i := range p.data {
			if _, err := fmt.Fscan(r, &p.data[i]); err != nil {
				return nil, fmt.Errorf("%s: sample %d: %w", path, i, err)
			}
		}
		return &p, nil
	}
	for i := range p.data {
		c, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%s: sample %d: %w", path, i, err)
		}
		v := int(c)
		if p.maxval > 255 {
			c2, err := r.ReadByte()
			if err != nil {
				return nil, err
			}
			v = v<<8 | int(c2)
		}
		p.data[i] = v
	}
	return &p, nil
}

// dcmtkTool is the DCMTK converter that reads transfer syntax ts; JPEG 2000, which DCMTK
// does not read, is first made native by GDCM. It returns the tool and the file to give it.
func dcmtkTool(t testing.TB, path, ts string) (string, string) {
	t.Helper()
	switch ts {
	case dicom.JPEGLSLossless, dicom.JPEGLSNearLossless:
		needTool(t, "dcml2pnm")
		return "dcml2pnm", path
	case dicom.JPEG2000, dicom.JPEG2000Lossless:
		needTool(t, "gdcmconv", "dcm2pnm")
		raw := filepath.Join(t.TempDir(), "gdcm_raw.dcm")
		run(t, "gdcmconv", "--raw", path, raw)
		return "dcm2pnm", raw
	}
	needTool(t, "dcmj2pnm")
	return "dcmj2pnm", path
}

// dcmtkFrames converts every frame of path with DCMTK and returns the images in frame order.
func dcmtkFrames(t testing.TB, path, ts string, args ...string) []*pnm {
	t.Helper()
	tool, in := dcmtkTool(t, path, ts)
	args = append([]string(nil), args...)
	for i, a := range args {
		if a == "{bits}" {
			// The stored depth of the file the tool reads (GDCM's native copy of a JPEG
			// 2000 file may declare another).
			args[i] = fmt.Sprint(bitsStored(t, in))
		}
	}
	dir := t.TempDir()
	prefix := filepath.Join(dir, "f")
	run(t, tool, append(append([]string{"+Fa"}, args...), in, prefix)...)
	matches, _ := filepath.Glob(prefix + ".*")
	type numbered struct {
		n    int
		path string
	}
	var files []numbered
	for _, m := range matches {
		parts := strings.Split(filepath.Base(m), ".")
		if len(parts) < 3 {
			continue
		}
		n, err := strconv.Atoi(parts[1])
		if err != nil {
			continue
		}
		files = append(files, numbered{n, m})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].n < files[j].n })
	var out []*pnm
	for _, f := range files {
		p, err := readPNM(f.path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Fatalf("%s wrote no images for %s", tool, path)
	}
	return out
}

func bitsStored(t testing.TB, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr, err := dicom.ReadPart10(f, dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := hdr.Dataset.Int(dicom.TagBitsStored)
	if !ok {
		t.Fatalf("%s: no Bits Stored", path)
	}
	return int(v)
}

// artifactDir is where tests leave files for people to look at.
func artifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PACSD_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), ".cache", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
