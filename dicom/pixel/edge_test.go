package pixel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"pacsd/dicom"
)

// ramp16 returns n values from lo stepping by step, wrapping within [lo, hi].
func ramp(n, lo, hi, step int) []int {
	out := make([]int, n)
	v := lo
	for i := range out {
		out[i] = v
		v += step
		if v > hi {
			v = lo + (v - hi - 1)
		}
	}
	return out
}

func u16s(v []int, f func(int) uint16) []uint16 {
	out := make([]uint16, len(v))
	for i, x := range v {
		out[i] = f(x)
	}
	return out
}

// TestEdgeCases builds small objects for the cases township devices get wrong and checks
// the decoded samples against what was written and the rendering against DCMTK's.
func TestEdgeCases(t *testing.T) {
	needTool(t, "dcm2pnm")
	const r, c = 16, 20
	n := r * c
	signed := ramp(n, -2000, 3000, 37)
	u12 := ramp(n, 0, 4095, 53)
	u16 := ramp(n, 0, 65535, 811)
	garbage := func(i int) uint16 { return uint16((i*7919)%16) << 12 }

	// RGB test pattern, pixel-interleaved.
	rgb := make([]int, 3*n)
	for i := 0; i < n; i++ {
		rgb[3*i], rgb[3*i+1], rgb[3*i+2] = (i*13)%256, (i*29+60)%256, 255-(i*7)%256
	}
	planar := make([]byte, 3*n)
	for i := 0; i < n; i++ {
		for k := 0; k < 3; k++ {
			planar[k*n+i] = byte(rgb[3*i+k])
		}
	}
	interleaved := make([]byte, 3*n)
	for i, v := range rgb {
		interleaved[i] = byte(v)
	}
	// YBR_FULL_422: Y1 Y2 Cb Cr per pixel pair; expanded, each pixel of a pair shares Cb Cr.
	var ybr422 []byte
	var ybr422Full []int
	for p := 0; p < n; p += 2 {
		y1, y2, cb, cr := byte(p%250), byte((p*3)%250), byte(90+p%40), byte(160-p%50)
		ybr422 = append(ybr422, y1, y2, cb, cr)
		ybr422Full = append(ybr422Full, int(y1), int(cb), int(cr), int(y2), int(cb), int(cr))
	}
	idx8 := ramp(n, 0, 255, 3)
	pal8 := &synthPalette{entries: 256, first: 0, bits: 8}
	pal16 := &synthPalette{entries: 200, first: 10, bits: 16}
	for i := 0; i < 256; i++ {
		pal8.r, pal8.g, pal8.b = append(pal8.r, uint16(i)), append(pal8.g, uint16(255-i)), append(pal8.b, uint16((i*5)%256))
	}
	for i := 0; i < 200; i++ {
		pal16.r = append(pal16.r, uint16(i*300))
		pal16.g = append(pal16.g, uint16(65535-i*250))
		pal16.b = append(pal16.b, uint16((i*977)%65536))
	}
	modLUT := &LUT{FirstMapped: 0, Bits: 16}
	for i := 0; i < 4096; i++ {
		modLUT.Data = append(modLUT.Data, uint16(i*i/256)) // nonlinear
	}
	voiLUT := &LUT{FirstMapped: 100, Bits: 12}
	for i := 0; i < 3000; i++ {
		voiLUT.Data = append(voiLUT.Data, uint16(4095*i/2999))
	}
	oddFrames := make([]byte, 3*9)
	for i := range oddFrames {
		oddFrames[i] = byte(i * 9)
	}

	cases := []struct {
		name  string
		s     synth
		want  []int    // decoded samples of frame 0 (all frames for odd_frames), nil: not checked
		dcmtk []string // dcm2pnm options selecting the same display; nil: no render comparison
		opts  RenderOptions
	}{
		{
			name: "signed16_negative_intercept",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 16, prep: 1, photometric: Monochrome2,
				rescale: [2]string{"1", "-1024"}, window: "40 400",
				native: le16(u16s(signed, func(v int) uint16 { return uint16(int16(v)) }))},
			want: signed, dcmtk: []string{"+Wi", "1"},
		},
		{
			name: "signed16_slope_window_request",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 16, prep: 1, photometric: Monochrome2,
				rescale: [2]string{"0.5", "-1024"},
				native:  le16(u16s(signed, func(v int) uint16 { return uint16(int16(v)) }))},
			want: signed, dcmtk: []string{"+Ww", "-1000", "900"}, opts: RenderOptions{Window: &Window{Center: -1000, Width: 900}},
		},
		{
			name: "stored12_garbage_high_bits",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, window: "2048 4096",
				native: le16(u16s(u12, func(v int) uint16 { return uint16(v) }))},
			want: u12, dcmtk: []string{"+Wi", "1"},
		},
		{
			name: "stored12_highbit15",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 12, highBit: 15, photometric: Monochrome2, window: "1000 3000",
				native: le16(u16s(u12, func(v int) uint16 { return uint16(v)<<4 | uint16(v%16) }))},
			want: u12, dcmtk: []string{"+Wi", "1"},
		},
		{
			name: "signed12_in16",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 12, prep: 1, photometric: Monochrome2, window: "0 3000",
				native: le16(u16s(ramp(n, -2048, 2047, 41), func(v int) uint16 { return uint16(v)&0xFFF | 0x5000 }))},
			want: ramp(n, -2048, 2047, 41), dcmtk: []string{"+Wi", "1"},
		},
		{
			name: "mono1_window",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 16, photometric: Monochrome1, window: "30000 40000",
				native: le16(u16s(u16, func(v int) uint16 { return uint16(v) }))},
			want: u16, dcmtk: []string{"+Wi", "1"},
		},
		{
			name: "mono1_no_window",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome1,
				native: le16(u16s(u12, func(v int) uint16 { return uint16(v) | garbage(v) }))},
			want: u12, dcmtk: []string{"+Wm"},
		},
		{
			name: "mono1_8bit_no_window",
			s:    synth{rows: r, cols: c, bitsAlloc: 8, bitsStored: 8, photometric: Monochrome1, native: bytesOf(ramp(n, 0, 255, 7))},
			want: ramp(n, 0, 255, 7), dcmtk: []string{"-W"},
		},
		{
			name: "rgb_planar1",
			s:    synth{rows: r, cols: c, samples: 3, bitsAlloc: 8, bitsStored: 8, photometric: RGB, planar: 1, native: planar},
			want: rgb, dcmtk: []string{},
		},
		{
			name: "rgb_planar0",
			s:    synth{rows: r, cols: c, samples: 3, bitsAlloc: 8, bitsStored: 8, photometric: RGB, native: interleaved},
			want: rgb, dcmtk: []string{},
		},
		{
			name: "ybr_full",
			s:    synth{rows: r, cols: c, samples: 3, bitsAlloc: 8, bitsStored: 8, photometric: YBRFull, native: interleaved},
			want: rgb, dcmtk: []string{},
		},
		{
			name: "ybr_full_422",
			s:    synth{rows: r, cols: c, samples: 3, bitsAlloc: 8, bitsStored: 8, photometric: YBRFull422, native: ybr422},
			want: ybr422Full, dcmtk: []string{},
		},
		{
			name: "palette_8bit_entries",
			s: synth{rows: r, cols: c, bitsAlloc: 8, bitsStored: 8, photometric: PaletteColor, palette: pal8,
				native: bytesOf(idx8)},
			want: idx8, dcmtk: []string{},
		},
		{
			name: "palette_16bit_entries_first_mapped_10",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 8, photometric: PaletteColor, palette: pal16,
				native: le16(u16s(ramp(n, 0, 255, 1), func(v int) uint16 { return uint16(v) }))},
			want: ramp(n, 0, 255, 1), dcmtk: []string{},
		},
		{
			name: "modality_lut_sequence",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, modalityLUT: modLUT, window: "30000 60000",
				native: le16(u16s(u12, func(v int) uint16 { return uint16(v) }))},
			want: u12, dcmtk: []string{"+Wi", "1"},
		},
		{
			name: "voi_lut_sequence",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, voiLUT: voiLUT,
				native: le16(u16s(u12, func(v int) uint16 { return uint16(v) }))},
			want: u12, dcmtk: []string{"+Wl", "1"},
		},
		{
			name: "sigmoid",
			s: synth{rows: r, cols: c, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, window: "2000 1500", voiFunction: "SIGMOID",
				native: le16(u16s(u12, func(v int) uint16 { return uint16(v) }))},
			want: u12, dcmtk: []string{"+Wi", "1"},
		},
		{
			name: "big_endian_16",
			s: synth{ts: dicom.ExplicitVRBigEndian, rows: r, cols: c, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, window: "2048 4096",
				native: le16(u16s(u12, func(v int) uint16 { return uint16(v) }))},
			want: u12, dcmtk: []string{"+Wi", "1"},
		},
		{
			name: "implicit_8bit_odd_frames",
			s: synth{ts: dicom.ImplicitVRLittleEndian, rows: 3, cols: 3, frames: 3, bitsAlloc: 8, bitsStored: 8,
				photometric: Monochrome2, native: oddFrames},
			want: bytesToInts(oddFrames), dcmtk: []string{"-W"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := tc.s.build(t)
			im, err := openBytes(t, obj)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			frames := allFrames(t, im)
			if tc.want != nil {
				var got []int
				for _, f := range frames {
					for k := 0; k < f.Len(); k++ {
						got = append(got, f.Sample(k))
					}
				}
				if len(frames) == 1 || len(got) != len(tc.want) {
					got = got[:min(len(got), frames[0].Len())]
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%d samples, want %d", len(got), len(tc.want))
				}
				for k := range got {
					if got[k] != tc.want[k] {
						t.Fatalf("sample %d = %d, want %d", k, got[k], tc.want[k])
					}
				}
			}
			if tc.dcmtk == nil {
				return
			}
			path := filepath.Join(t.TempDir(), tc.name+".dcm")
			if err := os.WriteFile(path, obj, 0o644); err != nil {
				t.Fatal(err)
			}
			ref := dcmtkFrames(t, path, tc.s.ts, append(tc.dcmtk, "+opb")...)
			for i, f := range frames {
				img, err := Render(f, im.Info(), tc.opts)
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				got := imageSamples(img, ref[i].channels)
				sum, worst := 0, 0
				for k := range got {
					d := absInt(got[k] - ref[i].data[k])
					sum += d
					worst = max(worst, d)
				}
				mean := float64(sum) / float64(len(got))
				// Colour conversions differ by rounding: DCMTK centres chrominance on 127.5
				// and truncates, PS3.3 C.7.6.3.1.2 centres it on 128 and we round.
				if mean > 1 || worst > 2 {
					t.Errorf("frame %d: render differs from dcm2pnm %v: mean %.3f, max %d", i, tc.dcmtk, mean, worst)
				}
			}
		})
	}
}

func bytesOf(v []int) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

func bytesToInts(b []byte) []int {
	out := make([]int, len(b))
	for i, x := range b {
		out[i] = int(x)
	}
	return out
}

// TestEncapsulatedLayouts checks that frames are found with and without a Basic Offset
// Table, with an Extended Offset Table, and with several fragments per frame.
func TestEncapsulatedLayouts(t *testing.T) {
	const r, c, nf = 12, 10, 3
	var rleFrames [][]byte
	var want [][]int
	for f := 0; f < nf; f++ {
		v := ramp(r*c, 0, 4095, 97+f)
		want = append(want, v)
		rleFrames = append(rleFrames, rleEncode(u16s(v, func(x int) uint16 { return uint16(x) }), 1, 2))
	}
	// JPEG frames from the committed ultrasound cine, split into three fragments each.
	jpegSrc, _ := openPath(t, filepath.Join(repoRoot(t), "testdata", "us_multiframe_jpeg.dcm"))
	jinfo := jpegSrc.Info()
	var jpegFrames [][]byte
	var jpegWant []*Frame
	for i := 0; i < jpegSrc.NumFrames(); i++ {
		raw, err := jpegSrc.RawFrame(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		jpegFrames = append(jpegFrames, raw)
		f, err := jpegSrc.Frame(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		jpegWant = append(jpegWant, f)
	}
	split := func(frames [][]byte, parts int) [][][]byte {
		var out [][][]byte
		for _, f := range frames {
			var fr [][]byte
			// Fragments other than a frame's last must have even length (PS3.5 A.4):
			// a writer splits the codestream at even offsets.
			step := (len(f) + parts - 1) / parts
			step += step % 2
			for i := 0; i < len(f); i += step {
				fr = append(fr, f[i:min(i+step, len(f))])
			}
			out = append(out, fr)
		}
		return out
	}
	rleBase := synth{ts: dicom.RLELossless, rows: r, cols: c, frames: nf, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2}
	jpegBase := synth{ts: dicom.JPEGBaseline8Bit, rows: jinfo.Rows, cols: jinfo.Columns, frames: jinfo.NumberOfFrames, samples: 3,
		bitsAlloc: 8, bitsStored: 8, photometric: YBRFull422}
	with := func(s synth, frags [][][]byte, bot, eot bool) synth {
		s.fragments, s.bot, s.eot = frags, bot, eot
		return s
	}
	cases := []struct {
		name    string
		s       synth
		jpeg    bool
		wantErr bool
	}{
		{"rle_no_bot", with(rleBase, split(rleFrames, 1), false, false), false, false},
		{"rle_bot", with(rleBase, split(rleFrames, 1), true, false), false, false},
		{"rle_eot", with(rleBase, split(rleFrames, 1), false, true), false, false},
		{"rle_bot_two_fragments_per_frame", with(rleBase, split(rleFrames, 2), true, false), false, false},
		// RLE frames have no start marker: without an offset table, several fragments per
		// frame cannot be told apart (PS3.5 A.4.2 requires one per frame), so Open refuses.
		{"rle_no_bot_two_fragments_per_frame", with(rleBase, split(rleFrames, 2), false, false), false, true},
		{"jpeg_no_bot", with(jpegBase, split(jpegFrames, 1), false, false), true, false},
		{"jpeg_bot_three_fragments_per_frame", with(jpegBase, split(jpegFrames, 3), true, false), true, false},
		{"jpeg_no_bot_three_fragments_per_frame", with(jpegBase, split(jpegFrames, 3), false, false), true, false},
		{"jpeg_eot", with(jpegBase, split(jpegFrames, 1), false, true), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			im, err := openBytes(t, tc.s.build(t))
			if tc.wantErr {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open: %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			for i, f := range allFrames(t, im) {
				if tc.jpeg {
					if f.Photometric != RGB || !bytes.Equal(f.Data8, jpegWant[i].Data8) {
						t.Fatalf("frame %d differs from the source cine's", i)
					}
					raw, _ := im.RawFrame(context.Background(), i)
					if !bytes.Equal(raw[:len(jpegFrames[i])], jpegFrames[i]) {
						t.Fatalf("raw frame %d differs from the codestream written", i)
					}
					continue
				}
				for k, v := range want[i] {
					if f.Sample(k) != v {
						t.Fatalf("frame %d sample %d = %d, want %d", i, k, f.Sample(k), v)
					}
				}
			}
		})
	}
}

// TestCorruptCodestreams cuts and damages a frame of every encapsulated test file: decoding
// must fail with an error wrapping ErrCorrupt (or succeed, for damage a codec cannot see),
// never panic.
func TestCorruptCodestreams(t *testing.T) {
	for _, rf := range testImages(t) {
		ts, _ := dicom.LookupTransferSyntax(rf.hdr.TransferSyntax)
		if !ts.Encapsulated {
			continue
		}
		t.Run(rf.name, func(t *testing.T) {
			raw, err := rf.im.RawFrame(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			info := rf.im.Info()
			for _, cut := range []int{0, 2, 10, len(raw) / 3, len(raw) / 2, len(raw) * 3 / 4} {
				_, err := decodeCodestream(ts.UID, info, raw[:cut])
				if err == nil {
					t.Errorf("truncated to %d of %d bytes: no error", cut, len(raw))
				} else if !errors.Is(err, ErrCorrupt) {
					t.Errorf("truncated to %d bytes: %v does not wrap ErrCorrupt", cut, err)
				}
			}
			for seed := 0; seed < 40; seed++ {
				bad := append([]byte(nil), raw...)
				for k := 0; k < 1+seed%4; k++ {
					bad[(seed*7919+k*104729)%len(bad)] ^= byte(1 + (seed+k)%255)
				}
				if _, err := decodeCodestream(ts.UID, info, bad); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
					t.Errorf("damaged frame (seed %d): %v wraps neither ErrCorrupt nor ErrUnsupported", seed, err)
				}
			}
		})
	}
}

// TestBadHeaders: headers that cannot describe a decodable image are refused with errors.
func TestBadHeaders(t *testing.T) {
	base := synth{rows: 4, cols: 4, bitsAlloc: 16, bitsStored: 12, photometric: Monochrome2, native: make([]byte, 32)}
	cases := []struct {
		name string
		mod  func(s *synth)
		want error
	}{
		{"bits_allocated_32", func(s *synth) { s.bitsAlloc = 32; s.bitsStored = 32 }, ErrUnsupported},
		{"bits_stored_above_allocated", func(s *synth) { s.bitsStored = 17 }, ErrCorrupt},
		{"high_bit_below_stored", func(s *synth) { s.bitsStored = 12; s.highBit = 8 }, ErrCorrupt},
		{"rgb_with_one_sample", func(s *synth) { s.photometric = RGB }, ErrCorrupt},
		{"unknown_photometric", func(s *synth) { s.photometric = "CMYK" }, ErrUnsupported},
		{"pixel_data_too_short", func(s *synth) { s.native = make([]byte, 30) }, ErrCorrupt},
		{"frames_beyond_data", func(s *synth) { s.frames = 3 }, ErrCorrupt},
		{"zero_rows", func(s *synth) { s.rows = 0 }, ErrCorrupt},
		{"huge_frame", func(s *synth) { s.rows, s.cols, s.samples, s.photometric = 65535, 65535, 3, RGB }, ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.mod(&s)
			_, err := openBytes(t, s.build(t))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
		})
	}
	// A file cut inside its native Pixel Data: the header is whole, but Open sees the
	// value cannot be there and says so before anything is allocated.
	obj := synth{rows: 64, cols: 64, bitsAlloc: 16, bitsStored: 16, photometric: Monochrome2, native: make([]byte, 64*64*2)}.build(t)
	cut := obj[:len(obj)-100]
	hdr, err := dicom.ReadPart10(bytes.NewReader(cut), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bytes.NewReader(cut), int64(len(cut)), hdr); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open truncated: %v, want ErrCorrupt", err)
	}

	// Deflated: the inflated length is unknown until read, so the frame read fails.
	def, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "ts_deflated.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	def = def[:len(def)*2/3]
	hdr, err = dicom.ReadPart10(bytes.NewReader(def), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	im, err := Open(bytes.NewReader(def), int64(len(def)), hdr)
	if err != nil {
		t.Fatalf("open truncated deflated: %v", err)
	}
	if _, err := im.Frame(context.Background(), 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("frame of truncated deflated object: %v, want ErrCorrupt", err)
	}
}

// TestFrameFit: a reduced decode (JPEG 2000 resolution levels, or full decode and
// Downscale) fits the requested box, keeps the aspect ratio and shows the same picture as
// the full frame reduced.
func TestFrameFit(t *testing.T) {
	for _, name := range []string{"ts_j2k_lossless.dcm", "ts_j2k.dcm", "ts_jpeg_lossless.dcm", "us_multiframe_jpeg.dcm", "dr_mono1.dcm"} {
		for _, box := range [][2]int{{64, 64}, {100, 50}, {300, 300}} {
			t.Run(fmt.Sprintf("%s_%dx%d", name, box[0], box[1]), func(t *testing.T) {
				im, _ := openPath(t, filepath.Join(repoRoot(t), "testdata", name))
				info := im.Info()
				fit, err := im.FrameFit(context.Background(), 0, box[0], box[1])
				if err != nil {
					t.Fatal(err)
				}
				w, h := fitSize(info.Columns, info.Rows, box[0], box[1])
				if fit.Columns != w || fit.Rows != h {
					t.Fatalf("FrameFit gave %dx%d, want %dx%d", fit.Columns, fit.Rows, w, h)
				}
				full, err := im.Frame(context.Background(), 0)
				if err != nil {
					t.Fatal(err)
				}
				ref := Downscale(full, box[0], box[1])
				a, err := Render(fit, info, RenderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				b, _ := Render(ref, info, RenderOptions{})
				ga, gb := imageSamples(a, 3), imageSamples(b, 3)
				sum := 0
				for k := range ga {
					sum += absInt(ga[k] - gb[k])
				}
				// A lower JPEG 2000 resolution level is the wavelet's low-pass band, not an
				// area average: edges come out sharper, with a slight halo, so the two
				// differ by a few levels on this edge-heavy picture (about 7 at 64x64);
				// a wrong, shifted or mis-scaled picture differs by tens.
				if mean := float64(sum) / float64(len(ga)); mean > 10 {
					t.Errorf("reduced decode differs from the reduced full frame by %.2f levels on average", mean)
				}
			})
		}
	}
}

// TestConcurrentFrames: one Image serves frames to several goroutines (the race detector
// checks the sharing), including the deflated reader, which keeps a position.
func TestConcurrentFrames(t *testing.T) {
	for _, name := range []string{"us_multiframe_jpeg.dcm", "ts_deflated.dcm", "us_multiframe.dcm"} {
		im, _ := openPath(t, filepath.Join(repoRoot(t), "testdata", name))
		want := allFrames(t, im)
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			go func(g int) {
				for k := 0; k < 3*im.NumFrames(); k++ {
					i := (k + g) % im.NumFrames()
					f, err := im.Frame(context.Background(), i)
					if err == nil && f.Len() != want[i].Len() {
						err = fmt.Errorf("frame %d: %d samples", i, f.Len())
					}
					for j := 0; err == nil && j < f.Len(); j++ {
						if f.Sample(j) != want[i].Sample(j) {
							err = fmt.Errorf("%s frame %d sample %d differs", name, i, j)
						}
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}(g)
		}
		for g := 0; g < 4; g++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
}
