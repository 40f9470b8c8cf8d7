package viewer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/reading"
)

// peerJSON is a peer as the JSON API and Config.PeersFile write it. Site names the site by
// name (the file's way; the API answers with both); SiteID wins when both are given. No
// site: the county's own.
type peerJSON struct {
	ID          int64    `json:"id,omitempty"`
	AETitle     string   `json:"aeTitle"`
	Description string   `json:"description,omitempty"`
	Host        string   `json:"host,omitempty"`
	Port        int      `json:"port,omitempty"`
	SiteID      int64    `json:"siteId,omitempty"`
	Site        string   `json:"site,omitempty"`
	Addresses   []string `json:"addresses"`
	RequireTLS  bool     `json:"requireTLS"`
	MayStore    bool     `json:"mayStore"`
	MayQuery    bool     `json:"mayQuery"`
	MayRetrieve bool     `json:"mayRetrieve"`
	Destination bool     `json:"destination"`
}

func toPeerJSON(p reading.Peer, sites []reading.Site) peerJSON {
	j := peerJSON{ID: p.ID, AETitle: p.AETitle, Description: p.Description, Host: p.Host, Port: p.Port,
		SiteID: p.SiteID, Addresses: p.Addresses, RequireTLS: p.RequireTLS, MayStore: p.MayStore,
		MayQuery: p.MayQuery, MayRetrieve: p.MayRetrieve, Destination: p.Destination}
	if j.Addresses == nil {
		j.Addresses = []string{}
	}
	for _, s := range sites {
		if s.ID == p.SiteID {
			j.Site = s.Name
		}
	}
	return j
}

// peer is the record j describes; a site named but not registered is a FieldError "site".
func (j peerJSON) peer(sites []reading.Site) (reading.Peer, error) {
	p := reading.Peer{ID: j.ID, AETitle: j.AETitle, Description: j.Description, Host: j.Host, Port: j.Port,
		SiteID: j.SiteID, Addresses: j.Addresses, RequireTLS: j.RequireTLS, MayStore: j.MayStore,
		MayQuery: j.MayQuery, MayRetrieve: j.MayRetrieve, Destination: j.Destination}
	if name := strings.TrimSpace(j.Site); p.SiteID == 0 && name != "" {
		for _, s := range sites {
			if strings.EqualFold(s.Name, name) {
				p.SiteID = s.ID
			}
		}
		if p.SiteID == 0 {
			return p, &reading.FieldError{Field: "site", Problem: reading.ProblemValue, Value: name,
				Err: fmt.Errorf("no such site: %w", reading.ErrInvalid)}
		}
	}
	return p, nil
}

// applyPeersFile applies Config.PeersFile: each peer is created, or replaced by AE title
// (every setting as the file says); peers not in the file are left alone. It runs after the
// sites file, whose sites the peers may name.
func (v *Viewer) applyPeersFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("peers file: %w", err)
	}
	defer f.Close()
	var entries []peerJSON
	dec := json.NewDecoder(io.LimitReader(f, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return fmt.Errorf("peers file %s: %w", path, err)
	}
	sites, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return fmt.Errorf("peers file: %w", err)
	}
	for _, e := range entries {
		e.ID = 0
		p, err := e.peer(sites)
		if err == nil {
			var old reading.Peer
			var found bool
			if old, found, err = v.cfg.Peers.Peer(ctx, e.AETitle); err == nil {
				if found {
					p.ID = old.ID
				}
				_, err = v.cfg.Peers.PutPeer(ctx, p)
			}
		}
		if err != nil {
			return fmt.Errorf("peers file %s: peer %q: %w", path, e.AETitle, err)
		}
	}
	v.log.Info("peers file applied", "path", path, "peers", len(entries))
	return nil
}

// askerKey carries the authenticated user in a request's context (withActor), for Asker.
type askerKey struct{}

// Asker is dicomweb.Config.Asker: what a site user stores is its site's, anybody else's
// the county's (reading.SenderSite); only an administrator's searches find studies held in
// quarantine. It reads the user RequireStaff put in the request's context.
func (v *Viewer) Asker(r *http.Request) (site string, admin bool) {
	u, _ := r.Context().Value(askerKey{}).(reading.User)
	if u.Role == reading.RoleSite {
		return reading.SenderSite(u.SiteID), false
	}
	return reading.SenderSite(0), u.Role == reading.RoleAdmin
}

// peersView is the /admin/peers page's data.
type peersView struct {
	Peers []peerJSON
	Sites []reading.Site
	Edit  peerJSON // the peer being edited (ID 0: a new one)
}

func (v *Viewer) peersPage(c echo.Context) error { return v.peersPageStatus(c, http.StatusOK) }

func (v *Viewer) peersPageStatus(c echo.Context, status int) error {
	ctx := c.Request().Context()
	peers, err := v.cfg.Peers.Peers(ctx)
	if err != nil {
		return err
	}
	sites, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return err
	}
	pv := &peersView{Sites: sites, Edit: peerJSON{MayStore: true}}
	for _, p := range peers {
		j := toPeerJSON(p, sites)
		pv.Peers = append(pv.Peers, j)
		if id, _ := strconv.ParseInt(c.QueryParam("edit"), 10, 64); id != 0 && id == p.ID {
			pv.Edit = j
		}
	}
	d := pageData{Active: "peers", Peers: pv, Flash: flash(c), Form: formOf(c)}
	if d.Form != nil {
		if p, ok := d.Form.Record.(reading.Peer); ok {
			pv.Edit = toPeerJSON(p, sites) // the peer as typed
		}
	}
	return v.render(c, status, "peers", d)
}

// peerForm is the peer the /admin/peers form posted.
func peerForm(c echo.Context) reading.Peer {
	id, _ := strconv.ParseInt(c.FormValue("id"), 10, 64)
	site, _ := strconv.ParseInt(c.FormValue("site"), 10, 64)
	port, err := strconv.Atoi(strings.TrimSpace(c.FormValue("port")))
	if err != nil && strings.TrimSpace(c.FormValue("port")) != "" {
		port = -1 // Normalize names the field
	}
	on := func(name string) bool { return c.FormValue(name) == "1" }
	return reading.Peer{ID: id, AETitle: c.FormValue("ae"), Description: c.FormValue("description"),
		Host: c.FormValue("host"), Port: port, SiteID: site, Addresses: splitLines(c.FormValue("addresses")),
		RequireTLS: on("tls"), MayStore: on("store"), MayQuery: on("query"), MayRetrieve: on("retrieve"),
		Destination: on("destination")}
}

func (v *Viewer) savePeer(c echo.Context) error {
	p := peerForm(c)
	if _, err := v.putPeer(c, p); err != nil {
		return v.adminError(c, "peer-form", err, p, v.peersPageStatus)
	}
	return c.Redirect(http.StatusSeeOther, "/admin/peers?saved=1")
}

func (v *Viewer) deletePeerForm(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	if err := v.deletePeer(c, id); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/peers?saved=1")
}

// putPeer saves a peer for the page or the API: logged, audited, and worklists refreshed
// (its AE title may move studies between sites).
func (v *Viewer) putPeer(c echo.Context, p reading.Peer) (reading.Peer, error) {
	ctx := c.Request().Context()
	var old reading.Peer
	if p.ID != 0 {
		var err error
		if old, err = v.cfg.Peers.PeerByID(ctx, p.ID); err != nil {
			return p, err
		}
	}
	saved, err := v.cfg.Peers.PutPeer(ctx, p)
	if err != nil {
		return p, err
	}
	v.log.Info("peer saved", "by", currentUser(c).ID, "ae", saved.AETitle, "site_id", saved.SiteID)
	v.recordAdmin(c, audit.Event{Action: audit.ActionSiteChange, Object: "DICOM 节点 " + saved.AETitle,
		Detail: peerChangeDetail(old, saved)})
	v.events.publish("studies")
	return saved, nil
}

func (v *Viewer) deletePeer(c echo.Context, id int64) error {
	ctx := c.Request().Context()
	old, err := v.cfg.Peers.PeerByID(ctx, id)
	if err != nil {
		return err
	}
	if err := v.cfg.Peers.DeletePeer(ctx, id); err != nil {
		return err
	}
	v.log.Info("peer deleted", "by", currentUser(c).ID, "ae", old.AETitle)
	v.recordAdmin(c, audit.Event{Action: audit.ActionSiteChange, Object: "DICOM 节点 " + old.AETitle, Detail: "删除"})
	v.events.publish("studies")
	return nil
}

// recordAdmin records an administration event under the session's user, or the API token
// (whose actor tokenAuth put in the request's context).
func (v *Viewer) recordAdmin(c echo.Context, ev audit.Event) {
	if a, ok := audit.ActorFrom(c.Request().Context()); ok {
		ev.Actor = a
	}
	v.record(c, ev)
}

// peerChangeDetail says in Chinese what a peer is now (new) or what changed.
func peerChangeDetail(old, p reading.Peer) string {
	perms := func(p reading.Peer) string {
		var out []string
		for _, x := range []struct {
			on   bool
			name string
		}{{p.MayStore, "存储"}, {p.MayQuery, "查询"}, {p.MayRetrieve, "调取"}, {p.Destination, "调取目的地"}, {p.RequireTLS, "须TLS"}} {
			if x.on {
				out = append(out, x.name)
			}
		}
		return strings.Join(out, "、")
	}
	describe := func(p reading.Peer) string {
		return fmt.Sprintf("站点：%d；地址：%s；监听：%s:%d；权限：%s", p.SiteID, strings.Join(p.Addresses, ","), p.Host, p.Port, perms(p))
	}
	if old.ID == 0 {
		return "新建；" + describe(p)
	}
	if describe(old) == describe(p) && old.AETitle == p.AETitle && old.Description == p.Description {
		return "无变更"
	}
	return "修改；原 " + old.AETitle + "（" + describe(old) + "）；现 " + describe(p)
}

// ---- the JSON API for scripts: /api/admin/peers ----

// adminAPI admits an administrator's session (with its CSRF token on unsafe methods, as
// the reading room's other APIs) or an API token with the admin scope.
func (v *Viewer) adminAPI(next echo.HandlerFunc) echo.HandlerFunc {
	session := v.authenticate(v.passwordChanged(v.checkCSRF(v.requireRole(reading.RoleAdmin)(next))))
	return v.errorsMiddleware(v.sameOrigin(func(c echo.Context) error {
		if raw, ok := presentedToken(c.Request()); ok {
			return v.tokenAuth(c, raw, next) // tokens.go: tokenScope asks for ScopeAdmin here
		}
		return session(c)
	}))
}

// apiError answers a refused peer as JSON naming the field at fault.
func (v *Viewer) apiError(c echo.Context, err error) error {
	status, key := http.StatusBadRequest, "err.invalid"
	switch {
	case errors.Is(err, reading.ErrInvalid):
	case errors.Is(err, reading.ErrConflict):
		status, key = http.StatusConflict, "err.conflict"
	default:
		return err
	}
	out := map[string]string{"code": key}
	out["error"], _ = translate(langOf(c), key)
	var fe *reading.FieldError
	if errors.As(err, &fe) {
		out["field"], out["problem"], out["value"] = fe.Field, fe.Problem, fe.Value
		if m, terr := translate(langOf(c), "form."+fe.Field+"."+fe.Problem); terr == nil {
			if fe.Value != "" {
				m = fmt.Sprintf(m, fe.Value)
			}
			out["error"] = m
		}
	}
	return c.JSON(status, out)
}

func (v *Viewer) apiPeers(c echo.Context) error {
	ctx := c.Request().Context()
	peers, err := v.cfg.Peers.Peers(ctx)
	if err != nil {
		return err
	}
	sites, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return err
	}
	out := []peerJSON{}
	for _, p := range peers {
		out = append(out, toPeerJSON(p, sites))
	}
	return c.JSON(http.StatusOK, out)
}

func (v *Viewer) apiPeer(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	p, err := v.cfg.Peers.PeerByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	sites, err := v.cfg.Sites.Sites(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toPeerJSON(p, sites))
}

// apiPutPeer creates (POST /api/admin/peers) or replaces (PUT /api/admin/peers/{id}) a peer.
func (v *Viewer) apiPutPeer(c echo.Context) error {
	var j peerJSON
	if err := readJSON(c, &j); err != nil {
		return v.apiError(c, err)
	}
	j.ID = 0
	status := http.StatusCreated
	if c.Request().Method == http.MethodPut {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil {
			return errNotFound
		}
		j.ID, status = id, http.StatusOK
	}
	sites, err := v.cfg.Sites.Sites(c.Request().Context())
	if err != nil {
		return err
	}
	p, err := j.peer(sites)
	if err == nil {
		p, err = v.putPeer(c, p)
	}
	if err != nil {
		return v.apiError(c, err)
	}
	return c.JSON(status, toPeerJSON(p, sites))
}

func (v *Viewer) apiDeletePeer(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	if err := v.deletePeer(c, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ---- quarantine ----

// assignStudy releases a study held in quarantine to a site (administrators), and with
// register=1 registers its sender's AE title as a store-only peer of that site.
func (v *Viewer) assignStudy(c echo.Context) error {
	ctx := c.Request().Context()
	row, err := v.authorizeStudy(c, c.Param("study"))
	if err != nil {
		return err
	}
	site, err := strconv.ParseInt(c.FormValue("site"), 10, 64)
	if err != nil || site <= 0 {
		return &httpError{status: http.StatusBadRequest, key: "err.invalid"}
	}
	if err := v.cfg.Worklist.AssignStudy(ctx, row.StudyUID, site); err != nil {
		return err
	}
	detail := "分配到站点 " + strconv.FormatInt(site, 10)
	if c.FormValue("register") == "1" && row.CallingAE != "" && v.cfg.Peers != nil {
		if _, known, err := v.cfg.Peers.Peer(ctx, row.CallingAE); err != nil {
			return err
		} else if !known {
			if _, err := v.putPeer(c, reading.Peer{AETitle: row.CallingAE, SiteID: site, MayStore: true}); err != nil {
				return err
			}
			detail += "；登记 AE " + row.CallingAE
		}
	}
	v.log.Info("study assigned", "by", currentUser(c).ID, "study_uid", row.StudyUID, "site_id", site)
	ev := studyEvent(row, audit.ActionSiteChange)
	ev.Object, ev.Detail = "隔离检查", detail
	v.record(c, ev)
	v.events.publish("studies")
	return c.Redirect(http.StatusSeeOther, "/studies/"+row.StudyUID)
}
