package main

import (
	"crypto/sha256"
	"math/big"
)

// uid derives a stable UID from a name: "2.25." followed by the decimal value of a 128-bit
// UUID (PS3.5 B.2: UIDs under the 2.25 root are derived from UUIDs). The UUID is the first
// 16 bytes of SHA-256(name) with the RFC 9562 version 8 (custom) and variant bits set, so it
// is a well-formed UUID and the same name always gives the same UID. The longest result is
// 5+39 characters, well inside the 64 allowed by PS3.5 9.1; big.Int never prints leading
// zeros, which PS3.5 9.1 forbids in a component.
func uid(name string) string {
	h := sha256.Sum256([]byte("pacsd-testdata/" + name))
	b := h[:16]
	b[6] = b[6]&0x0F | 0x80 // version 8
	b[8] = b[8]&0x3F | 0x80 // variant 10
	return "2.25." + new(big.Int).SetBytes(b).String()
}
