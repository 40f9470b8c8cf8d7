package dicomweb

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"pacsd/internal/peertest"
)

// DCMTK is the independent reader the tests compare pacsd with: dcmdump lists the
// attributes of an object and, with +W, writes its pixel data (native: one little-endian
// .0.raw file whatever the object's byte order; encapsulated: .0.raw is the Basic Offset
// Table, .1.raw... the fragments).

func needTool(t testing.TB, name string) string {
	t.Helper()
	return peertest.Tool(t, name)
}

// dcmdumpTopLevel returns the top-level data set tags dcmdump sees, as JSON keys, leaving
// out group lengths and Data Set Trailing Padding (not attributes, PS3.18 F.2).
func dcmdumpTopLevel(t testing.TB, path string) []string {
	t.Helper()
	out, err := exec.Command(needTool(t, "dcmdump"), "-q", path).Output()
	if err != nil {
		t.Fatalf("dcmdump %s: %v", path, err)
	}
	var tags []string
	inData := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# Dicom-Data-Set") {
			inData = true
			continue
		}
		if !inData || len(line) < 11 || line[0] != '(' || line[5] != ',' || line[10] != ')' {
			continue
		}
		tag := strings.ToUpper(line[1:5] + line[6:10])
		if strings.HasSuffix(tag, "0000") || tag == "FFFCFFFC" || strings.HasPrefix(tag, "FFFE") {
			continue
		}
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	return tags
}

// dcmdumpPixelItems writes the pixel data of path with dcmdump +W and returns the pieces:
// [raw] for native data, [offset table, fragment 1, ...] for encapsulated data.
func dcmdumpPixelItems(t testing.TB, path string) [][]byte {
	t.Helper()
	if v, ok := pixelItemsCache.Load(path); ok {
		return v.([][]byte)
	}
	items := dcmdumpPixelItemsUncached(t, path)
	pixelItemsCache.Store(path, items)
	return items
}

// pixelItemsCache keeps what dcmdump wrote per committed file, for the test run.
var pixelItemsCache sync.Map

func dcmdumpPixelItemsUncached(t testing.TB, path string) [][]byte {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command(needTool(t, "dcmdump"), "-q", "+W", dir, path).CombinedOutput(); err != nil {
		t.Fatalf("dcmdump +W %s: %v\n%s", path, err, out)
	}
	var items [][]byte
	for i := 0; ; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%s.%d.raw", filepath.Base(path), i)))
		if os.IsNotExist(err) {
			return items
		}
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, b)
	}
}
