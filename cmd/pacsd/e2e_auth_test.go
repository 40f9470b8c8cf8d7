package main

import (
	"net/http"
	"regexp"
	"testing"
)

// TestDICOMwebNeedsAccount: by default DICOMweb and OHIF, which show every site's patients,
// need a staff account: none is 401, and so is the initial administrator's password
// (printed once at first start) until it has been changed in the reading room (a password
// someone else chose must be changed at first login; viewer's tests cover the change and
// Basic authentication with the new one); the reading room's login page is served.
func TestDICOMwebNeedsAccount(t *testing.T) {
	n := startPacsd(t, t.TempDir(), "--dicomweb-open=false", "--metrics-open=false")
	admin, initial := n.initialAdmin(t)
	get := func(path, user, pw string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, n.baseURL+path, nil)
		req.Header.Set("Accept", "application/dicom+json")
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, user, pw string
		want           int
	}{
		{"/dicomweb/studies", "", "", http.StatusUnauthorized},
		{"/dicomweb/studies", admin, "wrong", http.StatusUnauthorized},
		{"/dicomweb/studies", admin, initial, http.StatusUnauthorized},
		{"/ohif/app-config.js", "", "", http.StatusUnauthorized},
		{"/ohif/dicomweb/studies", "", "", http.StatusUnauthorized},
		{"/metrics", "", "", http.StatusUnauthorized},
		{"/metrics", admin, initial, http.StatusUnauthorized},
		{"/login", "", "", http.StatusOK},
	} {
		if got := get(c.path, c.user, c.pw); got != c.want {
			t.Errorf("GET %s as %q: %d, want %d", c.path, c.user, got, c.want)
		}
	}
}

// initialAdmin reads the account and password pacsd prints once, at its first start.
func (n *node) initialAdmin(t *testing.T) (user, password string) {
	t.Helper()
	m := regexp.MustCompile(`initial administrator created: user "([^"]+)", password "([^"]+)"`).FindStringSubmatch(n.log.String())
	if m == nil {
		t.Fatalf("no initial administrator password printed:\n%s", n.log.String())
	}
	return m[1], m[2]
}
