package ohif

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"
)

// Share links (云胶片, 互认; viewer/share.go): another hospital's doctor opens a doctor's link's
// study in OHIF without an account. OHIF 3.13's "dicomwebproxy" data source (extensions/default
// DicomWebProxyDataSource) reads its DICOMweb configuration from the JSON at its ?url= (the
// first entry of servers.dicomWeb) and then talks to that server only; the study comes from
// ?studyInstanceUIDs=. So the doctor's page links to
//
//	<mount>/viewer/dicomwebproxy?url=<mount>/share/{token}/config.json&studyInstanceUIDs={uid}
//
// and config.json names <SharePath>/{token}/dicomweb as every root: the link's DICOMweb, which
// answers for that study alone and asks for the link's verification (a cookie on the link's
// path, sent with OHIF's same-origin requests). The config holds no patient data and opens
// nothing by itself.
//
// The proxy data source would load any server's configuration named in a crafted ?url=, and
// show its images under pacsd's origin: the mount serves a proxy route only when url is a
// share link's config.json on this mount (shareProxyURL), for staff too.

// shareTokenRe is the form of a link's token (URL-safe base64 of 16 to 48 bytes): anything
// else is no token, and never reaches a path.
var shareTokenRe = regexp.MustCompile(`^[A-Za-z0-9_-]{22,64}$`)

const (
	proxySourceName = "dicomwebproxy"
	shareConfigName = "config.json"
)

// shareConfigPath is the path (on the mount, without the public prefix) of a link's config.
func shareConfigPath(token string) string { return "/share/" + token + "/" + shareConfigName }

// ShareViewerURL is the address that opens a doctor's link's study in OHIF at mount, the
// mount's public path ("" for "/ohif"): the viewer's share page links to it.
func ShareViewerURL(mount, token, studyUID string) string {
	mount = normalMount(mount)
	// The proxy data source reads "studyInstanceUIDs" (lower-case s, case-sensitive), not the
	// "StudyInstanceUIDs" of the dicomweb one.
	q := url.Values{"url": {mount + shareConfigPath(token)}, "studyInstanceUIDs": {studyUID}}
	return mount + "/viewer/" + proxySourceName + "?" + q.Encode()
}

func normalMount(mount string) string {
	mount = "/" + strings.Trim(mount, "/")
	if mount == "/" {
		return "/ohif"
	}
	return mount
}

// isProxyRoute reports whether a client route (the path after the mount) opens OHIF on the
// proxy data source: /{mode}/dicomwebproxy.
func isProxyRoute(name string) bool {
	return path.Base(strings.TrimSuffix(name, "/")) == proxySourceName
}

// shareProxyURL reports whether the proxy route's ?url= is a share link's config on a mount
// at mount (its local path; behind a reverse proxy the public path has a prefix before it):
// a path only (no scheme, host or userinfo: OHIF resolves it against the page, so it is this
// origin), exactly one, without dot segments.
func shareProxyURL(q url.Values, mount string) bool {
	urls := q["url"]
	if len(urls) != 1 {
		return false
	}
	u, err := url.Parse(urls[0])
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		u.Opaque != "" || !strings.HasPrefix(urls[0], "/") || strings.HasPrefix(urls[0], "//") ||
		path.Clean(u.Path) != u.Path {
		return false
	}
	i := strings.LastIndex(u.Path, mount+"/share/")
	if i < 0 {
		return false
	}
	token, file, ok := strings.Cut(u.Path[i+len(mount+"/share/"):], "/")
	return ok && file == shareConfigName && shareTokenRe.MatchString(token)
}

// Public reports whether a request to the OHIF mount (mount "" for "/ohif") may be served
// without a session: the built app's own files (no patient data; the search root excepted),
// a share link's config.json, the proxy route with a share link's config, which is how a
// doctor's link opens OHIF, and app-config.js for that page. The study's data stays behind
// the link's own checks.
func Public(mount string, r *http.Request) bool {
	mount = normalMount(mount)
	name, ok := strings.CutPrefix(r.URL.Path, mount+"/")
	if !ok || strings.HasPrefix("/"+name, searchRoot+"/") || "/"+name == searchRoot {
		return false
	}
	if strings.HasPrefix("/"+name, "/share/") {
		token, file, _ := strings.Cut(strings.TrimPrefix(name, "share/"), "/")
		return file == shareConfigName && shareTokenRe.MatchString(token)
	}
	if isProxyRoute(name) {
		return shareProxyURL(r.URL.Query(), mount)
	}
	if name == "app-config.js" {
		// It holds nothing secret, but pacsd's OHIF stays an account's tool: only the page a
		// share link opened (its Referer, which a browser sends for same-origin scripts)
		// gets it without one.
		ref, err := url.Parse(r.Referer())
		return err == nil && strings.HasPrefix(ref.Path, mount+"/") && isProxyRoute(strings.TrimPrefix(ref.Path, mount+"/")) &&
			shareProxyURL(ref.Query(), mount)
	}
	return looksLikeAsset(name)
}

// shareConfig is a link's config.json: the proxy data source's server, pacsd's data source
// settings with every root at the link's DICOMweb.
func (h *handler) shareConfig(c echo.Context) error {
	token := c.Param("token")
	if !shareTokenRe.MatchString(token) {
		return echo.ErrNotFound
	}
	root := h.publicURL + h.sharePath + "/" + token + "/dicomweb"
	src := dataSource()
	src["name"] = "pacsd-share"
	src["friendlyName"] = "pacsd"
	src["qidoRoot"], src["wadoRoot"], src["wadoUriRoot"] = root, root, root
	b, err := json.Marshal(map[string]any{"servers": map[string]any{"dicomWeb": []any{src}}})
	if err != nil {
		return fmt.Errorf("share config: %w", err)
	}
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Content-Type-Options", "nosniff")
	return c.JSONBlob(http.StatusOK, b)
}

// Guard puts staff (the reading room's check) in front of the OHIF mount at mount, except
// for what Public lets through: the app's files and a doctor's share link's way in.
func Guard(mount string, staff echo.MiddlewareFunc) echo.MiddlewareFunc {
	m := normalMount(mount)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		guarded := staff(next)
		return func(c echo.Context) error {
			if p := c.Request().URL.Path; (p == m || strings.HasPrefix(p, m+"/")) && !Public(m, c.Request()) {
				return guarded(c)
			}
			return next(c)
		}
	}
}
