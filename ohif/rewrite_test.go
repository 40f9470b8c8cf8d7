package ohif

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// referenceRewrite applies rules the slow, obvious way: at each position try the rules in
// order; a match needs the next byte to be absent (end of input) or not '/'.
func referenceRewrite(in string, rules []rule) string {
	var b strings.Builder
	for i := 0; i < len(in); {
		matched := false
		for _, r := range rules {
			if strings.HasPrefix(in[i:], r.old) {
				end := i + len(r.old)
				if end < len(in) && in[end] == '/' {
					continue
				}
				b.WriteString(r.new)
				i = end
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte(in[i])
			i++
		}
	}
	return b.String()
}

// rewriteAll runs the real scanner and splice over in.
func rewriteAll(t testing.TB, in string, rules []rule, chunk int) string {
	t.Helper()
	edits, err := scanEditsChunk(strings.NewReader(in), rules, chunk)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := newSplice(strings.NewReader(in), int64(len(in)), edits)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(io.NewSectionReader(sp, 0, sp.size))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestRewrite(t *testing.T) {
	html := rulesFor("index.html", "/ohif/")
	js := rulesFor("a.js", "/pacs/ohif/")
	css := rulesFor("a.css", "/ohif/")
	manifest := rulesFor("manifest.json", "/ohif/")
	tests := []struct {
		name  string
		rules []rule
		in    string
		want  string
	}{
		{"attributes", html, `<a href="/x"><img src="/y.png">`, `<a href="/ohif/x"><img src="/ohif/y.png">`},
		{"public url", html, `window.PUBLIC_URL="/"</script>`, `window.PUBLIC_URL="/ohif/"</script>`},
		{"network-path reference kept", html, `<link href="//cdn.example/a">`, `<link href="//cdn.example/a">`},
		{"relative kept", html, `<a href="x/y">`, `<a href="x/y">`},
		{"at end of input", html, `x="/`, `x="/ohif/`},
		{"webpack public path", js, "__webpack_require__.p = \"/\";\n", "__webpack_require__.p = \"/pacs/ohif/\";\n"},
		{"other js strings kept", js, `var a = "/x"; r.p="";`, `var a = "/x"; r.p="";`},
		{"css url", css, `src:url(/f.woff2);b:url(//h/x)`, `src:url(/ohif/f.woff2);b:url(//h/x)`},
		{"manifest", manifest, `{"start_url": "/", "src":"/a.png"}`, `{"start_url": "/ohif/", "src":"/ohif/a.png"}`},
		{"empty", html, ``, ``},
		{"no match", html, `plain text`, `plain text`},
		{"adjacent matches", html, `="/="/="/`, `="/ohif/="/ohif/="/ohif/`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ref := referenceRewrite(tt.in, tt.rules); ref != tt.want {
				t.Fatalf("reference implementation disagrees with the table: %q", ref)
			}
			for _, chunk := range []int{1, 2, 3, 7, scanChunk} {
				if got := rewriteAll(t, tt.in, tt.rules, chunk); got != tt.want {
					t.Errorf("chunk %d: got %q, want %q", chunk, got, tt.want)
				}
			}
		})
	}
}

// TestRewriteAcrossChunks puts a match at every offset around the real chunk boundary.
func TestRewriteAcrossChunks(t *testing.T) {
	rules := rulesFor("a.js", "/ohif/")
	pat := rules[0].old
	for shift := -len(pat) - 2; shift <= 2; shift++ {
		in := strings.Repeat("x", scanChunk+shift) + pat + ";" + strings.Repeat("y", 10) + pat
		want := referenceRewrite(in, rules)
		if got := rewriteAll(t, in, rules, scanChunk); got != want {
			t.Errorf("shift %d: rewrite differs from reference", shift)
		}
	}
	// The pattern followed by '/' exactly at the boundary is no match.
	in := strings.Repeat("x", scanChunk-len(pat)) + pat + "/"
	if got := rewriteAll(t, in, rules, scanChunk); got != in {
		t.Error("a match followed by '/' across the chunk boundary was rewritten")
	}
}

// TestSpliceReadAt reads the rewritten output at every offset and length combination that
// matters (segment edges) and compares with the whole.
func TestSpliceReadAt(t *testing.T) {
	rules := rulesFor("index.html", "/a/b/")
	in := `<p src="/1">x<q href="/2"></q>="/`
	want := referenceRewrite(in, rules)
	edits, err := scanEdits(strings.NewReader(in), rules)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := newSplice(strings.NewReader(in), int64(len(in)), edits)
	if err != nil {
		t.Fatal(err)
	}
	if sp.size != int64(len(want)) {
		t.Fatalf("size %d, want %d", sp.size, len(want))
	}
	for off := 0; off <= len(want); off++ {
		for n := 0; n <= len(want)-off+1; n++ {
			p := make([]byte, n)
			got, err := sp.ReadAt(p, int64(off))
			wantN := min(n, len(want)-off)
			if got != wantN || string(p[:got]) != want[off:off+wantN] {
				t.Fatalf("ReadAt(%d bytes at %d) = %d %q, want %q", n, off, got, p[:got], want[off:off+wantN])
			}
			if got < n && !errors.Is(err, io.EOF) {
				t.Fatalf("short ReadAt at %d without EOF: %v", off, err)
			}
		}
	}
	if _, err := sp.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("negative offset accepted")
	}
}

// TestSpliceShrunkFile: a file cut after it was scanned is an error, not a short answer
// that looks complete.
func TestSpliceShrunkFile(t *testing.T) {
	rules := rulesFor("index.html", "/ohif/")
	in := `0123456789<a href="/x">` + strings.Repeat("z", 100)
	edits, err := scanEdits(strings.NewReader(in), rules)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := newSplice(strings.NewReader(in[:50]), int64(len(in)), edits)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(io.NewSectionReader(sp, 0, sp.size))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestNewSpliceRejectsBadEdits(t *testing.T) {
	r := &rule{old: "ab", new: "x"}
	for _, edits := range [][]edit{
		{{off: 5, rule: r}, {off: 1, rule: r}}, // out of order
		{{off: 1, rule: r}, {off: 2, rule: r}}, // overlapping
		{{off: 9, rule: r}},                    // past the end
	} {
		if _, err := newSplice(strings.NewReader("0123456789"), 10, edits); err == nil {
			t.Errorf("edits %v accepted", edits)
		}
	}
}

func FuzzRewrite(f *testing.F) {
	for _, s := range []string{`<a href="/x">`, `="/="//`, `url(/a)url(//b)`, `__webpack_require__.p = "/";`, ``} {
		f.Add(s, uint8(3))
	}
	rules := append(append(rulesFor("index.html", "/o/"), rulesFor("a.css", "/o/")...), rulesFor("a.js", "/o/")...)
	f.Fuzz(func(t *testing.T, in string, chunk uint8) {
		want := referenceRewrite(in, rules)
		if got := rewriteAll(t, in, rules, int(chunk)+1); got != want {
			t.Fatalf("chunk %d: got %q, want %q", int(chunk)+1, got, want)
		}
	})
}

func BenchmarkScanAppBundle(b *testing.B) {
	// About the size of OHIF 3.13's app bundle, one match near the end.
	body := bytes.Repeat([]byte(`function(e){return "/x"+e.p}`), 17<<20/28)
	body = append(body, `__webpack_require__.p = "/";`...)
	rules := rulesFor("a.js", "/ohif/")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		edits, err := scanEdits(bytes.NewReader(body), rules)
		if err != nil || len(edits) != 1 {
			b.Fatal(len(edits), err)
		}
	}
}

// BenchmarkServeRewritten serves a 17 MB bundle with one rewrite through the handler (the
// splice over the file), against the same file served without rules for comparison.
func BenchmarkServeRewritten(b *testing.B) {
	dir := b.TempDir()
	body := bytes.Repeat([]byte(`function(e){return "/x"+e.p}`), 17<<20/28)
	body = append(body, "\n__webpack_require__.p = \"/\";\n"...)
	for _, name := range []string{"index.html", "bundle.0123456789abcdef.js", "bundle.0123456789abcdef.bin"} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	e := echo.New()
	Register(e, Config{Dir: dir, Logger: quietLogger()})
	for _, tt := range []struct{ name, path string }{
		{"rewritten", "/ohif/bundle.0123456789abcdef.js"},
		{"as-is", "/ohif/bundle.0123456789abcdef.bin"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
				if w.status != http.StatusOK || w.n < int64(len(body)) {
					b.Fatalf("status %d, %d bytes", w.status, w.n)
				}
			}
		})
	}
}

type discardWriter struct {
	h      http.Header
	status int
	n      int64
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += int64(len(p))
	return len(p), nil
}
