package pixel

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"pacsd/dicom"
)

// TestEncapsulatedUncompressed: Encapsulated Uncompressed Explicit VR Little Endian
// (1.2.840.10008.1.2.1.98) carries each frame's native bytes in one fragment; every frame
// must decode to exactly the samples written, whatever locates the frames.
func TestEncapsulatedUncompressed(t *testing.T) {
	const ts = dicom.EncapsulatedUncompressedExplicitVRLittleEndian
	const r, c = 13, 17 // odd: 8-bit frames have odd lengths and a pad byte
	n := r * c
	// Three 16-bit frames of 12 stored bits, each different, garbage in the unused high bits
	// (which decoding must clear).
	var frames16 [][]uint16
	for k := 0; k < 3; k++ {
		f := make([]uint16, n)
		for i := range f {
			f[i] = uint16((i*37+k*1000)%4096) | uint16((i+k)%16)<<12
		}
		frames16 = append(frames16, f)
	}
	// One RGB frame, pixel-interleaved, and the same colour-by-plane.
	rgb := make([]byte, 3*n)
	for i := 0; i < n; i++ {
		rgb[3*i], rgb[3*i+1], rgb[3*i+2] = byte(i*13), byte(i*29+60), byte(255-i*7)
	}
	planar := make([]byte, 3*n)
	for i := 0; i < n; i++ {
		for k := 0; k < 3; k++ {
			planar[k*n+i] = rgb[3*i+k]
		}
	}
	mono8 := [][]byte{bytes.Repeat([]byte{7, 200, 31}, n/3+1)[:n], bytes.Repeat([]byte{99, 1}, n/2+1)[:n]}

	type want struct {
		d16 []uint16
		d8  []byte
	}
	frags16 := func(bot bool) ([][][]byte, []want) {
		var fr [][][]byte
		var w []want
		for _, f := range frames16 {
			fr = append(fr, [][]byte{le16(f)})
			m := make([]uint16, n)
			for i, v := range f {
				m[i] = v & 0x0FFF
			}
			w = append(w, want{d16: m})
		}
		return fr, w
	}
	f16, w16 := frags16(true)
	tests := []struct {
		name string
		s    synth
		want []want
	}{
		{"16-bit, 3 frames, offset table",
			synth{ts: ts, rows: r, cols: c, frames: 3, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, fragments: f16, bot: true}, w16},
		{"16-bit, 3 frames, no table",
			synth{ts: ts, rows: r, cols: c, frames: 3, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, fragments: f16}, w16},
		{"16-bit, 3 frames, extended offset table",
			synth{ts: ts, rows: r, cols: c, frames: 3, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, fragments: f16, eot: true}, w16},
		{"RGB 8-bit, 1 frame",
			synth{ts: ts, rows: r, cols: c, samples: 3, planar: 0, bitsAlloc: 8, bitsStored: 8, photometric: RGB, fragments: [][][]byte{{rgb}}},
			[]want{{d8: rgb}}},
		{"RGB 8-bit colour-by-plane",
			synth{ts: ts, rows: r, cols: c, samples: 3, planar: 1, bitsAlloc: 8, bitsStored: 8, photometric: RGB, fragments: [][][]byte{{planar}}},
			[]want{{d8: rgb}}},
		{"8-bit odd-length frames, padded",
			synth{ts: ts, rows: r, cols: c, frames: 2, bitsAlloc: 8, bitsStored: 8, photometric: Monochrome2, fragments: [][][]byte{{mono8[0]}, {mono8[1]}}, bot: true},
			[]want{{d8: mono8[0]}, {d8: mono8[1]}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.s.build(t)
			im, err := openBytes(t, b)
			if err != nil {
				t.Fatal(err)
			}
			if !Decodes(ts) {
				t.Fatal("Decodes says no")
			}
			got := allFrames(t, im)
			if len(got) != len(tt.want) {
				t.Fatalf("%d frames, want %d", len(got), len(tt.want))
			}
			for k, f := range got {
				switch {
				case tt.want[k].d16 != nil && !equalU16(f.Data16, tt.want[k].d16):
					t.Errorf("frame %d: 16-bit samples differ", k)
				case tt.want[k].d8 != nil && !bytes.Equal(f.Data8, tt.want[k].d8):
					t.Errorf("frame %d: 8-bit samples differ", k)
				}
				if f.Photometric != tt.s.photometric {
					t.Errorf("frame %d: photometric %s, want %s", k, f.Photometric, tt.s.photometric)
				}
			}
		})
	}

	t.Run("transcoded to Explicit VR Little Endian, read by DCMTK", func(t *testing.T) {
		needTool(t, "dcm2pnm")
		s := synth{ts: ts, rows: r, cols: c, frames: 3, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, fragments: f16, bot: true}
		b := s.build(t)
		hdr, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := TranscodeExplicitLE(context.Background(), &out, bytes.NewReader(b), int64(len(b)), hdr); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "le.dcm")
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		ref := dcmtkFrames(t, path, dicom.ExplicitVRLittleEndian, "-M", "-W", "+Pid", "+opn", "12")
		if len(ref) != 3 {
			t.Fatalf("DCMTK read %d frames, want 3", len(ref))
		}
		for k, p := range ref {
			want := make([]int, n)
			for i, v := range w16[k].d16 {
				want[i] = int(v)
			}
			compareSamples(t, "DCMTK's frame", p.data, want, 0)
		}
	})

	t.Run("bad", func(t *testing.T) {
		short := synth{ts: ts, rows: r, cols: c, frames: 1, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2,
			fragments: [][][]byte{{le16(frames16[0])[:2*n-10]}}}
		im, err := openBytes(t, short.build(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := im.Frame(context.Background(), 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("short fragment: %v, want ErrCorrupt", err)
		}
		// Three frames in two fragments: frames cannot be found in native bytes.
		split := synth{ts: ts, rows: r, cols: c, frames: 3, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2,
			fragments: [][][]byte{{le16(frames16[0])}, {append(le16(frames16[1]), le16(frames16[2])...)}}}
		if _, err := openBytes(t, split.build(t)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("3 frames in 2 fragments: %v, want ErrCorrupt", err)
		}
		odd422 := synth{ts: ts, rows: r, cols: c, samples: 3, planar: 0, bitsAlloc: 8, bitsStored: 8, photometric: YBRFull422,
			fragments: [][][]byte{{make([]byte, 2*n)}}}
		if _, err := openBytes(t, odd422.build(t)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("YBR_FULL_422 with odd columns: %v, want ErrCorrupt", err)
		}
	})
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestUndecodableSyntaxes: every transfer syntax pacsd accepts is either decoded or refused
// by Open with ErrUnsupported before any frame is located. A video object's single fragment
// holding a stream for many frames must not be taken for one damaged frame, and an
// object with no frames to find (a stream in any number of fragments) must not fail as
// corrupt.
func TestUndecodableSyntaxes(t *testing.T) {
	stream := bytes.Repeat([]byte{0x00, 0x00, 0x00, 0x01, 0x67, 0x64, 0x00, 0x29}, 50) // H.264-like start codes; never decoded
	for _, ts := range dicom.TransferSyntaxes() {
		if !ts.Encapsulated {
			if !Decodes(ts.UID) {
				t.Errorf("%s: native syntax not decodable", ts.Name)
			}
			continue
		}
		_, known := codecs[ts.UID]
		if Decodes(ts.UID) != known {
			t.Errorf("%s: Decodes = %v but codec table says %v", ts.Name, Decodes(ts.UID), known)
		}
		if known {
			continue
		}
		t.Run(ts.Name, func(t *testing.T) {
			for _, frags := range [][][]byte{{stream}, {stream[:100], stream[100:200], stream[200:]}} {
				s := synth{ts: ts.UID, rows: 48, cols: 64, frames: 3, samples: 3, planar: 0, bitsAlloc: 8, bitsStored: 8,
					photometric: YBRPartial420, fragments: [][][]byte{frags}}
				b := s.build(t)
				_, err := openBytes(t, b)
				if !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrUnsupported", err)
				}
				if ts.Video && !bytes.Contains([]byte(err.Error()), []byte("video")) {
					t.Errorf("error does not say it is video: %v", err)
				}
				hdr, _ := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
				var out bytes.Buffer
				err = TranscodeExplicitLE(context.Background(), &out, bytes.NewReader(b), int64(len(b)), hdr)
				if !errors.Is(err, ErrUnsupported) || out.Len() != 0 {
					t.Fatalf("TranscodeExplicitLE = %v after %d bytes, want ErrUnsupported before writing", err, out.Len())
				}
			}
		})
	}
	if Decodes("1.2.3.4") {
		t.Error("an unknown syntax is decodable")
	}
}
