package viewer

import (
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"pacsd/reading"
)

// from is an anonymous client whose connections leave from the loopback address ip
// (127.0.0.0/8 is all local on Linux), so the server sees distinct callers.
func (en *env) from(ip string) *client {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &client{en: en, http: &http.Client{Jar: jar,
		Transport:     &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// TestLockoutCannotBeTurnedAgainstUsers: guessing a user's password from several addresses,
// many times over the per-address bound, blocks those addresses (even with the right
// password) but never the user, who logs in from an address that did not guess.
func TestLockoutCannotBeTurnedAgainstUsers(t *testing.T) {
	en := newEnv(t)
	en.user("doc", reading.RoleRadiologist, 0)
	attackers := []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.15", "127.0.0.16"}
	for _, ip := range attackers {
		c := en.from(ip)
		for i := 0; i < 8; i++ { // 48 failures in all: far past every per-user bound of old
			c.postForm("/login", url.Values{"username": {"doc"}, "password": {"guess"}})
		}
		if resp := c.postForm("/login", url.Values{"username": {"doc"}, "password": {"password-doc"}}); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("guessing address %s with the right password: %d, want 429", ip, resp.StatusCode)
		}
	}
	if resp := en.from("127.0.0.20").postForm("/login", url.Values{"username": {"doc"}, "password": {"password-doc"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the user from a clean address after the attack: %d, want 303 (logged in)", resp.StatusCode)
	}
	// One address spraying many user names is blocked for all of them.
	sprayer := en.from("127.0.0.30")
	for i := 0; i < 20; i++ {
		sprayer.postForm("/login", url.Values{"username": {"user" + string(rune('a'+i))}, "password": {"guess"}})
	}
	if resp := sprayer.postForm("/login", url.Values{"username": {"doc"}, "password": {"password-doc"}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("an address that sprayed 20 names, with doc's right password: %d, want 429", resp.StatusCode)
	}
}

// TestLoginLimiterSpreadGuess: past the account's bound, an address that already failed for
// anyone is refused while a clean one may still try; the window forgets everything.
func TestLoginLimiterSpreadGuess(t *testing.T) {
	l := newLoginLimiter(5, 15*time.Minute)
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < 20; i++ {
		l.fail("doc", "10.0.0."+string(rune('1'+i%9)), now)
	}
	l.fail("other", "10.0.1.1", now)
	if !l.allowed("doc", "10.0.2.2", now) {
		t.Error("a clean address is refused under a spread guess")
	}
	if l.allowed("doc", "10.0.1.1", now) {
		t.Error("an address that failed (for another user) may still try the attacked account")
	}
	if !l.allowed("other", "10.0.0.1", now) {
		t.Error("a guessing address is blocked for a user it never tried, below its own bound")
	}
	if !l.allowed("doc", "10.0.1.1", now.Add(16*time.Minute)) {
		t.Error("the window does not forget")
	}
}

// TestLoginRedirectStaysHere: after a real login, next= never leads to another host, however
// it is spelled for a browser (TAB and newline dropped, backslash read as slash).
func TestLoginRedirectStaysHere(t *testing.T) {
	en := newEnv(t)
	en.user("doc", reading.RoleRadiologist, 0)
	for _, next := range []string{"/\t/evil.example", "/%09/evil.example", "/\n/evil.example", "/\\evil.example",
		"//evil.example", "/\t\t/evil.example/x", "https://evil.example/", "/\x00/evil", "///evil.example", "/%2F/evil.example"} {
		// next arrives decoded (a query parameter or form field): "/%09/…" is a TAB by then.
		dec, err := url.PathUnescape(next)
		if err != nil {
			t.Fatal(err)
		}
		if got := localPath(dec); got != "/" {
			t.Errorf("localPath(%q) = %q, want /", dec, got)
		}
	}
	for _, ok := range []string{"/studies/1.2.3", "/?q=%E5%BC%A0&site=2", "/dashboard#x"} {
		if got := localPath(ok); got != ok {
			t.Errorf("localPath(%q) = %q, want it kept", ok, got)
		}
	}
	resp := en.anon().postForm("/login", url.Values{"username": {"doc"}, "password": {"password-doc"}, "next": {"/\t/evil.example"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/" {
		t.Errorf("login with next=/<TAB>/evil.example: %d to %q, want 303 to /", resp.StatusCode, loc)
	}
}
