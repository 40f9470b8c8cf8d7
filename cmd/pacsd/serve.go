package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"pacsd/dicom"
	"pacsd/dicomweb"
	"pacsd/dimse"
	"pacsd/internal/connlimit"
	"pacsd/ohif"
	"pacsd/store"
	"pacsd/thumbnail"
	"pacsd/viewer"
)

type serveConfig struct {
	archiveConfig
	dicomAddr       string
	httpAddr        string
	aet             string
	strictCalledAE  bool
	maxAssociations int
	maxAssocPerAddr int
	http            httpLimits
	maxPDU          uint
	shutdownGrace   time.Duration
	publicURL       string
	corsOrigins     string
	metadataCacheMB int64
	frameCacheMB    int64
	ohifDir         string
	dicomwebOpen    bool
	sitesFile       string
	organization    string
	timezone        string
	location        *time.Location // loaded from timezone
	logLevel        string
	logFormat       string
	tls             tlsFlags
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	var c serveConfig
	fs := flag.NewFlagSet("pacsd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dicomAddr, "dicom-addr", ":11112", "DIMSE listen address (env PACSD_DICOM_ADDR)")
	fs.StringVar(&c.httpAddr, "http-addr", ":8080", "HTTP listen address; DICOMweb at /dicomweb (env PACSD_HTTP_ADDR)")
	c.archiveConfig.register(fs)
	fs.StringVar(&c.aet, "aet", "PACSD", "our AE title (env PACSD_AET)")
	fs.BoolVar(&c.strictCalledAE, "strict-called-ae", false, "reject associations addressed to another AE title")
	fs.IntVar(&c.maxAssociations, "max-associations", 64, "concurrent DIMSE associations")
	fs.IntVar(&c.maxAssocPerAddr, "max-associations-per-addr", 16, "concurrent DIMSE connections from one address (0: no bound), so that one sender cannot take every association slot")
	c.http.register(fs)
	fs.UintVar(&c.maxPDU, "max-pdu", 128*1024, "max PDU length we receive, bytes")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long in-flight transfers may take")
	fs.StringVar(&c.publicURL, "public-url", "", "external base URL (behind a reverse proxy), e.g. https://pacs.example/")
	fs.StringVar(&c.corsOrigins, "cors-origins", "", "comma-separated browser origins allowed to read DICOMweb across origins (CORS); * for any; empty: same origin only")
	fs.Int64Var(&c.metadataCacheMB, "metadata-cache-mb", 256, "memory for cached WADO-RS metadata, MiB (records are also kept under <data-dir>/cache/metadata)")
	fs.Int64Var(&c.frameCacheMB, "frame-cache-mb", 256, "memory for decoded frames kept for rendered images (a viewer's window/level), MiB")
	fs.BoolVar(&c.dicomwebOpen, "dicomweb-open", false, "serve /dicomweb and /ohif without login (a closed network only: every site's patients become visible to anyone who reaches the port); otherwise a radiologist's or admin's session, or HTTP Basic authentication with such an account, is required")
	fs.StringVar(&c.sitesFile, "sites-file", "", "JSON file of township sites ([{\"name\", \"aeTitles\", \"institutions\"}]) applied at start; sites can also be edited at /admin/sites")
	fs.StringVar(&c.organization, "organization", "", "the county hospital's name on printed reports and report SRs")
	fs.StringVar(&c.timezone, "timezone", defaultTimezone, "the county's time zone (tz database name): times shown and printed in the reading room, the dashboard's days")
	fs.StringVar(&c.ohifDir, "ohif-dir", ohif.DefaultDir, "OHIF v3 build served at /ohif/ (make ohif installs it); missing: /ohif/ says how to install it")
	fs.StringVar(&c.tls.cert, "tls-cert", "", "PEM certificate chain: with --tls-key, --http-addr serves HTTPS (TLS 1.2+), and --dicom-tls-addr DICOM TLS; re-read when the files change")
	fs.StringVar(&c.tls.key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&c.tls.dicomAddr, "dicom-tls-addr", "", "DIMSE over TLS listen address, e.g. :2762 (PS3.15 B.1), beside --dicom-addr; needs --tls-cert")
	fs.StringVar(&c.tls.clientCA, "dicom-tls-client-ca", "", "PEM CA bundle: DICOM TLS peers must present a certificate it signed; empty: any peer may connect (encrypted, not authenticated)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	if _, err := dicom.NewDecoderWithFallback(nil, c.fallbackCharset); err != nil {
		return fmt.Errorf("--fallback-charset: %w", err)
	}
	if err := c.tls.check(); err != nil {
		return err
	}
	if c.location, err = countyLocation(c.timezone); err != nil {
		return err
	}
	return serve(ctx, c, log, stderr)
}

func serve(ctx context.Context, c serveConfig, log *slog.Logger, stderr io.Writer) error {
	if err := os.MkdirAll(c.dataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	unlock, err := lockDir(c.dataDir)
	if err != nil {
		return err
	}
	defer unlock()

	archive, err := openArchive(ctx, c.archiveConfig, log)
	if err != nil {
		return err
	}
	defer archive.Close()
	if err := archive.Recover(ctx); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	// Uploads pending from before a crash resume here; an archive whose objects are in a
	// bucket refuses to start without it.
	if err := archive.Start(ctx, archive.remoteName); err != nil {
		return err
	}
	thumbs, err := thumbnail.New(archive.Archive, thumbnail.Config{Dir: filepath.Join(c.dataDir, "cache", "thumbnails"), Logger: log})
	if err != nil {
		return err
	}
	thumbs.Start(ctx)
	defer thumbs.Close()
	ohifPath := "/ohif"
	if st, err := os.Stat(c.ohifDir); err != nil || !st.IsDir() {
		ohifPath = "" // no "open in OHIF" links to a page that would only say it is missing
	}
	rr, err := viewer.New(ctx, viewer.Config{
		Repo: archive.idx.Reading(), Archive: archive.Archive, Thumbnails: thumbs, Logger: log,
		OHIFPath: ohifPath, SitesFile: c.sitesFile, Organization: c.organization, AdminOut: stderr,
		Location: c.location,
	})
	if err != nil {
		return fmt.Errorf("reading room: %w", err)
	}
	rr.Start(ctx)
	defer rr.Close()

	var httpTLS, dimseTLS *tls.Config
	if c.tls.enabled() {
		certs, err := newCertLoader(c.tls.cert, c.tls.key)
		if err != nil {
			return err
		}
		if httpTLS, err = c.tls.serverTLS(certs, false); err != nil {
			return err
		}
		if dimseTLS, err = c.tls.serverTLS(certs, true); err != nil {
			return err
		}
	}
	var listeners []net.Listener
	closeAll := func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}
	listen := func(what, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("%s listen: %w", what, err)
		}
		listeners = append(listeners, ln)
		if what == "http" {
			return c.http.listener(ln, log), nil
		}
		// DIMSE bounds its connections in all (dimse.Server); here, per sender.
		return connlimit.Wrap(ln, connlimit.Config{PerAddr: c.maxAssocPerAddr, Logger: log, Listener: what}), nil
	}
	dimseLn, err := listen("dicom", c.dicomAddr)
	if err != nil {
		return err
	}
	httpLn, err := listen("http", c.httpAddr)
	if err != nil {
		return err
	}
	var dimseTLSLn net.Listener
	if c.tls.dicomAddr != "" {
		ln, err := listen("dicom tls", c.tls.dicomAddr)
		if err != nil {
			return err
		}
		dimseTLSLn = tls.NewListener(ln, dimseTLS)
	}

	dsrv := &dimse.Server{
		AETitle:         c.aet,
		StrictCalledAE:  c.strictCalledAE,
		Store:           &ingest{archive: archive.Archive, log: log},
		Logger:          log,
		MaxPDULength:    uint32(c.maxPDU),
		MaxAssociations: c.maxAssociations,
	}
	handler, web := newHTTPHandler(archive.Archive, rr, thumbs, c, log)
	// DICOMweb builds the metadata of new objects as they arrive (dicomweb.Service).
	web.Start(ctx)
	defer web.Close()
	hsrv := c.http.server(handler, httpTLS)
	// Live worklists hold server-sent event streams open: end them, or shutdown would wait
	// for the whole grace period.
	hsrv.RegisterOnShutdown(rr.CloseEvents)

	attrs := []any{"dicom", dimseLn.Addr().String(), "http", httpLn.Addr().String(), "https", httpTLS != nil,
		"aet", c.aet, "data", c.dataDir}
	if dimseTLSLn != nil {
		attrs = append(attrs, "dicom_tls", dimseTLSLn.Addr().String(), "dicom_tls_client_ca", c.tls.clientCA != "")
	}
	log.Info("pacsd listening", attrs...)

	errc := make(chan error, 3)
	var wg sync.WaitGroup
	serveDIMSE := func(ln net.Listener) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := dsrv.Serve(ln); err != nil && !errors.Is(err, dimse.ErrServerClosed) {
				errc <- fmt.Errorf("dicom server on %s: %w", ln.Addr(), err)
			}
		}()
	}
	serveDIMSE(dimseLn)
	if dimseTLSLn != nil {
		serveDIMSE(dimseTLSLn)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		serve := func() error { return hsrv.Serve(httpLn) }
		if httpTLS != nil {
			serve = func() error { return hsrv.ServeTLS(httpLn, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", c.shutdownGrace)
	case runErr = <-errc:
		log.Error("server failed, shutting down", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownGrace)
	defer cancel()
	var shut sync.WaitGroup
	shut.Add(2)
	go func() {
		defer shut.Done()
		if err := dsrv.Shutdown(sctx); err != nil {
			log.Warn("dicom shutdown incomplete; aborted remaining associations", "err", err)
			dsrv.Close()
		}
	}()
	go func() {
		defer shut.Done()
		if err := hsrv.Shutdown(sctx); err != nil {
			log.Warn("http shutdown incomplete", "err", err)
			hsrv.Close()
		}
	}()
	shut.Wait()
	wg.Wait()
	log.Info("pacsd stopped")
	return runErr
}

func newHTTPHandler(archive *store.Archive, rr *viewer.Viewer, thumbs *thumbnail.Service, c serveConfig, log *slog.Logger) (http.Handler, *dicomweb.Service) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.GET("/healthz", func(ec echo.Context) error { return ec.String(http.StatusOK, "ok\n") })
	var web *dicomweb.Service // set below; /metrics reads its queue
	e.GET("/metrics", func(ec echo.Context) error { return writeMetrics(ec.Response(), archive, thumbs, web) })
	// DICOMweb and OHIF show every site's patients: staff only, unless told otherwise. A
	// township's own users read their studies in the reading room, which scopes them.
	var guard []echo.MiddlewareFunc
	if !c.dicomwebOpen {
		guard = append(guard, rr.RequireStaff())
		staff := rr.RequireStaff()
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			guarded := staff(next)
			return func(ec echo.Context) error {
				if p := ec.Request().URL.Path; p == "/ohif" || strings.HasPrefix(p, "/ohif/") {
					return guarded(ec)
				}
				return next(ec)
			}
		})
	}
	var origins []string
	for _, o := range strings.Split(c.corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	web = dicomweb.Register(e.Group("/dicomweb", guard...), archive, dicomweb.Config{
		Logger:          log,
		PublicURL:       c.publicURL,
		CacheDir:        filepath.Join(c.dataDir, "cache", "metadata"),
		CacheBytes:      c.metadataCacheMB << 20,
		FallbackCharset: c.fallbackCharset,
		AllowedOrigins:  origins,
		Thumbnails:      thumbs,
		FrameCacheBytes: c.frameCacheMB << 20,
	})
	// No RemoveTrailingSlash middleware: /ohif redirects to ohif/, the two would loop.
	ohif.Register(e, ohif.Config{Dir: c.ohifDir, DICOMwebPath: "/dicomweb", PublicURL: c.publicURL, Logger: log})
	rr.Register(e) // the reading room, at /
	return e, web
}

// lockDir takes an exclusive flock on the data dir: two pacsd processes on one index and
// spool would break the recovery rules (each would delete the other's spool files).
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another pacsd: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
