package ohif

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// OHIF's published dist is built for the public path "/": index.html links "/app.bundle….js",
// the webpack runtime of each bundle (the app and its workers) loads further chunks from
// `__webpack_require__.p = "/"`, CSS names fonts as url(/…), and the web manifest names its
// icons "/assets/…". Served under a mount such as /ohif/, every one of those absolute paths has
// to gain the mount, or the browser asks pacsd's root for them. The app's own PUBLIC_URL
// (window.PUBLIC_URL, set by an inline script in index.html) is one of the "/…" attribute-like
// strings and is rewritten by the same rule.
//
// Rewriting is done while serving, without copying the files: each file that can hold such
// a path is scanned once (on first request) for the byte offsets of the matches, and is then
// served as a splice of file sections and replacement strings, so memory stays small and
// Range requests keep working on the 17 MB app bundle.

// rule replaces old with new wherever old is followed by a byte other than '/': a path-absolute
// reference ("/x") is rewritten, a network-path reference ("//host/x") is not.
type rule struct {
	old, new string
}

// rulesFor returns the rules for a dist file, by name; nil means the file is served as is.
// base is the public path of the mount, with leading and trailing '/' ("/ohif/").
func rulesFor(name, base string) []rule {
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".html":
		// src="/…", href="/…", content="/…" (msapplication tiles) and the inline
		// window.PUBLIC_URL="/" all have the shape ="/.
		return []rule{{old: `="/`, new: `="` + base}}
	case ".js", ".mjs":
		return []rule{{old: `__webpack_require__.p = "/"`, new: `__webpack_require__.p = "` + base + `"`}}
	case ".css":
		return []rule{{old: `url(/`, new: `url(` + base}}
	case ".json", ".webapp":
		// Web app manifests: "src": "/assets/…", "start_url": "/".
		return []rule{{old: `": "/`, new: `": "` + base}, {old: `":"/`, new: `":"` + base}}
	case ".xml":
		return []rule{{old: `src="/`, new: `src="` + base}}
	}
	return nil
}

// edit is one match: len(rule.old) bytes at off are replaced by rule.new.
type edit struct {
	off  int64
	rule *rule
}

// scanChunk is how much of a file is read at a time while looking for matches.
const scanChunk = 64 << 10

// scanEdits finds every match of rules in r, in file order. Matches do not overlap: at a
// given offset the first rule that matches wins and scanning resumes after it.
func scanEdits(r io.Reader, rules []rule) ([]edit, error) {
	return scanEditsChunk(r, rules, scanChunk)
}

// scanEditsChunk is scanEdits reading chunk bytes at a time (tests use small chunks to put
// matches across chunk boundaries).
func scanEditsChunk(r io.Reader, rules []rule, chunk int) ([]edit, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	maxOld := 0
	for _, ru := range rules {
		if len(ru.old) == 0 {
			return nil, errors.New("empty rewrite pattern")
		}
		maxOld = max(maxOld, len(ru.old))
	}
	// keep carries the bytes a match starting near the end of one chunk still needs
	// (the pattern's tail and the byte after it) into the next.
	keep := maxOld
	buf := make([]byte, 0, max(chunk, 1)+keep)
	var (
		edits []edit
		base  int64 // file offset of buf[0]
		skip  int   // bytes at the start of buf already covered by a match
		eof   bool
	)
	for !eof {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			eof = true
		case err != nil:
			return nil, err
		}
		// Positions below limit are decided now: every byte a match there needs is in buf.
		limit := len(buf)
		if !eof {
			limit = len(buf) - keep
		}
		for i := skip; i < limit; {
			at, ru := nextMatch(buf, i, limit, rules, eof)
			if ru == nil {
				break
			}
			edits = append(edits, edit{off: base + int64(at), rule: ru})
			i = at + len(ru.old)
			skip = i
		}
		if skip < limit {
			skip = limit
		}
		if eof {
			break
		}
		// Slide the undecided tail to the front.
		tail := copy(buf, buf[limit:])
		buf = buf[:tail]
		base += int64(limit)
		skip -= limit
	}
	return edits, nil
}

// nextMatch returns the first match in buf starting at or after i and before limit, and its
// rule; nil when there is none. At the end of the file a pattern may be the last bytes;
// elsewhere the byte after it must be in buf and not be '/'.
func nextMatch(buf []byte, i, limit int, rules []rule, eof bool) (int, *rule) {
	best, bestRule := -1, (*rule)(nil)
	for k := range rules {
		old := []byte(rules[k].old)
		for from := i; from < limit; {
			j := bytes.Index(buf[from:], old)
			if j < 0 {
				break
			}
			at := from + j
			if at >= limit || (best >= 0 && at >= best) {
				break
			}
			end := at + len(old)
			if (end < len(buf) && buf[end] == '/') || (end == len(buf) && !eof) {
				from = at + 1
				continue
			}
			best, bestRule = at, &rules[k]
			break
		}
	}
	return best, bestRule
}

// segment is a piece of the rewritten output: lit when non-nil, else n bytes of the file
// from src.
type segment struct {
	out int64 // offset in the output
	src int64
	n   int64
	lit []byte
}

// splice is the rewritten view of a file of size size with edits applied; it implements
// io.ReaderAt over the output.
type splice struct {
	file io.ReaderAt
	segs []segment
	size int64 // of the output
}

func newSplice(file io.ReaderAt, size int64, edits []edit) (*splice, error) {
	if !sort.SliceIsSorted(edits, func(i, j int) bool { return edits[i].off < edits[j].off }) {
		return nil, errors.New("rewrite edits out of order")
	}
	s := &splice{file: file}
	var in, out int64
	for _, e := range edits {
		if e.off < in || e.off+int64(len(e.rule.old)) > size {
			return nil, fmt.Errorf("rewrite edit at %d outside the file", e.off)
		}
		if n := e.off - in; n > 0 {
			s.segs = append(s.segs, segment{out: out, src: in, n: n})
			out += n
		}
		lit := []byte(e.rule.new)
		s.segs = append(s.segs, segment{out: out, n: int64(len(lit)), lit: lit})
		out += int64(len(lit))
		in = e.off + int64(len(e.rule.old))
	}
	if n := size - in; n > 0 {
		s.segs = append(s.segs, segment{out: out, src: in, n: n})
		out += n
	}
	s.size = out
	return s, nil
}

// ReadAt implements io.ReaderAt.
func (s *splice) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	// First segment that ends after off.
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].out+s.segs[i].n > off })
	total := 0
	for ; i < len(s.segs) && len(p) > 0; i++ {
		sg := s.segs[i]
		within := off - sg.out
		want := min(int64(len(p)), sg.n-within)
		var n int
		if sg.lit != nil {
			n = copy(p[:want], sg.lit[within:])
		} else {
			var err error
			n, err = s.file.ReadAt(p[:want], sg.src+within)
			if err != nil && !(errors.Is(err, io.EOF) && int64(n) == want) {
				total += n
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF // the file shrank under us
				}
				return total, err
			}
		}
		total += n
		off += int64(n)
		p = p[n:]
	}
	if len(p) > 0 {
		return total, io.EOF
	}
	return total, nil
}
