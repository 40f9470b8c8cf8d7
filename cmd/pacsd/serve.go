package main

import (
	"cmp"
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
	"pacsd/dicom/pixel"
	"pacsd/dicomweb"
	"pacsd/dimse"
	"pacsd/internal/connlimit"
	"pacsd/ohif"
	"pacsd/qr"
	"pacsd/store"
	"pacsd/store/derived"
	"pacsd/store/postgres"
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
	dicomIdle       time.Duration
	http            httpLimits
	maxPDU          uint
	shutdownGrace   time.Duration
	publicURL       string
	corsOrigins     string
	metadataCacheMB int64
	frameCacheMB    int64
	maxFramePixels  int64
	decodeMemoryMB  int64
	pixels          *pixel.Budget // from the two above, shared by every decode
	ohifDir         string
	dicomwebOpen    bool
	metricsOpen     bool
	sitesFile       string
	peersFile       string
	unknownAE       unknownAEPolicy
	organization    string
	shareDays       int
	shareSecret     string // "": <data-dir>/share.key
	shareOnSign     bool
	timezone        string
	location        *time.Location // loaded from timezone
	logLevel        string
	logFormat       string
	tls             tlsFlags
	audit           auditFlags
	query           queryFlags
	forward         forwardFlags
	hl7             hl7Flags
	commit          commitFlags
	replica         replicaFlags  // restore_replicate.go
	shared          derived.Store // --cluster: thumbnails and metadata shared through the bucket (derived.go)
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
	fs.DurationVar(&c.dicomIdle, "dicom-idle-timeout", time.Minute, "an association on which the peer sends nothing for this long is aborted (its slot freed)")
	c.http.register(fs)
	fs.UintVar(&c.maxPDU, "max-pdu", 128*1024, "max PDU length we receive, bytes")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long in-flight transfers may take")
	fs.StringVar(&c.publicURL, "public-url", "", "external base URL (behind a reverse proxy), e.g. https://pacs.example/")
	fs.IntVar(&c.shareDays, "share-days", 30, "days a patient's share link (the QR code printed on a report) lasts; 0: no share links at all")
	fs.StringVar(&c.shareSecret, "share-secret", "", "file of the secret share links' tokens are derived under, made at the first start (mode 0600; keep it out of database backups); default <data-dir>/share.key")
	fs.BoolVar(&c.shareOnSign, "share-on-sign", true, "make the patient's share link when a report is signed (else at its first print)")
	fs.StringVar(&c.corsOrigins, "cors-origins", "", "comma-separated browser origins allowed to read DICOMweb across origins (CORS); * for any; empty: same origin only")
	fs.Int64Var(&c.metadataCacheMB, "metadata-cache-mb", 256, "memory for cached WADO-RS metadata, MiB (records are also kept under <data-dir>/cache/metadata)")
	fs.Int64Var(&c.frameCacheMB, "frame-cache-mb", 256, "memory for decoded frames kept for rendered images (a viewer's window/level), MiB")
	fs.Int64Var(&c.maxFramePixels, "max-frame-pixels", pixel.DefaultMaxFramePixels, "largest frame (rows x columns) decoded for rendering, thumbnails and transcoding; larger images are stored and served as stored only")
	fs.Int64Var(&c.decodeMemoryMB, "decode-memory-mb", pixel.DefaultDecodeMemory>>20, "memory all decodes (rendering, thumbnails, transcoding) may hold at once, MiB; more decodes wait their turn")
	fs.BoolVar(&c.dicomwebOpen, "dicomweb-open", false, "serve /dicomweb and /ohif without login (a closed network only: every site's patients become visible to anyone who reaches the port); otherwise a radiologist's or admin's session, or HTTP Basic authentication with such an account, or an API token (/admin/tokens), is required")
	fs.BoolVar(&c.metricsOpen, "metrics-open", false, "serve /metrics without login, for a Prometheus on a closed network; otherwise a staff account or an API token with the metrics scope is required")
	fs.StringVar(&c.sitesFile, "sites-file", "", "JSON file of township sites ([{\"name\", \"aeTitles\", \"institutions\"}]) applied at start; sites can also be edited at /admin/sites")
	fs.StringVar(&c.peersFile, "peers-file", "", "JSON file of DICOM peers ([{\"aeTitle\", \"site\", \"host\", \"port\", \"addresses\", \"requireTLS\", \"mayStore\", \"mayQuery\", \"mayRetrieve\", \"destination\"}]) applied at start after --sites-file, by AE title; peers can also be edited at /admin/peers")
	fs.Var(&c.unknownAE, "unknown-ae", "what a calling AE title that is not a registered peer may do: accept (its studies shown as from an unknown sender), quarantine (stored, seen only by administrators until assigned to a site) or refuse (association rejected)")
	fs.StringVar(&c.organization, "organization", "", "the county hospital's name on printed reports and report SRs")
	fs.StringVar(&c.timezone, "timezone", defaultTimezone, "the county's time zone (tz database name): times shown and printed in the reading room, the dashboard's days")
	fs.StringVar(&c.ohifDir, "ohif-dir", ohif.DefaultDir, "OHIF v3 build served at /ohif/ (make ohif installs it); missing: /ohif/ says how to install it")
	fs.StringVar(&c.tls.cert, "tls-cert", "", "PEM certificate chain: with --tls-key, --http-addr serves HTTPS (TLS 1.2+), and --dicom-tls-addr DICOM TLS; re-read when the files change")
	fs.StringVar(&c.tls.key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&c.tls.dicomAddr, "dicom-tls-addr", "", "DIMSE over TLS listen address, e.g. :2762 (PS3.15 B.1), beside --dicom-addr; needs --tls-cert")
	fs.StringVar(&c.tls.clientCA, "dicom-tls-client-ca", "", "PEM CA bundle: DICOM TLS peers must present a certificate it signed; empty: any peer may connect (encrypted, not authenticated)")
	c.audit.register(fs)
	c.query.register(fs)
	c.forward.register(fs)
	c.hl7.register(fs)
	c.commit.register(fs)
	c.replica.register(fs)
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
	if c.maxFramePixels < 1 || c.decodeMemoryMB < 1 {
		return fmt.Errorf("--max-frame-pixels and --decode-memory-mb must be positive")
	}
	c.pixels = pixel.NewBudget(pixel.Limits{MaxFramePixels: c.maxFramePixels, DecodeMemory: c.decodeMemoryMB << 20})
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

	archive, err := startArchive(ctx, c, log)
	if err != nil {
		return err
	}
	defer archive.Close()
	// The SQLite databases copied to the bucket as they change (restore_replicate.go); the
	// last changes shipped after everything that writes them has stopped, before they close.
	// PostgreSQL is backed up by its own means (pg_basebackup, WAL archiving): only the
	// embedded engine's files are replicated.
	repFlags := c.replica
	repFlags.on = repFlags.on && archive.db.sqlite != nil
	rep, err := startReplica(ctx, c.archiveConfig, repFlags, log)
	if err != nil {
		return err
	}
	defer rep.Close()
	// Closed after the servers and the reading room (nothing records any more), before the
	// index: its queue is written first.
	var trail *auditTrail
	if archive.db.pg != nil {
		trail, err = startAuditOn(ctx, c.audit, archive.db.pg.Audit(), c.aet, c.organization, log)
	} else {
		trail, err = startAudit(ctx, c.audit, archive.db.sqlite, c.aet, c.organization, log)
	}
	if err != nil {
		return err
	}
	defer trail.Close()
	if c.shared, err = openDerived(c.archiveConfig, log); err != nil {
		return err
	}
	thumbs, err := startThumbnails(ctx, c, archive, log)
	if err != nil {
		return err
	}
	defer thumbs.Close()
	// The HIS link (orders in, reports out) before the reading room, whose signatures it
	// queues; closed after it.
	his, err := startHIS(ctx, c, archive, log)
	if err != nil {
		return err
	}
	defer his.Close()
	rr, err := startReadingRoom(ctx, c, archive, thumbs, trail, log, stderr)
	if err != nil {
		return err
	}
	defer rr.Close()
	// Forwarding works the queue PutInstance fills (package forward); after the reading
	// room, which applies --peers-file.
	fwd, err := startForwarder(ctx, c, archive, log)
	if err != nil {
		return err
	}
	defer fwd.Close()

	httpTLS, dimseTLS, err := c.tls.configs()
	if err != nil {
		return err
	}
	srv, err := listen(c, httpTLS, dimseTLS, log)
	if err != nil {
		return err
	}
	peers := &peerPolicy{peers: archive.db.reading, unknown: c.unknownAE, log: log.With("component", "peers"), audit: trail.rec}
	srv.dimse = &dimse.Server{
		AETitle:         c.aet,
		StrictCalledAE:  c.strictCalledAE,
		Accept:          peers.accept,
		Store:           &ingest{archive: archive.Archive, log: log.With("component", "ingest"), audit: newStoreAudit(trail.rec), peers: peers},
		Logger:          log,
		MaxPDULength:    uint32(c.maxPDU),
		MaxAssociations: c.maxAssociations,
		IdleTimeout:     c.dicomIdle,
	}
	// C-FIND over the index (qr): the same matching as QIDO-RS; C-MOVE and C-GET from the
	// archive (qr.Retriever), to registered destinations, through the same peer checks.
	query := newQR(c, archive.Index(), archive.db.reading, trail.rec, log)
	// One C-FIND handler: the Q/R models, and the Modality Worklist over the scheduled
	// procedures the registration page and the HIS API make (qr.Worklist).
	finders := qr.FindHandlers{qr.ModalityWorklistFind: query.Worklist(archive.db.reading)}
	for _, class := range qr.FindSOPClasses {
		finders[class] = query
	}
	srv.dimse.Find, srv.dimse.FindSOPClasses = finders, finders.SOPClasses()
	retrieve, err := newRetriever(c, query, archive.Archive)
	if err != nil {
		return err
	}
	srv.dimse.Move, srv.dimse.MoveSOPClasses = retrieve, qr.MoveSOPClasses
	srv.dimse.Get, srv.dimse.GetSOPClasses = retrieve, qr.GetSOPClasses
	// Storage Commitment Push Model (qr.Committer): closed after the DIMSE server, before
	// the archive, so a report in progress ends before the index closes.
	commit, err := newCommitter(c, query)
	if err != nil {
		return err
	}
	defer commit.Close()
	srv.dimse.Action, srv.dimse.ActionSOPClasses = commit, qr.CommitSOPClasses
	srv.ready = &readiness{index: archive.db, spoolDir: filepath.Join(c.dataDir, "spool"), log: log.With("component", "pacsd")}
	handler, web := newHTTPHandler(archive.Archive, rr, thumbs, srv.ready, trail, c, log)
	// DICOMweb builds the metadata of new objects as they arrive (dicomweb.Service).
	web.Start(ctx)
	defer web.Close()
	srv.http = c.http.server(handler, httpTLS)
	// Live worklists hold server-sent event streams open: end them, or shutdown would wait
	// for the whole grace period.
	srv.http.RegisterOnShutdown(rr.CloseEvents)

	plog := log.With("component", "pacsd")
	srv.logListening(plog, c)
	// The index-vs-blobs check walks every blob: in the background, once pacsd listens;
	// stopped before the archive closes (defers run last first).
	check := archive.CheckInBackground(ctx)
	defer check.Stop()
	return srv.run(ctx, c.shutdownGrace, plog)
}

// startArchive opens the archive, clears the spool of a crash's unfinished puts and resumes
// pending uploads; the consistency check runs after (serve: CheckInBackground).
func startArchive(ctx context.Context, c serveConfig, log *slog.Logger) (*openedArchive, error) {
	archive, err := openArchive(ctx, c.archiveConfig, log)
	if err != nil {
		return nil, err
	}
	if err := archive.Recover(ctx); err != nil {
		archive.Close()
		return nil, fmt.Errorf("recover: %w", err)
	}
	// Uploads pending from before a crash resume here; an archive whose objects are in a
	// bucket refuses to start without it.
	if err := archive.Start(ctx, archive.remoteName); err != nil {
		archive.Close()
		return nil, err
	}
	return archive, nil
}

// startThumbnails starts making thumbnails of what arrives (and of what lacks one).
func startThumbnails(ctx context.Context, c serveConfig, archive *openedArchive, log *slog.Logger) (*thumbnail.Service, error) {
	thumbs, err := thumbnail.New(archive.Archive, thumbnail.Config{Dir: filepath.Join(c.dataDir, "cache", "thumbnails"), Logger: log, Pixels: c.pixels, Shared: c.shared})
	if err != nil {
		return nil, err
	}
	thumbs.Start(ctx)
	return thumbs, nil
}

// startReadingRoom builds and starts the reading room (sites, accounts, live worklists).
func startReadingRoom(ctx context.Context, c serveConfig, archive *openedArchive, thumbs *thumbnail.Service, trail *auditTrail, log *slog.Logger, stderr io.Writer) (*viewer.Viewer, error) {
	ohifPath := "/ohif"
	if st, err := os.Stat(c.ohifDir); err != nil || !st.IsDir() {
		ohifPath = "" // no "open in OHIF" links to a page that would only say it is missing
	}
	rd := archive.db.reading
	rr, err := viewer.New(ctx, viewer.Config{
		Sites: rd, Peers: rd, Users: rd, Reports: rd, Worklist: rd, Tokens: rd, Orders: rd,
		Annotations: rd, KeyImages: rd, Priors: rd, Workflow: rd, Archive: archive.Archive, Thumbnails: thumbs, Logger: log,
		Audit: trail.rec, AuditLog: trail.store,
		OHIFPath: ohifPath, SitesFile: c.sitesFile, PeersFile: c.peersFile, Organization: c.organization, AdminOut: stderr,
		Location: c.location, Pixels: c.pixels, ReportSigned: c.hl7.link.reportSigned,
		Forward: archive.db.forwarding, ForwardKick: c.forward.run.Kick, // /admin/forward; the forwarder starts after
		Shares: rd, PublicURL: c.publicURL, ShareDays: shareDays(c.shareDays), // share.go: /s/..., /admin/shares
		ShareSecret: cmp.Or(c.shareSecret, filepath.Join(c.dataDir, "share.key")), ShareOnSign: c.shareOnSign,
	})
	if err != nil {
		return nil, fmt.Errorf("reading room: %w", err)
	}
	rr.Start(ctx)
	if pg := archive.db.pg; pg != nil {
		// Objects stored through the other nodes, and their reading rooms' events (claims,
		// reports, critical findings), reach this node's live worklists; this node's events
		// reach theirs. One LISTEN connection for both; a node's own events come back to it
		// and are skipped by its id.
		node := postgres.NewNodeID()
		rr.ShareEvents(ctx, func(ctx context.Context, kind string) error { return pg.PublishEvent(ctx, node, kind) })
		go func() {
			n := postgres.Notices{Node: node, Stored: func(string) { rr.StudiesChanged() }, Event: rr.EventElsewhere}
			if err := pg.ListenAll(ctx, n); err != nil && ctx.Err() == nil {
				log.Error("other nodes' changes no longer reach the live worklists", "component", "postgres", "err", err)
			}
		}()
	}
	return rr, nil
}

// servers are pacsd's listeners and the DIMSE and HTTP servers on them, run and shut down
// together.
type servers struct {
	dicom    net.Listener // DIMSE
	dicomTLS net.Listener // DIMSE over TLS, or nil
	web      net.Listener // HTTP or HTTPS
	https    bool
	dimse    *dimse.Server
	http     *http.Server
	ready    *readiness // /readyz, and READY=1 to systemd once it holds
}

// listen opens every listener, or none: each bounded per sender (HTTP also in all, by
// httpLimits; DIMSE in all by dimse.Server).
func listen(c serveConfig, httpTLS, dimseTLS *tls.Config, log *slog.Logger) (*servers, error) {
	var opened []net.Listener
	open := func(what, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, ln := range opened {
				ln.Close()
			}
			return nil, fmt.Errorf("%s listen: %w", what, err)
		}
		opened = append(opened, ln)
		if what == "http" {
			return c.http.listener(ln, log), nil
		}
		// DIMSE bounds its connections in all (dimse.Server); here, per sender.
		return connlimit.Wrap(ln, connlimit.Config{PerAddr: c.maxAssocPerAddr, Logger: log, Listener: what}), nil
	}
	s := &servers{https: httpTLS != nil}
	var err error
	if s.dicom, err = open("dicom", c.dicomAddr); err != nil {
		return nil, err
	}
	if s.web, err = open("http", c.httpAddr); err != nil {
		return nil, err
	}
	if c.tls.dicomAddr != "" {
		ln, err := open("dicom tls", c.tls.dicomAddr)
		if err != nil {
			return nil, err
		}
		s.dicomTLS = tls.NewListener(ln, dimseTLS)
	}
	return s, nil
}

func (s *servers) logListening(log *slog.Logger, c serveConfig) {
	attrs := []any{"dicom", s.dicom.Addr().String(), "http", s.web.Addr().String(), "https", s.https,
		"aet", c.aet, "data", c.dataDir}
	if s.dicomTLS != nil {
		attrs = append(attrs, "dicom_tls", s.dicomTLS.Addr().String(), "dicom_tls_client_ca", c.tls.clientCA != "")
	}
	log.Info("pacsd listening", attrs...)
}

// run serves until ctx ends or a server fails, then shuts both servers down, letting
// in-flight transfers finish within grace (DESIGN.md section 6).
func (s *servers) run(ctx context.Context, grace time.Duration, log *slog.Logger) error {
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	s.serve(&wg, errc)
	readyCtx, notReady := context.WithCancel(ctx)
	go s.announceReady(readyCtx, log)
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", grace)
	case runErr = <-errc:
		log.Error("server failed, shutting down", "err", runErr)
	}
	notReady()
	s.ready.listening.Store(false)
	if err := sdNotify("STOPPING=1"); err != nil {
		log.Warn("systemd notification failed", "err", err)
	}
	s.shutdown(grace, log)
	wg.Wait()
	log.Info("pacsd stopped")
	return runErr
}

// announceReady marks the listeners up and, once every readiness check passes, tells
// systemd READY=1 (checked each second until then, and logged while it fails).
func (s *servers) announceReady(ctx context.Context, log *slog.Logger) {
	s.ready.listening.Store(true)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for said := false; ; {
		p := s.ready.problems(ctx)
		if len(p) == 0 {
			if err := sdNotify("READY=1"); err != nil {
				log.Warn("systemd notification failed", "err", err)
			}
			return
		}
		if !said {
			log.Warn("not ready yet", "problems", p)
			said = true
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// serve starts one goroutine per listener; each reports a failure on errc.
func (s *servers) serve(wg *sync.WaitGroup, errc chan<- error) {
	serveDIMSE := func(ln net.Listener) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.dimse.Serve(ln); err != nil && !errors.Is(err, dimse.ErrServerClosed) {
				errc <- fmt.Errorf("dicom server on %s: %w", ln.Addr(), err)
			}
		}()
	}
	serveDIMSE(s.dicom)
	if s.dicomTLS != nil {
		serveDIMSE(s.dicomTLS)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		serve := func() error { return s.http.Serve(s.web) }
		if s.https {
			serve = func() error { return s.http.ServeTLS(s.web, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
}

// shutdown stops both servers at once, each letting its transfers finish within grace and
// then closing what is left.
func (s *servers) shutdown(grace time.Duration, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var shut sync.WaitGroup
	shut.Add(2)
	go func() {
		defer shut.Done()
		if err := s.dimse.Shutdown(sctx); err != nil {
			log.Warn("dicom shutdown incomplete; aborted remaining associations", "err", err)
			s.dimse.Close()
		}
	}()
	go func() {
		defer shut.Done()
		if err := s.http.Shutdown(sctx); err != nil {
			log.Warn("http shutdown incomplete", "err", err)
			s.http.Close()
		}
	}()
	shut.Wait()
}

func newHTTPHandler(archive *store.Archive, rr *viewer.Viewer, thumbs *thumbnail.Service, ready *readiness, trail *auditTrail, c serveConfig, log *slog.Logger) (http.Handler, *dicomweb.Service) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	// Liveness (the process answers) and readiness (it can take a C-STORE now): ready.go.
	e.GET("/healthz", func(ec echo.Context) error { return ec.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", ready.handle)
	var web *dicomweb.Service // set below; /metrics reads its queue
	// The metrics name no patient, but they tell an outsider how busy the hub is and which
	// senders fail: staff or a token with the metrics scope, unless told otherwise.
	var metricsGuard []echo.MiddlewareFunc
	if !c.metricsOpen {
		metricsGuard = append(metricsGuard, rr.RequireStaff())
	}
	c.hl7.link.routes(e, rr)
	e.GET("/metrics", func(ec echo.Context) error {
		if err := writeMetrics(ec.Response(), archive, thumbs, web, trail); err != nil {
			return err
		}
		return c.forward.run.writeMetrics(ec.Request().Context(), ec.Response())
	}, metricsGuard...)
	// DICOMweb and OHIF show every site's patients: staff only, unless told otherwise. A
	// township's own users read their studies in the reading room, which scopes them.
	var guard []echo.MiddlewareFunc
	if !c.dicomwebOpen {
		guard = append(guard, rr.RequireStaff())
		// OHIF's own files and a doctor's share link's way in need no session (ohif/share.go).
		e.Use(ohif.Guard("/ohif", rr.RequireStaff()))
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
		Asker:           rr.Asker, // STOW-RS's Origin.Site, QIDO-RS's quarantine (viewer/peers.go)
		Pixels:          c.pixels,
		Audit:           trail.rec,
		Shared:          c.shared,
	})
	// No RemoveTrailingSlash middleware: /ohif redirects to ohif/, the two would loop.
	ohifCfg := ohif.Config{Dir: c.ohifDir, DICOMwebPath: "/dicomweb", PublicURL: c.publicURL, Logger: log}
	if c.shareDays > 0 {
		ohifCfg.SharePath = "/s" // a doctor's share link opens its study in OHIF (viewer/share.go)
	}
	ohif.Register(e, ohifCfg)
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

// shareDays maps --share-days to viewer.Config.ShareDays, whose 0 is the default and whose
// negative turns share links off.
func shareDays(days int) int {
	if days <= 0 {
		return -1
	}
	return days
}
