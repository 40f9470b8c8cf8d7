package hl7

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Destinations of outgoing reports.
const (
	DestMLLP    = "mllp"
	DestWebhook = "webhook"
)

// Outbound is one report waiting to go (or gone) to one destination. Payload is the
// message as UTF-8 text (the ORU) or JSON (the webhook), fixed when it was queued so that
// every retry sends the same message with the same control ID.
type Outbound struct {
	ID        int64
	Dest      string
	StudyUID  string
	Version   int
	Payload   string
	CreatedAt time.Time
	Attempts  int
	NextAt    time.Time
	LastError string
	SentAt    time.Time
}

// Outbox is the persistent queue of outgoing reports, kept in the index so that a restart
// resumes it.
type Outbox interface {
	// EnqueueOutbound adds messages; one already queued for the same destination, study
	// and version is left as it is.
	EnqueueOutbound(ctx context.Context, msgs []Outbound) error
	// DueOutbound lists unsent messages whose NextAt is not after now, oldest first.
	DueOutbound(ctx context.Context, now time.Time, limit int) ([]Outbound, error)
	// MarkOutbound records an attempt: sent (SentAt set) or failed (the error and the next
	// attempt's time).
	MarkOutbound(ctx context.Context, m Outbound) error
}

// Sender queues signed reports and sends them, with retries and back-off, to the HIS over
// MLLP (an ORU^R01 acknowledged AA) and/or as a JSON POST to a webhook (a 2xx answer).
type Sender struct {
	Outbox     Outbox
	MLLPAddr   string // host:port; "" no MLLP
	WebhookURL string // "" no webhook
	Charset    Charset
	// Application and Facility name pacsd in MSH-3 and MSH-4.
	Application, Facility string
	Location              *time.Location // for HL7 times; nil UTC
	Logger                *slog.Logger
	HTTPClient            *http.Client // nil: one with a 30 s timeout
	Timeout               time.Duration
	Poll                  time.Duration // how often the queue is looked at; 0: 10 s
	MinBackoff            time.Duration // 0: 10 s; doubled per failure up to MaxBackoff
	MaxBackoff            time.Duration // 0: 30 minutes

	wake   chan struct{}
	once   sync.Once
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s *Sender) init() {
	s.once.Do(func() { s.wake = make(chan struct{}, 1) })
}

func (s *Sender) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default().With("component", "hl7")
	}
	return s.Logger
}

// Enabled reports whether reports go anywhere.
func (s *Sender) Enabled() bool { return s != nil && (s.MLLPAddr != "" || s.WebhookURL != "") }

// Enqueue queues a signed report version for every configured destination and wakes the
// sender.
func (s *Sender) Enqueue(ctx context.Context, r Report) error {
	if !s.Enabled() {
		return nil
	}
	s.init()
	now := time.Now().UTC()
	var msgs []Outbound
	if s.MLLPAddr != "" {
		cs := s.Charset
		if cs == "" {
			cs = UTF8
		}
		ctl := fmt.Sprintf("R%s%d", now.Format("20060102150405"), now.Nanosecond()/1000)
		msgs = append(msgs, Outbound{Dest: DestMLLP, StudyUID: r.StudyUID, Version: r.Version, CreatedAt: now, NextAt: now,
			Payload: BuildORU(r, ctl, s.Application, s.Facility, cs, s.Location, now)})
	}
	if s.WebhookURL != "" {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("hl7: report JSON: %w", err)
		}
		msgs = append(msgs, Outbound{Dest: DestWebhook, StudyUID: r.StudyUID, Version: r.Version, CreatedAt: now, NextAt: now,
			Payload: string(b)})
	}
	if err := s.Outbox.EnqueueOutbound(ctx, msgs); err != nil {
		return fmt.Errorf("hl7: queue report: %w", err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Start runs the sender until Stop.
func (s *Sender) Start(ctx context.Context) {
	if !s.Enabled() {
		return
	}
	s.init()
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(orDefault(s.Poll, 10*time.Second))
		defer t.Stop()
		for {
			s.drain(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-s.wake:
			}
		}
	}()
}

// Stop stops the sender and waits for it (a message being sent is abandoned; it stays
// queued).
func (s *Sender) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func (s *Sender) drain(ctx context.Context) {
	for ctx.Err() == nil {
		due, err := s.Outbox.DueOutbound(ctx, time.Now().UTC(), 50)
		if err != nil {
			if ctx.Err() == nil {
				s.log().Warn("listing reports to send", "err", err)
			}
			return
		}
		if len(due) == 0 {
			return
		}
		for _, m := range due {
			if ctx.Err() != nil {
				return
			}
			err := s.send(ctx, m)
			if ctx.Err() != nil {
				return // shutting down: the attempt does not count
			}
			m.Attempts++
			now := time.Now().UTC()
			if err == nil {
				m.SentAt, m.LastError = now, ""
				s.log().Info("report sent", "dest", m.Dest, "study_uid", m.StudyUID, "version", m.Version, "attempts", m.Attempts)
			} else {
				m.LastError = err.Error()
				m.NextAt = now.Add(s.backoff(m.Attempts))
				s.log().Warn("report not sent; will retry", "dest", m.Dest, "study_uid", m.StudyUID, "version", m.Version,
					"attempts", m.Attempts, "next_at", m.NextAt, "err", err)
			}
			if err := s.Outbox.MarkOutbound(ctx, m); err != nil {
				s.log().Warn("recording a report sending", "err", err)
				return
			}
		}
	}
}

func (s *Sender) backoff(attempts int) time.Duration {
	d, max := orDefault(s.MinBackoff, 10*time.Second), orDefault(s.MaxBackoff, 30*time.Minute)
	for i := 1; i < attempts && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

func (s *Sender) send(ctx context.Context, m Outbound) error {
	switch m.Dest {
	case DestMLLP:
		cs := s.Charset
		if cs == "" {
			cs = UTF8
		}
		b, err := EncodeText(m.Payload, cs)
		if err != nil {
			return err
		}
		c := Client{Addr: s.MLLPAddr, Timeout: s.Timeout}
		raw, err := c.Send(ctx, b)
		if err != nil {
			return err
		}
		code, text, err := AckCode(raw, cs)
		if err != nil {
			return fmt.Errorf("hl7: acknowledgement: %w", err)
		}
		if code != AckAccept && code != "CA" {
			return fmt.Errorf("hl7: acknowledged %s: %s", code, text)
		}
		return nil
	case DestWebhook:
		hc := s.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: orDefault(s.Timeout, 30*time.Second)}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.WebhookURL, bytes.NewReader([]byte(m.Payload)))
		if err != nil {
			return fmt.Errorf("hl7: webhook: %w", err)
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("%s/%d", m.StudyUID, m.Version))
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("hl7: webhook: %w", err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("hl7: webhook answered %s", resp.Status)
		}
		return nil
	}
	return errors.New("hl7: unknown destination " + m.Dest)
}
