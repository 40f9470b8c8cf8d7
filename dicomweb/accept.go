package dicomweb

import (
	"strconv"
	"strings"
)

// Content negotiation (PS3.18 8.7, RFC 9110 12.5.1). Clients in the field send Accept
// headers that are not always well formed: unquoted type parameters
// (type=application/dicom, which RFC 9110 would require quoted because of the '/'),
// odd spacing and case, several header lines. The parser here is deliberately lenient;
// it never fails, it drops what it cannot read.

const (
	maxAcceptRanges = 64   // ranges kept from one Accept field; the rest are ignored
	maxAcceptLen    = 8192 // bytes of the Accept field that are looked at
)

// mediaRange is one element of an Accept field.
type mediaRange struct {
	typ, sub string            // lower case; "*" is a wildcard
	params   map[string]string // parameter names lower case, values unquoted, q excluded
	q        float64           // 0..1; 0 means "not acceptable"
}

// parseAccept splits an Accept field value into media ranges. Unparsable elements are
// skipped, an invalid q is read as 1 (RFC 9110 12.4.2 leaves invalid weights undefined;
// taking the range at face value is the kinder reading), and a bare "*" is read as "*/*"
// as some old clients send it.
func parseAccept(s string) []mediaRange {
	if len(s) > maxAcceptLen {
		s = s[:maxAcceptLen]
	}
	var out []mediaRange
	for _, elem := range splitQuoted(s, ',') {
		if len(out) == maxAcceptRanges {
			break
		}
		parts := splitQuoted(elem, ';')
		mt := strings.ToLower(strings.TrimSpace(parts[0]))
		if mt == "" {
			continue
		}
		if mt == "*" {
			mt = "*/*"
		}
		typ, sub, ok := strings.Cut(mt, "/")
		typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
		if !ok || !isToken(typ) || !isToken(sub) || (typ == "*" && sub != "*") {
			continue
		}
		r := mediaRange{typ: typ, sub: sub, q: 1}
		for _, p := range parts[1:] {
			name, value, _ := strings.Cut(p, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			value = unquote(strings.TrimSpace(value))
			if name == "" {
				continue
			}
			if name == "q" {
				if q, err := strconv.ParseFloat(value, 64); err == nil && q >= 0 && q <= 1 {
					r.q = q
				}
				// RFC 9110 12.4.2: everything after the weight is an accept-ext, not a
				// media type parameter.
				break
			}
			if r.params == nil {
				r.params = map[string]string{}
			}
			r.params[name] = value
		}
		out = append(out, r)
	}
	return out
}

// splitQuoted splits s at sep, except inside double-quoted strings (where a backslash
// escapes the next byte). It always returns at least one element.
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote removes the quotes and backslash escapes of an RFC 9110 quoted-string; other
// values are returned as they are. An unterminated quote is read to the end.
func unquote(v string) string {
	if len(v) == 0 || v[0] != '"' {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			if i+1 < len(v) {
				i++
				b.WriteByte(v[i])
			}
		case '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// offer is a representation the server can produce. Its params are the only parameters
// of a range that take part in matching; any others a client sends are ignored, again
// for leniency (e.g. charset=utf-8 on application/dicom+json).
type offer struct {
	typ, sub string
	params   map[string]string
}

// quality returns the weight the client gives to o: the q of the most specific range that
// matches it (RFC 9110 12.5.1), or 0 when none does. Among equally specific ranges the
// highest q wins.
func quality(ranges []mediaRange, o offer) float64 {
	best, bestQ := -1, 0.0
	for _, r := range ranges {
		spec, ok := r.matches(o)
		if !ok {
			continue
		}
		if spec > best || (spec == best && r.q > bestQ) {
			best, bestQ = spec, r.q
		}
	}
	return bestQ
}

// matches reports whether r covers o and how specifically: the number of non-wildcard
// type parts plus matched parameters.
func (r mediaRange) matches(o offer) (specificity int, ok bool) {
	if r.typ != "*" {
		if r.typ != o.typ {
			return 0, false
		}
		specificity++
	}
	if r.sub != "*" {
		if r.sub != o.sub {
			return 0, false
		}
		specificity++
	}
	for name, want := range o.params {
		got, present := r.params[name]
		if !present {
			continue
		}
		ok, exact := paramMatches(name, got, want)
		if !ok {
			return 0, false
		}
		if exact {
			specificity++
		}
	}
	return specificity, true
}

// paramMatches compares one media type parameter; exact is false for a wildcard match,
// which is less specific than naming the value. Media types in the type parameter are
// case-insensitive (RFC 9110 8.3.1); UIDs are not, and "*" in transfer-syntax means any
// (PS3.18 8.7.3.5.2).
func paramMatches(name, got, want string) (ok, exact bool) {
	got = strings.TrimSpace(got)
	switch name {
	case "type":
		return strings.EqualFold(got, want), true
	case "transfer-syntax":
		if got == "*" {
			return true, false
		}
		return got == want, true
	default:
		return got == want, true
	}
}

// acceptField joins every Accept header line into one field value (RFC 9110 5.3).
func acceptField(lines []string) string {
	return strings.Join(lines, ",")
}
