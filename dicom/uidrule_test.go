package dicom

import (
	"strings"
	"testing"
)

// TestCheckUID: PS3.5 9.1 as written, and the one leniency pacsd allows on purpose
// (leading zeros, which real modalities send).
func TestCheckUID(t *testing.T) {
	for _, tc := range []struct {
		uid           string
		strict, zeros bool
	}{
		{"1.2.840.10008.5.1.4.1.1.7", true, true},
		{"2.25.178146563190893376187392471620383245081", true, true},
		{"1", true, true},
		{"0", true, true},
		{"1.0.3", true, true},
		{"1.2.03.4", false, true}, // leading zero: against PS3.5 9.1, but sent by real devices
		{"01.2", false, true},
		{"1.00", false, true},
		{"1." + strings.Repeat("2", 62), true, true},
		{"1." + strings.Repeat("2", 63), false, false},
		{"", false, false}, {".", false, false}, {"..", false, false}, {".1", false, false},
		{"1.", false, false}, {"1..2", false, false}, {"1.2..", false, false},
		{"1.2a", false, false}, {"1.2 ", false, false}, {"1/2", false, false}, {"1.2\x00", false, false},
		{"-1.2", false, false}, {"1.+2", false, false},
	} {
		if got := ValidUID(tc.uid, UIDStrict); got != tc.strict {
			t.Errorf("ValidUID(%q, UIDStrict) = %v, want %v", tc.uid, got, tc.strict)
		}
		if got := ValidUID(tc.uid, UIDLeadingZeros); got != tc.zeros {
			t.Errorf("ValidUID(%q, UIDLeadingZeros) = %v, want %v", tc.uid, got, tc.zeros)
		}
		if err := CheckUID(tc.uid, UIDLeadingZeros); (err == nil) != tc.zeros || (err != nil && err.Error() == "") {
			t.Errorf("CheckUID(%q, UIDLeadingZeros) = %v", tc.uid, err)
		}
	}
}

func TestTrimUID(t *testing.T) {
	for in, want := range map[string]string{"1.2": "1.2", "1.2\x00": "1.2", "1.2 ": "1.2", "1.2\x00 ": "1.2", "": ""} {
		if got := TrimUID(in); got != want {
			t.Errorf("TrimUID(%q) = %q, want %q", in, got, want)
		}
	}
}
