package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"pacsd/hl7"
	"pacsd/internal/connlimit"
	"pacsd/reading"
	"pacsd/store"
	"pacsd/store/sqlite"
	"pacsd/viewer"
)

// hl7Flags configure HL7 v2 with the hospital information system (package hl7): orders in
// over MLLP, signed reports out over MLLP and/or a webhook. link is shared by the copies
// of serveConfig, so that the reading room's hook (set before the HIS link starts) finds it.
type hl7Flags struct {
	addr       string
	charset    string
	reportAddr string
	webhookURL string
	link       *hisLink
}

func (f *hl7Flags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "hl7-addr", "", "HL7 v2 over MLLP listen address for orders from the HIS (ORM^O01, OMI^O23), e.g. :2575; empty: none")
	fs.StringVar(&f.charset, "hl7-charset", "UTF-8", "character set of HL7 messages whose MSH-18 is empty, and of the reports sent: UTF-8 or GB18030")
	fs.StringVar(&f.reportAddr, "hl7-report-addr", "", "host:port of the HIS's MLLP listener: each signed report is sent there as an ORU^R01 (retried until acknowledged AA); empty: none")
	fs.StringVar(&f.webhookURL, "report-webhook-url", "", "URL each signed report is POSTed to as JSON (retried until a 2xx answer); empty: none")
	f.link = &hisLink{}
}

// hl7Records is what the HL7 link keeps in the database: rejected orders, the outbound
// queue, and the signed reports not yet queued (store/sqlite and store/postgres).
type hl7Records interface {
	hl7.RejectStore
	hl7.Outbox
	Rejected(ctx context.Context, before int64, limit int) ([]hl7.Rejected, error)
	Outbound(ctx context.Context, limit int) ([]hl7.Outbound, error)
	UnqueuedReports(ctx context.Context, dest string, since time.Time, limit int) ([]sqlite.ReportRef, error)
}

// hisLink is the running HL7 link: the listener, the sender and the stores behind them.
type hisLink struct {
	log     *slog.Logger
	store   hl7Records
	repo    reading.Repository
	loc     *time.Location
	sender  *hl7.Sender
	server  *hl7.Server
	served  chan error
	charset hl7.Charset
	org     string
}

// startHIS starts the order listener and the report sender when configured.
func startHIS(ctx context.Context, c serveConfig, archive *openedArchive, log *slog.Logger) (*hisLink, error) {
	h := c.hl7.link
	h.log = log.With("component", "hl7")
	h.store, h.repo, h.loc, h.org = archive.db.hl7, archive.db.reading, c.location, c.organization
	cs, ok := hl7.ParseCharset(c.hl7.charset)
	if !ok || (cs != hl7.UTF8 && cs != hl7.GB18030) {
		return nil, fmt.Errorf("--hl7-charset %q: want UTF-8 or GB18030", c.hl7.charset)
	}
	h.charset = cs
	if c.hl7.webhookURL != "" && !strings.HasPrefix(c.hl7.webhookURL, "http://") && !strings.HasPrefix(c.hl7.webhookURL, "https://") {
		return nil, fmt.Errorf("--report-webhook-url %q: want an http:// or https:// URL", c.hl7.webhookURL)
	}
	h.sender = &hl7.Sender{Outbox: h.store, MLLPAddr: c.hl7.reportAddr, WebhookURL: c.hl7.webhookURL, Charset: cs,
		Application: c.aet, Facility: c.organization, Location: c.location, Logger: h.log}
	h.sender.Start(ctx)
	if err := h.catchUp(ctx, archive.db, c.hl7); err != nil {
		h.log.Error("signed reports not checked against the HIS outbox", "err", err)
	}
	if c.hl7.addr == "" {
		return h, nil
	}
	ln, err := net.Listen("tcp", c.hl7.addr)
	if err != nil {
		h.sender.Stop()
		return nil, fmt.Errorf("--hl7-addr: %w", err)
	}
	// An HIS keeps one or a few connections open; the bounds keep a flood from taking
	// the process's descriptors.
	lim := connlimit.Wrap(ln, connlimit.Config{Max: 32, PerAddr: 8, Logger: log, Listener: "hl7"})
	h.server = &hl7.Server{Logger: h.log, Handler: &hl7.Receiver{Orders: &orderSink{h: h}, Rejects: h.store, Charset: cs,
		Application: c.aet, Facility: c.organization, Logger: h.log}}
	h.served = make(chan error, 1)
	go func() { h.served <- h.server.Serve(lim) }()
	h.log.Info("hl7 listening", "addr", ln.Addr().String(), "charset", string(cs))
	return h, nil
}

// Close stops the listener (a message being handled is answered first) and the sender.
func (h *hisLink) Close() {
	if h.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h.server.Shutdown(ctx)
		cancel()
		<-h.served
	}
	if h.sender != nil {
		h.sender.Stop()
	}
}

// reportSigned is the reading room's hook (viewer.Config.ReportSigned): it queues the
// signed version for the HIS.
func (h *hisLink) reportSigned(ctx context.Context, r reading.Report) {
	if h == nil || !h.sender.Enabled() {
		return
	}
	row, err := h.repo.Study(ctx, r.StudyUID)
	if err != nil {
		h.log.Error("signed report not queued for the HIS: study", "study_uid", r.StudyUID, "version", r.Version, "err", err)
		return
	}
	out := hl7.Report{StudyUID: r.StudyUID, Accession: row.Accession, PatientID: row.PatientID, PatientName: row.PatientName,
		PatientSex: row.PatientSex, BirthDate: row.BirthDate, Modality: strings.Join(row.Modalities, "\\"),
		Procedure: row.Description, Version: r.Version, Status: string(r.Status), Findings: r.Findings,
		Impression: r.Impression, Signer: r.SignedByName, SignedAt: r.SignedAt, AmendReason: r.AmendReason,
		Organization: h.org}
	if row.Accession != "" {
		if os, err := h.repo.Orders(ctx, reading.OrderFilter{Accession: row.Accession, Limit: 1}); err == nil && len(os) > 0 {
			out.Procedure = os[0].RequestedProcedure
			if os[0].ProcedureCode != "" {
				out.Procedure = os[0].ProcedureCode + " " + os[0].RequestedProcedure
			}
		}
	}
	if err := h.sender.Enqueue(ctx, out); err != nil {
		h.log.Error("signed report not queued for the HIS", "study_uid", r.StudyUID, "version", r.Version, "err", err)
	}
}

// hl7SinceSetting is the index setting that says since when signed reports go to the HIS:
// catchUp looks no further back, so that turning the link on does not send years of reports.
const hl7SinceSetting = "hl7.reports.since"

// catchUp queues the signed report versions that have no outbox row for a configured
// destination: a signature commits before its report is queued (reportSigned), so a crash
// in between would otherwise lose that report's ORU for good.
func (h *hisLink) catchUp(ctx context.Context, idx store.Index, f hl7Flags) error {
	if !h.sender.Enabled() {
		return nil
	}
	v, err := idx.Setting(ctx, hl7SinceSetting)
	if err != nil {
		return err
	}
	since, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		// First start with a destination: from now on.
		return idx.SetSetting(ctx, hl7SinceSetting, time.Now().UTC().Format(time.RFC3339Nano))
	}
	var dests []string
	if f.reportAddr != "" {
		dests = append(dests, hl7.DestMLLP)
	}
	if f.webhookURL != "" {
		dests = append(dests, hl7.DestWebhook)
	}
	for _, dest := range dests {
		refs, err := h.store.UnqueuedReports(ctx, dest, since, 1000)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			reports, err := h.repo.Reports(ctx, ref.StudyUID)
			if err != nil {
				return err
			}
			for _, r := range reports {
				if r.Version == ref.Version {
					h.log.Warn("signed report found not queued for the HIS; queued now", "study_uid", r.StudyUID, "version", r.Version, "dest", dest)
					h.reportSigned(ctx, r)
				}
			}
		}
	}
	return nil
}

// routes mounts the administrator's JSON views: /api/admin/hl7/rejected (refused messages,
// ?before=<id> pages back) and /api/admin/hl7/outbox (reports queued and sent).
func (h *hisLink) routes(e *echo.Echo, rr *viewer.Viewer) {
	if h == nil || h.store == nil {
		return
	}
	e.GET("/api/admin/hl7/rejected", func(c echo.Context) error {
		before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
		rs, err := h.store.Rejected(c.Request().Context(), before, 100)
		if err != nil {
			return err
		}
		type item struct {
			ID          int64  `json:"id"`
			ReceivedAt  string `json:"receivedAt"`
			Remote      string `json:"remote"`
			MessageType string `json:"messageType"`
			ControlID   string `json:"controlId"`
			Ack         string `json:"ack"`
			Reason      string `json:"reason"`
			Message     string `json:"message"` // decoded as far as possible, segments on lines
			Bytes       int    `json:"bytes"`
		}
		out := []item{}
		for _, r := range rs {
			out = append(out, item{ID: r.ID, ReceivedAt: r.ReceivedAt.In(h.loc).Format(time.RFC3339), Remote: r.Remote,
				MessageType: r.MessageType, ControlID: r.ControlID, Ack: r.Code, Reason: r.Reason,
				Message: strings.ReplaceAll(h.readable(r.Raw), "\r", "\n"), Bytes: len(r.Raw)})
		}
		return c.JSON(http.StatusOK, out)
	}, rr.AdminAPI())
	e.GET("/api/admin/hl7/outbox", func(c echo.Context) error {
		ms, err := h.store.Outbound(c.Request().Context(), 100)
		if err != nil {
			return err
		}
		type item struct {
			ID        int64  `json:"id"`
			Dest      string `json:"dest"`
			StudyUID  string `json:"studyInstanceUID"`
			Version   int    `json:"version"`
			Attempts  int    `json:"attempts"`
			LastError string `json:"lastError,omitempty"`
			SentAt    string `json:"sentAt,omitempty"`
			NextAt    string `json:"nextAt,omitempty"`
		}
		out := []item{}
		for _, m := range ms {
			it := item{ID: m.ID, Dest: m.Dest, StudyUID: m.StudyUID, Version: m.Version, Attempts: m.Attempts, LastError: m.LastError}
			if !m.SentAt.IsZero() {
				it.SentAt = m.SentAt.In(h.loc).Format(time.RFC3339)
			} else {
				it.NextAt = m.NextAt.In(h.loc).Format(time.RFC3339)
			}
			out = append(out, it)
		}
		return c.JSON(http.StatusOK, out)
	}, rr.AdminAPI())
}

// readable decodes a kept message for display: UTF-8 when it is, else GB 18030, else UTF-8
// with the undecodable bytes replaced.
func (h *hisLink) readable(raw []byte) string {
	if utf8.Valid(raw) {
		return string(raw)
	}
	if s, err := hl7.DecodeText(raw, hl7.GB18030); err == nil {
		return s
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

// orderSink keeps the HIS's orders as the reading room's scheduled procedures
// (reading.Orders): one order per accession number.
type orderSink struct{ h *hisLink }

func (s *orderSink) byAccession(ctx context.Context, acc string) (reading.Order, bool, error) {
	os, err := s.h.repo.Orders(ctx, reading.OrderFilter{Accession: acc, Limit: 1})
	if err != nil || len(os) == 0 {
		return reading.Order{}, false, err
	}
	return os[0], true, nil
}

// PutOrder creates the order, or updates the open one with its accession number.
func (s *orderSink) PutOrder(ctx context.Context, o hl7.Order) error {
	ro := reading.Order{PatientID: o.PatientID, PatientName: o.PatientName, PatientSex: o.PatientSex, BirthDate: o.BirthDate,
		AccessionNumber: o.Accession, RequestedProcedureID: o.RequestedProcedureID, RequestedProcedure: o.ProcedureText,
		ProcedureCode: o.ProcedureCode, Modality: o.Modality, StationAE: o.StationAE, StudyUID: o.StudyUID, CreatedBy: "hl7"}
	if ro.RequestedProcedure == "" {
		ro.RequestedProcedure = o.ProcedureCode
	}
	at := o.ScheduledAt
	if at.IsZero() {
		at = time.Now() // an order without a time is for now
	}
	if at.Location() != time.UTC { // an offset was given; otherwise the time is the county's
		at = at.In(s.h.loc)
	}
	ro.ScheduledDate, ro.ScheduledTime = at.Format("20060102"), at.Format("150405")
	old, found, err := s.byAccession(ctx, o.Accession)
	if err != nil {
		return err
	}
	if found {
		if !old.Status.Open() {
			return fmt.Errorf("%w: order %s is already %s", hl7.ErrInvalid, o.Accession, old.Status)
		}
		ro.ID, ro.SiteID, ro.StudyUID = old.ID, old.SiteID, old.StudyUID
		_, err = s.h.repo.UpdateOrder(ctx, ro)
	} else {
		_, err = s.h.repo.CreateOrder(ctx, ro)
	}
	return orderErr(err)
}

// CancelOrder cancels the order with the message's accession number.
func (s *orderSink) CancelOrder(ctx context.Context, o hl7.Order) error {
	old, found, err := s.byAccession(ctx, o.Accession)
	if err != nil {
		return err
	}
	if !found {
		return hl7.ErrUnknownOrder
	}
	return orderErr(s.h.repo.SetOrderStatus(ctx, old.ID, reading.OrderCancelled))
}

// orderErr turns the reading room's refusals into hl7.ErrInvalid naming the field (the HIS
// is answered AE with it); other errors pass (AE, "send again").
func orderErr(err error) error {
	var fe *reading.FieldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return fmt.Errorf("%w: %s %s %q", hl7.ErrInvalid, fe.Field, fe.Problem, fe.Value)
	case errors.Is(err, reading.ErrInvalid), errors.Is(err, reading.ErrConflict):
		return fmt.Errorf("%w: %v", hl7.ErrInvalid, err)
	}
	return err
}
