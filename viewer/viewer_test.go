package viewer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"pacsd/dicom"
	"pacsd/dicom/pixel"
	"pacsd/reading"
	"pacsd/store"
)

// townships registers two sites, 甲镇卫生院 (AE TOWN_A) and 乙镇卫生院 (AE TOWN_B), and three
// users: the radiologist "doc" and each site's user, "town-a" and "town-b".
func (en *env) townships() (a, b reading.Site) {
	en.t.Helper()
	ctx := context.Background()
	r := en.idx.Reading()
	a, err := r.PutSite(ctx, reading.Site{Name: "甲镇卫生院", AETitles: []string{"TOWN_A"}})
	if err != nil {
		en.t.Fatal(err)
	}
	if b, err = r.PutSite(ctx, reading.Site{Name: "乙镇卫生院", AETitles: []string{"TOWN_B"}}); err != nil {
		en.t.Fatal(err)
	}
	en.user("doc", reading.RoleRadiologist, 0)
	en.user("town-a", reading.RoleSite, a.ID)
	en.user("town-b", reading.RoleSite, b.ID)
	return a, b
}

// twoSites is a reading room with a DR study from site A (张伟, dr_mono2.dcm, AE TOWN_A),
// a study from site B (王芳, charset_gb18030.dcm, AE TOWN_B) and four users.
func twoSites(t *testing.T) (*env, *store.Instance, *store.Instance) {
	en := newEnv(t)
	en.townships()
	ina := en.put("dr_mono2.dcm", "TOWN_A")
	inb := en.put("charset_gb18030.dcm", "TOWN_B")
	return en, ina, inb
}

// TestAccess is the table of URLs x roles: staff see every study, a site user its own
// site's only, and another site's study is 404 on every URL (page, thumbnail, pixels,
// rendered frame, report, print, writes).
func TestAccess(t *testing.T) {
	en, ina, _ := twoSites(t)
	doc := en.login("doc", "password-doc")
	// A signed report makes the print view exist.
	if resp, body := doc.sendJSON(http.MethodPost, "/api/studies/"+ina.StudyInstanceUID+"/report/sign",
		`{"version":1,"findings":"双肺纹理清晰。","impression":"未见异常。"}`); resp.StatusCode != 200 {
		t.Fatalf("sign: %d %s", resp.StatusCode, body)
	}
	s, se, sop := ina.StudyInstanceUID, ina.SeriesInstanceUID, ina.SOPInstanceUID
	clients := map[string]*client{
		"admin":  en.admin(),
		"doc":    doc,
		"town-a": en.login("town-a", "password-town-a"),
		"town-b": en.login("town-b", "password-town-b"),
		"anon":   en.anon(),
	}
	type want map[string]int
	staffOnly := want{"admin": 200, "doc": 200, "town-a": 403, "town-b": 403, "anon": 401}
	studyRead := want{"admin": 200, "doc": 200, "town-a": 200, "town-b": 404, "anon": 401}
	for _, c := range []struct {
		method, path, body string
		want               want
	}{
		{"GET", "/studies/" + s, "", studyRead},
		{"GET", "/studies/" + s + "/print", "", studyRead},
		{"GET", "/studies/" + s + "/series/" + se + "/thumbnail", "", studyRead},
		{"GET", "/api/studies/" + s + "/images", "", studyRead},
		{"GET", "/api/studies/" + s + "/instances/" + sop + "/frames/0/pixels", "", studyRead},
		{"GET", "/api/studies/" + s + "/instances/" + sop + "/frames/0/rendered", "", studyRead},
		{"GET", "/api/studies/" + s + "/report", "", studyRead},
		{"PUT", "/api/studies/" + s + "/report", `{"findings":"x","impression":"y"}`,
			want{"admin": 409, "doc": 409, "town-a": 403, "town-b": 403, "anon": 401}},
		{"POST", "/api/studies/" + s + "/urgent", `{}`, want{"admin": 200, "doc": 200, "town-a": 403, "town-b": 403, "anon": 401}},
		{"GET", "/dashboard", "", staffOnly},
		{"GET", "/admin/users", "", want{"admin": 200, "doc": 403, "town-a": 403, "town-b": 403, "anon": 401}},
		{"GET", "/admin/sites", "", want{"admin": 200, "doc": 403, "town-a": 403, "town-b": 403, "anon": 401}},
		{"GET", "/dicomweb/studies", "", staffOnly},
		{"GET", "/dicomweb/studies/" + s + "/series", "", staffOnly},
		// An instance of study A asked for under no study, or a made-up study: not found.
		{"GET", "/api/studies/1.2.3.4/instances/" + sop + "/frames/0/pixels", "", want{"admin": 404, "doc": 404, "town-a": 404, "town-b": 404, "anon": 401}},
		{"GET", "/studies/not-a-uid", "", want{"admin": 404, "doc": 404, "town-a": 404, "town-b": 404, "anon": 401}},
	} {
		for who, code := range c.want {
			cl := clients[who]
			var resp *http.Response
			if c.method == "GET" {
				resp, _ = cl.get(c.path, "")
			} else {
				resp, _ = cl.sendJSON(c.method, c.path, c.body)
			}
			if resp.StatusCode != code {
				t.Errorf("%s %s as %s: %d, want %d", c.method, c.path, who, resp.StatusCode, code)
			}
		}
	}
	// Site B's study exists and B sees it; A does not.
	_, bodyB := clients["town-b"].get("/", "text/html")
	_, bodyA := clients["town-a"].get("/", "text/html")
	if !strings.Contains(bodyB, "王芳") || strings.Contains(bodyB, "张伟") {
		t.Error("site B's worklist does not show exactly its own study")
	}
	if !strings.Contains(bodyA, "张伟") || strings.Contains(bodyA, "王芳") {
		t.Error("site A's worklist does not show exactly its own study")
	}
	// A site user cannot widen its scope with a filter.
	b, err := en.idx.Reading().Sites(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range b {
		_, body := clients["town-a"].get("/?site="+strconv.FormatInt(st.ID, 10), "text/html")
		if strings.Contains(body, "王芳") {
			t.Errorf("site A sees site B's study with ?site=%d", st.ID)
		}
	}
	_, body := clients["town-a"].get("/?site=unknown", "text/html")
	if !strings.Contains(body, "张伟") {
		t.Error("?site=unknown changed a site user's scope")
	}
}

func TestLoginSecurity(t *testing.T) {
	en := newEnv(t)
	en.admin().postForm("/logout", url.Values{})
	c := en.anon()
	resp := c.postForm("/login", url.Values{"username": {"admin"}, "password": {en.adminPW}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == sessionCookie {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || len(ck.Value) < 40 {
		t.Fatalf("session cookie %+v", ck)
	}
	// The database keeps the token's hash, not the token.
	if _, _, err := en.idx.Reading().Session(context.Background(), ck.Value, time.Now()); err == nil {
		t.Error("the raw token finds a session: it is stored unhashed")
	}

	// Unsafe requests need the session's CSRF token, and a same-site origin.
	logged := en.admin()
	form := url.Values{"name": {"甲镇"}, "aes": {"TOWN_A"}, "csrf": {"wrong"}}
	if resp := logged.postForm("/admin/sites", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong CSRF token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, en.srv.URL+"/admin/sites",
		strings.NewReader(url.Values{"name": {"甲镇"}, "csrf": {logged.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	if resp, _ := logged.do(req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d", resp.StatusCode)
	}
	if resp := logged.postForm("/admin/sites", url.Values{"name": {"甲镇"}, "aes": {"TOWN_A"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("good POST: %d", resp.StatusCode)
	}

	// Five failures lock user+address; the right password is then refused too.
	bad := en.anon()
	for i := 0; i < 5; i++ {
		if resp := bad.postForm("/login", url.Values{"username": {"admin"}, "password": {"wrong-password"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, resp.StatusCode)
		}
	}
	if resp := bad.postForm("/login", url.Values{"username": {"admin"}, "password": {en.adminPW}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after 5 failures: %d, want 429", resp.StatusCode)
	}
	// An unknown user fails the same way (no user enumeration).
	if resp := en.anon().postForm("/login", url.Values{"username": {"nobody"}, "password": {"whatever1"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown user: %d", resp.StatusCode)
	}
	// Redirects after login stay on this server.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil"} {
		if got := localPath(next); got != "/" {
			t.Errorf("localPath(%q) = %q", next, got)
		}
	}
	// Logout ends the session.
	if resp := logged.postForm("/logout", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := logged.get("/api/worklist", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
}

// TestInitialAdmin: the password is printed on the first start only, saying it must be
// changed (TestMustChangePassword checks that it must).
func TestInitialAdmin(t *testing.T) {
	en := newEnv(t)
	if msg := en.adminOut.String(); !strings.Contains(msg, "initial administrator") || !strings.Contains(msg, "choose a new password") {
		t.Fatalf("printed %q: no administrator, or not told that the password must be changed", msg)
	}
	out := &bytes.Buffer{}
	rd := en.idx.Reading()
	v2, err := New(context.Background(), Config{Sites: rd, Users: rd, Reports: rd, Worklist: rd, Archive: en.archive,
		AdminOut: out, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	v2.Close()
	if out.Len() != 0 {
		t.Errorf("second start printed %q", out.String())
	}
}

// TestPixels checks the 16-bit payload against the pixel pipeline's own decoding: every
// value is the Modality LUT output of the stored sample.
func TestPixels(t *testing.T) {
	en, ina, _ := twoSites(t)
	doc := en.login("doc", "password-doc")
	req, _ := http.NewRequest(http.MethodGet, en.srv.URL+"/api/studies/"+ina.StudyInstanceUID+"/instances/"+ina.SOPInstanceUID+"/frames/0/pixels", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, body := doc.do(req)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("pixels: %d %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := strconv.Atoi(resp.Header.Get("X-Pixel-Width"))
	h, _ := strconv.Atoi(resp.Header.Get("X-Pixel-Height"))
	off, _ := strconv.ParseFloat(resp.Header.Get("X-Pixel-Offset"), 64)
	scale, _ := strconv.ParseFloat(resp.Header.Get("X-Pixel-Scale"), 64)
	ww, _ := strconv.ParseFloat(resp.Header.Get("X-Window-Width"), 64)
	if len(raw) != 2*w*h || w != 256 || h != 256 || ww <= 0 {
		t.Fatalf("payload %d bytes for %dx%d, window width %v", len(raw), w, h, ww)
	}

	f, err := os.Open("../testdata/dr_mono2.dcm")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	hdr, err := dicom.ReadPart10(f, dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	im, err := pixel.Open(f, st.Size(), hdr)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := im.Frame(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	mod := pixel.Modality(im.Info())
	var distinct = map[uint16]bool{}
	for i := 0; i < fr.Len(); i++ {
		v := binary.LittleEndian.Uint16(raw[2*i:])
		distinct[v] = true
		if got, want := off+float64(v)*scale, mod(fr.Sample(i)); math.Abs(got-want) > scale/2+1e-9 {
			t.Fatalf("pixel %d: %v, want %v", i, got, want)
		}
	}
	if len(distinct) < 16 {
		t.Errorf("only %d distinct values: not a picture", len(distinct))
	}
	// A second request is served from the cache, byte for byte the same.
	resp2, body2 := doc.do(req)
	if resp2.StatusCode != 200 || body2 != body {
		t.Error("second fetch differs")
	}
}

// TestPackPixelsQuantises: modality values that do not fit 16 bits, or are not whole, are
// spread over 65536 steps and decode back within half a step.
func TestPackPixelsQuantises(t *testing.T) {
	for _, c := range []struct {
		name         string
		slope, icpt  float64
		wantScaleOne bool
	}{
		{"identity", 1, 0, true},
		{"CT-like intercept", 1, -1024, true},
		{"fractional slope", 0.5, 0, false},
		{"wide range", 4, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fr := &pixel.Frame{Rows: 2, Columns: 3, SamplesPerPixel: 1, Photometric: pixel.Monochrome2, BitsStored: 16,
				Data16: []uint16{0, 1, 100, 4095, 30000, 65535}}
			info := pixel.Info{RescaleSlope: c.slope, RescaleIntercept: c.icpt, BitsStored: 16, SamplesPerPixel: 1}
			e, err := packPixels(fr, info)
			if err != nil {
				t.Fatal(err)
			}
			zr, _ := gzip.NewReader(bytes.NewReader(e.body))
			raw, _ := io.ReadAll(zr)
			off, _ := strconv.ParseFloat(e.header["X-Pixel-Offset"], 64)
			scale, _ := strconv.ParseFloat(e.header["X-Pixel-Scale"], 64)
			if (scale == 1) != c.wantScaleOne {
				t.Errorf("scale %v", scale)
			}
			for i, s := range fr.Data16 {
				got := off + float64(binary.LittleEndian.Uint16(raw[2*i:]))*scale
				if want := float64(s)*c.slope + c.icpt; math.Abs(got-want) > scale/2+1e-6 {
					t.Errorf("sample %d: %v, want %v", s, got, want)
				}
			}
		})
	}
}

// TestReportToSR signs, amends and signs again; each signed version becomes an SR in the
// study, found by QIDO-RS, the amendment naming its predecessor.
func TestReportToSR(t *testing.T) {
	en, ina, _ := twoSites(t)
	doc := en.login("doc", "password-doc")
	base := "/api/studies/" + ina.StudyInstanceUID + "/report"
	if resp, body := doc.sendJSON(http.MethodPut, base, `{"findings":"双肺纹理清晰。","impression":""}`); resp.StatusCode != 200 {
		t.Fatalf("draft: %d %s", resp.StatusCode, body)
	}
	// Site users never see drafts.
	townA := en.login("town-a", "password-town-a")
	if _, body := townA.get(base, ""); strings.Contains(body, "双肺") {
		t.Error("a site user sees the draft")
	}
	resp, body := doc.sendJSON(http.MethodPost, base+"/sign", `{"version":1,"findings":"双肺纹理清晰。","impression":"心肺未见异常。"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign: %d %s", resp.StatusCode, body)
	}
	var signed reportJSON
	json.Unmarshal([]byte(body), &signed)
	if signed.Status != "final" || signed.SignedByName != "doc" || signed.Object == "" {
		t.Fatalf("signed = %+v", signed)
	}
	if resp, _ := doc.sendJSON(http.MethodPost, base+"/amend", `{"reason":"补充"}`); resp.StatusCode != 200 {
		t.Fatalf("amend: %d", resp.StatusCode)
	}
	if resp, body := doc.sendJSON(http.MethodPost, base+"/sign", `{"version":2,"findings":"双肺纹理清晰。","impression":"心肺未见异常，建议随访。"}`); resp.StatusCode != 200 {
		t.Fatalf("sign v2: %d %s", resp.StatusCode, body)
	}
	// Storing the reports did not take study attributes away (the SR carries the study's).
	if row, err := en.idx.Reading().Study(context.Background(), ina.StudyInstanceUID); err != nil || row.PatientAge != "044Y" {
		t.Errorf("after the SR, the study's age is %q (%v)", row.PatientAge, err)
	}
	// QIDO-RS over HTTP, as a DICOMweb client would.
	resp, body = doc.get("/dicomweb/studies/"+ina.StudyInstanceUID+"/instances?Modality=SR", "application/dicom+json")
	if resp.StatusCode != 200 {
		t.Fatalf("QIDO: %d %s", resp.StatusCode, body)
	}
	var res []map[string]any
	if err := json.Unmarshal([]byte(body), &res); err != nil || len(res) != 2 {
		t.Fatalf("QIDO found %d SR instances (%v): %s", len(res), err, body)
	}
	// The site user sees v2, and v1 in the history, and the print view has the amended text.
	_, page := townA.get("/studies/"+ina.StudyInstanceUID+"/print", "text/html")
	if !strings.Contains(page, "建议随访") || !strings.Contains(page, "张伟") {
		t.Error("print view lacks the amended impression or the patient's name")
	}
	// The SR of v2 is a Basic Text SR with the new text.
	vs, err := en.idx.Reading().Reports(context.Background(), ina.StudyInstanceUID)
	if err != nil || len(vs) != 2 || vs[1].SOPInstanceUID == "" {
		t.Fatalf("versions %+v %v", vs, err)
	}
	_, rc, err := en.archive.Open(context.Background(), vs[1].SOPInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdr, err := dicom.ReadPart10(rc, dicom.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := hdr.Dataset.String(dicom.TagSOPClassUID); !strings.HasPrefix(got, "1.2.840.10008.5.1.4.1.1.88.11") {
		t.Errorf("SR class %q", got)
	}
}

// TestPagesRender renders every page in both languages: a missing message fails here.
func TestPagesRender(t *testing.T) {
	en, ina, _ := twoSites(t)
	admin := en.admin()
	for _, lang := range languages {
		if resp, _ := admin.get("/lang/"+lang+"?next=/", ""); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("language switch: %d", resp.StatusCode)
		}
		for _, p := range []string{"/", "/studies/" + ina.StudyInstanceUID, "/dashboard", "/admin/sites", "/admin/users",
			"/admin/templates", "/api/worklist?q=%E5%BC%A0", "/login", passwordPath, passwordPath + "?changed=1"} {
			resp, body := admin.get(p, "text/html")
			if resp.StatusCode != 200 {
				t.Errorf("%s %s: %d %s", lang, p, resp.StatusCode, body)
			}
		}
		_, body := admin.get("/", "text/html")
		want := map[string]string{"zh": "工作列表", "en": "Worklist"}[lang]
		if !strings.Contains(body, want) || !strings.Contains(body, "张伟") {
			t.Errorf("%s worklist lacks %q or the patient's name", lang, want)
		}
	}
	for _, k := range messages {
		if k[1] == "" || k[2] == "" {
			t.Errorf("message %q is empty in a language", k[0])
		}
	}
}

// TestEvents: a new object makes the event stream say so.
func TestEvents(t *testing.T) {
	en, _, _ := twoSites(t)
	doc := en.login("doc", "password-doc")
	req, _ := http.NewRequest(http.MethodGet, en.srv.URL+"/api/events", nil)
	resp, err := doc.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := resp.Body.Read(buf)
			acc += string(buf[:n])
			if strings.Contains(acc, "event: studies") || err != nil {
				got <- acc
				return
			}
		}
	}()
	// The handler subscribes before it writes the headers Do has returned with: the
	// stream hears whatever is published from now on.
	en.put("sc_mono8.dcm", "TOWN_A")
	select {
	case s := <-got:
		if !strings.Contains(s, "event: studies") {
			t.Errorf("stream said %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after a new object")
	}
}

func TestDisplayName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"张伟", "张伟"},
		{"张^伟", "张伟"},
		{"Zhang^Wei=张^伟", "张伟"},
		{"Zhang^Wei", "Zhang Wei"},
		{"Zhang^Wei^^", "Zhang Wei"},
		{"Li^Na=李^娜=li^na", "李娜"},
		{"", ""},
	} {
		if got := displayName(c.in); got != c.want {
			t.Errorf("displayName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestBasicAuthForScripts: a script reaches DICOMweb with a staff account's credentials in
// HTTP Basic authentication; a site account, a wrong password or none are refused, and
// repeated failures are limited like logins.
func TestBasicAuthForScripts(t *testing.T) {
	en, _, _ := twoSites(t)
	en.admin() // the initial password must be changed before it opens anything
	get := func(user, pw string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, en.srv.URL+"/dicomweb/studies", nil)
		req.Header.Set("Accept", "application/dicom+json")
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && user != "" && resp.Header.Get("WWW-Authenticate") == "" {
			t.Error("401 without a WWW-Authenticate challenge")
		}
		return resp.StatusCode
	}
	for _, c := range []struct {
		user, pw string
		want     int
	}{
		{"doc", "password-doc", 200},
		{"doc", "password-doc", 200}, // remembered: no second bcrypt, same answer
		{"admin", en.adminPW, 200},
		{"town-a", "password-town-a", 403},
		{"doc", "wrong", 401},
		{"nobody", "x", 401},
		{"", "", 401},
	} {
		if got := get(c.user, c.pw); got != c.want {
			t.Errorf("basic %q: %d, want %d", c.user, got, c.want)
		}
	}
	// Guessing is limited: after six failures even the right password is refused for a
	// while. (Credentials verified before stay valid: an attacker cannot lock out a
	// working script.)
	en.user("doc2", reading.RoleRadiologist, 0)
	for range 6 {
		get("doc2", "guess")
	}
	if got := get("doc2", "password-doc2"); got != 401 {
		t.Errorf("after six wrong passwords the right one works at once (%d): no limit", got)
	}
}
