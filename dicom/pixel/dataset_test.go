package pixel

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"pacsd/dicom"
)

// TestExplicitLEDataset: the bare data set is exactly TranscodeExplicitLE's output after its
// File Meta Information, and closing it early stops the transcoder.
func TestExplicitLEDataset(t *testing.T) {
	for _, name := range []string{"ts_jpeg_baseline.dcm", "ts_rle.dcm", "us_multiframe_jpeg.dcm"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			hdr, err := dicom.ReadPart10(bytes.NewReader(src), dicom.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var whole bytes.Buffer
			if err := TranscodeExplicitLE(context.Background(), &whole, bytes.NewReader(src), int64(len(src)), hdr); err != nil {
				t.Fatal(err)
			}
			out, err := dicom.ReadPart10(bytes.NewReader(whole.Bytes()), dicom.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := whole.Bytes()[out.DatasetOffset:]

			rc, err := ExplicitLEDataset(context.Background(), bytes.NewReader(src), int64(len(src)), hdr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("bare data set: %d bytes, want %d (the transcoder's output after its meta)", len(got), len(want))
			}
			if _, err := dicom.ReadDataset(bytes.NewReader(got), dicom.ExplicitVRLittleEndian, dicom.ReadOptions{}); err != nil {
				t.Fatalf("bare data set does not read as Explicit VR Little Endian: %v", err)
			}

			// Closed after a few bytes: Close returns once the transcoder has stopped.
			rc, err = ExplicitLEDataset(context.Background(), bytes.NewReader(src), int64(len(src)), hdr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(rc, make([]byte, 16)); err != nil {
				t.Fatal(err)
			}
			rc.Close()
			if _, err := rc.Read(make([]byte, 1<<20)); err == nil {
				t.Fatal("read after Close succeeded")
			}
		})
	}
}

// TestExplicitLEDatasetError: a syntax the transcoder cannot take fails at once.
func TestExplicitLEDatasetError(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "ts_jpeg_baseline.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := dicom.ReadPart10(bytes.NewReader(src), dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hdr.TransferSyntax = "1.2.3.4"
	if _, err := ExplicitLEDataset(context.Background(), bytes.NewReader(src), int64(len(src)), hdr); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
}
