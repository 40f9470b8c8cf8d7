package replica

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
)

// Bucket is where replicas go: a folder of named objects, each written whole or not at all
// (an S3 PUT). store/s3's Reserved is the production one.
type Bucket interface {
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	List(ctx context.Context, prefix string, fn func(name string, size int64) error) error
	Delete(ctx context.Context, name string) error
}

// The bucket layout, under the Bucket's folder (in pacsd: <prefix>/.pacsd/replica/):
//
//	<db>/<generation>/snapshot.gz        the whole database at one WAL position
//	<db>/<generation>/wal/<seq>.gz       the committed WAL frames after it, seq 1, 2, ...
//
// <db> is the database's file name (index.db, audit.db); a generation is 16 hex digits of
// the Unix time in nanoseconds it began at, so names sort by age. Each object is gzip of
// one JSON header line and a body (the database file, or the pages a segment's WAL frames
// leave, see lastPages).
const formatVersion = 1

// header is the first line of every object.
type header struct {
	V    int       `json:"v"`
	Kind string    `json:"kind"` // "snapshot" or "wal"
	DB   string    `json:"db"`
	Gen  string    `json:"gen"`
	Seq  uint64    `json:"seq,omitempty"`
	Time time.Time `json:"time"`
	// The WAL the frames are of (for a snapshot: the WAL position it was taken at, if the
	// database had one), so continuity can be checked: its header, as written by SQLite.
	WALHeader []byte   `json:"walHeader,omitempty"`
	First     uint32   `json:"first"` // the first frame's index in its WAL; snapshot: frames taken
	Frames    uint32   `json:"frames,omitempty"`
	Start     checksum `json:"start"` // WAL checksum before the first frame (snapshot: at its position)
	End       checksum `json:"end"`   // after the last frame
	// A segment's body is the pages a checkpoint of its frames would write (lastPages);
	// DBSize is the database's size in pages after its last commit.
	DBSize uint32 `json:"dbSize,omitempty"`
	Pages  uint32 `json:"pages,omitempty"`
	Size   int64  `json:"size"` // body bytes
	SHA256 string `json:"sha256"`
}

func snapshotName(db, gen string) string { return db + "/" + gen + "/snapshot.gz" }

func segmentName(db, gen string, seq uint64) string {
	return fmt.Sprintf("%s/%s/wal/%016x.gz", db, gen, seq)
}

func newGeneration(t time.Time) string { return fmt.Sprintf("%016x", t.UnixNano()) }

// encodeObject writes gzip(header line + body) to w, filling the header's size and hash.
func encodeObject(w io.Writer, h header, body io.Reader, size int64, sum []byte) error {
	h.V, h.Size, h.SHA256 = formatVersion, size, hex.EncodeToString(sum)
	line, err := json.Marshal(h)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed) // pages compress 3-5x already at the fastest level
	if err != nil {
		return err
	}
	if _, err := zw.Write(append(line, '\n')); err != nil {
		return err
	}
	if n, err := io.Copy(zw, body); err != nil {
		return err
	} else if n != size {
		return fmt.Errorf("body of %d bytes, want %d", n, size)
	}
	return zw.Close()
}

func encodeSegment(h header, frames []byte) ([]byte, error) {
	sum := sha256.Sum256(frames)
	var buf bytes.Buffer
	if err := encodeObject(&buf, h, bytes.NewReader(frames), int64(len(frames)), sum[:]); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var errDamaged = errors.New("damaged replica object")

// openObject reads an object's header and returns a reader of its body that fails with
// errDamaged at the end unless the body has the header's size and SHA-256 and the gzip
// stream is whole.
func openObject(r io.Reader) (header, io.Reader, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return header{}, nil, fmt.Errorf("%w: %w", errDamaged, err)
	}
	br := bufio.NewReaderSize(zr, 64<<10)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return header{}, nil, fmt.Errorf("%w: header: %w", errDamaged, err)
	}
	var h header
	if err := json.Unmarshal(line, &h); err != nil {
		return header{}, nil, fmt.Errorf("%w: header: %w", errDamaged, err)
	}
	if h.V != formatVersion {
		return header{}, nil, fmt.Errorf("%w: format version %d, want %d", errDamaged, h.V, formatVersion)
	}
	return h, &verifyReader{r: br, left: h.Size, want: h.SHA256, h: sha256.New()}, nil
}

type verifyReader struct {
	r    io.Reader
	left int64
	want string
	h    interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.left <= 0 {
		// The gzip trailer (CRC-32, length) is checked when its reader reaches EOF.
		var one [1]byte
		if n, err := io.ReadFull(v.r, one[:]); n != 0 || !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("%w: body longer than its header says, or gzip trailer: %v", errDamaged, err)
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return 0, fmt.Errorf("%w: SHA-256 %s, header says %s", errDamaged, got, v.want)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > v.left {
		p = p[:v.left]
	}
	n, err := v.r.Read(p)
	v.left -= int64(n)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) && v.left > 0 {
		return n, fmt.Errorf("%w: body ends %d bytes early", errDamaged, v.left)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("%w: %w", errDamaged, err)
	}
	return n, nil
}

// listing is what a database's folder holds.
type listing struct {
	gens map[string]*genListing
}

type genListing struct {
	snapshot bool
	segments map[uint64]bool
}

// list reads the names under db/ (others' and malformed names are ignored).
func list(ctx context.Context, b Bucket, db string) (listing, error) {
	l := listing{gens: map[string]*genListing{}}
	err := b.List(ctx, db+"/", func(name string, size int64) error {
		parts := strings.Split(strings.TrimPrefix(name, db+"/"), "/")
		if len(parts) < 2 || len(parts[0]) != 16 {
			return nil
		}
		g := l.gens[parts[0]]
		if g == nil {
			g = &genListing{segments: map[uint64]bool{}}
			l.gens[parts[0]] = g
		}
		switch {
		case len(parts) == 2 && parts[1] == "snapshot.gz":
			g.snapshot = true
		case len(parts) == 3 && parts[1] == "wal" && path.Ext(parts[2]) == ".gz":
			if seq, err := strconv.ParseUint(strings.TrimSuffix(parts[2], ".gz"), 16, 64); err == nil {
				g.segments[seq] = true
			}
		}
		return nil
	})
	return l, err
}
