package dimse

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pacsd/dicom"
)

// newStorageSyntaxes are the transfer syntaxes added for video, HTJ2K, JPEG 2000 Part 2, JPEG
// XL and Encapsulated Uncompressed: an archive must accept them for storage and keep the
// data as sent, whether or not it can decode the pixels.
var newStorageSyntaxes = []string{
	dicom.EncapsulatedUncompressedExplicitVRLittleEndian,
	dicom.JPEG2000MCLossless, dicom.JPEG2000MC,
	dicom.HTJ2KLossless, dicom.HTJ2KLosslessRPCL, dicom.HTJ2K,
	dicom.MPEG2MPML, dicom.MPEG2MPMLF, dicom.MPEG2MPHL, dicom.MPEG2MPHLF,
	dicom.MPEG4HP41, dicom.MPEG4HP41F, dicom.MPEG4HP41BD, dicom.MPEG4HP41BDF,
	dicom.MPEG4HP422D, dicom.MPEG4HP422DF, dicom.MPEG4HP423D, dicom.MPEG4HP423DF,
	dicom.MPEG4HP42STEREO, dicom.MPEG4HP42STEREOF,
	dicom.HEVCMP51, dicom.HEVCM10P51,
	dicom.JPEGXLLossless, dicom.JPEGXLJPEGRecompression, dicom.JPEGXL,
	dicom.DeflatedImageFrameCompression,
}

const (
	usMultiframeClass = "1.2.840.10008.5.1.4.1.1.3.1"
	videoPhotoClass   = "1.2.840.10008.5.1.4.1.1.77.1.4.1"
)

// TestNegotiateNewStorageSyntaxes: each new syntax, proposed alone or before the uncompressed
// ones, is accepted as proposed for storage SOP classes; the peer's data is never converted.
// Video syntaxes only for the classes that can carry video: for the others (here single-frame
// Secondary Capture) the video syntax is passed over for the next one proposed, and a context
// that proposes only video is refused.
func TestNegotiateNewStorageSyntaxes(t *testing.T) {
	srv := &Server{AETitle: "PACSD", Store: StoreHandlerFunc(nil)}
	for _, ts := range newStorageSyntaxes {
		for _, sc := range []string{usMultiframeClass, videoPhotoClass, scClass} {
			t.Run(ts+"/"+sc, func(t *testing.T) {
				info, _ := dicom.LookupTransferSyntax(ts)
				notHere := info.Video && !dicom.CanCarryVideo(sc)
				rq := &associateRQ{
					ProtocolVersion: 1, CalledAETitle: "PACSD", CallingAETitle: "US1",
					ApplicationContext: applicationContextName,
					Contexts: []presentationContextRQ{
						{ID: 1, AbstractSyntax: sc, TransferSyntaxes: []string{ts}},
						{ID: 3, AbstractSyntax: sc, TransferSyntaxes: []string{ts, dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian}},
						{ID: 5, AbstractSyntax: sc, TransferSyntaxes: []string{"1.2.840.10008.1.2.4.94", ts}}, // JPIP Referenced: not for us
					},
					UserInfo: userInfo{MaxLength: 16384},
				}
				n := srv.negotiate(rq, AssociationInfo{})
				if n.rj != nil {
					t.Fatalf("association rejected: %+v", n.rj)
				}
				for _, pc := range n.ac.Contexts {
					want := ts
					if notHere {
						want = map[byte]string{3: dicom.ExplicitVRLittleEndian}[pc.ID]
					}
					if want == "" {
						if pc.Result != presentationResultTransferSyntax {
							t.Errorf("context %d: result %d, syntax %s; want %s refused for %s", pc.ID, pc.Result, pc.TransferSyntax, ts, sc)
						}
						continue
					}
					if pc.Result != presentationResultAcceptance || pc.TransferSyntax != want {
						t.Errorf("context %d: result %d, syntax %s; want acceptance of %s", pc.ID, pc.Result, pc.TransferSyntax, want)
					}
					if got := n.contexts[pc.ID]; got.TransferSyntax != want || got.AbstractSyntax != sc {
						t.Errorf("context %d recorded as %+v", pc.ID, got)
					}
				}
			})
		}
	}
	// A syntax pacsd does not know is still refused, so the peer can fall back.
	n := srv.negotiate(&associateRQ{
		ProtocolVersion: 1, CalledAETitle: "PACSD", CallingAETitle: "US1", ApplicationContext: applicationContextName,
		Contexts: []presentationContextRQ{{ID: 1, AbstractSyntax: videoPhotoClass, TransferSyntaxes: []string{"1.2.840.10008.1.2.4.94"}}},
	}, AssociationInfo{})
	if n.rj != nil || len(n.ac.Contexts) != 1 || n.ac.Contexts[0].Result != presentationResultTransferSyntax {
		t.Fatalf("JPIP Referenced: %+v", n.ac.Contexts)
	}
}

// TestStoreNewSyntaxesOverTheWire: pacsd's client proposes each new syntax, pacsd's server
// accepts it on a real association and hands the handler the data set byte for byte, tagged
// with that syntax. The payload is bigger than a PDU, so it crosses several.
func TestStoreNewSyntaxesOverTheWire(t *testing.T) {
	rec := &recorder{dir: t.TempDir()}
	addr, _, _ := startServer(t, &Server{AETitle: "PACSD", Store: rec, MaxPDULength: 4096})
	contexts := map[string][]string{videoPhotoClass: newStorageSyntaxes}
	c, err := Dial(context.Background(), addr, ClientConfig{CallingAETitle: "US1", CalledAETitle: "PACSD", MaxPDULength: 4096, Contexts: contexts})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	for i, ts := range newStorageSyntaxes {
		if !c.CanStore(videoPhotoClass, ts) {
			t.Errorf("%s: not accepted", ts)
			continue
		}
		uid := fmt.Sprintf("1.2.3.%d", i+1)
		payload := bytes.Repeat([]byte(fmt.Sprintf("%s-%03d|", ts, i)), 700)
		st, err := c.Store(context.Background(), videoPhotoClass, uid, ts, bytes.NewReader(payload))
		if err != nil || st.Code != StatusSuccess {
			t.Fatalf("%s: store: %v %v", ts, st, err)
		}
		if got := rec.received(t, uid); !bytes.Equal(got, payload) {
			t.Errorf("%s: data set changed on the way", ts)
		}
	}
	if err := c.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	byUID := map[string]string{}
	for _, r := range rec.requests() {
		byUID[r.SOPInstanceUID] = r.TransferSyntaxUID
	}
	for i, ts := range newStorageSyntaxes {
		if got := byUID[fmt.Sprintf("1.2.3.%d", i+1)]; got != ts {
			t.Errorf("instance %d arrived tagged %q, sent in %s", i+1, got, ts)
		}
	}
}

// TestStoreSCUVideo: DCMTK's storescu sends an MPEG-4 AVC/H.264 video object (a Video
// Photographic Image whose Pixel Data is one fragment of stream bytes) and a JPEG 2000 Part 2
// object, proposing each file's own syntax (DCMTK 3.6.7 knows both); the handler gets the
// data set exactly as in the file.
func TestStoreSCUVideo(t *testing.T) {
	requireTools(t, "storescu", "dump2dcm")
	dir := t.TempDir()
	rec := &recorder{dir: t.TempDir()}
	_, host, port := startServer(t, &Server{AETitle: "PACSD", Store: rec, MaxPDULength: 16384})
	for _, tc := range []struct {
		ts, flag string
	}{
		{dicom.MPEG4HP41, "-xn"},
		{dicom.MPEG2MPML, "-xm"},
		{dicom.HEVCMP51, "-x4"},
		{dicom.JPEG2000MC, ""}, // no storescu option: a configuration file names it
	} {
		t.Run(tc.ts, func(t *testing.T) {
			f := makeEncapsulated(t, dir, tc.ts, videoPhotoClass, bytes.Repeat([]byte{0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21}, 3000))
			// -R: propose only the SOP classes of the files (Video Photographic is not among
			// storescu's 128 default classes); a configuration file proposes exactly its own.
			args := []string{"-v", "-aec", "PACSD", "-R", tc.flag}
			if tc.flag == "" {
				args = append(args[:3], "-xf", storescuConfig(t, t.TempDir(), [][2]string{{videoPhotoClass, tc.ts}}), "Test")
			}
			out := mustRun(t, "storescu", append(args, host, port, f.path)...)
			if !strings.Contains(out, "Received Store Response (Success)") {
				t.Fatalf("storescu output:\n%s", out)
			}
			if got := rec.received(t, f.sopInstance); !bytes.Equal(got, f.dataset) {
				t.Fatalf("received %d bytes, file data set has %d (first difference at %d)", len(got), len(f.dataset), firstDiff(got, f.dataset))
			}
		})
	}
}

// makeEncapsulated writes a Part-10 file in encapsulated syntax ts whose Pixel Data is one
// fragment holding stream (as a video object's is), with dump2dcm.
func makeEncapsulated(t testing.TB, dir, ts, sopClass string, stream []byte) testFile {
	t.Helper()
	uid := newUID(t)
	base := filepath.Join(dir, uid)
	if len(stream)%2 == 1 {
		stream = append(stream, 0)
	}
	if err := os.WriteFile(base+".bin", stream, 0o644); err != nil {
		t.Fatal(err)
	}
	// dump2dcm writes encapsulated Pixel Data from (fffe,e000) items between the
	// undefined-length element and its (fffe,e0dd) delimiter.
	dump := fmt.Sprintf(`(0002,0001) OB 00\01
(0002,0002) UI [%[2]s]
(0002,0003) UI [%[1]s]
(0002,0010) UI [%[3]s]
(0008,0016) UI [%[2]s]
(0008,0018) UI [%[1]s]
(0008,0060) CS [XC]
(0010,0010) PN [Test^Video]
(0010,0020) LO [PID-VIDEO]
(0020,000d) UI [%[1]s.1]
(0020,000e) UI [%[1]s.2]
(0028,0002) US 3
(0028,0004) CS [YBR_PARTIAL_420]
(0028,0006) US 0
(0028,0008) IS [30]
(0028,0010) US 480
(0028,0011) US 640
(0028,0100) US 8
(0028,0101) US 8
(0028,0102) US 7
(0028,0103) US 0
(7fe0,0010) OB (PixelSequence #=2)
(fffe,e000) pi (no value available)
(fffe,e000) pi =%[4]s
(fffe,e0dd) na (SequenceDelimitationItem)
`, uid, sopClass, ts, base+".bin")
	if err := os.WriteFile(base+".dump", []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	out := base + ".dcm"
	mustRun(t, "dump2dcm", "+E", base+".dump", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	off, gotTS := part10DatasetOffset(t, b)
	if gotTS != ts {
		t.Fatalf("made %s in %s, wanted %s", out, gotTS, ts)
	}
	if !bytes.Contains(b[off:], stream[:64]) {
		t.Fatalf("%s does not hold the stream bytes", out)
	}
	return testFile{path: out, sopClass: sopClass, sopInstance: uid, ts: ts, dataset: b[off:]}
}
