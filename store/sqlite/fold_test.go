package sqlite

import (
	"strings"
	"sync"
	"testing"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// TestFold: fold (ASCII shortcut, pooled chains) gives what a fresh accent-stripping chain
// gives, for ASCII, accented Latin, ideographs (a compatibility ideograph included, which
// NFD changes), kana and Hangul, from many goroutines at once.
func TestFold(t *testing.T) {
	want := func(s string) string {
		out, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
		if err != nil {
			out = s
		}
		return strings.ToLower(out)
	}
	cases := []string{"", "ZHANG^Wei", "José^García", "ÅNGSTRÖM", "张^伟", "\uF900", "やまだ^たろう", "홍^길동", "Müller=ミュラー",
		strings.Repeat("é", 3000)}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				for _, s := range cases {
					if got, w := fold(s), want(s); got != w {
						t.Errorf("fold(%.20q) = %.20q, want %.20q", s, got, w)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if fold("\uF900") == "\uF900" {
		t.Error("a compatibility ideograph is not normalized")
	}
}
