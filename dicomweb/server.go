package dicomweb

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/dicom/pixel"
	"pacsd/internal/backlog"
	"pacsd/internal/lru"
	"pacsd/store"
	"pacsd/store/derived"
	"pacsd/thumbnail"
)

// Config tunes the DICOMweb handlers. cmd/pacsd maps its flags onto it; the zero value
// works (no cache folder, same-origin only).
type Config struct {
	Logger *slog.Logger // nil: slog.Default()
	// MaxResults caps the results of one QIDO-RS request (PS3.18 8.3.4.4); a larger limit,
	// or none, is cut to it with a Warning. 0 means 1000.
	MaxResults int
	// Audit records who searched, looked at, retrieved and stored which study (audit.go);
	// nil records nothing.
	Audit audit.Auditor
	// PublicURL is the external base URL of the server (e.g. "https://pacs.example/county1/"),
	// used to build Retrieve URL (0008,1190). When empty, the request's scheme and host are
	// used (see baseURL); set it whenever a reverse proxy strips a path prefix. When set,
	// BulkDataURIs in metadata are absolute URLs under it too; otherwise they are relative
	// (RFC 3986 references resolved against the metadata URL), which survive any proxy.
	PublicURL string
	// CacheDir keeps one metadata record per stored object version (cache.go), so that a
	// restart does not re-read every header. "" keeps records in memory only.
	CacheDir string
	// CacheBytes bounds the in-memory metadata cache (instance records and assembled series
	// and study metadata). 0 means 256 MiB.
	CacheBytes int64
	// FallbackCharset decodes undeclared non-UTF-8 text when metadata is built; give it the
	// archive's setting (store.Config.FallbackCharset).
	FallbackCharset string
	// AllowedOrigins lists the browser origins (scheme://host[:port]) that may read
	// DICOMweb responses across origins (CORS); "*" allows every origin, without
	// credentials. Empty: same-origin only.
	AllowedOrigins []string
	// Thumbnails serves the default thumbnails (PS3.18 10.4.1.1.4) from its cache. nil:
	// every thumbnail is rendered on request (and kept only in the frame cache).
	Thumbnails *thumbnail.Service
	// FrameCacheBytes bounds the decoded frames kept for rendering (render.go), reduced to
	// the size they are shown at: a viewer's window/level drag re-renders them without
	// decoding. 0 means 256 MiB; a frame larger than half of it is not kept.
	FrameCacheBytes int64
	// Pixels bounds decoding for rendering, thumbnails and transcoding (frame size, memory
	// of all decodes at once); share it with the other users of dicom/pixel. nil: the
	// package's default budget.
	Pixels *pixel.Budget
	// Asker says who sends a request (cmd/pacsd asks the reading room): site is the
	// store.Origin.Site of what it stores (STOW-RS), admin lets its searches (QIDO-RS) find
	// studies held in quarantine. nil: "county", not an administrator.
	Asker func(r *http.Request) (site string, admin bool)
	// Shared is where the nodes of a cluster share metadata records (store/derived, cache.go).
	Shared derived.Store
}

const (
	defaultMaxResults      = 1000
	defaultCacheBytes      = 256 << 20
	defaultFrameCacheBytes = 256 << 20
)

// server holds what every handler needs.
type server struct {
	archive    *store.Archive
	audit      *auditor
	log        *slog.Logger // component=dicomweb
	stowLog    *slog.Logger // component=stow-rs
	maxResults int
	publicURL  string // without trailing '/'
	prefix     string // the group's path prefix, e.g. "/dicomweb"
	fallback   string
	meta       *metaCache
	bodies     *lru.Cache[string, *body] // assembled metadata bodies (shares the budget with meta's records)
	cors       corsPolicy
	thumbs     *thumbnail.Service // nil: thumbnails rendered on request
	decoded    *frameCache        // decoded frames for rendering
	pixels     *pixel.Budget      // bounds every decode
	asker      func(r *http.Request) (site string, admin bool)
	// decodeSlots bounds the frames decoded at once (CPU-bound work) to the cores there are.
	decodeSlots chan struct{}
}

// Route parameter names.
const (
	paramStudy    = "study"
	paramSeries   = "series"
	paramInstance = "instance"
	paramFrames   = "frames"
)

// Register mounts the Studies Service resources (PS3.18 10.1, Table 10.1-1) on g: QIDO-RS
// search, WADO-RS retrieval (instances, metadata, frames, bulk data, rendered, thumbnail),
// STOW-RS, WADO-URI (PS3.18 9, at /wado) and a capabilities document at the group root.
// cmd/pacsd calls it as Register(e.Group("/dicomweb"), archive, cfg), then Start on what it
// returns so that metadata is built as objects arrive (warm.go), and Close at shutdown.
func Register(g *echo.Group, a *store.Archive, cfg Config) *Service {
	s := &server{
		archive:     a,
		audit:       newAuditor(cfg.Audit, a),
		log:         cfg.Logger,
		maxResults:  cfg.MaxResults,
		publicURL:   strings.TrimRight(cfg.PublicURL, "/"),
		fallback:    cfg.FallbackCharset,
		cors:        newCORSPolicy(cfg.AllowedOrigins),
		thumbs:      cfg.Thumbnails,
		pixels:      cfg.Pixels,
		asker:       cfg.Asker,
		decodeSlots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
	}
	frameBytes := cfg.FrameCacheBytes
	if frameBytes <= 0 {
		frameBytes = defaultFrameCacheBytes
	}
	s.decoded = newFrameCache(frameBytes)
	if s.log == nil {
		s.log = slog.Default()
	}
	s.stowLog = s.log.With("component", "stow-rs")
	s.log = s.log.With("component", "dicomweb")
	if s.maxResults <= 0 {
		s.maxResults = defaultMaxResults
	}
	budget := cfg.CacheBytes
	if budget <= 0 {
		budget = defaultCacheBytes
	}
	// Records and assembled bodies share the budget, a quarter and three quarters: a
	// series body is its records' JSON again, and it is what OHIF asks for.
	s.bodies = newCache[*body](budget - budget/4)
	s.meta = &metaCache{
		dir:      cfg.CacheDir,
		mem:      newCache[*instanceRecord](budget / 4),
		fallback: cfg.FallbackCharset,
		log:      s.log,
		open:     a.Open,
		shared:   cfg.Shared,
	}

	// routes registers a handler per method on path, each with CORS, plus an OPTIONS
	// handler naming those methods; route is routes for GET and HEAD sharing a handler
	// (HEAD answers with the headers a GET would carry, no body).
	routes := func(path string, byMethod map[string]echo.HandlerFunc) *echo.Route {
		var (
			methods []string
			get     *echo.Route
		)
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
			if h, ok := byMethod[m]; ok {
				methods = append(methods, m)
				if r := g.Add(m, path, s.withCORS(s.audited(h))); m == http.MethodGet {
					get = r
				}
			}
		}
		g.OPTIONS(path, s.preflight(methods))
		return get
	}
	route := func(path string, h echo.HandlerFunc) *echo.Route {
		return routes(path, map[string]echo.HandlerFunc{http.MethodGet: h, http.MethodHead: h})
	}
	study := "/studies/:" + paramStudy
	series := study + "/series/:" + paramSeries
	instance := series + "/instances/:" + paramInstance

	// QIDO-RS, PS3.18 10.6 (Table 10.6.1-2 lists the search resources), and STOW-RS,
	// PS3.18 10.5, on /studies and /studies/{study}, which also retrieve (WADO-RS).
	r := routes("/studies", map[string]echo.HandlerFunc{
		http.MethodGet: s.search(searchStudies), http.MethodHead: s.search(searchStudies), http.MethodPost: s.store})
	s.prefix = strings.TrimSuffix(r.Path, "/studies")
	route("/series", s.search(searchAllSeries))
	route("/instances", s.search(searchAllInstances))
	route(study+"/series", s.search(searchStudySeries))
	route(study+"/instances", s.search(searchStudyInstances))
	route(series+"/instances", s.search(searchSeriesInstances))
	routes(study, map[string]echo.HandlerFunc{http.MethodGet: s.retrieve, http.MethodHead: s.retrieve, http.MethodPost: s.store})

	// WADO-RS, PS3.18 10.4 (Table 10.4.1-1).
	route(series, s.retrieve)
	route(instance, s.retrieve)
	route(study+"/metadata", s.metadata(levelStudy))
	route(series+"/metadata", s.metadata(levelSeries))
	route(instance+"/metadata", s.metadata(levelInstance))
	route(instance+"/frames/:"+paramFrames, s.frames)
	route(instance+"/bulkdata/*", s.bulkdata)

	// Rendered resources, PS3.18 10.4.1.1.3, and thumbnails, 10.4.1.1.4 (Supplement 203).
	route(study+"/rendered", s.rendered(renderStudy))
	route(series+"/rendered", s.rendered(renderSeries))
	route(instance+"/rendered", s.rendered(renderInstance))
	route(instance+"/frames/:"+paramFrames+"/rendered", s.rendered(renderFrames))
	route(study+"/thumbnail", s.thumbnailFor(renderStudy))
	route(series+"/thumbnail", s.thumbnailFor(renderSeries))
	route(instance+"/thumbnail", s.thumbnailFor(renderInstance))
	route(instance+"/frames/:"+paramFrames+"/thumbnail", s.thumbnailFor(renderFrames))

	// WADO-URI, PS3.18 9, conventionally at the DICOMweb root.
	route("/wado", s.wadoURI)

	// What this server offers, for people and scripts.
	route("", s.capabilities)
	route("/", s.capabilities)
	return &Service{s: s, queue: backlog.New(warmQueueLen)}
}

// baseURL is the absolute URL of the DICOMweb root as the client sees it, without a
// trailing '/': PublicURL plus the group prefix when configured, else built from the
// request. The scheme comes from echo's Context.Scheme, which honours X-Forwarded-Proto
// only from trusted peers; X-Forwarded-Host is honoured under the same default rule
// (loopback, private and link-local peers, unix sockets) so that a client on the open
// network cannot make pacsd hand out links to a host of its choosing.
func (s *server) baseURL(c echo.Context) string {
	if s.publicURL != "" {
		return s.publicURL + s.prefix
	}
	req := c.Request()
	host := req.Host
	if fwd := forwardedHost(req); fwd != "" {
		host = fwd
	}
	return c.Scheme() + "://" + host + s.prefix
}

// forwardedHost returns the X-Forwarded-Host set by a trusted proxy, or "". With several
// values the last one is taken: the nearest proxy appended it.
func forwardedHost(req *http.Request) string {
	vals := req.Header.Values("X-Forwarded-Host")
	if len(vals) == 0 || !trustedPeer(req.RemoteAddr) {
		return ""
	}
	last := vals[len(vals)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	last = strings.TrimSpace(last)
	if !validHost(last) {
		return ""
	}
	return last
}

// trustedPeer reports whether the direct peer may set forwarding headers.
func trustedPeer(remoteAddr string) bool {
	if remoteAddr == "" || remoteAddr[0] == '@' || remoteAddr[0] == '/' {
		return true // unix socket: same host
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()
}

// validHost accepts host[:port] spellings (names, IPv4, bracketed IPv6) and nothing that
// could break out of a URL's authority.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}

// askedBy is Config.Asker's answer for r ("county", not admin without one).
func (s *server) askedBy(r *http.Request) (site string, admin bool) {
	if s.asker == nil {
		return "county", false
	}
	return s.asker(r)
}
