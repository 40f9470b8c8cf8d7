package viewer

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"pacsd/audit"
)

// passwordPath is the change-password page, open to every logged-in user.
const passwordPath = "/account/password"

// passwordURL is the change-password page that continues to next afterwards.
func passwordURL(next string) string {
	next = localPath(next)
	if next == "/" || next == passwordPath {
		return passwordPath
	}
	return passwordPath + "?next=" + url.QueryEscape(next)
}

func (v *Viewer) passwordPage(c echo.Context) error {
	d := pageData{Active: "password", Next: localPath(c.QueryParam("next"))}
	if c.QueryParam("changed") == "1" {
		d.Flash = "pw.changed"
	}
	return v.render(c, http.StatusOK, "password", d)
}

// changePassword is a user changing their own password: the current one must verify (a
// failure counts toward the login limits, so a left-open session is no way to guess it),
// the new one must follow the policy, differ from the current one and be typed twice
// alike. On success every other session of the user ends and this browser gets a fresh
// one.
func (v *Viewer) changePassword(c echo.Context) error {
	ctx := c.Request().Context()
	me := currentUser(c)
	current, pw, again := c.FormValue("current"), c.FormValue("new"), c.FormValue("confirm")
	next := localPath(c.FormValue("next"))
	ip := clientIP(c.Request())
	now := time.Now()
	refuse := func(status int, key string) error {
		return v.render(c, status, "password", pageData{Active: "password", Next: next, Error: key})
	}

	if !v.limit.allowed(me.Username, ip, now) {
		v.log.Warn("password change refused, too many failures", "user_id", me.ID, "ip", ip)
		return refuse(http.StatusTooManyRequests, "login.limited")
	}
	// Longer than any password we accept: wrong, without spending a bcrypt on it.
	if len(current) > 1024 || bcrypt.CompareHashAndPassword([]byte(me.PasswordHash), []byte(current)) != nil {
		v.limit.fail(me.Username, ip, now)
		v.log.Info("password change with a wrong current password", "user_id", me.ID, "ip", ip)
		v.record(c, audit.Event{Action: audit.ActionUserChange, Object: me.Username, Outcome: audit.OutcomeFailure,
			Detail: "本人修改密码：当前密码错误"})
		return refuse(http.StatusBadRequest, "pw.wrong")
	}
	switch {
	case pw != again:
		return refuse(http.StatusBadRequest, "pw.mismatch")
	case checkPasswordPolicy(pw) != nil:
		return refuse(http.StatusBadRequest, "pw.policy")
	case pw == current:
		return refuse(http.StatusBadRequest, "pw.same")
	}
	v.limit.reset(me.Username, ip)

	h, err := hashPassword(pw)
	if err != nil {
		return err
	}
	// The account as it is now: an administrator may have changed its role meanwhile, and
	// UpdateUser writes every field.
	u, err := v.cfg.Users.User(ctx, me.ID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	u.PasswordHash, u.MustChangePassword = h, false
	if err := v.cfg.Users.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	// Whoever else holds a session of this account (another browser, a stolen cookie) is
	// out now; this browser stays logged in on a new session, so that the old cookie, which
	// may be the stolen one, is worth nothing either.
	if err := v.cfg.Users.DeleteUserSessions(ctx, u.ID); err != nil {
		return fmt.Errorf("change password: end the other sessions: %w", err)
	}
	if _, err := v.startSession(c, u); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	v.log.Info("password changed by its user", "user_id", u.ID, "ip", ip)
	v.record(c, audit.Event{Action: audit.ActionUserChange, Object: u.Username, Detail: "本人修改密码"})
	return c.Redirect(http.StatusSeeOther, passwordPath+"?changed=1&next="+url.QueryEscape(next))
}
