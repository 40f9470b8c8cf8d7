package pixel

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"pacsd/dicom"
)

// OffersExplicitLE reports whether a sender of an object stored in transfer syntax ts
// should also offer it re-encoded in Explicit VR Little Endian (ExplicitLEDataset), for a
// peer that did not accept ts: every syntax but Explicit VR Little Endian itself. Implicit
// VR Little Endian too: every SCP accepts it when we propose (PS3.5 10.1), but on a C-GET
// the requester proposes one context per SOP class and pacsd, accepting, picks one syntax
// for it, Explicit VR Little Endian.
func OffersExplicitLE(ts string) bool { return ts != dicom.ExplicitVRLittleEndian }

// ExplicitLEDataset is the package's ExplicitLEDataset within the default budget.
func ExplicitLEDataset(ctx context.Context, r io.ReaderAt, size int64, hdr *dicom.Header) (io.ReadCloser, error) {
	return defaultBudget.ExplicitLEDataset(ctx, r, size, hdr)
}

// ExplicitLEDataset streams the data set of the Part-10 object in r (size bytes, hdr as read
// by dicom.ReadPart10) re-encoded by TranscodeExplicitLE, bare: without the preamble and
// File Meta Information, as a C-STORE carries it (PS3.7 9.3.1) to a peer that accepts
// the SOP class in Explicit VR Little Endian but not in the stored syntax. `pacsd send` and
// the C-MOVE/C-GET SCP send the same bytes this way.
//
// The transcoder runs in a goroutine writing into a pipe, one frame at a time; Close stops
// it and waits for it, so r may be closed once Close returned. A transcoding error
// surfaces from Read.
func (b *Budget) ExplicitLEDataset(ctx context.Context, r io.ReaderAt, size int64, hdr *dicom.Header) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(b.TranscodeExplicitLE(ctx, pw, r, size, hdr))
	}()
	d := &transcodedDataset{pr: pr, cancel: cancel, done: done}
	body, err := skipFileMeta(pr)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("explicit VR little endian data set: %w", err)
	}
	d.body = body
	return d, nil
}

// Part10Source is a stored Part-10 object open from its first byte, as a file or an
// archive blob is.
type Part10Source interface {
	io.Reader
	io.ReaderAt
	io.Closer
}

// OpenExplicitLE reads the header of the Part-10 object src (size bytes) and streams its data
// set as ExplicitLEDataset does; closing the result stops the transcoder, then closes src.
// src is closed when OpenExplicitLE fails.
func (b *Budget) OpenExplicitLE(ctx context.Context, src Part10Source, size int64) (io.ReadCloser, error) {
	hdr, err := dicom.ReadPart10(bufio.NewReaderSize(src, 64<<10), dicom.ReadOptions{})
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("read header: %w", err)
	}
	body, err := b.ExplicitLEDataset(ctx, src, size, hdr)
	if err != nil {
		src.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{body, closeInTurn{body, src}}, nil
}

// OpenExplicitLE is the package's OpenExplicitLE within the default budget.
func OpenExplicitLE(ctx context.Context, src Part10Source, size int64) (io.ReadCloser, error) {
	return defaultBudget.OpenExplicitLE(ctx, src, size)
}

// closeInTurn closes the transcoder before the object it reads.
type closeInTurn [2]io.Closer

func (c closeInTurn) Close() error { return errors.Join(c[0].Close(), c[1].Close()) }

type transcodedDataset struct {
	body   io.Reader
	pr     *io.PipeReader
	cancel context.CancelFunc
	done   chan struct{}
}

func (d *transcodedDataset) Read(p []byte) (int, error) { return d.body.Read(p) }

var errDatasetClosed = errors.New("transcoded data set closed")

func (d *transcodedDataset) Close() error {
	d.cancel()
	d.pr.CloseWithError(errDatasetClosed)
	<-d.done
	d.body = d.pr // what the buffer still holds is not read after Close
	return nil
}

// skipFileMeta reads past the preamble, "DICM" and the File Meta Information group, whose
// length (0002,0000) gives (PS3.10 7.1; TranscodeExplicitLE writes it first), and returns
// the rest: the bare data set.
func skipFileMeta(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var head [132 + 12]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return nil, err
	}
	el := head[132:]
	if string(head[128:132]) != "DICM" || binary.LittleEndian.Uint16(el[0:]) != 0x0002 ||
		binary.LittleEndian.Uint16(el[2:]) != 0x0000 || string(el[4:6]) != "UL" {
		return nil, errors.New("transcoder output does not start with File Meta Information")
	}
	if _, err := br.Discard(int(binary.LittleEndian.Uint32(el[8:]))); err != nil {
		return nil, err
	}
	return br, nil
}
