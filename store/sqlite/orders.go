package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/mozillazg/go-pinyin"

	"pacsd/dicom"
	"pacsd/reading"
)

// The scheduled procedures (reading.Orders), migration 0013. Tying an arrived study to its
// order is the trigger orders_tie there, so that every way a study's first object is
// indexed ties it in the same transaction.

const orderCols = `id, site_id, patient_id, patient_name, patient_sex, birth_date, accession,
	requested_procedure_id, requested_procedure, procedure_code, modality, station_ae,
	scheduled_date, scheduled_time, performing_physician, study_uid, status, image_study_uid,
	created_by, created_at, updated_at`

func scanOrder(s interface{ Scan(...any) error }) (reading.Order, error) {
	var o reading.Order
	var status, created, updated string
	err := s.Scan(&o.ID, &o.SiteID, &o.PatientID, &o.PatientName, &o.PatientSex, &o.BirthDate,
		&o.AccessionNumber, &o.RequestedProcedureID, &o.RequestedProcedure, &o.ProcedureCode, &o.Modality,
		&o.StationAE, &o.ScheduledDate, &o.ScheduledTime, &o.PerformingPhysician, &o.StudyUID, &status,
		&o.ImageStudyUID, &o.CreatedBy, &created, &updated)
	o.Status, o.CreatedAt, o.UpdatedAt = reading.OrderStatus(status), parseTime(created), parseTime(updated)
	return o, err
}

// checkOrder normalizes o, fills the pinyin of a Chinese name and checks its station AE
// against the peers registry (and o's site against the peer's).
func (r *Reading) checkOrder(ctx context.Context, o *reading.Order) error {
	if err := o.Normalize(); err != nil {
		return err
	}
	o.PatientName = withPinyin(o.PatientName)
	p, ok, err := r.Peer(ctx, o.StationAE)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		return &reading.FieldError{Field: "stationAE", Problem: reading.ProblemUnknown, Value: o.StationAE,
			Err: fmt.Errorf("no peer has this AE title: %w", reading.ErrInvalid)}
	case o.SiteID == 0:
		o.SiteID = p.SiteID
	case p.SiteID != 0 && p.SiteID != o.SiteID:
		return &reading.FieldError{Field: "stationAE", Problem: reading.ProblemSite, Value: o.StationAE,
			Err: fmt.Errorf("the AE belongs to another site: %w", reading.ErrInvalid)}
	}
	if o.SiteID != 0 {
		if _, err := r.Site(ctx, o.SiteID); err != nil {
			return &reading.FieldError{Field: "siteId", Problem: reading.ProblemValue, Value: fmt.Sprint(o.SiteID),
				Err: fmt.Errorf("no such site: %w", reading.ErrInvalid)}
		}
	}
	return nil
}

// withPinyin fills the alphabetic group of a PN whose ideographic group is Chinese and
// whose alphabetic group is empty: "=张^三" becomes "Zhang^San=张^三" (each component's
// characters in their common reading, capitalised, run together), so that consoles without
// Chinese fonts show a readable name.
func withPinyin(pn string) string {
	alpha, rest, ok := strings.Cut(pn, "=")
	if !ok || alpha != "" {
		return pn
	}
	ideo, _, _ := strings.Cut(rest, "=")
	comps := strings.Split(ideo, "^")
	for i, c := range comps {
		var b strings.Builder
		for _, r := range c {
			if !unicode.Is(unicode.Han, r) {
				b.WriteRune(r)
				continue
			}
			rd := pinyin.SinglePinyin(r, pinyin.Args{Style: pinyin.Normal})
			if len(rd) == 0 {
				continue
			}
			if b.Len() == 0 {
				b.WriteString(strings.ToUpper(rd[0][:1]) + rd[0][1:])
			} else {
				b.WriteString(rd[0])
			}
		}
		comps[i] = b.String()
	}
	return strings.Join(comps, "^") + pn
}

func (r *Reading) CreateOrder(ctx context.Context, o reading.Order) (reading.Order, error) {
	o.ID, o.Status, o.ImageStudyUID = 0, reading.OrderScheduled, ""
	if err := r.checkOrder(ctx, &o); err != nil {
		return o, fmt.Errorf("create order: %w", err)
	}
	if o.StudyUID == "" {
		o.StudyUID = dicom.NewUID()
	}
	now := time.Now().UTC()
	o.CreatedAt, o.UpdatedAt = now, now
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO orders (site_id, patient_id, patient_name, patient_sex, birth_date,
			accession, requested_procedure_id, requested_procedure, procedure_code, modality, station_ae,
			scheduled_date, scheduled_time, performing_physician, study_uid, status, created_by, created_at,
			updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			o.SiteID, o.PatientID, o.PatientName, o.PatientSex, o.BirthDate, o.AccessionNumber,
			o.RequestedProcedureID, o.RequestedProcedure, o.ProcedureCode, o.Modality, o.StationAE,
			o.ScheduledDate, o.ScheduledTime, o.PerformingPhysician, o.StudyUID, string(o.Status), o.CreatedBy,
			fmtTime(now), fmtTime(now))
		if err != nil {
			return orderTaken(o, err)
		}
		o.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return o, readingErr("create order", err)
	}
	return o, nil
}

// orderTaken names the unique field a constraint error is about.
func orderTaken(o reading.Order, err error) error {
	if strings.Contains(err.Error(), "orders.study_uid") {
		return taken("studyUid", o.StudyUID, err)
	}
	return taken("accessionNumber", o.AccessionNumber, err)
}

func (r *Reading) UpdateOrder(ctx context.Context, o reading.Order) (reading.Order, error) {
	old, err := r.Order(ctx, o.ID)
	if err != nil {
		return o, fmt.Errorf("update order: %w", err)
	}
	o.Status, o.StudyUID, o.ImageStudyUID, o.CreatedBy, o.CreatedAt = old.Status, old.StudyUID, old.ImageStudyUID, old.CreatedBy, old.CreatedAt
	if err := r.checkOrder(ctx, &o); err != nil {
		return o, fmt.Errorf("update order: %w", err)
	}
	o.UpdatedAt = time.Now().UTC()
	err = r.x.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE orders SET site_id = ?, patient_id = ?, patient_name = ?, patient_sex = ?,
			birth_date = ?, accession = ?, requested_procedure_id = ?, requested_procedure = ?, procedure_code = ?,
			modality = ?, station_ae = ?, scheduled_date = ?, scheduled_time = ?, performing_physician = ?,
			updated_at = ? WHERE id = ? AND status IN ('scheduled', 'arrived')`,
			o.SiteID, o.PatientID, o.PatientName, o.PatientSex, o.BirthDate, o.AccessionNumber,
			o.RequestedProcedureID, o.RequestedProcedure, o.ProcedureCode, o.Modality, o.StationAE,
			o.ScheduledDate, o.ScheduledTime, o.PerformingPhysician, fmtTime(o.UpdatedAt), o.ID)
		if err != nil {
			return orderTaken(o, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("order %d is %s: %w", o.ID, old.Status, reading.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return o, readingErr("update order", err)
	}
	return o, nil
}

func (r *Reading) SetOrderStatus(ctx context.Context, id int64, s reading.OrderStatus) error {
	if !s.Valid() || s == reading.OrderDone {
		return fmt.Errorf("set order status: %w", &reading.FieldError{Field: "status", Problem: reading.ProblemValue,
			Value: string(s), Err: reading.ErrInvalid})
	}
	err := r.x.write(ctx, func(tx *sql.Tx) error {
		if err := execExisting(tx, reading.ErrNotFound, `UPDATE orders SET status = status WHERE id = ?`, id); err != nil {
			return err
		}
		return execExisting(tx, fmt.Errorf("order %d is done: %w", id, reading.ErrConflict),
			`UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status <> 'done'`,
			string(s), fmtTime(time.Now()), id)
	})
	if err != nil {
		return readingErr("set order status", err)
	}
	return nil
}

func (r *Reading) Order(ctx context.Context, id int64) (reading.Order, error) {
	o, err := scanOrder(r.x.r.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE id = ?`, id))
	if err != nil {
		return o, readingErr("order", err)
	}
	return o, nil
}

func (r *Reading) Orders(ctx context.Context, f reading.OrderFilter) ([]reading.Order, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.SiteID > 0 {
		add("site_id = ?", f.SiteID)
	}
	if f.StationAE != "" {
		add("station_ae = ?", f.StationAE)
	}
	if f.Modality != "" {
		add("modality = ?", f.Modality)
	}
	if f.PatientID != "" {
		add("patient_id = ?", f.PatientID)
	}
	if f.Accession != "" {
		add("accession = ?", f.Accession)
	}
	if f.DateFrom != "" {
		add("scheduled_date >= ?", f.DateFrom)
	}
	if f.DateTo != "" {
		add("scheduled_date <= ?", f.DateTo)
	}
	if len(f.Statuses) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?,", len(f.Statuses)), ",")
		where = append(where, "status IN ("+marks+")")
		for _, s := range f.Statuses {
			args = append(args, string(s))
		}
	}
	q := `SELECT ` + orderCols + ` FROM orders`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY scheduled_date, scheduled_time, id"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return queryAll(ctx, r.x.r, "orders", scanOrder, q, args...)
}
