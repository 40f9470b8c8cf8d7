package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/dimse"
)

type scuFlags struct {
	addr    string
	aet     string
	aec     string
	timeout time.Duration

	tls             bool
	tlsCA           string
	tlsCert, tlsKey string
}

func (s *scuFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.addr, "addr", "127.0.0.1:11112", "SCP host:port")
	fs.StringVar(&s.aet, "aet", "PACSD-SCU", "our (calling) AE title")
	fs.StringVar(&s.aec, "aec", "PACSD", "called AE title")
	fs.DurationVar(&s.timeout, "timeout", 30*time.Second, "connect and negotiation timeout")
	fs.BoolVar(&s.tls, "tls", false, "DICOM TLS (PS3.15 B.1): the peer's certificate is verified against --tls-ca, else the system's CAs")
	fs.StringVar(&s.tlsCA, "tls-ca", "", "PEM CA bundle that signed the peer's certificate")
	fs.StringVar(&s.tlsCert, "tls-cert", "", "PEM certificate to present, for peers that authenticate their callers")
	fs.StringVar(&s.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
}

// clientConfig is the association configuration the flags describe.
func (s *scuFlags) clientConfig() (dimse.ClientConfig, error) {
	cfg := dimse.ClientConfig{CallingAETitle: s.aet, CalledAETitle: s.aec, Timeout: s.timeout}
	if !s.tls {
		if s.tlsCA != "" || s.tlsCert != "" || s.tlsKey != "" {
			return cfg, errors.New("--tls-ca, --tls-cert and --tls-key need --tls")
		}
		return cfg, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.tlsCA != "" {
		pem, err := os.ReadFile(s.tlsCA)
		if err != nil {
			return cfg, fmt.Errorf("--tls-ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("--tls-ca %s: no PEM certificate in it", s.tlsCA)
		}
	}
	if (s.tlsCert == "") != (s.tlsKey == "") {
		return cfg, errors.New("--tls-cert and --tls-key go together")
	}
	if s.tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(s.tlsCert, s.tlsKey)
		if err != nil {
			return cfg, fmt.Errorf("--tls-cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	cfg.TLS = tc
	return cfg, nil
}

func runEcho(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s scuFlags
	fs := flag.NewFlagSet("pacsd echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := s.clientConfig()
	if err != nil {
		return err
	}
	c, err := dimse.Dial(ctx, s.addr, cfg)
	if err != nil {
		return err
	}
	st, err := c.Echo(ctx)
	if err != nil {
		c.Abort()
		return err
	}
	if err := c.Release(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "C-ECHO %s: status 0x%04X\n", s.addr, st.Code)
	if st.Code != dimse.StatusSuccess {
		return fmt.Errorf("C-ECHO status 0x%04X", st.Code)
	}
	return nil
}

// sendFile is one Part-10 file to send, with what its header said.
type sendFile struct {
	path                  string
	sopClass, sopInstance string
	ts                    string
	datasetOffset         int64
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s scuFlags
	fset := flag.NewFlagSet("pacsd send", flag.ContinueOnError)
	fset.SetOutput(stderr)
	s.register(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() == 0 {
		return errors.New("send: no files (give files or folders)")
	}
	cfg, err := s.clientConfig()
	if err != nil {
		return err
	}
	var files []sendFile
	var bad int
	for _, arg := range fset.Args() {
		err := filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			f, err := inspect(p)
			if err != nil {
				bad++
				fmt.Fprintf(stderr, "skip %s: %v\n", p, err)
				return nil
			}
			files = append(files, f)
			return nil
		})
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	if len(files) == 0 {
		return errors.New("send: no DICOM files found")
	}
	items := make([]dimse.StoreItem, len(files))
	for i, f := range files {
		items[i] = dimse.StoreItem{
			SOPClassUID: f.sopClass, SOPInstanceUID: f.sopInstance, TransferSyntaxUID: f.ts,
			Open: f.open,
		}
		if pixel.OffersExplicitLE(f.ts) {
			// For peers that take nothing compressed (many older workstations).
			items[i].Uncompressed = func() (io.ReadCloser, error) { return f.openUncompressed(ctx) }
		}
	}
	err = dimse.StoreAll(ctx, s.addr, cfg, items, func(r dimse.StoreResult) {
		f := files[r.Index]
		switch {
		case r.Err != nil:
			fmt.Fprintf(stdout, "%s: FAILED %v\n", f.path, r.Err)
		case !r.OK():
			fmt.Fprintf(stdout, "%s: FAILED status %s\n", f.path, r.Status)
		case r.Uncompressed:
			fmt.Fprintf(stdout, "%s: status 0x%04X (sent as Explicit VR Little Endian: the peer does not accept %s)\n",
				f.path, r.Status.Code, f.ts)
		default:
			fmt.Fprintf(stdout, "%s: status 0x%04X\n", f.path, r.Status.Code)
		}
	})
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if bad > 0 {
		return fmt.Errorf("send: %d unreadable files skipped", bad)
	}
	return nil
}

func inspect(path string) (sendFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return sendFile{}, err
	}
	defer fh.Close()
	h, err := dicom.ReadPart10(bufio.NewReader(fh), dicom.ReadOptions{})
	if err != nil {
		return sendFile{}, err
	}
	f := sendFile{
		path:          path,
		sopClass:      h.Meta.String(dicom.TagMediaStorageSOPClassUID),
		sopInstance:   h.Meta.String(dicom.TagMediaStorageSOPInstanceUID),
		ts:            h.TransferSyntax,
		datasetOffset: h.DatasetOffset,
	}
	if f.sopClass == "" {
		f.sopClass = h.Dataset.String(dicom.TagSOPClassUID)
	}
	if f.sopInstance == "" {
		f.sopInstance = h.Dataset.String(dicom.TagSOPInstanceUID)
	}
	if f.sopClass == "" || f.sopInstance == "" || f.ts == "" {
		return sendFile{}, errors.New("no SOP class, SOP instance or transfer syntax UID")
	}
	return f, nil
}

// open returns the file positioned at its data set: DIMSE carries no File Meta Information.
func (f sendFile) open() (io.ReadCloser, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	if _, err := fh.Seek(f.datasetOffset, io.SeekStart); err != nil {
		fh.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{bufio.NewReaderSize(fh, 256<<10), fh}, nil
}

// openUncompressed streams the data set re-encoded in Explicit VR Little Endian with
// native pixel data (pixel.ExplicitLEDataset: one frame at a time, no File Meta Information).
func (f sendFile) openUncompressed(ctx context.Context) (io.ReadCloser, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	body, err := pixel.OpenExplicitLE(ctx, fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("transcode %s: %w", f.path, err)
	}
	return body, nil
}
