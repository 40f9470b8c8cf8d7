package viewer

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/reading"
)

// API tokens let scripts (a QIDO search loop, a STOW upload, Prometheus) in without a
// person's password: an administrator makes one at /admin/tokens with a name, scopes and an
// expiry, sees it once, and revokes it when the script is retired. A script presents it as
//
//	Authorization: Bearer <token>                 (RFC 6750 2.1)
//
// or, for tools that can only do HTTP Basic authentication, as the password of the fixed
// user name "token" (TokenUser). The repository keeps the SHA-256 of the token only.

// TokenUser is the HTTP Basic user name that says the password is an API token. An account
// of that name cannot use HTTP Basic authentication (it can still log in to the reading room).
const TokenUser = "token"

// tokenPrefix marks pacsd's tokens, so that one pasted into a log or a repository is
// recognised (and secret scanners can look for it).
const tokenPrefix = "pacsd_"

// maxTokenDays bounds a token's life: ten years.
const maxTokenDays = 3650

const ctxToken = "viewer.token"

// newAPIToken returns a new token: 32 random bytes.
func newAPIToken() string { return tokenPrefix + randomToken(32) }

// presentedToken returns the API token a request carries, if it carries one.
func presentedToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok), true
	}
	if user, pw, ok := r.BasicAuth(); ok && user == TokenUser {
		return pw, true
	}
	return "", false
}

// tokenScope is the scope a request needs from a token; "" when no token opens it. Tokens
// open DICOMweb (and OHIF's search root, /ohif/dicomweb, which answers as DICOMweb does)
// and /metrics, nothing of the reading room and not OHIF's pages.
func tokenScope(r *http.Request) reading.Scope {
	p := r.URL.Path
	if p == "/metrics" {
		return reading.ScopeMetrics
	}
	if strings.HasPrefix(p, "/api/admin/") {
		return reading.ScopeAdmin // the administration API (peers.go)
	}
	if p == "/api/orders" || strings.HasPrefix(p, "/api/orders/") {
		return reading.ScopeOrders // the registration API (orders.go)
	}
	for _, root := range []string{"/dicomweb", "/ohif/dicomweb"} {
		if p != root && !strings.HasPrefix(p, root+"/") {
			continue
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return reading.ScopeRead
		case http.MethodPost:
			// STOW-RS, PS3.18 10.5: POST /studies and /studies/{study}.
			rest := strings.TrimPrefix(p, root)
			if root == "/dicomweb" && (rest == "/studies" || strings.HasPrefix(rest, "/studies/") &&
				!strings.Contains(strings.TrimPrefix(rest, "/studies/"), "/")) {
				return reading.ScopeStore
			}
		}
		return ""
	}
	return ""
}

// tokenAuth admits a request carrying an API token: 401 for an unknown, expired or revoked
// token, 403 for one without the scope the request needs.
func (v *Viewer) tokenAuth(c echo.Context, raw string, next echo.HandlerFunc) error {
	h := c.Response().Header()
	refuse := func(status int, code, msg string) error {
		h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="pacsd", error=%q`, code))
		return echo.NewHTTPError(status, msg)
	}
	if v.cfg.Tokens == nil || len(raw) > 256 || !strings.HasPrefix(raw, tokenPrefix) {
		return refuse(http.StatusUnauthorized, "invalid_token", "unknown API token")
	}
	ctx := c.Request().Context()
	now := time.Now()
	t, err := v.cfg.Tokens.TokenByHash(ctx, hashToken(raw))
	switch {
	case errors.Is(err, reading.ErrNotFound):
		v.log.Info("api token refused, unknown", "ip", clientIP(c.Request()))
		return refuse(http.StatusUnauthorized, "invalid_token", "unknown API token")
	case err != nil:
		return err
	case !t.RevokedAt.IsZero():
		v.log.Info("api token refused, revoked", "token_id", t.ID, "ip", clientIP(c.Request()))
		return refuse(http.StatusUnauthorized, "invalid_token", "this API token was revoked")
	case !t.Live(now):
		v.log.Info("api token refused, expired", "token_id", t.ID, "ip", clientIP(c.Request()))
		return refuse(http.StatusUnauthorized, "invalid_token", "this API token has expired")
	}
	scope := tokenScope(c.Request())
	if scope == "" || !t.Has(scope) {
		v.log.Info("api token refused, scope", "token_id", t.ID, "needs", scope)
		msg := "this API token opens DICOMweb and /metrics only"
		if scope != "" {
			msg = fmt.Sprintf("this API token lacks the %q scope", scope)
			h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="pacsd", error="insufficient_scope", scope=%q`, scope))
		}
		return echo.NewHTTPError(http.StatusForbidden, msg)
	}
	v.touchToken(c, t, now)
	c.Set(ctxToken, t)
	// Who made the request, for the logs and the audit trail: the token, not a person.
	c.Set(ctxUser, reading.User{Username: TokenUser + ":" + t.Name, DisplayName: t.Name})
	withActor(c, currentUser(c))
	return next(c)
}

// touchToken records the token's use, at most once a minute per token, so that a search
// loop does not write to the index at every request.
func (v *Viewer) touchToken(c echo.Context, t reading.Token, now time.Time) {
	v.tokenMu.Lock()
	last := v.tokenUsed[t.ID]
	due := now.Sub(last) >= time.Minute
	if due {
		if len(v.tokenUsed) > 10000 {
			clear(v.tokenUsed)
		}
		v.tokenUsed[t.ID] = now
	}
	v.tokenMu.Unlock()
	if !due {
		return
	}
	if err := v.cfg.Tokens.TouchToken(c.Request().Context(), t.ID, now); err != nil {
		v.log.Warn("recording an api token's use", "token_id", t.ID, "err", err)
	}
}

// tokensView is the /admin/tokens page.
type tokensView struct {
	Rows   []tokenRow
	Secret string // the token just made, shown this once
	Days   string // the new-token form's expiry, as typed
	Scopes []reading.Scope
}

// Chosen says whether value was among input's values when form was refused.
func (p pageData) Chosen(form, input string, value reading.Scope) bool {
	return p.FormHas(form) && slices.Contains(p.Form.Values[input], string(value))
}

type tokenRow struct {
	reading.Token
	State string // "live", "expired", "revoked"
}

func (v *Viewer) tokensPage(c echo.Context) error {
	return v.tokensPageWith(c, http.StatusOK, "")
}

func (v *Viewer) tokensPageStatus(c echo.Context, status int) error {
	return v.tokensPageWith(c, status, "")
}

func (v *Viewer) tokensPageWith(c echo.Context, status int, secret string) error {
	ts, err := v.cfg.Tokens.Tokens(c.Request().Context())
	if err != nil {
		return err
	}
	now := time.Now()
	view := &tokensView{Secret: secret, Days: "90", Scopes: reading.Scopes}
	for _, t := range ts {
		row := tokenRow{Token: t, State: "live"}
		switch {
		case !t.RevokedAt.IsZero():
			row.State = "revoked"
		case !t.Live(now):
			row.State = "expired"
		}
		view.Rows = append(view.Rows, row)
	}
	d := pageData{Active: "tokens", Tokens: view, Flash: flash(c), Form: formOf(c)}
	if d.Form != nil {
		view.Days = d.Form.Values.Get("days")
	}
	return v.render(c, status, "tokens", d)
}

func (v *Viewer) createToken(c echo.Context) error {
	me := currentUser(c)
	now := time.Now()
	t := reading.Token{Name: c.FormValue("name"), CreatedBy: me.ID, CreatedByName: me.Name(), CreatedAt: now}
	form, _ := c.FormParams()
	for _, s := range form["scope"] {
		t.Scopes = append(t.Scopes, reading.Scope(s))
	}
	days, err := strconv.Atoi(strings.TrimSpace(c.FormValue("days")))
	if err != nil || days < 1 || days > maxTokenDays {
		refuseWith(c, "token-form", "days", "form.token.days", t)
		return v.tokensPageStatus(c, http.StatusBadRequest)
	}
	t.ExpiresAt = now.Add(time.Duration(days) * 24 * time.Hour)
	secret := newAPIToken()
	t.Hash = hashToken(secret)
	if t, err = v.cfg.Tokens.CreateToken(c.Request().Context(), t); err != nil {
		var fe *reading.FieldError
		if !errors.As(err, &fe) {
			return err
		}
		input := fe.Field
		if input == "scopes" {
			input = "scope"
		}
		refuseWith(c, "token-form", input, "form.token."+fe.Field+"."+fe.Problem, t)
		status := http.StatusBadRequest
		if errors.Is(err, reading.ErrConflict) {
			status = http.StatusConflict
		}
		return v.tokensPageStatus(c, status)
	}
	v.log.Info("api token created", "by", me.ID, "token_id", t.ID, "scopes", t.Scopes, "expires", t.ExpiresAt)
	// Shown now and never again: the answer is the page itself (no redirect to a URL that
	// could show it twice), and render marks it no-store.
	return v.tokensPageWith(c, http.StatusOK, secret)
}

func (v *Viewer) revokeToken(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	if err := v.cfg.Tokens.RevokeToken(c.Request().Context(), id, time.Now()); err != nil {
		return err
	}
	v.log.Info("api token revoked", "by", currentUser(c).ID, "token_id", id)
	return c.Redirect(http.StatusSeeOther, "/admin/tokens?saved=1")
}
