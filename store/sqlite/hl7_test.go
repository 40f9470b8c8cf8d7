package sqlite_test

import (
	"testing"

	"pacsd/hl7/hl7test"
)

// TestHL7Contract: the HIS link's records (hl7test).
func TestHL7Contract(t *testing.T) {
	hl7test.Run(t, func(t *testing.T) hl7test.DB {
		x := openIndex(t)
		return hl7test.DB{HL7: x.HL7(), Reports: x.Reading(), Index: x}
	})
}
