package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"pacsd/reading"
	"pacsd/store/sqldb"
)

// The scheduled procedures (reading.Orders), migration 0003. Tying an arrived study to its
// order is the trigger orders_tie there, so that every way a study's first object is
// indexed ties it in the same transaction.

func (r *Reading) CreateOrder(ctx context.Context, o reading.Order) (reading.Order, error) {
	if err := sqldb.NewOrder(ctx, r, &o); err != nil {
		return o, err
	}
	now := o.CreatedAt
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO orders (site_id, patient_id, patient_name, patient_sex, birth_date,
			accession, requested_procedure_id, requested_procedure, procedure_code, modality, station_ae,
			scheduled_date, scheduled_time, performing_physician, study_uid, status, created_by, created_at,
			updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$18) RETURNING id`,
			o.SiteID, o.PatientID, o.PatientName, o.PatientSex, o.BirthDate, o.AccessionNumber,
			o.RequestedProcedureID, o.RequestedProcedure, o.ProcedureCode, o.Modality, o.StationAE,
			o.ScheduledDate, o.ScheduledTime, o.PerformingPhysician, o.StudyUID, string(o.Status), o.CreatedBy,
			sqldb.FormatTime(now)).Scan(&o.ID)
		return orderTaken(o, err)
	})
	if err != nil {
		return o, readingErr("create order", err)
	}
	return o, nil
}

// orderTaken names the unique field a violation is about (by its constraint's name).
func orderTaken(o reading.Order, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.ConstraintName == "orders_study_uid_key" {
		return taken("studyUid", o.StudyUID, err)
	}
	return taken("accessionNumber", o.AccessionNumber, err)
}

func (r *Reading) UpdateOrder(ctx context.Context, o reading.Order) (reading.Order, error) {
	if _, err := sqldb.UpdatingOrder(ctx, r, &o); err != nil {
		return o, err
	}
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		// Conditional on the order being open: images tying it on another node meanwhile
		// win, and this update is refused.
		err := sqldb.ExecExisting(ctx, tx, fmt.Errorf("order %d is no longer open: %w", o.ID, reading.ErrConflict),
			`UPDATE orders SET site_id = $1, patient_id = $2, patient_name = $3, patient_sex = $4,
			birth_date = $5, accession = $6, requested_procedure_id = $7, requested_procedure = $8, procedure_code = $9,
			modality = $10, station_ae = $11, scheduled_date = $12, scheduled_time = $13, performing_physician = $14,
			updated_at = $15 WHERE id = $16 AND status IN ('scheduled', 'arrived')`,
			o.SiteID, o.PatientID, o.PatientName, o.PatientSex, o.BirthDate, o.AccessionNumber,
			o.RequestedProcedureID, o.RequestedProcedure, o.ProcedureCode, o.Modality, o.StationAE,
			o.ScheduledDate, o.ScheduledTime, o.PerformingPhysician, sqldb.FormatTime(o.UpdatedAt), o.ID)
		return orderTaken(o, err)
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
	err := r.x.inTx(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM orders WHERE id = $1 FOR UPDATE`, id).Scan(&status)
		if err != nil {
			return err // no row: ErrNotFound
		}
		if status == string(reading.OrderDone) {
			return fmt.Errorf("order %d is done: %w", id, reading.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3`,
			string(s), sqldb.FormatTime(time.Now()), id)
		return err
	})
	if err != nil {
		return readingErr("set order status", err)
	}
	return nil
}

func (r *Reading) Order(ctx context.Context, id int64) (reading.Order, error) {
	o, err := sqldb.ScanOrder(r.x.db.QueryRowContext(ctx, `SELECT `+sqldb.OrderCols+` FROM orders WHERE id = $1`, id))
	if err != nil {
		return o, readingErr("order", err)
	}
	return o, nil
}

func (r *Reading) Orders(ctx context.Context, f reading.OrderFilter) ([]reading.Order, error) {
	q, args := sqldb.OrdersQuery(f, pgSQL)
	return queryAll(ctx, r.x.db, "orders", sqldb.ScanOrder, q, args...)
}
