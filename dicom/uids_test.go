package dicom

import "testing"

// TestTransferSyntaxTable checks the table's invariants: the order the SCP and Part-10
// writing rely on, well-formed unique UIDs, and flags that agree with each other.
func TestTransferSyntaxTable(t *testing.T) {
	all := TransferSyntaxes()
	if all[0].UID != ExplicitVRLittleEndian || all[1].UID != ImplicitVRLittleEndian {
		t.Fatalf("first two syntaxes are %s, %s; want Explicit then Implicit VR Little Endian", all[0].Name, all[1].Name)
	}
	seen := map[string]bool{}
	for _, ts := range all {
		switch {
		case !ValidUID(ts.UID, UIDStrict):
			t.Errorf("%q: malformed UID", ts.UID)
		case seen[ts.UID]:
			t.Errorf("%s listed twice", ts.UID)
		case ts.Name == "":
			t.Errorf("%s has no name", ts.UID)
		case ts.Encapsulated && (!ts.ExplicitVR || ts.BigEndian || ts.Deflated):
			// PS3.5 A.4: encapsulated syntaxes encode the data set in Explicit VR LE.
			t.Errorf("%s: encapsulated but not plain Explicit VR Little Endian", ts.Name)
		case ts.Video && (!ts.Encapsulated || !ts.Lossy):
			t.Errorf("%s: video syntaxes are encapsulated and lossy", ts.Name)
		}
		seen[ts.UID] = true
		if got, ok := LookupTransferSyntax(ts.UID); !ok || got != ts {
			t.Errorf("LookupTransferSyntax(%s) = %+v, %v", ts.UID, got, ok)
		}
	}
	if _, ok := LookupTransferSyntax("1.2.840.10008.1.2.4.94"); ok {
		t.Error("JPIP Referenced (pixels on a JPIP server) is not accepted for storage")
	}
}

// TestNewTransferSyntaxes: the syntaxes of PS3.6 Table A-1 added for video, HTJ2K, JPEG 2000
// Part 2, JPEG XL and Encapsulated Uncompressed, with the flags the pipeline acts on.
func TestNewTransferSyntaxes(t *testing.T) {
	tests := []struct {
		uid          string
		name         string
		lossy, video bool
	}{
		{"1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian", false, false},
		{"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)", false, false},
		{"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", true, false},
		{"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", true, true},
		{"1.2.840.10008.1.2.4.100.1", "Fragmentable MPEG2 Main Profile / Main Level", true, true},
		{"1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", true, true},
		{"1.2.840.10008.1.2.4.101.1", "Fragmentable MPEG2 Main Profile / High Level", true, true},
		{"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", true, true},
		{"1.2.840.10008.1.2.4.102.1", "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.1", true, true},
		{"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", true, true},
		{"1.2.840.10008.1.2.4.103.1", "Fragmentable MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", true, true},
		{"1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", true, true},
		{"1.2.840.10008.1.2.4.104.1", "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", true, true},
		{"1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", true, true},
		{"1.2.840.10008.1.2.4.105.1", "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", true, true},
		{"1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", true, true},
		{"1.2.840.10008.1.2.4.106.1", "Fragmentable MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", true, true},
		{"1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", true, true},
		{"1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", true, true},
		{"1.2.840.10008.1.2.4.110", "JPEG XL Lossless", false, false},
		{"1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", true, false},
		{"1.2.840.10008.1.2.4.112", "JPEG XL", true, false},
		{"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", false, false},
		{"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)", false, false},
		{"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", true, false},
		{"1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.uid, func(t *testing.T) {
			ts, ok := LookupTransferSyntax(tt.uid)
			if !ok {
				t.Fatal("not accepted")
			}
			if ts.Name != tt.name || ts.Lossy != tt.lossy || ts.Video != tt.video || !ts.Encapsulated || !ts.ExplicitVR {
				t.Errorf("got %+v", ts)
			}
		})
	}
}
