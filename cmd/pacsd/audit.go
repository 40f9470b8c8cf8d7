package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"pacsd/audit"
	"pacsd/dicom"
	"pacsd/dimse"
	"pacsd/store"
	"pacsd/store/sqlite"
)

// auditFlags configure the audit trail (DESIGN.md section 4).
type auditFlags struct {
	retention retention
	syslog    string
}

func (f *auditFlags) register(fs *flag.FlagSet) {
	f.retention = retention(audit.MinRetention)
	fs.Var(&f.retention, "audit-retention", "how long audit events are kept, e.g. 183d or 400d (at least 183d: 网络安全法 §21 asks for six months); 0 keeps them forever; older events are purged daily")
	fs.StringVar(&f.syslog, "audit-syslog", "", "also forward every audit event to an audit record repository (IHE ATNA: RFC 5424 syslog carrying DICOM PS3.15 A.5 messages), tcp://host:port or udp://host:port; empty: off")
}

// retention is a duration flag that also takes days ("183d").
type retention time.Duration

func (r retention) String() string {
	d := time.Duration(r)
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (r *retention) Set(s string) error {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return fmt.Errorf("%q: want days (183d) or a duration", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("%q: want days (183d) or a duration", s)
		}
	}
	if d != 0 && d < audit.MinRetention {
		return fmt.Errorf("%s is shorter than the %dd the law asks for", s, audit.MinRetention/(24*time.Hour))
	}
	*r = retention(d)
	return nil
}

// syslogTarget reads --audit-syslog: "tcp://host:port" or "udp://host:port".
func syslogTarget(s string) (network, addr string, err error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "udp") || u.Host == "" || u.Port() == "" ||
		(u.Path != "" && u.Path != "/") {
		return "", "", fmt.Errorf("--audit-syslog %q: want tcp://host:port or udp://host:port", s)
	}
	return u.Scheme, u.Host, nil
}

// auditTrail is the running audit trail: the recorder over its store, the syslog forwarder
// when configured, and the daily purge. Close it after the servers have stopped (nothing
// records any more) and before the index is closed.
type auditTrail struct {
	rec    *audit.Recorder
	store  audit.Store
	syslog *audit.Syslog // nil: not forwarding
	// legacy is the trail an older pacsd kept in the index's own tables (nil: none): copied
	// into audit.db at the first start, then only purged, so that nothing is kept there
	// longer than --audit-retention either.
	legacy     audit.Store
	closeStore func() error // closes store after the recorder; nil: closed with the index
	log        *slog.Logger
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// startAudit starts the trail of a SQLite data directory: in audit.db beside the index
// (sqlite.AuditPath: <data-dir>/audit.db), its own file so that the commits of audit events
// do not cost the index's readers their page cache. The first start after an upgrade copies
// the trail the index held (sqlite.AuditDB.ImportIndex).
func startAudit(ctx context.Context, f auditFlags, idx *sqlite.Index, aet, organization string, log *slog.Logger) (*auditTrail, error) {
	if idx == nil {
		return nil, fmt.Errorf("audit trail: no SQLite index (on PostgreSQL, startAuditOn with its Audit)")
	}
	indexPath, err := idx.Path(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	db, err := sqlite.OpenAudit(ctx, sqlite.AuditPath(indexPath))
	if err != nil {
		return nil, err
	}
	if n, err := db.ImportIndex(ctx, indexPath); err != nil {
		db.Close()
		return nil, err
	} else if n > 0 {
		log.Info("audit trail copied from the index into its own database", "component", "audit",
			"events", n, "path", sqlite.AuditPath(indexPath))
	}
	t, err := startAuditOn(ctx, f, db, aet, organization, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	t.closeStore, t.log = db.Close, log
	t.legacy = idx.Audit()
	return t, nil
}

// startAuditOn starts the trail on st (sqlite.AuditDB, or postgres.Index.Audit(), which
// is closed with its index).
func startAuditOn(ctx context.Context, f auditFlags, st audit.Store, aet, organization string, log *slog.Logger) (*auditTrail, error) {
	t := &auditTrail{store: st}
	var sinks []audit.Sink
	if f.syslog != "" {
		network, addr, err := syslogTarget(f.syslog)
		if err != nil {
			return nil, err
		}
		host, err := os.Hostname()
		if err != nil {
			host = "pacsd"
		}
		t.syslog, err = audit.NewSyslog(audit.SyslogConfig{Network: network, Address: addr, Logger: log,
			Source: audit.Source{ID: host, SiteID: organization, AETitle: aet}})
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, t.syslog)
	}
	t.rec = audit.New(t.store, audit.Config{Logger: log, Sinks: sinks})
	t.run(func() { t.rec.Run() })
	if t.syslog != nil {
		t.run(func() { t.syslog.Run() })
	}
	ctx, t.cancel = context.WithCancel(ctx)
	if keep := time.Duration(f.retention); keep > 0 {
		t.run(func() { t.purge(ctx, keep, log.With("component", "audit")) })
	}
	return t, nil
}

func (t *auditTrail) run(fn func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
}

// purge removes the events older than keep, at start and then daily.
func (t *auditTrail) purge(ctx context.Context, keep time.Duration, log *slog.Logger) {
	tick := time.NewTicker(24 * time.Hour)
	defer tick.Stop()
	for {
		for _, st := range []audit.Store{t.store, t.legacy} {
			if st == nil {
				continue
			}
			n, err := st.Purge(ctx, time.Now().Add(-keep))
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("audit retention purge failed", "err", err)
			case n > 0:
				log.Info("audit events past retention purged", "events", n, "retention", retention(keep).String(),
					"index_copy", st == t.legacy)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Close stops the purge, writes what is queued, then lets the forwarder send what it has,
// and closes the trail's own database.
func (t *auditTrail) Close() {
	t.cancel()
	t.rec.Close()
	if t.syslog != nil {
		t.syslog.Close()
	}
	t.wg.Wait()
	if t.closeStore != nil {
		if err := t.closeStore(); err != nil {
			t.log.Error("audit trail close failed", "component", "audit", "err", err)
		}
	}
}

// storeAudit records what C-STORE received: one event per association and study, not one
// per object. An ultrasound study is dozens of objects, a county's day thousands: the
// trail's question is who sent which patient's study, from where, when; the archive's log
// has one line per object. A refused object is recorded on its own (failure, with the
// reason).
type storeAudit struct {
	rec  audit.Auditor
	mu   sync.Mutex
	seen map[string]struct{} // association ID + study UID already recorded
}

// maxStoreSeen bounds storeAudit.seen: association IDs are never reused, so forgetting
// them all costs at most a second event for an association still running.
const maxStoreSeen = 10000

func newStoreAudit(rec audit.Auditor) *storeAudit {
	return &storeAudit{rec: rec, seen: map[string]struct{}{}}
}

func (s *storeAudit) stored(ctx context.Context, req *dimse.StoreRequest, inst *store.Instance, err error) {
	if s == nil {
		return
	}
	host := req.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = strings.Trim(host[:i], "[]")
	}
	ev := audit.Event{Actor: audit.AE(req.CallingAETitle, host), Action: audit.ActionStore, Object: req.SOPInstanceUID}
	if err != nil {
		ev.Outcome, ev.Detail = audit.OutcomeFailure, storeStatus(err).ErrorComment
		s.rec.Record(ctx, ev)
		return
	}
	key := req.AssociationID + "|" + inst.StudyInstanceUID
	s.mu.Lock()
	_, dup := s.seen[key]
	if !dup {
		if len(s.seen) >= maxStoreSeen {
			clear(s.seen)
		}
		s.seen[key] = struct{}{}
	}
	s.mu.Unlock()
	if dup {
		return
	}
	ev.StudyUID = inst.StudyInstanceUID
	ev.PatientID = inst.StudyAttrs.String(dicom.TagPatientID)
	ev.PatientName = inst.StudyAttrs.String(dicom.TagPatientName)
	ev.Detail = "C-STORE, association " + req.AssociationID
	s.rec.Record(ctx, ev)
}
