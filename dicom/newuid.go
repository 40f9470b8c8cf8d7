package dicom

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// NewUID returns a new UID under 2.25 (PS3.5 B.2: a UUID as a decimal integer), from 122
// random bits as in a version 4 UUID: what pacsd gives the objects and studies it creates
// (report SRs, scheduled procedures).
func NewUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return "2.25." + new(big.Int).SetBytes(b[:]).String()
}
