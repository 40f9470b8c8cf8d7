// Package xorshift is the deterministic random source of pacsd's generators
// (tools/gentestdata, tools/benchweb): Marsaglia's xorshift64, cheap, the same sequence for
// the same seed on every machine, and noisy enough that pixel data does not compress away
// (benchmarks must move real bytes). Not for anything that needs real randomness.
package xorshift

import (
	"encoding/binary"
	"io"
)

// Rand is one xorshift64 sequence.
type Rand struct{ s uint64 }

// New starts the sequence of seed mixed with the stream name, so that every file gets its
// own sequence; the state is never zero.
func New(seed uint64, stream string) *Rand {
	s := seed ^ 0x9E3779B97F4A7C15
	for _, c := range []byte(stream) {
		s = (s ^ uint64(c)) * 0x100000001B3
	}
	if s == 0 {
		s = 1
	}
	return &Rand{s: s}
}

// Next returns the next 64-bit word.
func (x *Rand) Next() uint64 {
	x.s ^= x.s << 13
	x.s ^= x.s >> 7
	x.s ^= x.s << 17
	return x.s
}

// Intn returns a number in [0, n).
func (x *Rand) Intn(n int) int { return int(x.Next() % uint64(n)) }

// Noise is an endless reader of x's words, little-endian, each ANDed with mask (to keep
// 16-bit samples within Bits Stored).
func Noise(x *Rand, mask uint64) io.Reader { return &noise{x: x, mask: mask} }

type noise struct {
	x    *Rand
	mask uint64
	left []byte // tail of a word not yet returned
}

func (r *noise) Read(p []byte) (int, error) {
	n := 0
	for len(r.left) > 0 && n < len(p) {
		p[n] = r.left[0]
		r.left = r.left[1:]
		n++
	}
	for ; n+8 <= len(p); n += 8 {
		binary.LittleEndian.PutUint64(p[n:], r.x.Next()&r.mask)
	}
	if n < len(p) {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.x.Next()&r.mask)
		k := copy(p[n:], w[:])
		r.left = append(r.left[:0], w[k:]...)
		n += k
	}
	return n, nil
}
