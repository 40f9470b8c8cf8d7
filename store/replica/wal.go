package replica

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The SQLite WAL file format (https://www.sqlite.org/fileformat2.html#walformat): a 32-byte
// header, then frames of a 24-byte header and one page. Every frame carries the WAL's salt
// and a checksum that chains from the previous frame (the first from the header's), so a
// reader can tell the frames of the current WAL from stale ones of an earlier cycle and
// from a frame still being written.
const (
	walHeaderSize  = 32
	frameHeaderLen = 24
	walMagicLE     = 0x377f0682 // checksums over little-endian words
	walMagicBE     = 0x377f0683
)

// checksum is the running WAL checksum (s0, s1).
type checksum [2]uint32

// walHeader is a parsed WAL header.
type walHeader struct {
	raw      []byte
	bigEnd   bool
	pageSize int
	ckptSeq  uint32
	salt     [2]uint32
	sum      checksum // the header's own checksum: the chain's start for frame 1
}

var (
	errNoWAL   = errors.New("no valid WAL header")
	errTooMany = errors.New("more WAL frames than the limit")
)

func parseWALHeader(b []byte) (walHeader, error) {
	if len(b) < walHeaderSize {
		return walHeader{}, errNoWAL
	}
	h := walHeader{raw: append([]byte(nil), b[:walHeaderSize]...)}
	switch binary.BigEndian.Uint32(b[0:]) {
	case walMagicLE:
	case walMagicBE:
		h.bigEnd = true
	default:
		return walHeader{}, errNoWAL
	}
	h.pageSize = int(binary.BigEndian.Uint32(b[8:]))
	if h.pageSize == 1 {
		h.pageSize = 65536
	}
	if h.pageSize < 512 || h.pageSize > 65536 || h.pageSize&(h.pageSize-1) != 0 {
		return walHeader{}, fmt.Errorf("WAL page size %d: %w", h.pageSize, errNoWAL)
	}
	h.ckptSeq = binary.BigEndian.Uint32(b[12:])
	h.salt = [2]uint32{binary.BigEndian.Uint32(b[16:]), binary.BigEndian.Uint32(b[20:])}
	h.sum = walChecksum(h.bigEnd, checksum{}, b[:24])
	if h.sum != (checksum{binary.BigEndian.Uint32(b[24:]), binary.BigEndian.Uint32(b[28:])}) {
		return walHeader{}, fmt.Errorf("WAL header checksum: %w", errNoWAL)
	}
	return h, nil
}

// walChecksum continues the checksum s over b (a multiple of 8 bytes), as SQLite's
// walChecksumBytes does.
func walChecksum(bigEnd bool, s checksum, b []byte) checksum {
	s0, s1 := s[0], s[1]
	// Two loops rather than a binary.ByteOrder: the interface call per word made reading
	// the WAL several times slower.
	if bigEnd {
		for i := 0; i+8 <= len(b); i += 8 {
			s0 += binary.BigEndian.Uint32(b[i:]) + s1
			s1 += binary.BigEndian.Uint32(b[i+4:]) + s0
		}
		return checksum{s0, s1}
	}
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += binary.LittleEndian.Uint32(b[i:]) + s1
		s1 += binary.LittleEndian.Uint32(b[i+4:]) + s0
	}
	return checksum{s0, s1}
}

// frameInfo is what a frame's header says.
type frameInfo struct {
	pgno   uint32
	commit uint32 // the database size in pages after a commit frame; 0 otherwise
}

// checkFrame verifies that frame (header and page) belongs to the WAL whose header is h and
// follows a frame whose checksum was prev; it returns the frame's checksum.
func checkFrame(h walHeader, prev checksum, frame []byte) (frameInfo, checksum, bool) {
	if len(frame) != frameHeaderLen+h.pageSize {
		return frameInfo{}, prev, false
	}
	if binary.BigEndian.Uint32(frame[8:]) != h.salt[0] || binary.BigEndian.Uint32(frame[12:]) != h.salt[1] {
		return frameInfo{}, prev, false
	}
	s := walChecksum(h.bigEnd, prev, frame[:8])
	s = walChecksum(h.bigEnd, s, frame[frameHeaderLen:])
	if s != (checksum{binary.BigEndian.Uint32(frame[16:]), binary.BigEndian.Uint32(frame[20:])}) {
		return frameInfo{}, prev, false
	}
	fi := frameInfo{pgno: binary.BigEndian.Uint32(frame[0:]), commit: binary.BigEndian.Uint32(frame[4:])}
	if fi.pgno == 0 {
		return frameInfo{}, prev, false
	}
	return fi, s, true
}

// walPos is a place in the stream of WAL frames: the WAL (by its header) and the number of
// frames of it already taken, with the checksum of the last one (the header's for none).
type walPos struct {
	hdr    walHeader // zero: no WAL yet
	frames uint32
	sum    checksum
}

func (p walPos) valid() bool { return p.hdr.raw != nil }

// committed is what readCommitted found: whole transactions after a position.
type committed struct {
	hdr    walHeader
	first  uint32   // index (1-based) of the first frame in its WAL
	start  checksum // the chain value before the first frame
	data   []byte   // the frames, headers included
	frames uint32
	end    walPos // the position after the last commit frame
}

// readCommitted reads the WAL at path after pos: the frames of whole transactions (up to
// the last commit frame) that chain from pos, at most about maxBytes of them (always at
// least one transaction); with keep false it only finds where they end. With limit > 0,
// more than limit frames after pos is errTooMany. The WAL header may
// differ from pos's: then the frames are read from the start of the new WAL, and the caller
// decides whether the new WAL continues the old (restarted is true). A missing or empty WAL
// yields nothing.
func readCommitted(path string, pos walPos, maxBytes int, keep bool, limit uint32) (c committed, restarted bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return committed{end: pos}, false, nil
	}
	if err != nil {
		return committed{}, false, fmt.Errorf("open WAL: %w", err)
	}
	defer f.Close()
	hb := make([]byte, walHeaderSize)
	if _, err := io.ReadFull(f, hb); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return committed{end: pos}, false, nil
		}
		return committed{}, false, fmt.Errorf("read WAL header: %w", err)
	}
	h, err := parseWALHeader(hb)
	if err != nil {
		return committed{end: pos}, false, nil // being created, or no WAL since the last reset
	}
	from := pos
	if !pos.valid() || pos.hdr.salt != h.salt || pos.hdr.pageSize != h.pageSize {
		restarted = pos.valid()
		from = walPos{hdr: h, sum: h.sum}
	}
	c = committed{hdr: h, first: from.frames + 1, start: from.sum, end: from}
	frameSize := frameHeaderLen + h.pageSize
	r := bufio.NewReaderSize(io.NewSectionReader(f, walHeaderSize+int64(from.frames)*int64(frameSize), 1<<62), 1<<20)
	buf := make([]byte, frameSize)
	sum, n := from.sum, from.frames
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break // the end, or a frame being written
			}
			return committed{}, false, fmt.Errorf("read WAL: %w", err)
		}
		fi, s, ok := checkFrame(h, sum, buf)
		if !ok {
			break // stale frames of an earlier cycle, or a frame being written
		}
		sum, n = s, n+1
		if limit > 0 && n-from.frames > limit {
			return committed{}, false, errTooMany
		}
		if keep {
			c.data = append(c.data, buf...)
		}
		if fi.commit != 0 {
			c.end = walPos{hdr: h, frames: n, sum: sum}
			c.frames = n - from.frames
			if keep && len(c.data) >= maxBytes {
				break
			}
		}
	}
	if keep {
		c.data = c.data[:int(c.frames)*frameSize]
	}
	return c, restarted, nil
}

// continues reports whether next is the header SQLite writes when it restarts the WAL whose
// header is prev (walRestartHdr): salt-1 and the checkpoint sequence one more each, the
// same page size. Two restarts, or a WAL deleted and made anew, do not pass.
func continues(prev, next walHeader) bool {
	return next.salt[0] == prev.salt[0]+1 && next.ckptSeq == prev.ckptSeq+1 && next.pageSize == prev.pageSize
}
