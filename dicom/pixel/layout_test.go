package pixel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"pacsd/dicom"
)

// locate runs LocateFrames on a whole Part-10 object, as dicomweb does.
func locate(t testing.TB, b []byte) (*Layout, *dicom.Header, error) {
	t.Helper()
	hdr, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := dicom.LookupTransferSyntax(hdr.TransferSyntax)
	l, end, err := LocateFrames(bytes.NewReader(b), hdr.DatasetOffset+hdr.PixelDataOffset, int64(len(b)), hdr.Dataset, ts)
	if err == nil && end != int64(len(b)) {
		t.Fatalf("Pixel Data ends at %d, the object at %d", end, len(b))
	}
	return l, hdr, err
}

// layoutFrames reads every frame a Layout locates.
func layoutFrames(t testing.TB, l *Layout, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for n := 1; n <= l.Frames; n++ {
		frs, size, err := l.Frame(n)
		if err != nil {
			t.Fatal(err)
		}
		var f []byte
		for _, fr := range frs {
			f = append(f, b[fr.Offset:fr.Offset+fr.Length]...)
		}
		if int64(len(f)) != size {
			t.Fatalf("frame %d: %d bytes, Frame says %d", n, len(f), size)
		}
		out = append(out, f)
	}
	return out
}

// TestLocateFrames: the one frame layout (PS3.5 A.4) as dicomweb uses it (every fragment
// item walked, tables checked against them) and as Open uses it (a fitting table trusted,
// items walked per frame) finds the same frames: by the Extended or Basic Offset Table,
// one fragment per frame, or codestream start markers with an empty (zero-length) table.
func TestLocateFrames(t *testing.T) {
	jpeg := func(k int) []byte {
		return append([]byte{0xFF, 0xD8, 0xFF, 0xDB, byte(k)}, bytes.Repeat([]byte{byte(k)}, 9+2*k)...)
	}
	j2k := func(k int) []byte {
		return append([]byte{0xFF, 0x4F, 0xFF, 0x51, byte(k)}, bytes.Repeat([]byte{byte(k)}, 7+2*k)...)
	}
	jp2 := func(k int) []byte {
		return append([]byte{0, 0, 0, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A}, bytes.Repeat([]byte{byte(k)}, 6)...)
	}
	split := func(f []byte, parts int) [][]byte {
		step := (len(f) + parts - 1) / parts
		step += step % 2
		var out [][]byte
		for i := 0; i < len(f); i += step {
			out = append(out, f[i:min(i+step, len(f))])
		}
		return out
	}
	frames := func(gen func(int) []byte, n, parts int) [][][]byte {
		var out [][][]byte
		for k := 0; k < n; k++ {
			out = append(out, split(gen(k), parts))
		}
		return out
	}
	base := func(ts string, frags [][][]byte, bot, eot bool) synth {
		return synth{ts: ts, rows: 4, cols: 4, frames: len(frags), bitsAlloc: 8, bitsStored: 8, photometric: Monochrome2,
			fragments: frags, bot: bot, eot: eot}
	}
	cases := []struct {
		name string
		s    synth
	}{
		{"jpeg one fragment per frame, empty table", base(dicom.JPEGBaseline8Bit, frames(jpeg, 3, 1), false, false)},
		{"jpeg fragments split across frames, basic table", base(dicom.JPEGBaseline8Bit, frames(jpeg, 3, 3), true, false)},
		{"jpeg fragments split across frames, empty table", base(dicom.JPEGBaseline8Bit, frames(jpeg, 3, 3), false, false)},
		{"jpeg extended table", base(dicom.JPEGBaseline8Bit, frames(jpeg, 3, 1), false, true)},
		{"jpeg-ls markers", base(dicom.JPEGLSLossless, frames(jpeg, 4, 2), false, false)},
		{"jpeg 2000 markers", base(dicom.JPEG2000Lossless, frames(j2k, 3, 2), false, false)},
		{"jp2 boxes", base(dicom.JPEG2000, frames(jp2, 2, 2), false, false)},
		{"htj2k markers", base(dicom.HTJ2KLossless, frames(j2k, 3, 3), false, false)},
		{"rle basic table, two fragments per frame", base(dicom.RLELossless, frames(jpeg, 3, 2), true, false)},
		{"single frame in several fragments", base(dicom.JPEGBaseline8Bit, [][][]byte{split(jpeg(1), 4)}, false, false)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want [][]byte
			for _, fr := range tc.s.fragments {
				var f []byte
				for _, p := range fr {
					f = append(f, p...)
					if len(p)%2 == 1 {
						f = append(f, 0)
					}
				}
				want = append(want, f)
			}
			b := tc.s.build(t)
			l, _, err := locate(t, b)
			if err != nil {
				t.Fatal(err)
			}
			if l.Problem != "" || l.Frames != len(want) || !l.Encapsulated {
				t.Fatalf("layout: %d frames, problem %q", l.Frames, l.Problem)
			}
			got := layoutFrames(t, l, b)
			im, err := openBytes(t, b)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				raw, err := im.RawFrame(context.Background(), i)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got[i], want[i]) || !bytes.Equal(raw, want[i]) {
					t.Fatalf("frame %d: LocateFrames %x, Open %x, want %x", i, got[i], raw, want[i])
				}
			}
		})
	}

	t.Run("basic table not on item starts", func(t *testing.T) {
		// A table entry inside a fragment cannot be right: the walked items and the start
		// markers say where the frames are.
		b := base(dicom.JPEGBaseline8Bit, frames(jpeg, 3, 2), true, false).build(t)
		hdr, _ := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
		entry := hdr.DatasetOffset + hdr.PixelDataOffset + 12 + 8 + 4
		binary.LittleEndian.PutUint32(b[entry:], binary.LittleEndian.Uint32(b[entry:])+2)
		l, _, err := locate(t, b)
		if err != nil || l.Frames != 3 {
			t.Fatalf("%v, %d frames (%s)", err, l.Frames, l.Problem)
		}
		if got := layoutFrames(t, l, b); !bytes.Equal(got[1][:len(jpeg(1))], jpeg(1)) {
			t.Fatalf("frame 2 = %x", got[1])
		}
	})

	// Frames that cannot be told apart are a Problem for dicomweb (the object is served
	// whole) and an error for Open, ErrUnsupported when the encoding is the reason.
	problems := []struct {
		name, problem string
		s             synth
		openErr       error
	}{
		{"video", "video", base(dicom.MPEG2MPML, [][][]byte{{jpeg(1)}, {jpeg(2)}, {jpeg(3)}}, false, false), ErrUnsupported},
		{"rle without table", "frame starts", base(dicom.RLELossless, frames(jpeg, 3, 2), false, false), ErrCorrupt},
		{"too few start markers", "found 2 frame starts for 3 frames", base(dicom.JPEGBaseline8Bit, [][][]byte{{jpeg(1)}, {jpeg(2), jpeg(3)[2:]}, {{1, 2}}}, false, false), ErrCorrupt},
		{"first fragment starts no codestream", "frame starts", base(dicom.JPEGBaseline8Bit, [][][]byte{{{0, 1}, jpeg(1)}, {jpeg(2), {3, 4}}, {{5, 6}}}, false, false), ErrCorrupt},
		{"part 2 components", "Part 2", base(dicom.JPEG2000MC, [][][]byte{split(j2k(1), 2), {{1, 2}}}, false, false), ErrUnsupported},
	}
	for _, tc := range problems {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.s.build(t)
			l, _, err := locate(t, b)
			if err != nil {
				t.Fatal(err)
			}
			if l.Frames != 0 || !strings.Contains(l.Problem, tc.problem) {
				t.Fatalf("%d frames, problem %q, want one mentioning %q", l.Frames, l.Problem, tc.problem)
			}
			if _, _, err := l.Frame(1); !errors.Is(err, ErrNoFrames) {
				t.Fatalf("Frame(1) = %v, want ErrNoFrames", err)
			}
			if _, err := openBytes(t, b); !errors.Is(err, tc.openErr) {
				t.Fatalf("Open = %v, want %v", err, tc.openErr)
			}
		})
	}

	t.Run("damage", func(t *testing.T) {
		good := base(dicom.JPEGBaseline8Bit, frames(jpeg, 3, 2), true, false).build(t)
		hdr, _ := dicom.ReadPart10(bytes.NewReader(good), dicom.ReadOptions{})
		value := int(hdr.DatasetOffset+hdr.PixelDataOffset) + 12
		for name, b := range map[string][]byte{
			"truncated in a fragment":     good[:len(good)-20],
			"truncated in an item header": good[:len(good)-4],
			"no delimiter":                good[:len(good)-8],
			"not an item":                 append(append(append([]byte(nil), good[:value+8+12]...), 0x08, 0x00, 0x10, 0x00), good[value+8+12+4:]...),
			"odd table":                   append(append(append([]byte(nil), good[:value+4]...), 13, 0, 0, 0), good[value+8:]...),
		} {
			if _, _, err := locate(t, b); !errors.Is(err, dicom.ErrMalformed) {
				t.Errorf("%s: LocateFrames = %v, want ErrMalformed", name, err)
			}
		}
	})
}

// FuzzLocateFrames: LocateFrames on any object gives an error or frames that lie inside
// it, never a panic; Open agrees on the number of frames when both succeed.
func FuzzLocateFrames(f *testing.F) {
	jpeg := []byte{0xFF, 0xD8, 1, 2, 3, 4}
	for _, s := range []synth{
		{ts: dicom.JPEGBaseline8Bit, rows: 2, cols: 2, frames: 2, bitsAlloc: 8, bitsStored: 8, photometric: Monochrome2,
			fragments: [][][]byte{{jpeg[:2], jpeg[2:]}, {jpeg}}},
		{ts: dicom.JPEGBaseline8Bit, rows: 2, cols: 2, frames: 2, bitsAlloc: 8, bitsStored: 8, photometric: Monochrome2,
			fragments: [][][]byte{{jpeg[:2], jpeg[2:]}, {jpeg}}, bot: true},
		{ts: dicom.RLELossless, rows: 2, cols: 2, frames: 2, bitsAlloc: 8, bitsStored: 8, photometric: Monochrome2,
			fragments: [][][]byte{{{1, 2}}, {{3, 4}}}, eot: true},
		{rows: 2, cols: 2, frames: 2, bitsAlloc: 8, bitsStored: 8, photometric: Monochrome2, native: make([]byte, 8)},
	} {
		f.Add(s.build(f))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		limitFrames(t)
		hdr, err := dicom.ReadPart10(bytes.NewReader(b), dicom.ReadOptions{})
		if err != nil || hdr.PixelDataOffset < 0 {
			return
		}
		ts, ok := dicom.LookupTransferSyntax(hdr.TransferSyntax)
		if !ok || ts.Deflated {
			return
		}
		l, end, err := LocateFrames(bytes.NewReader(b), hdr.DatasetOffset+hdr.PixelDataOffset, int64(len(b)), hdr.Dataset, ts)
		if err != nil {
			return
		}
		if end > int64(len(b)) {
			t.Fatalf("Pixel Data ends at %d of %d bytes", end, len(b))
		}
		for n := 1; n <= l.Frames; n++ {
			frs, _, err := l.Frame(n)
			if err != nil {
				t.Fatalf("frame %d of %d: %v", n, l.Frames, err)
			}
			for _, fr := range frs {
				if fr.Offset < 0 || fr.Length < 0 || fr.Offset+fr.Length > int64(len(b)) {
					t.Fatalf("frame %d fragment %+v outside %d bytes", n, fr, len(b))
				}
			}
		}
		if im, err := Open(bytes.NewReader(b), int64(len(b)), hdr); err == nil && l.Encapsulated && l.Frames > 0 && im.NumFrames() != l.Frames {
			t.Fatalf("Open finds %d frames, LocateFrames %d", im.NumFrames(), l.Frames)
		}
	})
}
