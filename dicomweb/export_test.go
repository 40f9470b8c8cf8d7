package dicomweb

import (
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"pacsd/store"
)

// The tests' access to the server Register builds: through the Service it returns, not a
// hook in the package.

// registerWith mounts the handlers as cmd/pacsd does and returns the server's URL, the
// server and the Service Register returned.
func registerWith(t testing.TB, a *store.Archive, cfg Config) (string, *server, *Service) {
	t.Helper()
	e := echo.New()
	e.Use(middleware.Recover())
	svc := Register(e.Group("/dicomweb"), a, cfg)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL, svc.s, svc
}

// serveWith is serve, also returning the server for white-box checks.
func serveWith(t testing.TB, a *store.Archive, cfg Config) (string, *server) {
	t.Helper()
	u, s, _ := registerWith(t, a, cfg)
	return u, s
}
