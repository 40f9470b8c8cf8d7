package dicomweb

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/store"
)

// Config tunes the DICOMweb handlers.
type Config struct {
	Logger *slog.Logger // nil: slog.Default()
	// MaxResults caps the results of one QIDO-RS request (PS3.18 8.3.4.4); a larger limit,
	// or none, is cut to it with a Warning. 0 means 1000.
	MaxResults int
	// PublicURL is the external base URL of the server (e.g. "https://pacs.example/county1/"),
	// used to build Retrieve URL (0008,1190). When empty, the request's scheme and host are
	// used (see baseURL); set it whenever a reverse proxy strips a path prefix.
	PublicURL string
}

const defaultMaxResults = 1000

// server holds what every handler needs.
type server struct {
	archive    *store.Archive
	log        *slog.Logger
	maxResults int
	publicURL  string // without trailing '/'
	prefix     string // the group's path prefix, e.g. "/dicomweb"
}

// Route parameter names.
const (
	paramStudy    = "study"
	paramSeries   = "series"
	paramInstance = "instance"
)

// Register mounts the Studies Service resources (PS3.18 10.1, Table 10.1-1) on g:
// QIDO-RS search and WADO-RS instance retrieval. cmd/pacsd calls it as
// Register(e.Group("/dicomweb"), archive, cfg).
func Register(g *echo.Group, a *store.Archive, cfg Config) {
	s := &server{
		archive:    a,
		log:        cfg.Logger,
		maxResults: cfg.MaxResults,
		publicURL:  strings.TrimRight(cfg.PublicURL, "/"),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxResults <= 0 {
		s.maxResults = defaultMaxResults
	}

	// QIDO-RS, PS3.18 10.6 (Table 10.6.1-2 lists the search resources).
	r := g.GET("/studies", s.search(searchStudies))
	s.prefix = strings.TrimSuffix(r.Path, "/studies")
	g.GET("/series", s.search(searchAllSeries))
	g.GET("/instances", s.search(searchAllInstances))
	g.GET("/studies/:"+paramStudy+"/series", s.search(searchStudySeries))
	g.GET("/studies/:"+paramStudy+"/instances", s.search(searchStudyInstances))
	g.GET("/studies/:"+paramStudy+"/series/:"+paramSeries+"/instances", s.search(searchSeriesInstances))

	// WADO-RS, PS3.18 10.4 (Table 10.4.1-1): the instance resources. HEAD answers whether
	// the resource exists in an acceptable representation without moving the bytes.
	for _, path := range []string{
		"/studies/:" + paramStudy,
		"/studies/:" + paramStudy + "/series/:" + paramSeries,
		"/studies/:" + paramStudy + "/series/:" + paramSeries + "/instances/:" + paramInstance,
	} {
		g.GET(path, s.retrieve)
		g.HEAD(path, s.retrieve)
	}
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
