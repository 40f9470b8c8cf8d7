package viewer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/dicom"
	"pacsd/reading"
	"pacsd/store"
)

// pageData is what every page template gets; each page fills its own part.
type pageData struct {
	Lang   string
	User   reading.User
	CSRF   string
	Active string // the navigation entry to highlight
	Error  string // a message key
	Flash  string // a message key
	Next   string
	Path   string // the request's path and query, for the language switch

	Worklist  *worklistView
	Study     *studyView
	Dashboard *dashboardView
	Sites     []reading.Site
	Users     []reading.User
	Templates []reading.Template
	Tokens    *tokensView
	Edit      any        // the record being edited on an admin page
	Form      *formState // a refused admin form shown again (forms.go)
	JSON      template.JS
	Audit     *auditView    // /admin/audit (audit.go)
	Peers     *peersView    // /admin/peers (peers.go)
	Versions  *versionsView // /studies/{study}/versions (versions.go)
	Forward   *forwardView  // /admin/forward (forward.go)
	Orders    *ordersView   // /orders, registration (orders.go)
	OrdersOn  bool          // registration is offered (Config.Orders)
}

func (p pageData) Staff() bool { return p.User.Role.Staff() }
func (p pageData) Admin() bool { return p.User.Role == reading.RoleAdmin }

// httpError is an error with its status and the message key the user sees.
type httpError struct {
	status int
	key    string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.key) }

var errNotFound = &httpError{status: http.StatusNotFound, key: "err.notfound"}

// parsePages parses the templates once per language, each with its own "t". Instants are
// shown in loc, the county's time zone, never the server's ("datetime", "isotime").
func parsePages(loc *time.Location) (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, lang := range languages {
		funcs := template.FuncMap{
			"t": func(key string) (string, error) { return translate(lang, key) },
			"status": func(s reading.Status) (string, error) {
				return translate(lang, "status."+string(s))
			},
			"sex": func(s string) string {
				if m, err := translate(lang, "sex."+strings.ToUpper(strings.TrimSpace(s))); err == nil {
					return m
				}
				return s
			},
			"roles": func() []string {
				return []string{string(reading.RoleRadiologist), string(reading.RoleSite), string(reading.RoleAdmin)}
			},
			"pn":       displayName,
			"date":     displayDate,
			"studyDT":  studyDateTime,
			"join":     strings.Join,
			"lines":    func(s []string) string { return strings.Join(s, "\n") },
			"datetime": func(t time.Time) string { return displayTime(t, loc) },
			"isotime":  func(t time.Time) string { return t.In(loc).Format(time.RFC3339) },
			"imageSeries": func(ss []reading.SeriesRef) []reading.SeriesRef {
				var out []reading.SeriesRef
				for _, s := range ss {
					if hasImages(s) {
						out = append(out, s)
					}
				}
				return out
			},
		}
		for name, f := range displayFuncs(lang) { // display.go: ages, body parts, modalities...
			funcs[name] = f
		}
		t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
		if err != nil {
			return nil, fmt.Errorf("viewer: templates: %w", err)
		}
		out[lang] = t
	}
	return out, nil
}

// hasImages says whether a series is shown as pictures: reports (SR) and documents are not.
func hasImages(s reading.SeriesRef) bool {
	switch s.Modality {
	case "SR", "DOC", "KO", "PR":
		return false
	}
	return true
}

// displayName shows a Person Name value the way a Chinese reader expects (dicom's rule).
func displayName(pn string) string { return dicom.ParsePersonName(pn).Display() }

func displayDate(s string) string {
	if len(s) == 8 {
		return s[:4] + "-" + s[4:6] + "-" + s[6:]
	}
	return s
}

func studyDateTime(date, tm string) string {
	out := displayDate(date)
	if len(tm) >= 4 {
		out += " " + tm[:2] + ":" + tm[2:4]
	}
	return out
}

// displayTime is an instant as the county reads it: date and minute in loc ("" for none).
func displayTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("2006-01-02 15:04")
}

func currentUser(c echo.Context) reading.User {
	u, _ := c.Get(ctxUser).(reading.User)
	return u
}

// render executes a page template in the request's language.
func (v *Viewer) render(c echo.Context, status int, name string, d pageData) error {
	d.Lang = langOf(c)
	if s, ok := c.Get(ctxSession).(reading.Session); ok {
		d.CSRF = s.CSRF
	}
	if d.User.ID == 0 {
		d.User = currentUser(c)
	}
	d.Path = c.Request().URL.RequestURI()
	d.OrdersOn = v.cfg.Orders != nil
	var buf bytes.Buffer
	if err := v.pages[d.Lang].ExecuteTemplate(&buf, name, d); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// jsMessages is the part of the catalogue the scripts use, as JSON for a data island.
func jsMessages(lang string) template.JS {
	m := map[string]string{}
	for k, s := range catalogue[lang] {
		for _, p := range jsPrefixes {
			if strings.HasPrefix(k, p) {
				m[k] = s
			}
		}
	}
	b, _ := json.Marshal(m)
	return template.JS(b)
}

// errorsMiddleware turns handler errors into the user's answer: a page for a browser
// navigation, JSON for scripts. Internals are logged, never shown.
func (v *Viewer) errorsMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			if err != nil && !errors.Is(err, context.Canceled) {
				v.log.Warn("error after the response started", "path", c.Path(), "err", err)
			}
			return nil
		}
		status, key := http.StatusInternalServerError, "err.internal"
		var he *httpError
		var ee *echo.HTTPError
		switch {
		case errors.As(err, &he):
			status, key = he.status, he.key
		case errors.As(err, &ee):
			status = ee.Code
			switch status {
			case http.StatusUnauthorized, http.StatusForbidden:
				key = "err.forbidden"
			case http.StatusNotFound:
				key = "err.notfound"
			default:
				key = "err.invalid"
			}
		case errors.Is(err, reading.ErrNotFound), errors.Is(err, store.ErrNotFound):
			status, key = http.StatusNotFound, "err.notfound"
		case errors.Is(err, reading.ErrInvalid), errors.Is(err, store.ErrInvalid):
			status, key = http.StatusBadRequest, "err.invalid"
		case errors.Is(err, reading.ErrConflict):
			status, key = http.StatusConflict, "err.conflict"
		case errors.Is(err, context.Canceled):
			return nil // the client went away
		default:
			v.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		}
		if status >= 400 && status < 500 {
			v.log.Debug("request refused", "path", c.Path(), "status", status, "err", err)
		}
		msg, _ := translate(langOf(c), key)
		if wantsPage(c) {
			return v.render(c, status, "error", pageData{Error: key})
		}
		return c.JSON(status, map[string]string{"error": msg, "code": key})
	}
}
