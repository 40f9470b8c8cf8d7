package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// The scheduled procedures (reading.Orders), migration 0013. Tying an arrived study to its
// order is the trigger orders_tie there, so that every way a study's first object is
// indexed ties it in the same transaction.

func (r *Reading) CreateOrder(ctx context.Context, o reading.Order) (reading.Order, error) {
	if err := sqldb.NewOrder(ctx, r, &o); err != nil {
		return o, err
	}
	now := o.CreatedAt
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
	old, err := sqldb.UpdatingOrder(ctx, r, &o)
	if err != nil {
		return o, err
	}
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
	if err := sqldb.CheckOrderStatus(s); err != nil {
		return err
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
	o, err := sqldb.ScanOrder(r.x.r.QueryRowContext(ctx, `SELECT `+sqldb.OrderCols+` FROM orders WHERE id = ?`, id))
	if err != nil {
		return o, readingErr("order", err)
	}
	return o, nil
}

func (r *Reading) Orders(ctx context.Context, f reading.OrderFilter) ([]reading.Order, error) {
	q, args := sqldb.OrdersQuery(f, sqliteSQL)
	return queryAll(ctx, r.x.r, "orders", sqldb.ScanOrder, q, args...)
}
