package viewer

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/dicom/pixel"
	"pacsd/forward"
	"pacsd/internal/backlog"
	"pacsd/internal/lru"
	"pacsd/reading"
	"pacsd/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Thumbnails is what the viewer needs of the thumbnail service (package thumbnail).
type Thumbnails interface {
	Series(ctx context.Context, studyUID, seriesUID string) ([]byte, error)
}

// Config wires the viewer.
type Config struct {
	// The reading room's records, one aggregate each (store/sqlite's Reading is all four).
	Sites    reading.Sites
	Peers    reading.Peers  // the AE table (peers.go); nil: no /admin/peers, no PeersFile
	Users    reading.Users  // accounts and their sessions
	Tokens   reading.Tokens // scripts' API tokens (tokens.go); nil: none accepted, no /admin/tokens
	Reports  reading.Reports
	Worklist reading.Worklist
	Orders   reading.Orders // scheduled procedures (orders.go); nil: no /orders, no /api/orders
	// The diagnosis features of the study page: measurements (measurements.go), key images
	// and priors (keyimages.go), critical findings, claims, phrases and review (workflow.go).
	Annotations reading.Annotations
	KeyImages   reading.KeyImages
	Priors      reading.Priors
	Workflow    reading.Workflow
	Archive     *store.Archive
	Thumbnails  Thumbnails
	Logger      *slog.Logger // nil: slog.Default()
	// OHIFPath is where OHIF is mounted ("/ohif"); "" hides the "open in OHIF" link.
	OHIFPath string
	// Location is the time zone pages show and the dashboard counts days in; nil means
	// China Standard Time (UTC+8).
	Location *time.Location
	// SessionTTL is how long a login lasts; 0 means 12 hours (a working day).
	SessionTTL time.Duration
	// AdminOut receives the initial administrator's password, once, when no account
	// exists yet (cmd/pacsd gives stderr). Nil: os.Stderr.
	AdminOut io.Writer
	// SitesFile, when set, is a JSON file of sites ([{"name", "aeTitles", "institutions"}])
	// applied at start: sites are created or updated by name, never deleted.
	SitesFile string
	// PeersFile, when set, is a JSON file of DICOM peers (peers.go: peerJSON) applied at
	// start, after SitesFile: peers are created or replaced by AE title, never deleted.
	PeersFile string
	// Organization names the county hospital on printed reports and in SR documents;
	// "" uses the catalogue's default.
	Organization string
	// FrameCacheBytes bounds the server's cache of prepared frames; 0 means 256 MiB.
	FrameCacheBytes int64
	// Pixels bounds decoding (frame size, memory of all decodes at once), shared with the
	// server's other users of dicom/pixel. nil: the package's default budget.
	Pixels *pixel.Budget
	// ReportRetry is how often signed reports whose SR is not yet stored are retried;
	// 0 means one minute.
	ReportRetry time.Duration
	// Audit records every look at patient data and every security-relevant action
	// (audit.go); nil records nothing. AuditLog is the trail /admin/audit searches (nil: no
	// such page).
	Audit    audit.Auditor
	AuditLog audit.Searcher
	// ReportSigned, when set, is told of every signed version once it is committed (the
	// HIS link queues it as an ORU^R01); it must not block.
	ReportSigned func(ctx context.Context, r reading.Report)
	// Forward is the forwarding queue and its configuration (forward.go: /admin/forward,
	// /api/admin/forward/..., the study page's "转发"); nil: none of them.
	Forward forward.Queue
	// ForwardKick, when set, wakes the forwarder after a manual re-send (else it finds the
	// new rows at its next poll); it must not block.
	ForwardKick func()
	// Shares keeps the share links (share.go: /s/..., /admin/shares, the printed report's QR
	// code); nil: none. PublicURL is the address phones reach the server at (behind a
	// reverse proxy), "" the request's own; ShareDays the patient's link's default life
	// (0: 30 days; negative: no share links at all).
	Shares    reading.Shares
	PublicURL string
	ShareDays int
	// ShareSecret is the file of the secret share links' tokens are derived under (made at
	// the first start, mode 0600; outside the database, so that a copy of it opens no link);
	// "": a secret for this process only. ShareOnSign makes the study's report link when its
	// report is signed (else at its first print).
	ShareSecret string
	ShareOnSign bool
}

// Viewer serves the reading room.
type Viewer struct {
	cfg      Config
	log      *slog.Logger
	loc      *time.Location
	pages    map[string]*template.Template // by language
	static   http.Handler
	limit    *loginLimiter
	frames   *lru.Cache[string, *frameEntry] // prepared frames (images.go), by kind, object version and frame
	previews *backlog.Queue                  // images whose preview is made as they arrive (previews.go)
	events   *hub

	basicMu sync.Mutex
	basicOK map[string]basicEntry // HTTP Basic credentials checked lately, by hash

	tokenMu   sync.Mutex
	tokenUsed map[int64]time.Time // when each API token's use was last recorded

	shares *shareState // share.go: the secret, verified browsers, the attempts limiter; nil without share links

	exportMu sync.Mutex // one SR export pass at a time
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New prepares the viewer: it applies SitesFile and, when the repository has no account
// at all, creates the administrator "admin" with a random password printed once to
// AdminOut. Start runs its background work; Register mounts its pages.
func New(ctx context.Context, cfg Config) (*Viewer, error) {
	if cfg.Sites == nil || cfg.Users == nil || cfg.Reports == nil || cfg.Worklist == nil || cfg.Archive == nil {
		return nil, errors.New("viewer: Sites, Users, Reports, Worklist and Archive are required")
	}
	v := &Viewer{cfg: cfg, log: cfg.Logger, loc: cfg.Location,
		limit: newLoginLimiter(5, 15*time.Minute), events: newHub(), basicOK: map[string]basicEntry{},
		tokenUsed: map[int64]time.Time{}}
	if v.log == nil {
		v.log = slog.Default()
	}
	v.log = v.log.With("component", "viewer")
	if v.loc == nil {
		v.loc = time.FixedZone("CST", 8*3600)
	}
	if v.cfg.SessionTTL <= 0 {
		v.cfg.SessionTTL = 12 * time.Hour
	}
	if v.cfg.FrameCacheBytes <= 0 {
		v.cfg.FrameCacheBytes = 256 << 20
	}
	if v.cfg.ReportRetry <= 0 {
		v.cfg.ReportRetry = time.Minute
	}
	if v.cfg.AdminOut == nil {
		v.cfg.AdminOut = os.Stderr
	}
	// Stepping back to an image, or a second reader of the same study, costs no decoding.
	v.frames = lru.New[string, *frameEntry](v.cfg.FrameCacheBytes, v.cfg.FrameCacheBytes)
	var err error
	if v.pages, err = parsePages(v.loc); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	v.static = http.StripPrefix("/static/", http.FileServer(http.FS(filesOnly{sub}))) // static.go: no listings
	if cfg.SitesFile != "" {
		if err := v.applySitesFile(ctx, cfg.SitesFile); err != nil {
			return nil, err
		}
	}
	if cfg.PeersFile != "" {
		if cfg.Peers == nil {
			return nil, errors.New("viewer: PeersFile needs Peers")
		}
		if err := v.applyPeersFile(ctx, cfg.PeersFile); err != nil {
			return nil, err
		}
	}
	if err := v.ensureAdmin(ctx); err != nil {
		return nil, err
	}
	if err := v.initShares(); err != nil {
		return nil, err
	}
	// New objects refresh open worklists. The event names no study: a browser learns what
	// changed by asking again, under its own user's scope.
	// The other nodes hear of it from the index, not from ShareEvents: one NOTIFY a study's
	// transaction rather than one an object.
	cfg.Archive.OnStored(func(*store.Instance) { v.events.deliver("studies") })
	v.previews = backlog.New(previewQueueLen)
	cfg.Archive.OnStored(v.queuePreview)
	return v, nil
}

// Start runs the background work until Close: SR documents of signed reports that are not
// yet stored are retried, and expired sessions removed.
func (v *Viewer) Start(ctx context.Context) {
	ctx, v.cancel = context.WithCancel(ctx)
	v.startPreviews(ctx)
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		t := time.NewTicker(v.cfg.ReportRetry)
		defer t.Stop()
		for {
			v.exportPending(ctx)
			if err := v.cfg.Users.DeleteExpiredSessions(ctx, time.Now()); err != nil && ctx.Err() == nil {
				v.log.Warn("removing expired sessions", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// StudiesChanged tells the open live worklists that studies changed elsewhere (another
// node sharing the database stored objects: postgres.Index.Listen), as a local Put does.
func (v *Viewer) StudiesChanged() { v.events.deliver("studies") }

// CloseEvents ends the open event streams (live worklists), so an http.Server's Shutdown
// is not held up by them: give it to http.Server.RegisterOnShutdown.
func (v *Viewer) CloseEvents() { v.events.close() }

// Close stops the background work and the event streams.
func (v *Viewer) Close() {
	v.events.close()
	if v.cancel != nil {
		v.cancel()
	}
	v.wg.Wait()
}

// AdminAPI is the guard of the administration API (/api/admin/...): an administrator's
// session or an API token with the admin scope.
func (v *Viewer) AdminAPI() echo.MiddlewareFunc { return v.adminAPI }

// Register mounts the reading room on e at "/" (pages, /static/, /api/, /admin/, /account/).
// It must be the only handler of "/" on e. Middleware is given per route rather than by
// groups: an echo group with middleware claims every unmatched path under its prefix,
// which at "/" would be all of them.
func (v *Viewer) Register(e *echo.Echo) {
	open := []echo.MiddlewareFunc{v.errorsMiddleware}
	with := func(base []echo.MiddlewareFunc, more ...echo.MiddlewareFunc) []echo.MiddlewareFunc {
		return append(append([]echo.MiddlewareFunc{}, base...), more...)
	}
	// Any session, even of a user who must change the password first; only the
	// change-password page and logout take it.
	session := []echo.MiddlewareFunc{v.errorsMiddleware, v.sameOrigin, v.authenticate, v.checkCSRF}
	authed := with(session, v.passwordChanged)
	staff := with(authed, v.requireRole(reading.RoleRadiologist, reading.RoleAdmin))
	admin := with(authed, v.requireRole(reading.RoleAdmin))

	e.GET("/static/*", echo.WrapHandler(v.staticHandler()))
	e.GET("/login", v.loginPage, open...)
	e.POST("/login", v.login, with(open, v.sameOrigin)...)
	e.GET("/lang/:lang", v.setLanguage, open...)

	e.POST("/logout", v.logout, session...)
	e.GET(passwordPath, v.passwordPage, session...)
	e.POST(passwordPath, v.changePassword, session...)
	e.GET("/", v.worklistPage, authed...)
	e.GET("/api/worklist", v.worklistRows, authed...)
	e.GET("/api/events", v.eventStream, authed...)
	e.GET("/studies/:study", v.studyPage, authed...)
	e.GET("/studies/:study/print", v.printPage, authed...)
	e.GET("/studies/:study/series/:series/thumbnail", v.seriesThumbnail, authed...)
	e.GET("/api/studies/:study/images", v.studyImages, authed...)
	e.GET("/api/studies/:study/instances/:sop/frames/:frame/pixels", v.framePixels, authed...)
	e.GET("/api/studies/:study/instances/:sop/frames/:frame/rendered", v.frameRendered, authed...)
	e.GET("/api/studies/:study/report", v.getReport, authed...)

	e.PUT("/api/studies/:study/report", v.saveDraft, staff...)
	e.POST("/api/studies/:study/report/sign", v.signReport, staff...)
	e.POST("/api/studies/:study/report/amend", v.amendReport, staff...)
	e.POST("/api/studies/:study/urgent", v.setUrgent, staff...)
	e.GET("/dashboard", v.dashboardPage, staff...)

	e.GET("/admin/sites", v.sitesPage, admin...)
	e.POST("/admin/sites", v.saveSite, admin...)
	e.POST("/admin/sites/:id/delete", v.deleteSite, admin...)
	e.GET("/admin/users", v.usersPage, admin...)
	e.POST("/admin/users", v.createUser, admin...)
	e.POST("/admin/users/:id", v.updateUser, admin...)
	e.GET("/admin/templates", v.templatesPage, admin...)
	e.POST("/admin/templates", v.saveTemplate, admin...)
	e.POST("/admin/templates/:id/delete", v.deleteTemplate, admin...)
	if v.cfg.Tokens != nil {
		e.GET("/admin/tokens", v.tokensPage, admin...)
		e.POST("/admin/tokens", v.createToken, admin...)
		e.POST("/admin/tokens/:id/revoke", v.revokeToken, admin...)
	}
	if v.cfg.Peers != nil {
		e.GET("/admin/peers", v.peersPage, admin...)
		e.POST("/admin/peers", v.savePeer, admin...)
		e.POST("/admin/peers/:id/delete", v.deletePeerForm, admin...)
		e.GET("/api/admin/peers", v.apiPeers, v.adminAPI)
		e.POST("/api/admin/peers", v.apiPutPeer, v.adminAPI)
		e.GET("/api/admin/peers/:id", v.apiPeer, v.adminAPI)
		e.PUT("/api/admin/peers/:id", v.apiPutPeer, v.adminAPI)
		e.DELETE("/api/admin/peers/:id", v.apiDeletePeer, v.adminAPI)
	}
	if v.cfg.Forward != nil {
		e.GET("/admin/forward", v.forwardPage, admin...)
		e.POST("/admin/forward/destinations", v.saveDestinationForm, admin...)
		e.POST("/admin/forward/destinations/:id/delete", v.deleteDestinationForm, admin...)
		e.POST("/admin/forward/destinations/:id/retry", v.retryForm, admin...)
		e.POST("/admin/forward/rules", v.saveRuleForm, admin...)
		e.POST("/admin/forward/rules/:id/delete", v.deleteRuleForm, admin...)
		e.POST("/studies/:study/forward", v.forwardStudyForm, admin...)
		e.GET("/api/admin/forward/destinations", v.apiDestinations, v.adminAPI)
		e.POST("/api/admin/forward/destinations", v.apiPutDestination, v.adminAPI)
		e.PUT("/api/admin/forward/destinations/:id", v.apiPutDestination, v.adminAPI)
		e.DELETE("/api/admin/forward/destinations/:id", v.apiDeleteDestination, v.adminAPI)
		e.POST("/api/admin/forward/destinations/:id/retry", v.apiRetry, v.adminAPI)
		e.GET("/api/admin/forward/rules", v.apiRules, v.adminAPI)
		e.POST("/api/admin/forward/rules", v.apiPutRule, v.adminAPI)
		e.PUT("/api/admin/forward/rules/:id", v.apiPutRule, v.adminAPI)
		e.DELETE("/api/admin/forward/rules/:id", v.apiDeleteRule, v.adminAPI)
		e.GET("/api/admin/forward/status", v.apiForwardStatus, v.adminAPI)
		e.POST("/api/admin/studies/:study/forward", v.apiForwardStudy, v.adminAPI)
	}
	e.POST("/studies/:study/assign", v.assignStudy, admin...)
	e.GET("/studies/:study/versions", v.studyVersionsPage, admin...)
	e.GET("/api/admin/instances/:sop/versions", v.instanceVersionsAPI, admin...)
	e.POST("/api/admin/instances/:sop/versions/:id/restore", v.restoreVersion, admin...)
	e.POST("/admin/instances/:sop/versions/:id/restore", v.restoreVersion, admin...)
	e.GET("/admin/audit", v.auditPage, admin...)
	e.GET("/admin/audit.csv", v.auditCSV, admin...)
	if v.cfg.Orders != nil {
		e.GET("/orders", v.ordersPage, authed...)
		e.POST("/orders", v.saveOrderForm, authed...)
		e.POST("/orders/:id/cancel", v.cancelOrderForm, authed...)
		e.GET("/api/orders", v.apiOrders, v.ordersAPI)
		e.POST("/api/orders", v.apiPutOrder, v.ordersAPI)
		e.GET("/api/orders/:id", v.apiOrder, v.ordersAPI)
		e.PUT("/api/orders/:id", v.apiPutOrder, v.ordersAPI)
		e.DELETE("/api/orders/:id", v.apiCancelOrder, v.ordersAPI)
	}
	g := guards{open: open, session: session, authed: authed, staff: staff, admin: admin}
	v.viewingRoutes(e, g)
	v.measureRoutes(e, g)
	v.keyImageRoutes(e, g)
	v.workflowRoutes(e, g)
	v.shareRoutes(e, g)
}

// guards are the middleware chains routes are mounted with (Register).
type guards struct {
	open    []echo.MiddlewareFunc // no session
	session []echo.MiddlewareFunc // any session, even one that must change its password
	authed  []echo.MiddlewareFunc // a signed-in user
	staff   []echo.MiddlewareFunc // radiologists and administrators
	admin   []echo.MiddlewareFunc // administrators
}

func (v *Viewer) staticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assets change only with the binary; a day's caching spares the county's links.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		v.static.ServeHTTP(w, r)
	})
}

// siteFile is one entry of Config.SitesFile.
type siteFile struct {
	Name         string   `json:"name"`
	AETitles     []string `json:"aeTitles"`
	Institutions []string `json:"institutions"`
}

func (v *Viewer) applySitesFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sites file: %w", err)
	}
	defer f.Close()
	var entries []siteFile
	dec := json.NewDecoder(io.LimitReader(f, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return fmt.Errorf("sites file %s: %w", path, err)
	}
	existing, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return fmt.Errorf("sites file: %w", err)
	}
	for _, e := range entries {
		s := reading.Site{Name: e.Name, AETitles: e.AETitles, Institutions: e.Institutions}
		for _, x := range existing {
			if strings.EqualFold(x.Name, strings.TrimSpace(e.Name)) {
				s.ID = x.ID
			}
		}
		if _, err := v.cfg.Sites.PutSite(ctx, s); err != nil {
			return fmt.Errorf("sites file %s: site %q: %w", path, e.Name, err)
		}
	}
	v.log.Info("sites file applied", "path", path, "sites", len(entries))
	return nil
}
