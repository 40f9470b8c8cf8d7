package viewer

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/audit"
	"pacsd/reading"
)

// Registration (登记): the scheduled procedures the Modality Worklist offers (qr.Worklist).
// The page /orders lists a day's procedures with their status and registers, edits and
// cancels them (a site's users for their site only; radiologists and administrators for
// any); /orders?view=missing lists the procedures scheduled before today that never got
// images. The HIS uses the JSON API /api/orders with an API token of scope "orders" (or an
// administrator's session and its CSRF token). A refusal names the field at fault and keeps
// what was typed.

func init() {
	// The form's inputs are named as the order's fields (reading.FieldError.Field).
	for _, f := range []string{"patientId", "patientName", "patientSex", "birthDate", "accessionNumber",
		"requestedProcedureId", "requestedProcedure", "procedureCode", "modality", "stationAE",
		"scheduledDate", "scheduledTime", "performingPhysician", "status"} {
		fieldInputs[f] = f
	}
}

// orderJSON is an order as the API and the page show it.
type orderJSON struct {
	ID                   int64  `json:"id"`
	SiteID               int64  `json:"siteId"`
	Site                 string `json:"site,omitempty"`
	PatientID            string `json:"patientId"`
	PatientName          string `json:"patientName"`
	PatientSex           string `json:"patientSex,omitempty"`
	BirthDate            string `json:"birthDate,omitempty"`
	AccessionNumber      string `json:"accessionNumber"`
	RequestedProcedureID string `json:"requestedProcedureId,omitempty"`
	RequestedProcedure   string `json:"requestedProcedure"`
	ProcedureCode        string `json:"procedureCode,omitempty"`
	Modality             string `json:"modality"`
	StationAE            string `json:"stationAE"`
	ScheduledDate        string `json:"scheduledDate"`
	ScheduledTime        string `json:"scheduledTime,omitempty"`
	PerformingPhysician  string `json:"performingPhysician,omitempty"`
	StudyUID             string `json:"studyUid,omitempty"`
	Status               string `json:"status,omitempty"`
	ImageStudyUID        string `json:"imageStudyUid,omitempty"`
	CreatedBy            string `json:"createdBy,omitempty"`
	CreatedAt            string `json:"createdAt,omitempty"`
	UpdatedAt            string `json:"updatedAt,omitempty"`
}

func toOrderJSON(o reading.Order, sites []reading.Site) orderJSON {
	j := orderJSON{ID: o.ID, SiteID: o.SiteID, PatientID: o.PatientID, PatientName: o.PatientName,
		PatientSex: o.PatientSex, BirthDate: o.BirthDate, AccessionNumber: o.AccessionNumber,
		RequestedProcedureID: o.RequestedProcedureID, RequestedProcedure: o.RequestedProcedure,
		ProcedureCode: o.ProcedureCode, Modality: o.Modality, StationAE: o.StationAE,
		ScheduledDate: o.ScheduledDate, ScheduledTime: o.ScheduledTime, PerformingPhysician: o.PerformingPhysician,
		StudyUID: o.StudyUID, Status: string(o.Status), ImageStudyUID: o.ImageStudyUID, CreatedBy: o.CreatedBy}
	if !o.CreatedAt.IsZero() {
		j.CreatedAt, j.UpdatedAt = o.CreatedAt.Format(time.RFC3339), o.UpdatedAt.Format(time.RFC3339)
	}
	for _, s := range sites {
		if s.ID == o.SiteID {
			j.Site = s.Name
		}
	}
	return j
}

func (j orderJSON) order() reading.Order {
	return reading.Order{ID: j.ID, SiteID: j.SiteID, PatientID: j.PatientID, PatientName: j.PatientName,
		PatientSex: j.PatientSex, BirthDate: j.BirthDate, AccessionNumber: j.AccessionNumber,
		RequestedProcedureID: j.RequestedProcedureID, RequestedProcedure: j.RequestedProcedure,
		ProcedureCode: j.ProcedureCode, Modality: j.Modality, StationAE: j.StationAE,
		ScheduledDate: j.ScheduledDate, ScheduledTime: j.ScheduledTime, PerformingPhysician: j.PerformingPhysician}
}

// Display is the name as the page shows it (汉字 when there are, else the alphabetic form).
func (j orderJSON) Display() string { return displayName(j.PatientName) }

// Open reports whether the order still waits for its images.
func (j orderJSON) Open() bool { return reading.OrderStatus(j.Status).Open() }

// ordersView is the /orders page's data.
type ordersView struct {
	Orders   []orderJSON
	Sites    []reading.Site // the sites the user may register for
	Stations []reading.Peer // their peers (and the county's)
	Edit     orderJSON      // the order being edited or registered
	Date     string         // the day listed, YYYY-MM-DD
	Missing  bool           // the "never got images" view
}

// ordersFor is what the user may see and change: a site user's site, or every site (0).
func ordersFor(u reading.User) int64 {
	if u.Role == reading.RoleSite {
		return u.SiteID
	}
	return 0
}

// today is the county's date, YYYYMMDD.
func (v *Viewer) today() string { return time.Now().In(v.loc).Format("20060102") }

func (v *Viewer) ordersPage(c echo.Context) error { return v.ordersPageStatus(c, http.StatusOK) }

func (v *Viewer) ordersPageStatus(c echo.Context, status int) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	scope := ordersFor(u)
	sites, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return err
	}
	ov := &ordersView{Missing: c.QueryParam("view") == "missing"}
	date := strings.ReplaceAll(c.QueryParam("date"), "-", "")
	if _, err := time.Parse("20060102", date); err != nil {
		date = v.today()
	}
	ov.Date = date[:4] + "-" + date[4:6] + "-" + date[6:]
	f := reading.OrderFilter{SiteID: scope, DateFrom: date, DateTo: date}
	if ov.Missing {
		// Scheduled before today and still waiting: the images never came.
		yesterday, _ := time.ParseInLocation("20060102", v.today(), v.loc)
		f = reading.OrderFilter{SiteID: scope, DateTo: yesterday.AddDate(0, 0, -1).Format("20060102"),
			Statuses: []reading.OrderStatus{reading.OrderScheduled, reading.OrderArrived}}
	}
	orders, err := v.cfg.Orders.Orders(ctx, f)
	if err != nil {
		return err
	}
	for _, o := range orders {
		j := toOrderJSON(o, sites)
		ov.Orders = append(ov.Orders, j)
		if id, _ := strconv.ParseInt(c.QueryParam("edit"), 10, 64); id != 0 && id == o.ID && o.Status.Open() {
			ov.Edit = j
		}
	}
	for _, s := range sites {
		if scope == 0 || s.ID == scope {
			ov.Sites = append(ov.Sites, s)
		}
	}
	if v.cfg.Peers != nil {
		peers, err := v.cfg.Peers.Peers(ctx)
		if err != nil {
			return err
		}
		for _, p := range peers {
			if scope == 0 || p.SiteID == scope || p.SiteID == 0 {
				ov.Stations = append(ov.Stations, p)
			}
		}
	}
	if ov.Edit.ID == 0 {
		ov.Edit = orderJSON{SiteID: scope, ScheduledDate: date}
	}
	d := pageData{Active: "orders", Orders: ov, Flash: flash(c), Form: formOf(c)}
	if d.Form != nil {
		if o, ok := d.Form.Record.(reading.Order); ok {
			ov.Edit = toOrderJSON(o, sites) // the order as typed
		}
	}
	v.record(c, audit.Event{Action: audit.ActionQuery, Object: "登记列表 " + ov.Date, Detail: strconv.Itoa(len(ov.Orders)) + " 条"})
	return v.render(c, status, "orders", d)
}

// orderForm is the order the /orders form posted.
func orderForm(c echo.Context) reading.Order {
	id, _ := strconv.ParseInt(c.FormValue("id"), 10, 64)
	site, _ := strconv.ParseInt(c.FormValue("site"), 10, 64)
	return reading.Order{ID: id, SiteID: site, PatientID: c.FormValue("patientId"), PatientName: c.FormValue("patientName"),
		PatientSex: c.FormValue("patientSex"), BirthDate: c.FormValue("birthDate"),
		AccessionNumber: c.FormValue("accessionNumber"), RequestedProcedure: c.FormValue("requestedProcedure"),
		ProcedureCode: c.FormValue("procedureCode"), Modality: c.FormValue("modality"), StationAE: c.FormValue("stationAE"),
		ScheduledDate: c.FormValue("scheduledDate"), ScheduledTime: c.FormValue("scheduledTime"),
		PerformingPhysician: c.FormValue("performingPhysician")}
}

func (v *Viewer) saveOrderForm(c echo.Context) error {
	o := orderForm(c)
	saved, err := v.saveOrder(c, o)
	if err != nil {
		return v.adminError(c, "order-form", err, o, v.ordersPageStatus)
	}
	return c.Redirect(http.StatusSeeOther, "/orders?saved=1&date="+saved.ScheduledDate)
}

func (v *Viewer) cancelOrderForm(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	o, err := v.setOrderStatus(c, id, reading.OrderCancelled)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/orders?saved=1&date="+o.ScheduledDate)
}

// saveOrder registers (ID 0) or changes an order for the page or the API: a site user's
// orders are their site's.
func (v *Viewer) saveOrder(c echo.Context, o reading.Order) (reading.Order, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	scope := ordersFor(u)
	if scope != 0 {
		o.SiteID = scope
	}
	var saved reading.Order
	var err error
	if o.ID == 0 {
		o.CreatedBy = u.Username
		saved, err = v.cfg.Orders.CreateOrder(ctx, o)
	} else {
		var old reading.Order
		if old, err = v.cfg.Orders.Order(ctx, o.ID); err != nil {
			return o, err
		}
		if scope != 0 && old.SiteID != scope {
			return o, errNotFound
		}
		saved, err = v.cfg.Orders.UpdateOrder(ctx, o)
	}
	if err != nil {
		return saved, err // saved: the order as typed, normalized where it could be
	}
	v.log.Info("order saved", "by", u.Username, "order", saved.ID, "station", saved.StationAE, "date", saved.ScheduledDate)
	return saved, nil
}

func (v *Viewer) setOrderStatus(c echo.Context, id int64, s reading.OrderStatus) (reading.Order, error) {
	ctx := c.Request().Context()
	o, err := v.cfg.Orders.Order(ctx, id)
	if err != nil {
		return o, err
	}
	if scope := ordersFor(currentUser(c)); scope != 0 && o.SiteID != scope {
		return o, errNotFound
	}
	if err := v.cfg.Orders.SetOrderStatus(ctx, id, s); err != nil {
		return o, err
	}
	v.log.Info("order status", "by", currentUser(c).Username, "order", id, "status", s)
	return o, nil
}

// ---- the JSON API for the HIS: /api/orders ----

// ordersAPI admits an API token with the orders scope (tokens.go tokenScope), or a reading
// room session (with its CSRF token on unsafe methods): a site user's for their site.
func (v *Viewer) ordersAPI(next echo.HandlerFunc) echo.HandlerFunc {
	session := v.authenticate(v.passwordChanged(v.checkCSRF(next)))
	return v.errorsMiddleware(v.sameOrigin(func(c echo.Context) error {
		if raw, ok := presentedToken(c.Request()); ok {
			return v.tokenAuth(c, raw, next)
		}
		return session(c)
	}))
}

func (v *Viewer) apiOrders(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	f := reading.OrderFilter{SiteID: ordersFor(currentUser(c)), StationAE: q.Get("stationAE"), Modality: q.Get("modality"),
		PatientID: q.Get("patientId"), Accession: q.Get("accessionNumber")}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"date", &f.DateFrom}, {"from", &f.DateFrom}, {"to", &f.DateTo}} {
		if x := strings.ReplaceAll(q.Get(p.name), "-", ""); x != "" {
			if _, err := time.Parse("20060102", x); err != nil {
				return v.apiError(c, &reading.FieldError{Field: p.name, Problem: reading.ProblemDate, Value: q.Get(p.name), Err: reading.ErrInvalid})
			}
			*p.dst = x
			if p.name == "date" {
				f.DateTo = x
			}
		}
	}
	if s := q.Get("status"); s != "" {
		if !reading.OrderStatus(s).Valid() {
			return v.apiError(c, &reading.FieldError{Field: "status", Problem: reading.ProblemValue, Value: s, Err: reading.ErrInvalid})
		}
		f.Statuses = []reading.OrderStatus{reading.OrderStatus(s)}
	}
	if q.Get("missing") == "1" {
		// Scheduled before today and never got images.
		today, _ := time.ParseInLocation("20060102", v.today(), v.loc)
		f.DateTo = today.AddDate(0, 0, -1).Format("20060102")
		f.Statuses = []reading.OrderStatus{reading.OrderScheduled, reading.OrderArrived}
	}
	orders, err := v.cfg.Orders.Orders(ctx, f)
	if err != nil {
		return err
	}
	sites, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return err
	}
	out := []orderJSON{}
	for _, o := range orders {
		out = append(out, toOrderJSON(o, sites))
	}
	v.recordAdmin(c, audit.Event{Action: audit.ActionQuery, Object: "登记接口 " + c.Request().URL.RawQuery,
		Detail: strconv.Itoa(len(out)) + " 条"})
	return c.JSON(http.StatusOK, out)
}

func (v *Viewer) apiOrder(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	o, err := v.cfg.Orders.Order(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if scope := ordersFor(currentUser(c)); scope != 0 && o.SiteID != scope {
		return errNotFound
	}
	sites, err := v.cfg.Sites.Sites(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toOrderJSON(o, sites))
}

// apiPutOrder registers (POST) or changes (PUT /api/orders/{id}) an order. A refusal is 400
// or 409 naming the field ({"field", "problem", "value", "error"}).
func (v *Viewer) apiPutOrder(c echo.Context) error {
	var j orderJSON
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return v.apiError(c, &reading.FieldError{Field: "body", Problem: reading.ProblemValue, Err: errors.Join(reading.ErrInvalid, err)})
	}
	j.ID = 0
	if c.Request().Method == http.MethodPut {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil {
			return errNotFound
		}
		j.ID = id
	}
	saved, err := v.saveOrder(c, j.order())
	if err != nil {
		return v.apiError(c, err)
	}
	sites, err := v.cfg.Sites.Sites(c.Request().Context())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if j.ID == 0 {
		status = http.StatusCreated
		c.Response().Header().Set("Location", "/api/orders/"+strconv.FormatInt(saved.ID, 10))
	}
	return c.JSON(status, toOrderJSON(saved, sites))
}

// apiCancelOrder cancels an order (DELETE /api/orders/{id}); a done one is 409.
func (v *Viewer) apiCancelOrder(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	if _, err := v.setOrderStatus(c, id, reading.OrderCancelled); err != nil {
		return v.apiError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}
