package viewer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"pacsd/audit"
	"pacsd/reading"
)

const (
	sessionCookie = "pacsd_session"
	langCookie    = "pacsd_lang"
	csrfHeader    = "X-CSRF-Token"
	csrfField     = "csrf"
	minPassword   = 8
	maxPassword   = 72 // bcrypt uses the first 72 bytes only; longer would be silently cut
)

// bcryptCost is the work factor of stored password hashes. A variable only so that the
// package's tests, which hash and check hundreds of passwords under the race detector, can
// lower it (TestMain); a hash records its own cost, so checking is unaffected.
var bcryptCost = 11

// Keys of the request's echo.Context.
const (
	ctxUser    = "viewer.user"
	ctxSession = "viewer.session"
)

// randomToken returns n random bytes, URL-safe base64.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the platform has no randomness: nothing is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// checkPasswordPolicy is the one rule for every password, whoever sets it (the admin form,
// the user's own change): 8-72 bytes.
func checkPasswordPolicy(pw string) error {
	if len(pw) < minPassword || len(pw) > maxPassword {
		return fmt.Errorf("password must be %d-%d bytes: %w", minPassword, maxPassword, reading.ErrInvalid)
	}
	return nil
}

// hashPassword checks the policy and returns the bcrypt hash.
func hashPassword(pw string) (string, error) {
	if err := checkPasswordPolicy(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when the user does not exist, so that a wrong user name
// costs the same time as a wrong password.
var dummyHash = func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a password of anybody"), bcryptCost)
	return h
}()

// ensureAdmin creates the first administrator when the repository has no account.
func (v *Viewer) ensureAdmin(ctx context.Context) error {
	n, err := v.cfg.Users.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("viewer: count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	pw := randomToken(12) // 16 characters, 96 bits
	h, err := hashPassword(pw)
	if err != nil {
		return err
	}
	// The password has been on a terminal, maybe in a log collector: it is replaced at the
	// first login.
	if _, err := v.cfg.Users.CreateUser(ctx, reading.User{Username: "admin", DisplayName: "admin",
		Role: reading.RoleAdmin, PasswordHash: h, MustChangePassword: true}); err != nil {
		return fmt.Errorf("viewer: create the initial administrator: %w", err)
	}
	// A first start also gets the report templates a county department starts from; the
	// administrator edits them at /admin/templates.
	for _, t := range defaultTemplates {
		if _, err := v.cfg.Reports.PutTemplate(ctx, t); err != nil {
			return fmt.Errorf("viewer: default templates: %w", err)
		}
	}
	// Printed once, never logged: the log may be collected elsewhere.
	fmt.Fprintf(v.cfg.AdminOut, "pacsd: initial administrator created: user %q, password %q (shown only now; "+
		"log in to the reading room at / and choose a new password there: until then it works for nothing else, "+
		"not even HTTP Basic authentication)\n", "admin", pw)
	return nil
}

// basicUser checks HTTP Basic credentials: the user, or nil when they are wrong (or the
// limiter refuses another try).
func (v *Viewer) basicUser(c echo.Context, user, pw string) (*reading.User, error) {
	ctx := c.Request().Context()
	ip := clientIP(c.Request())
	now := time.Now()
	key := hashToken(user + "\x00" + pw)
	v.basicMu.Lock()
	if e, ok := v.basicOK[key]; ok && now.Before(e.until) {
		v.basicMu.Unlock()
		// Re-read the account: a disabled user, a changed role or a changed password (by the
		// user or an administrator) takes effect at once.
		u, err := v.cfg.Users.UserByName(ctx, user)
		if err == nil && !u.Disabled && u.ID == e.id && u.PasswordHash == e.hash {
			return &u, nil
		}
		v.basicMu.Lock()
		delete(v.basicOK, key)
	}
	v.basicMu.Unlock()
	if len(user) > 64 || len(pw) > 1024 || !v.limit.allowed(user, ip, now) {
		return nil, nil
	}
	u, err := v.cfg.Users.UserByName(ctx, user)
	hash := dummyHash
	if err == nil {
		hash = []byte(u.PasswordHash)
	} else if !errors.Is(err, reading.ErrNotFound) {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pw)) != nil || err != nil || u.Disabled {
		v.limit.fail(user, ip, now)
		v.log.Info("basic authentication failed", "ip", ip)
		v.record(c, audit.Event{Actor: audit.Anonymous(user, ip), Action: audit.ActionLogin,
			Outcome: audit.OutcomeFailure, Detail: "HTTP Basic：用户名或密码错误"})
		return nil, nil
	}
	v.limit.reset(user, ip)
	v.basicMu.Lock()
	if len(v.basicOK) > 1000 {
		clear(v.basicOK)
	}
	v.basicOK[key] = basicEntry{id: u.ID, hash: u.PasswordHash, until: now.Add(5 * time.Minute)}
	v.basicMu.Unlock()
	return &u, nil
}

type basicEntry struct {
	id    int64
	hash  string // the bcrypt hash the password was checked against
	until time.Time
}

// loginLimiter counts failed logins so that guessing is stopped at the guessing address, never
// by locking the account: an attacker who knows a user name must not be able to lock its
// owner out, from any number of addresses.
//   - per user name and address: max failures in a window block that address for that user;
//   - per address, whatever the user names: 4*max failures block the address (a spray of
//     names from one place);
//   - per user name, from all addresses: past 4*max failures (a guess spread over many
//     addresses), only addresses that have not failed in the window may still try it, so the
//     user's own login from a clean address works while every guessing address is refused.
type loginLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	fails  map[string]*failCount
}

type failCount struct {
	n     int
	first time.Time
}

func newLoginLimiter(max int, window time.Duration) *loginLimiter {
	return &loginLimiter{max: max, window: window, fails: map[string]*failCount{}}
}

// The three counters of an attempt: user+address, address, user.
func limiterKeys(user, ip string) [3]string {
	u := strings.ToLower(user)
	return [3]string{"u+ip|" + u + "|" + ip, "ip|" + ip, "u|" + u}
}

// count is the live failure count under key (expired counts are removed).
func (l *loginLimiter) count(key string, now time.Time) int {
	f, ok := l.fails[key]
	if !ok {
		return 0
	}
	if now.Sub(f.first) > l.window {
		delete(l.fails, key)
		return 0
	}
	return f.n
}

// allowed reports whether another attempt may be made now.
func (l *loginLimiter) allowed(user, ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := limiterKeys(user, ip)
	userIP, addr, acct := l.count(k[0], now), l.count(k[1], now), l.count(k[2], now)
	switch {
	case userIP >= l.max, addr >= 4*l.max:
		return false
	case acct >= 4*l.max:
		return addr == 0 // under a spread guess, only a clean address may try
	}
	return true
}

func (l *loginLimiter) fail(user, ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) > 10000 { // bounded memory under a spray of names
		for k, f := range l.fails {
			if now.Sub(f.first) > l.window {
				delete(l.fails, k)
			}
		}
	}
	for _, k := range limiterKeys(user, ip) {
		f, ok := l.fails[k]
		if !ok || now.Sub(f.first) > l.window {
			f = &failCount{first: now}
			l.fails[k] = f
		}
		f.n++
	}
}

// reset forgets the user's failures from this address after a correct password. The
// address's and the account's counts stay: one good login must not launder a spray.
func (l *loginLimiter) reset(user, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, limiterKeys(user, ip)[0])
}

// clientIP is the connection's address: X-Forwarded-For is not trusted, since anybody
// could set it to slip past the limiter.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// localPath accepts a redirect target only when it is a path on this server, judged as a
// browser reads a Location: browsers drop ASCII tab and newline anywhere in a URL and treat
// a backslash like a slash (WHATWG URL), so "/\tevil.example", "/\\evil.example" and
// "/%09/evil" decoded are all other hosts. Anything with a control character, a backslash,
// or that does not parse as a bare path (no scheme, no host) goes to "/".
func localPath(next string) string {
	if next == "" || next[0] != '/' || strings.ContainsAny(next, "\\") {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return "/"
		}
	}
	if strings.HasPrefix(next, "//") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

func (v *Viewer) loginPage(c echo.Context) error {
	return v.render(c, http.StatusOK, "login", pageData{Next: localPath(c.QueryParam("next"))})
}

func (v *Viewer) login(c echo.Context) error {
	ctx := c.Request().Context()
	user := strings.TrimSpace(c.FormValue("username"))
	pw := c.FormValue("password")
	next := localPath(c.FormValue("next"))
	ip := clientIP(c.Request())
	now := time.Now()
	if len(user) > 64 || len(pw) > 1024 {
		return v.render(c, http.StatusBadRequest, "login", pageData{Next: next, Error: "login.failed"})
	}
	if !v.limit.allowed(user, ip, now) {
		v.log.Warn("login refused, too many failures", "ip", ip)
		v.record(c, audit.Event{Actor: audit.Anonymous(user, ip), Action: audit.ActionSecurity,
			Outcome: audit.OutcomeFailure, Detail: "登录失败次数过多，已拒绝"})
		return v.render(c, http.StatusTooManyRequests, "login", pageData{Next: next, Error: "login.limited"})
	}
	u, err := v.cfg.Users.UserByName(ctx, user)
	hash := dummyHash
	if err == nil {
		hash = []byte(u.PasswordHash)
	} else if !errors.Is(err, reading.ErrNotFound) {
		return err
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil
	if err != nil || !match || u.Disabled {
		v.limit.fail(user, ip, now)
		v.log.Info("login failed", "ip", ip)
		v.record(c, audit.Event{Actor: audit.Anonymous(user, ip), Action: audit.ActionLogin,
			Outcome: audit.OutcomeFailure, Detail: "用户名或密码错误"})
		return v.render(c, http.StatusUnauthorized, "login", pageData{Next: next, Error: "login.failed"})
	}
	v.limit.reset(user, ip)
	if _, err := v.startSession(c, u); err != nil {
		return err
	}
	v.log.Info("login", "user_id", u.ID, "role", u.Role, "ip", ip, "must_change_password", u.MustChangePassword)
	v.record(c, audit.Event{Actor: audit.User(u.ID, u.Username, ip), Action: audit.ActionLogin})
	if u.MustChangePassword {
		return c.Redirect(http.StatusSeeOther, passwordURL(next))
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// startSession logs u in on this browser: a new session with its own CSRF token, and its
// cookie on the response.
func (v *Viewer) startSession(c echo.Context, u reading.User) (reading.Session, error) {
	now := time.Now()
	token := randomToken(32)
	s := reading.Session{TokenHash: hashToken(token), UserID: u.ID, CSRF: randomToken(32),
		CreatedAt: now, ExpiresAt: now.Add(v.cfg.SessionTTL)}
	if err := v.cfg.Users.CreateSession(c.Request().Context(), s); err != nil {
		return reading.Session{}, fmt.Errorf("create session: %w", err)
	}
	v.setCookie(c, sessionCookie, token, v.cfg.SessionTTL)
	return s, nil
}

func (v *Viewer) logout(c echo.Context) error {
	s := c.Get(ctxSession).(reading.Session)
	if err := v.cfg.Users.DeleteSession(c.Request().Context(), s.TokenHash); err != nil {
		return err
	}
	v.record(c, audit.Event{Action: audit.ActionLogout})
	v.setCookie(c, sessionCookie, "", -1)
	return c.Redirect(http.StatusSeeOther, "/login")
}

func (v *Viewer) setCookie(c echo.Context, name, value string, ttl time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: c.Scheme() == "https"}
	if ttl < 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(ttl / time.Second)
	}
	c.SetCookie(ck)
}

func (v *Viewer) setLanguage(c echo.Context) error {
	lang := c.Param("lang")
	if _, ok := catalogue[lang]; !ok {
		lang = languages[0]
	}
	v.setCookie(c, langCookie, lang, 365*24*time.Hour)
	return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next")))
}

func langOf(c echo.Context) string {
	if ck, err := c.Cookie(langCookie); err == nil {
		if _, ok := catalogue[ck.Value]; ok {
			return ck.Value
		}
	}
	return languages[0]
}

// session returns the request's live session and user, if any.
func (v *Viewer) session(c echo.Context) (reading.Session, reading.User, bool, error) {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 128 {
		return reading.Session{}, reading.User{}, false, nil
	}
	s, u, err := v.cfg.Users.Session(c.Request().Context(), hashToken(ck.Value), time.Now())
	if errors.Is(err, reading.ErrNotFound) {
		return reading.Session{}, reading.User{}, false, nil
	}
	if err != nil {
		return reading.Session{}, reading.User{}, false, err
	}
	return s, u, true, nil
}

// wantsPage tells a browser navigation (redirect it to the login page) from a script's
// or an image's request (answer 401); the scripts mark their fetches with
// X-Requested-With.
func wantsPage(c echo.Context) bool {
	r := c.Request()
	return r.Method == http.MethodGet && r.Header.Get("X-Requested-With") == "" &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// authenticate requires a session.
func (v *Viewer) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s, u, ok, err := v.session(c)
		if err != nil {
			return err
		}
		if !ok {
			if wantsPage(c) {
				return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
			}
			return echo.NewHTTPError(http.StatusUnauthorized, "login required")
		}
		c.Set(ctxSession, s)
		c.Set(ctxUser, u)
		return next(c)
	}
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// sameOrigin refuses unsafe requests whose Origin (or, lacking one, Referer) is another
// site's: a second line behind the CSRF token and SameSite cookies.
func (v *Viewer) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if unsafeMethod(r.Method) {
			src := r.Header.Get("Origin")
			if src == "" {
				src = r.Header.Get("Referer")
			}
			if src != "" {
				u, err := url.Parse(src)
				if err != nil || u.Host != r.Host {
					return echo.NewHTTPError(http.StatusForbidden, "cross-origin request refused")
				}
			}
		}
		return next(c)
	}
}

// checkCSRF requires the session's CSRF token on every unsafe request.
func (v *Viewer) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if unsafeMethod(c.Request().Method) {
			s := c.Get(ctxSession).(reading.Session)
			got := c.Request().Header.Get(csrfHeader)
			if got == "" {
				got = c.FormValue(csrfField)
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
				return &httpError{status: http.StatusForbidden, key: "err.csrf"}
			}
		}
		return next(c)
	}
}

// requireRole admits only the given roles (403 for the others).
func (v *Viewer) requireRole(roles ...reading.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u := c.Get(ctxUser).(reading.User)
			for _, r := range roles {
				if u.Role == r {
					return next(c)
				}
			}
			return &httpError{status: http.StatusForbidden, key: "err.forbidden"}
		}
	}
}

// passwordChanged holds back a user whose password somebody else chose
// (reading.User.MustChangePassword): a page navigation is sent to the change-password page,
// anything else (scripts' fetches, writes, images) gets 403 saying why. It follows
// authenticate on every route but the change-password page and logout.
func (v *Viewer) passwordChanged(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !currentUser(c).MustChangePassword {
			return next(c)
		}
		if wantsPage(c) {
			return c.Redirect(http.StatusSeeOther, passwordURL(c.Request().URL.RequestURI()))
		}
		return &httpError{status: http.StatusForbidden, key: "err.mustchange"}
	}
}

// RequireStaff is middleware for handlers outside the reading room that show every site's
// data (DICOMweb, OHIF): a radiologist's or administrator's session is required; site
// users get 403, requests without a session 401 (a browser navigation is sent to the login
// page instead). Unsafe methods must come from this origin.
//
// Scripts (QIDO searches, STOW uploads) have no browser session: they may send a staff
// account's name and password with HTTP Basic authentication (RFC 7617) instead, which is
// checked like a login (bcrypt, the same failure limits) and remembered for a few minutes
// so that a search loop does not pay a bcrypt per request. Use it over HTTPS.
//
// A password somebody else chose (reading.User.MustChangePassword) opens nothing here: a
// browser session is sent to the change-password page (403 for scripts' requests), and HTTP
// Basic authentication with it is 401, saying the password must first be changed in the
// reading room. A temporary password handed over by an administrator is thus never a
// script's credential.
//
// Better than a person's password, scripts use an API token (tokens.go): Bearer, or the
// password of the HTTP Basic user "token". It opens what its scopes name: read for GET and
// HEAD under /dicomweb and /ohif/dicomweb, store for STOW-RS, metrics for /metrics;
// anything else 403, an unknown, expired or revoked token 401.
func (v *Viewer) RequireStaff() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return v.sameOrigin(func(c echo.Context) error {
			if l, ok := c.Request().Context().Value(shareScopeKey{}).(reading.ShareLink); ok {
				return v.shareScoped(c, l, next) // share.go: a doctor's link, for its study only
			}
			if raw, ok := presentedToken(c.Request()); ok {
				return v.tokenAuth(c, raw, next) // tokens.go
			}
			_, u, ok, err := v.session(c)
			if err != nil {
				return err
			}
			if !ok {
				if user, pw, basic := c.Request().BasicAuth(); basic {
					bu, err := v.basicUser(c, user, pw)
					if err != nil {
						return err
					}
					if bu == nil {
						c.Response().Header().Set("WWW-Authenticate", `Basic realm="pacsd", charset="UTF-8"`)
						return echo.NewHTTPError(http.StatusUnauthorized, "wrong user name or password")
					}
					if bu.MustChangePassword {
						v.log.Info("basic authentication refused, password must be changed", "user_id", bu.ID)
						c.Response().Header().Set("WWW-Authenticate", `Basic realm="pacsd", charset="UTF-8"`)
						return echo.NewHTTPError(http.StatusUnauthorized,
							"this password was set for you (by an administrator, or at installation): log in to the reading room, change it there and use your own here")
					}
					u, ok = *bu, true
				}
			}
			if !ok {
				if wantsPage(c) {
					return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
				}
				return echo.NewHTTPError(http.StatusUnauthorized, "login required")
			}
			if u.MustChangePassword { // a browser session; Basic was refused above
				if wantsPage(c) {
					return c.Redirect(http.StatusSeeOther, passwordURL(c.Request().URL.RequestURI()))
				}
				return echo.NewHTTPError(http.StatusForbidden, "change your password in the reading room first")
			}
			if !u.Role.Staff() {
				return echo.NewHTTPError(http.StatusForbidden, "staff only")
			}
			c.Set(ctxUser, u)
			withActor(c, u) // DICOMweb records its events under this user (audit.go)
			return next(c)
		})
	}
}
