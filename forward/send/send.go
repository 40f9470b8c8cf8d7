// Package send is forward's transports: C-STORE to a registered DICOM peer (PS3.4 B, pacsd
// as Storage SCU; one association per study batch, the stored syntax or Explicit VR Little
// Endian as a fallback, qr.StoreItems) and STOW-RS to a DICOMweb server (PS3.18 10.5: one
// multipart/related POST per batch, the stored Part-10 objects streamed as they are).
package send

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"pacsd/dicom/pixel"
	"pacsd/dimse"
	"pacsd/forward"
	"pacsd/qr"
	"pacsd/reading"
	"pacsd/store"
)

// Config configures a Sender.
type Config struct {
	Archive qr.Archive         // required: where the objects are read
	Peers   reading.PeerLookup // required for DICOM destinations: where the AE listens
	// CallingAE is our AE title on forwarding associations.
	CallingAE string
	// TLS is the client configuration for peers registered with RequireTLS (as for C-MOVE
	// destinations); its ServerName is set per peer.
	TLS    *tls.Config
	Pixels *pixel.Budget // bounds the Explicit VR LE fallback; nil: the default
	// HTTP is the client for STOW-RS; nil: one with sane timeouts.
	HTTP   *http.Client
	Logger *slog.Logger
}

// Sender implements forward.Sender.
type Sender struct {
	cfg Config
}

var _ forward.Sender = (*Sender)(nil)

// New returns a Sender.
func New(cfg Config) *Sender {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: 10 * time.Minute, // the server may make a large batch durable
			MaxIdleConnsPerHost:   4,
		}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Sender{cfg: cfg}
}

// Send implements forward.Sender.
func (s *Sender) Send(ctx context.Context, d forward.Destination, jobs []forward.Job, report func(int, forward.Result)) error {
	// The current records: an object deleted since it was queued is gone for good.
	var insts []*store.Instance
	var idx []int // insts[k] is jobs[idx[k]]
	for i, j := range jobs {
		inst, err := s.cfg.Archive.Index().Instance(ctx, j.SOPInstanceUID)
		if errors.Is(err, store.ErrNotFound) {
			report(i, forward.Result{Err: fmt.Errorf("不在存档中: %w", err), Gone: true})
			continue
		}
		if err != nil {
			return fmt.Errorf("read index: %w", err)
		}
		insts = append(insts, inst)
		idx = append(idx, i)
	}
	if len(insts) == 0 {
		return nil
	}
	switch d.Kind {
	case forward.KindDICOM:
		return s.sendDICOM(ctx, d, insts, func(k int, r forward.Result) { report(idx[k], r) })
	case forward.KindSTOW:
		return s.sendSTOW(ctx, d, insts, func(k int, r forward.Result) { report(idx[k], r) })
	}
	return fmt.Errorf("destination %s: kind %q: %w", d.Name, d.Kind, forward.ErrInvalid)
}

// sendDICOM sends over one association (more only when the classes and syntaxes need over
// 127 presentation contexts: dimse.StoreAll).
func (s *Sender) sendDICOM(ctx context.Context, d forward.Destination, insts []*store.Instance, report func(int, forward.Result)) error {
	p, ok, err := s.cfg.Peers.Peer(ctx, d.AETitle)
	if err != nil {
		return fmt.Errorf("peers registry: %w", err)
	}
	if !ok || !p.Destination || p.Host == "" || p.Port == 0 {
		return fmt.Errorf("AE %s 未登记为可接收的 DICOM 节点（需登记主机、端口并允许作为目的地）", d.AETitle)
	}
	cfg := dimse.ClientConfig{CallingAETitle: s.cfg.CallingAE, CalledAETitle: p.AETitle}
	if p.RequireTLS {
		c := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.cfg.TLS != nil {
			c = s.cfg.TLS.Clone()
		}
		c.ServerName = p.Host
		cfg.TLS = c
	}
	items := qr.StoreItems(ctx, s.cfg.Archive, s.cfg.Pixels, insts)
	var destErr error
	err = dimse.StoreAll(ctx, net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), cfg, items, func(r dimse.StoreResult) {
		inst := insts[r.Index]
		switch {
		case r.OK():
			report(r.Index, forward.Result{Bytes: inst.Size})
		case r.Err == nil: // a failure status: the peer refused this object (PS3.4 B.2.3)
			report(r.Index, forward.Result{Err: fmt.Errorf("C-STORE %s: status %s", inst.SOPInstanceUID, r.Status), Refused: true})
		case errors.Is(r.Err, dimse.ErrNoContext):
			report(r.Index, forward.Result{Err: fmt.Errorf("对方不接受该 SOP 类或传输语法: %w", r.Err), Refused: true})
		default: // the association: the destination's failure, retried with it
			if destErr == nil {
				destErr = r.Err
			}
		}
	})
	if destErr != nil {
		return destErr
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil // refusals are in the reports
}

// sendSTOW posts the batch as one multipart/related request of application/dicom parts
// (PS3.18 10.5.1.1), streamed: the objects as stored, File Meta Information included.
func (s *Sender) sendSTOW(ctx context.Context, d forward.Destination, insts []*store.Instance, report func(int, forward.Result)) error {
	var b [16]byte
	rand.Read(b[:])
	boundary := "pacsd-" + hex.EncodeToString(b[:])
	pr, pw := io.Pipe()
	go func() {
		mw := multipart.NewWriter(pw)
		if err := mw.SetBoundary(boundary); err != nil {
			pw.CloseWithError(err)
			return
		}
		for _, inst := range insts {
			if err := writePart(ctx, mw, s.cfg.Archive, inst); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL+"/studies", pr)
	if err != nil {
		pr.Close()
		return fmt.Errorf("STOW-RS %s: %w", d.URL, err)
	}
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+boundary)
	req.Header.Set("Accept", "application/dicom+json")
	switch d.Auth {
	case forward.AuthBasic:
		req.SetBasicAuth(d.User, d.Secret)
	case forward.AuthBearer:
		req.Header.Set("Authorization", "Bearer "+d.Secret)
	}
	resp, err := s.cfg.HTTP.Do(req)
	pr.Close()
	if err != nil {
		return fmt.Errorf("STOW-RS %s: %w", d.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("STOW-RS %s: read response: %w", d.URL, err)
	}
	// PS3.18 10.5.3: 200 all stored; 202 some failed (FailedSOPSequence); 409 none
	// stored (each failure listed); others are the server's or our credentials' fault.
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusConflict:
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("STOW-RS %s: %s：认证失败，请检查用户名、密码或令牌", d.URL, resp.Status)
	default:
		return fmt.Errorf("STOW-RS %s: %s: %s", d.URL, resp.Status, snippet(body))
	}
	failed, err := failedSOPs(body)
	if err != nil && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("STOW-RS %s: %s, unreadable response: %w", d.URL, resp.Status, err)
	}
	for k, inst := range insts {
		if reason, bad := failed[inst.SOPInstanceUID]; bad || resp.StatusCode == http.StatusConflict {
			report(k, forward.Result{Err: fmt.Errorf("STOW-RS %s refused %s: %s", d.URL, inst.SOPInstanceUID, reason), Refused: true})
			continue
		}
		report(k, forward.Result{Bytes: inst.Size})
	}
	return nil
}

func writePart(ctx context.Context, mw *multipart.Writer, a qr.Archive, inst *store.Instance) error {
	rec, rc, err := a.Open(ctx, inst.SOPInstanceUID)
	if err != nil {
		return err
	}
	defer rc.Close()
	if rec.SHA256 != inst.SHA256 {
		// Replaced since the batch was read: its new version is queued in its own right.
		inst = rec
	}
	w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
	if err != nil {
		return err
	}
	_, err = io.Copy(w, bufio.NewReaderSize(store.ContextReader(ctx, rc), 256<<10))
	return err
}

// failedSOPs reads the Failed SOP Sequence (0008,1198) of a STOW-RS response: SOP Instance
// UID (0008,1155) -> Failure Reason (0008,1197).
func failedSOPs(body []byte) (map[string]string, error) {
	out := map[string]string{}
	if len(strings.TrimSpace(string(body))) == 0 {
		return out, nil
	}
	type attr struct {
		Value json.RawMessage `json:"Value"`
	}
	var top map[string]attr
	if err := json.Unmarshal(body, &top); err != nil {
		return out, err
	}
	seq, ok := top["00081198"]
	if !ok || len(seq.Value) == 0 {
		return out, nil
	}
	var items []map[string]attr
	if err := json.Unmarshal(seq.Value, &items); err != nil {
		return out, err
	}
	for _, it := range items {
		var uid []string
		var reason []float64
		json.Unmarshal(it["00081155"].Value, &uid)
		json.Unmarshal(it["00081197"].Value, &reason)
		if len(uid) == 1 {
			r := "failure"
			if len(reason) == 1 {
				r = fmt.Sprintf("Failure Reason 0x%04X", int(reason[0]))
			}
			out[uid[0]] = r
		}
	}
	return out, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
