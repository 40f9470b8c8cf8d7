package ohif

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Config tells Register where the built app is and where pacsd's DICOMweb answers.
type Config struct {
	// Dir is the dist/ folder of @ohif/app (`make ohif` puts it in
	// .cache/ohif/<Version>/dist). Empty or missing: the mount answers 404 with a hint.
	Dir string
	// Mount is the path the app is served under; "" means "/ohif".
	Mount string
	// DICOMwebPath is where dicomweb.Register's group is mounted; "" means "/dicomweb".
	DICOMwebPath string
	// PublicURL is the external base URL of pacsd (e.g. "https://pacs.example/county1/"),
	// the same value dicomweb.Config.PublicURL gets. When set, OHIF is told to use
	// PublicURL+DICOMwebPath and its public path is PublicURL's path + Mount; when empty,
	// the browser's own origin is used.
	PublicURL string
	// SharePath is where share links are served ("/s": <SharePath>/{token}/dicomweb is a
	// doctor's link's DICOMweb, viewer/share.go); "" leaves OHIF without them (share.go).
	SharePath string
	Logger    *slog.Logger // nil: slog.Default()
}

// Register mounts the OHIF app on e at cfg.Mount: the dist's files with the public path
// rewritten, a generated app-config.js, index.html for the app's client routes, and a
// redirect from the bare mount to mount+"/". When the dist is missing it registers a 404
// that says how to install it, and logs that once.
func Register(e *echo.Echo, cfg Config) {
	h := newHandler(cfg)
	mount := h.mount
	e.GET(mount, h.redirect)
	e.HEAD(mount, h.redirect)
	e.GET(mount+"/*", h.serve)
	e.HEAD(mount+"/*", h.serve)
	// OHIF's searches (names.go): more specific than mount+"/*", so echo routes them here.
	h.echo = e
	e.GET(mount+searchRoot+"/*", h.search)
	e.HEAD(mount+searchRoot+"/*", h.search)
	if h.sharePath != "" {
		e.GET(mount+"/share/:token/"+shareConfigName, h.shareConfig)
	}
}

// handler serves one mount.
type handler struct {
	log       *slog.Logger
	mount     string   // local path, e.g. "/ohif"
	base      string   // public path with trailing '/', e.g. "/county1/ohif/"
	root      *os.Root // nil when the app is unavailable
	dirID     string   // the dist's absolute path: part of every ETag
	reason    string   // why the app is unavailable, for the 404 body
	appConfig []byte
	configTag string

	mu    sync.Mutex
	plans map[string]*plan // dist-relative name -> its rewrite

	// OHIF's searches (names.go) are dispatched on echo to pacsd's DICOMweb at dicomwebPath.
	echo         *echo.Echo
	dicomwebPath string

	// Share links (share.go): their path ("" none) and the public URL without its trailing
	// '/' ("" when none is configured: the roots are then paths on the page's origin).
	sharePath string
	publicURL string
}

// plan is the rewrite of one file as found when it was scanned; it is reused while the
// file's size and modification time stay the same.
type plan struct {
	size  int64
	mtime time.Time
	edits []edit
}

func newHandler(cfg Config) *handler {
	h := &handler{log: cfg.Logger, plans: map[string]*plan{}}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "ohif")
	h.mount = "/" + strings.Trim(cfg.Mount, "/")
	if h.mount == "/" {
		h.mount = "/ohif"
	}
	dicomwebPath := "/" + strings.Trim(cfg.DICOMwebPath, "/")
	if dicomwebPath == "/" {
		dicomwebPath = "/dicomweb"
	}
	h.dicomwebPath = dicomwebPath
	if cfg.SharePath != "" {
		h.sharePath = "/" + strings.Trim(cfg.SharePath, "/")
	}

	publicPrefix, dicomwebRoot, searchAbs := "", "", ""
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			h.reason = "the public URL pacsd is configured with is not an absolute http(s) URL; fix --public-url and restart pacsd"
			h.log.Error("viewer disabled: invalid public URL", "public_url", cfg.PublicURL)
			return h
		}
		publicPrefix = strings.TrimRight(u.EscapedPath(), "/")
		dicomwebRoot = strings.TrimRight(cfg.PublicURL, "/") + dicomwebPath
		searchAbs = strings.TrimRight(cfg.PublicURL, "/") + h.mount + searchRoot
		h.publicURL = strings.TrimRight(cfg.PublicURL, "/")
	}
	h.base = publicPrefix + h.mount + "/"

	var err error
	h.appConfig, err = appConfig(dicomwebRoot, dicomwebPath, searchAbs, publicPrefix+h.mount, h.sharePath != "")
	if err != nil { // only a programming error can get here
		h.reason = "its configuration could not be generated"
		h.log.Error("viewer disabled", "err", err)
		return h
	}
	h.configTag = contentTag(h.appConfig)

	if cfg.Dir == "" {
		h.reason = "no OHIF build is configured; an administrator installs it with `make ohif` in pacsd's source folder and points pacsd at .cache/ohif/" + Version + "/dist"
		h.log.Warn("viewer disabled: no dist folder configured; run make ohif", "mount", h.mount)
		return h
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(filepath.Join(abs, "index.html")); err == nil && !st.Mode().IsRegular() {
			err = errors.New("index.html is not a regular file")
		}
	}
	if err == nil {
		h.root, err = os.OpenRoot(abs)
	}
	if err != nil {
		h.root = nil
		h.reason = "the OHIF build is not installed; an administrator installs it with `make ohif` in pacsd's source folder and restarts pacsd"
		h.log.Warn("viewer disabled: OHIF dist not found; run make ohif", "dir", cfg.Dir, "mount", h.mount, "err", err)
		return h
	}
	h.dirID = abs
	h.log.Info("serving OHIF viewer", "mount", h.mount, "dir", abs, "public_path", h.base)
	return h
}

// redirect sends the bare mount to mount+"/", where the app's relative links resolve. The
// Location is relative ("ohif/"), so it stays right behind a proxy that strips a prefix.
func (h *handler) redirect(c echo.Context) error {
	loc := path.Base(h.mount) + "/"
	if q := c.Request().URL.RawQuery; q != "" {
		loc += "?" + q
	}
	return c.Redirect(http.StatusMovedPermanently, loc)
}

// hashedName matches the content-hashed file names of the build ("app.bundle.0f6159c501addfe9.js",
// "0ddf166f7a343eda.wasm"): their content never changes under the same name.
var hashedName = regexp.MustCompile(`(^|[.-])[0-9a-f]{16,}\.[a-z0-9]+$`)

func (h *handler) serve(c echo.Context) error {
	w, req := c.Response(), c.Request()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if h.root == nil {
		return c.String(http.StatusNotFound, "The OHIF viewer is not available on this server: "+h.reason+".\n")
	}
	name := strings.TrimPrefix(req.URL.Path, h.mount+"/")
	if name == req.URL.Path {
		return echo.ErrNotFound
	}
	switch name {
	case "app-config.js":
		return h.serveBytes(c, name, h.appConfig, h.configTag)
	case "", "index.html":
		return h.serveFile(c, "index.html")
	}
	if !fs.ValidPath(name) || strings.Contains(name, "\\") {
		return echo.ErrNotFound
	}
	st, err := h.root.Stat(name)
	if err != nil || !st.Mode().IsRegular() {
		if looksLikeAsset(name) {
			return echo.ErrNotFound
		}
		// A client route of the single-page app (/ohif/viewer?StudyInstanceUIDs=…,
		// /ohif/viewer/pacsd, …): the app reads the path itself. The proxy data source's
		// route only for a share link's config (share.go).
		if isProxyRoute(name) && (h.sharePath == "" || !shareProxyURL(req.URL.Query(), h.mount)) {
			return echo.ErrNotFound
		}
		return h.serveFile(c, "index.html")
	}
	return h.serveFile(c, name)
}

// looksLikeAsset reports whether a missing path names a file the app would load (and so
// deserves a 404) rather than a client route (which gets index.html). UIDs in routes have
// dots too, but never a known file extension after the last one.
func looksLikeAsset(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	if ext == "" {
		return false
	}
	if _, ok := contentTypes[ext]; ok {
		return true
	}
	switch ext {
	case ".map", ".txt", ".gz", ".br", ".ttf", ".otf", ".woff", ".jpg", ".jpeg", ".gif", ".webp":
		return true
	}
	return false
}

// contentTypes fixes the media types the app depends on rather than taking them from the
// host's mime database, which differs between machines (and browsers refuse module scripts
// and streaming WebAssembly compilation of the wrong type).
var contentTypes = map[string]string{
	".html":   "text/html; charset=utf-8",
	".js":     "text/javascript; charset=utf-8",
	".mjs":    "text/javascript; charset=utf-8",
	".css":    "text/css; charset=utf-8",
	".wasm":   "application/wasm",
	".json":   "application/json",
	".jsonc":  "application/json",
	".webapp": "application/x-web-app-manifest+json",
	".xml":    "application/xml",
	".svg":    "image/svg+xml",
	".png":    "image/png",
	".ico":    "image/x-icon",
	".woff2":  "font/woff2",
}

func contentType(name string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(name))]; ok {
		return ct
	}
	return "application/octet-stream"
}

// serveFile sends one file of the dist, rewritten when rulesFor says so. Hashed names are
// cached for a year; everything else is revalidated on each use (ETag). Last-Modified is not
// sent: npm sets every file's time to 1985, so it would not change between OHIF versions.
func (h *handler) serveFile(c echo.Context, name string) error {
	f, err := h.root.Open(name)
	if err != nil {
		return echo.ErrNotFound
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return echo.ErrNotFound
	}
	var content io.ReadSeeker = f
	rules := rulesFor(name, h.base)
	if rules != nil {
		p, err := h.plan(name, f, st, rules)
		if err != nil {
			h.log.Error("rewrite failed", "file", name, "err", err)
			return echo.NewHTTPError(http.StatusInternalServerError)
		}
		sp, err := newSplice(f, st.Size(), p.edits)
		if err != nil {
			h.log.Error("rewrite failed", "file", name, "err", err)
			return echo.NewHTTPError(http.StatusInternalServerError)
		}
		content = io.NewSectionReader(sp, 0, sp.size)
	}
	hdr := c.Response().Header()
	hdr.Set("Content-Type", contentType(name))
	hdr.Set("ETag", h.fileTag(name, st))
	if hashedName.MatchString(path.Base(name)) {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, content)
	return nil
}

// serveBytes sends generated content.
func (h *handler) serveBytes(c echo.Context, name string, b []byte, tag string) error {
	hdr := c.Response().Header()
	hdr.Set("Content-Type", contentType(name))
	hdr.Set("ETag", tag)
	hdr.Set("Cache-Control", "no-cache")
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(b))
	return nil
}

// plan returns the rewrite of name, scanning the file when it is new or has changed.
func (h *handler) plan(name string, f *os.File, st os.FileInfo, rules []rule) (*plan, error) {
	h.mu.Lock()
	p := h.plans[name]
	h.mu.Unlock()
	if p != nil && p.size == st.Size() && p.mtime.Equal(st.ModTime()) {
		return p, nil
	}
	// Scanned outside the lock: two first requests may both scan; both get the same answer.
	edits, err := scanEdits(io.NewSectionReader(f, 0, st.Size()), rules)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", name, err)
	}
	p = &plan{size: st.Size(), mtime: st.ModTime(), edits: edits}
	h.mu.Lock()
	h.plans[name] = p
	h.mu.Unlock()
	return p, nil
}

// fileTag is a strong ETag for a dist file as served: it changes when the dist folder (and
// so the OHIF version), the file or the public path changes.
func (h *handler) fileTag(name string, st os.FileInfo) string {
	sum := fnv.New128a()
	fmt.Fprintf(sum, "%s\x00%s\x00%d\x00%d\x00%s", h.dirID, name, st.Size(), st.ModTime().UnixNano(), h.base)
	return `"` + hex.EncodeToString(sum.Sum(nil)) + `"`
}

func contentTag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}
