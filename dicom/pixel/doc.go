// Package pixel is pacsd's pixel pipeline: it finds the frames of a Part-10 object, decodes
// them from the transfer syntaxes listed below, renders them for display (Modality LUT,
// VOI LUT / window, MONOCHROME1 polarity, colour models, size) and transcodes objects to
// Explicit VR Little Endian with native pixel data (or to JPEG baseline, 8-bit images).
//
// It is not a header reader (package dicom reads headers: Open takes a *dicom.Header), not
// a cache and not a service: callers in dicomweb/ and viewer/ keep decoded frames and
// rendered images as they see fit.
//
// # Use
//
//	hdr, _ := dicom.ReadPart10(f, dicom.ReadOptions{})
//	im, err := pixel.Open(f, size, hdr)        // locates frames; reads no pixels
//	raw, err := im.RawFrame(ctx, i)            // as stored (WADO-RS frames, transfer-syntax=*)
//	fr, err := im.Frame(ctx, i)                // decoded samples; cacheable
//	th, err := im.FrameFit(ctx, i, 256, 256)   // reduced decode for thumbnails
//	img, err := pixel.Render(fr, im.Info(), pixel.RenderOptions{Width: 512, Height: 512})
//	err = pixel.EncodeJPEG(w, img, 90)         // or EncodePNG
//	err = pixel.TranscodeExplicitLE(ctx, w, f, size, hdr)
//	err = pixel.TranscodeJPEGBaseline(ctx, w, f, size, hdr, 90) // 8-bit images only
//
// A viewer dragging window/level on a large frame keeps the Frame (or, for instant
// response, Downscale(frame, screenW, screenH)) and calls Render with a new Window each
// step; Render never decodes.
//
// Frames are decoded one at a time; nothing holds a whole multi-frame object. Every size
// comes from the header and is checked before allocation: a frame may not exceed
// MaxFrameBytes (1 GiB) decoded, Pixel Data and fragments may not run past the end of the
// object, and a codestream whose geometry disagrees with the header is refused before it is
// decoded. Bad data yields errors wrapping ErrCorrupt, ErrUnsupported or ErrTooLarge, never
// a panic.
//
// Decoding is bounded by a Budget (budget.go) before anything frame-sized is allocated: a
// frame beyond Limits.MaxFramePixels (default 8192 x 8192) is refused with ErrTooLarge
// (JPEG 2000 may still be shown from a coarser resolution level), and all decodes at once
// hold at most Limits.DecodeMemory bytes (default 512 MiB): codestream, samples and the
// codec's working memory. A decode that does not fit waits its turn while its context
// allows. A server builds one Budget and opens every image through it (Budget.Open,
// Budget.TranscodeExplicitLE); Open and the Transcode functions use a package default.
// Transcoding holds one frame at a time. The frame Frame returns is the caller's: a
// caller that keeps frames bounds its own cache.
//
// # Codecs and why
//
//   - Native (Implicit/Explicit VR Little Endian, Explicit VR Big Endian, Deflated):
//     pure Go here (PS3.5 8.1, A.1-A.5). Deflated data sets are inflated forward from
//     their start; reading frames in order streams.
//   - RLE Lossless (1.2.840.10008.1.2.5): pure Go here (PS3.5 Annex G); it is a few dozen
//     lines of PackBits.
//   - JPEG baseline (.50), extended 8/12-bit (.51) and lossless process 14 (.57, .70):
//     pure Go, our own decoder in internal/jpeg (ITU-T T.81: Huffman sequential DCT at 8
//     and 12 bits, lossless with all seven predictors and point transform, restart
//     intervals). Go's image/jpeg reads only 8-bit DCT images, and Debian bookworm's
//     libjpeg-turbo 2.1 is built for 8-bit samples only, so 12-bit and lossless (up to 16
//     bits, what DR systems send) needed another path; one decoder for all four keeps
//     colour handling in one place. Its inverse DCT is the scaled-integer
//     Loeffler-Ligtenberg-Moschytz form with 13-bit constants and its YCbCr conversion and
//     chroma upsampling follow the same integer arithmetic as the libjpeg family, so lossy
//     frames decode to exactly DCMTK's samples (the reference test checks this).
//   - Retired progressive JPEG, Huffman coded (PS3.5 A.4.1): spectral selection (.53,
//     processes 6 and 8) and full progression (.55, processes 10 and 12), 8 and 12 bits:
//     the same decoder (T.81 Annex G: DC and AC first and refinement scans, EOB runs),
//     keeping each block's coefficients until the last scan. DCMTK still writes them
//     (dcmcjpeg +es, +ep) and old modalities sent them; they decode to exactly DCMTK's
//     and libjpeg-turbo's samples. A progression cut short before its last scan is
//     corrupt rather than shown coarser.
//   - JPEG-LS (.80, .81): CharLS through cgo (Debian libcharls-dev, internal/jpegls).
//     CharLS is the reference implementation; no maintained pure-Go JPEG-LS decoder exists.
//   - JPEG 2000 (.90, .91): OpenJPEG through cgo (Debian libopenjp2-7-dev, internal/j2k).
//     OpenJPEG is the ISO reference software; no complete pure-Go decoder exists.
//     Raw codestreams and JP2 files (which some writers store) are both read.
//   - High-Throughput JPEG 2000 (.201, .202, .203; ISO/IEC 15444-15): the same OpenJPEG
//     binding; Debian's OpenJPEG 2.5.0 decodes HT codestreams (tests check it against
//     codestreams from OpenJPH, an independent encoder), and thumbnails decode a lower
//     resolution level as for JPEG 2000.
//   - JPEG 2000 Part 2 Multi-component (.92, .93): the same binding, for codestreams that
//     use what OpenJPEG implements (Part 1 features, which Part 2 includes). The array-based
//     multiple component transforms of Part 2 Annex J (MCT/MCC/MCO markers), which OpenJPEG
//     2.5 does not decode, and several frames coded as the components of one codestream are
//     refused with ErrUnsupported.
//   - Encapsulated Uncompressed Explicit VR Little Endian (1.2.840.10008.1.2.1.98): each
//     fragment is one frame's native bytes (PS3.5 8.1.1 layout), decoded as native frames.
//
// Accepted by pacsd but not decoded: MPEG-2, MPEG-4 AVC/H.264 and HEVC/H.265 video (.100 to
// .108 and their Fragmentable variants), JPEG XL (.110, .111, .112), Deflated Image Frame
// Compression (1.2.840.10008.1.2.8.1) and the retired arithmetic-coded (.52, .54, .56, .58)
// and hierarchical (.59 to .66) JPEG processes, which no encoder in use writes (DCMTK's
// dcmcjpeg and libjpeg-turbo write neither). Open refuses them with ErrUnsupported before it
// locates anything: a video's fragments are pieces of one stream for all the frames (PS3.5
// 8.2.5-8.2.8), not one frame each. Such objects are archived and served as stored; a
// caller showing thumbnails treats them like any image it cannot decode. Decodes tells a
// caller in advance which transfer syntaxes Frame can decode.
//
// Every JPEG pacsd writes (rendered images, thumbnails, JPEG baseline transcoding) is
// compressed by EncodeJPEG with libjpeg-turbo's TurboJPEG API through cgo (Debian
// libturbojpeg0-dev, internal/turbojpeg): its SIMD encoder is several times faster than
// Go's image/jpeg, which was most of a full-size rendered DR's time. The package needs cgo
// for its codecs anyway, so there is no pure-Go encoder beside it.
//
// The cgo codecs run one C call per frame over Go memory (no Go pointer outlives a call),
// check the codestream header against the DICOM header before decoding, and report C-side
// errors as Go errors.
//
// # Colour
//
// When a codec converts colour, the frame says so: Frame.Photometric is RGB after a lossy
// JPEG frame with Photometric Interpretation YBR_FULL_422 or YBR_FULL (PS3.5 8.2.1: the
// codestream carries YCbCr and the decoder converts it; an RGB attribute means the
// components were compressed unconverted, and they are not converted, as DCMTK does by
// default), and after JPEG 2000 with a multiple component transform (YBR_RCT/YBR_ICT,
// PS3.5 8.2.4). Lossless JPEG, JPEG-LS and RLE keep what was stored; native YBR_FULL_422 is
// expanded to one chrominance pair per pixel (YBR_FULL). Render converts YBR_FULL and
// YBR_PARTIAL with the equations of PS3.3 C.7.6.3.1.2 and applies PALETTE COLOR LUTs.
//
// # Rendering
//
// Greyscale follows PS3.4 N.2.1: Modality LUT (Rescale Slope/Intercept or the Modality
// LUT Sequence), VOI (the requested window, else the file's first window, else its first
// VOI LUT Sequence table, else min-max of the frame; 8-bit images without rescale or
// window are shown over their full stored range, as ultrasound and secondary capture
// devices intend), VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID (PS3.3 C.11.2.1.2-3),
// then MONOCHROME1 inversion, applied once. The chain is evaluated into a table over all
// stored values (at most 65536 entries), so re-rendering a cached frame with a new window
// costs one lookup per pixel. Greyscale frames larger than the requested size are reduced
// by area averaging of the displayed values in the same pass (fast enough for live
// window/level on one core; github.com/disintegration/imaging's resampler works on RGBA and
// took three times as long); colour frames are box-reduced and finished with imaging's
// Lanczos filter. Output levels are truncated, not rounded, like DCMTK's, so renders match
// the reference renderer.
//
// Not supported (refused with ErrUnsupported): Bits Allocated other than 8 and 16 (1-bit
// and 32-bit images), float pixel data, segmented palettes, per-frame functional group
// windows of enhanced multi-frame objects (the top-level window applies), Presentation LUT
// Shape in the image (MONOCHROME1 alone decides polarity).
package pixel
