package pixel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/dicom"
)

// TestTranscodeExplicitLE transcodes every test object and checks the result with DCMTK
// (dcmdump parses it, dcm2pnm decodes the same samples) and with our own reader (same
// frames, same attributes but the ones transcoding must change).
func TestTranscodeExplicitLE(t *testing.T) {
	needTool(t, "dcmdump", "dcm2pnm")
	dir := filepath.Join(repoRoot(t), "testdata")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.dcm"))
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".dcm")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			hdr, err := dicom.ReadPart10(bytes.NewReader(src), dicom.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := TranscodeExplicitLE(context.Background(), &out, bytes.NewReader(src), int64(len(src)), hdr); err != nil {
				t.Fatalf("transcode: %v", err)
			}
			outPath := filepath.Join(t.TempDir(), "out.dcm")
			if err := os.WriteFile(outPath, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			// A real reader must accept it without complaint.
			cmd := exec.Command("dcmdump", "-q", outPath)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Fatalf("dcmdump refuses the output: %v\n%s", err, stderr.String())
			}

			hdr2, err := dicom.ReadPart10(bytes.NewReader(out.Bytes()), dicom.ReadOptions{})
			if err != nil {
				t.Fatalf("read output: %v", err)
			}
			if hdr2.TransferSyntax != dicom.ExplicitVRLittleEndian {
				t.Errorf("output transfer syntax %s", hdr2.TransferSyntax)
			}
			changed := map[dicom.Tag]bool{
				tagPhotometricInterpretation: true, tagPlanarConfiguration: true, tagLossyImageCompression: true,
				tagExtendedOffsetTable: true, tagExtendedOffsetTableLength: true,
			}
			compareAttributes(t, hdr.Dataset, hdr2.Dataset, changed)

			if hdr.PixelDataOffset < 0 {
				if hdr2.PixelDataOffset >= 0 {
					t.Error("output has Pixel Data, the source had none")
				}
				return
			}
			srcIm, err := openBytes(t, src)
			if err != nil {
				t.Fatal(err)
			}
			outIm, err := openBytes(t, out.Bytes())
			if err != nil {
				t.Fatalf("open output: %v", err)
			}
			srcInfo, outInfo := srcIm.Info(), outIm.Info()
			want := allFrames(t, srcIm)
			got := allFrames(t, outIm)
			if len(got) != len(want) {
				t.Fatalf("%d frames, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i].Photometric != want[i].Photometric {
					t.Errorf("frame %d: photometric %s, want %s", i, got[i].Photometric, want[i].Photometric)
				}
				for k := 0; k < want[i].Len(); k++ {
					if got[i].Sample(k) != want[i].Sample(k) {
						t.Fatalf("frame %d sample %d: %d, want %d", i, k, got[i].Sample(k), want[i].Sample(k))
					}
				}
			}
			ts, _ := dicom.LookupTransferSyntax(hdr.TransferSyntax)
			if ts.Encapsulated && srcInfo.Photometric == YBRFull422 && outInfo.Photometric != RGB {
				t.Errorf("decoded YBR_FULL_422 JPEG written as %s, want RGB", outInfo.Photometric)
			}
			if ts.Lossy && hdr2.Dataset.String(tagLossyImageCompression) != "01" {
				t.Errorf("lossy source: Lossy Image Compression %q, want 01", hdr2.Dataset.String(tagLossyImageCompression))
			}
			if outInfo.SamplesPerPixel == 3 && hdr2.Dataset.Get(tagPlanarConfiguration) == nil {
				t.Error("colour output without Planar Configuration")
			}

			// DCMTK decodes the same samples from our output.
			ref := dcmtkFrames(t, outPath, dicom.ExplicitVRLittleEndian, "-M", "-W", "+Pid", "+opn", "{bits}")
			for i := range got {
				for k, v := range ref[i].data {
					if got[i].Sample(k) != v {
						t.Fatalf("frame %d sample %d: DCMTK reads %d from the output, we wrote %d", i, k, v, got[i].Sample(k))
					}
				}
			}
		})
	}
}

// compareAttributes checks that every attribute of want but the changed ones (and group
// lengths) is in got with the same value, and that got adds nothing else.
func compareAttributes(t *testing.T, want, got *dicom.Dataset, changed map[dicom.Tag]bool) {
	t.Helper()
	keep := func(tag dicom.Tag) bool { return !changed[tag] && tag.Element() != 0 && tag != 0xFFFCFFFC }
	opts := dicom.JSONOptions{Include: keep}
	a, _ := json.Marshal(want.ToJSON(opts))
	b, _ := json.Marshal(got.ToJSON(opts))
	if !bytes.Equal(a, b) {
		t.Errorf("attributes differ after transcoding:\nsource: %.2000s\noutput: %.2000s", a, b)
	}
}

// TestTranscodeJPEGBaseline compresses the 8-bit test objects to JPEG baseline: DCMTK must
// read the result and decode exactly what we decode from it, and that must be close to
// the source; 16-bit images are refused.
func TestTranscodeJPEGBaseline(t *testing.T) {
	needTool(t, "dcmdump", "dcmj2pnm")
	for _, rf := range testImages(t) {
		t.Run(strings.TrimSuffix(rf.name, ".dcm"), func(t *testing.T) {
			src, err := os.ReadFile(rf.path)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = TranscodeJPEGBaseline(context.Background(), &out, bytes.NewReader(src), int64(len(src)), rf.hdr, 95)
			if rf.im.Info().BitsStored != 8 {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("%d-bit image: %v, want ErrUnsupported", rf.im.Info().BitsStored, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("transcode: %v", err)
			}
			outPath := filepath.Join(t.TempDir(), "out.dcm")
			if err := os.WriteFile(outPath, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("dcmdump", "-q", outPath)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Fatalf("dcmdump refuses the output: %v\n%s", err, stderr.String())
			}
			hdr2, err := dicom.ReadPart10(bytes.NewReader(out.Bytes()), dicom.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if hdr2.TransferSyntax != dicom.JPEGBaseline8Bit || hdr2.Dataset.String(tagLossyImageCompression) != "01" {
				t.Errorf("transfer syntax %s, lossy %q", hdr2.TransferSyntax, hdr2.Dataset.String(tagLossyImageCompression))
			}
			methods := hdr2.Dataset.Strings(tagLossyImageCompressionMethod)
			if len(methods) == 0 || methods[len(methods)-1] != "ISO_10918_1" {
				t.Errorf("Lossy Image Compression Method %q", methods)
			}
			compareAttributes(t, rf.hdr.Dataset, hdr2.Dataset, map[dicom.Tag]bool{
				tagPhotometricInterpretation: true, tagPlanarConfiguration: true, tagLossyImageCompression: true,
				tagLossyImageCompressionRatio: true, tagLossyImageCompressionMethod: true,
				tagExtendedOffsetTable: true, tagExtendedOffsetTableLength: true,
			})
			outIm, err := openBytes(t, out.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			got, want := allFrames(t, outIm), allFrames(t, rf.im)
			ref := dcmtkFrames(t, outPath, dicom.JPEGBaseline8Bit, "-M", "-W", "+Pid", "+opn", "8")
			for i := range want {
				wantImg, _ := Render(want[i], rf.im.Info(), RenderOptions{Window: &Window{Center: 127.5, Width: 256}})
				gotImg, _ := Render(got[i], outIm.Info(), RenderOptions{Window: &Window{Center: 127.5, Width: 256}})
				ch := want[i].SamplesPerPixel
				ws, gs := imageSamples(wantImg, ch), imageSamples(gotImg, ch)
				sum := 0
				for k := range ws {
					sum += absInt(ws[k] - gs[k])
				}
				if mean := float64(sum) / float64(len(ws)); mean > 3 {
					t.Errorf("frame %d: JPEG at quality 95 differs from the source by %.2f levels on average", i, mean)
				}
				for k, v := range ref[i].data {
					if got[i].Sample(k) != v {
						t.Fatalf("frame %d sample %d: we decode %d from our JPEG, DCMTK %d", i, k, got[i].Sample(k), v)
					}
				}
			}
		})
	}
}

// TestTranscodeImplicitLongLUT: in Implicit VR the LUT Data of a large Modality LUT reads
// as US (the dictionary's first VR), too long for US's 16-bit length in Explicit VR; the
// transcoder writes it as OW, and DCMTK renders the output like the source.
func TestTranscodeImplicitLongLUT(t *testing.T) {
	needTool(t, "dcm2pnm")
	lut := &LUT{Bits: 16}
	for i := 0; i < 40000; i++ {
		lut.Data = append(lut.Data, uint16(i*3/2))
	}
	px := make([]uint16, 64*32)
	for i := range px {
		px[i] = uint16(i * 19 % 40000)
	}
	src := synth{ts: dicom.ImplicitVRLittleEndian, rows: 32, cols: 64, bitsAlloc: 16, bitsStored: 16, photometric: Monochrome2,
		modalityLUT: lut, window: "30000 60000", native: le16(px)}.build(t)
	hdr, err := dicom.ReadPart10(bytes.NewReader(src), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := TranscodeExplicitLE(context.Background(), &out, bytes.NewReader(src), int64(len(src)), hdr); err != nil {
		t.Fatalf("transcode: %v", err)
	}
	dir := t.TempDir()
	in, outPath := filepath.Join(dir, "in.dcm"), filepath.Join(dir, "out.dcm")
	os.WriteFile(in, src, 0o644)
	os.WriteFile(outPath, out.Bytes(), 0o644)
	a := dcmtkFrames(t, in, dicom.ImplicitVRLittleEndian, "+Wi", "1", "+opb")
	b := dcmtkFrames(t, outPath, dicom.ExplicitVRLittleEndian, "+Wi", "1", "+opb")
	for k := range a[0].data {
		if a[0].data[k] != b[0].data[k] {
			t.Fatalf("DCMTK renders pixel %d of the output as %d, of the source as %d", k, b[0].data[k], a[0].data[k])
		}
	}
	hdr2, _ := dicom.ReadPart10(bytes.NewReader(out.Bytes()), dicom.ReadOptions{})
	seq := hdr2.Dataset.Get(tagModalityLUTSequence)
	if seq == nil || len(seq.Items) != 1 || seq.Items[0].Get(tagLUTData) == nil || seq.Items[0].Get(tagLUTData).VR != "OW" {
		t.Fatalf("LUT Data not carried as OW")
	}
}
