package dicomweb

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Cross-origin reads (the Fetch standard's CORS protocol): a viewer served from another
// origin (OHIF on its own host) may read DICOMweb responses only when the response says
// its origin may. pacsd allows the origins in Config.AllowedOrigins; by default none but
// its own, since every response carries patient data.

// corsPolicy is the parsed Config.AllowedOrigins.
type corsPolicy struct {
	any     bool
	origins map[string]bool // lower-cased scheme://host[:port]
}

func newCORSPolicy(list []string) corsPolicy {
	p := corsPolicy{origins: map[string]bool{}}
	for _, o := range list {
		o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
		switch o {
		case "":
		case "*":
			p.any = true
		default:
			p.origins[o] = true
		}
	}
	return p
}

// exposedHeaders are the response fields a cross-origin script may read beyond the
// CORS-safelisted ones: the media type parameters, paging warning, validators, ranges.
const exposedHeaders = "Content-Type, Content-Length, Content-Range, Content-Location, Content-Encoding, " +
	"ETag, Warning, Retry-After, Accept-Ranges, Location"

// allow returns the Access-Control-Allow-Origin value for origin and whether credentials
// may be allowed; "" when the origin may not read.
func (p corsPolicy) allow(origin string) (value string, credentials bool) {
	o := strings.ToLower(origin)
	switch {
	case p.origins[o]:
		return origin, true
	case p.any:
		// Any site may read, but never with the user's cookies: "*" forbids credentials
		// in the browser (Fetch standard, CORS check).
		return "*", false
	}
	return "", false
}

// withCORS adds the CORS response fields to h's responses (errors included) for an
// allowed origin.
func (s *server) withCORS(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s.corsHeaders(c)
		return h(c)
	}
}

func (s *server) corsHeaders(c echo.Context) bool {
	origin := c.Request().Header.Get("Origin")
	if origin == "" {
		return false
	}
	rh := c.Response().Header()
	rh.Add(echo.HeaderVary, "Origin")
	value, cred := s.cors.allow(origin)
	if value == "" {
		return false
	}
	rh.Set(echo.HeaderAccessControlAllowOrigin, value)
	if cred {
		rh.Set(echo.HeaderAccessControlAllowCredentials, "true")
	}
	rh.Set(echo.HeaderAccessControlExposeHeaders, exposedHeaders)
	return true
}

// maxPreflightHeaders bounds the request header names a preflight may ask for.
const maxPreflightHeaders = 32

// preflight answers OPTIONS on a resource: the CORS preflight (methods and request headers
// a cross-origin request may use) when an allowed origin asks, else the plain Allow list.
func (s *server) preflight(methods []string) echo.HandlerFunc {
	allow := strings.Join(append(append([]string(nil), methods...), http.MethodOptions), ", ")
	return func(c echo.Context) error {
		req := c.Request()
		rh := c.Response().Header()
		rh.Set(echo.HeaderAllow, allow)
		if req.Header.Get("Origin") == "" || req.Header.Get(echo.HeaderAccessControlRequestMethod) == "" {
			return c.NoContent(http.StatusNoContent)
		}
		if !s.corsHeaders(c) {
			return echo.NewHTTPError(http.StatusForbidden, "cross-origin requests from this origin are not allowed; see the AllowedOrigins setting")
		}
		rh.Add(echo.HeaderVary, echo.HeaderAccessControlRequestMethod+", "+echo.HeaderAccessControlRequestHeaders)
		rh.Set(echo.HeaderAccessControlAllowMethods, allow)
		// Echo the requested header names (Accept, Range, Authorization, If-None-Match...)
		// when they are well-formed tokens; the browser asks only for what the page sets.
		var names []string
		for _, line := range req.Header.Values(echo.HeaderAccessControlRequestHeaders) {
			for _, n := range strings.Split(line, ",") {
				n = strings.TrimSpace(n)
				if n != "" && isToken(n) && len(names) < maxPreflightHeaders {
					names = append(names, n)
				}
			}
		}
		if len(names) > 0 {
			rh.Set(echo.HeaderAccessControlAllowHeaders, strings.Join(names, ", "))
		}
		rh.Set(echo.HeaderAccessControlMaxAge, "600")
		return c.NoContent(http.StatusNoContent)
	}
}
