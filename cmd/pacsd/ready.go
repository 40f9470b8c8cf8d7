package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"pacsd/store"
)

// readiness answers /readyz: whether this pacsd can take work now, as opposed to /healthz,
// which only says the process answers (liveness: restart it when that fails; readiness: send
// it no traffic while this fails). Ready means the listeners are up, the index answers, and
// the spool takes a durable write — the three things a C-STORE needs before it can be
// acknowledged.
type readiness struct {
	index     store.Index
	spoolDir  string
	log       *slog.Logger
	listening atomic.Bool
}

// problems lists what keeps pacsd from being ready (none: ready).
func (r *readiness) problems(ctx context.Context) []string {
	var out []string
	if !r.listening.Load() {
		out = append(out, "listeners: not yet serving")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := r.index.Setting(ctx, "schema"); err != nil {
		out = append(out, fmt.Sprintf("index: %v", err))
	}
	if err := probeWrite(r.spoolDir); err != nil {
		out = append(out, fmt.Sprintf("spool: %v", err))
	}
	return out
}

// probeWrite writes, syncs and removes a small file in dir, as ingest's spool does.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".ready-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write([]byte("ready\n")); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// handle answers 200 "ready" or 503 with the names of the failing checks; the details
// (paths, errors) go to the log, not to whoever asks.
func (r *readiness) handle(ec echo.Context) error {
	p := r.problems(ec.Request().Context())
	if len(p) == 0 {
		return ec.String(http.StatusOK, "ready\n")
	}
	names := make([]string, len(p))
	for i, x := range p {
		names[i], _, _ = strings.Cut(x, ":")
	}
	if r.log != nil {
		r.log.Warn("not ready", "problems", p)
	}
	return ec.String(http.StatusServiceUnavailable, "not ready: "+strings.Join(names, ", ")+"\n")
}

// sdNotify tells systemd (Type=notify units) about the service's state, e.g. "READY=1" or
// "STOPPING=1", through the datagram socket in $NOTIFY_SOCKET (sd_notify(3)); without it,
// nothing is sent.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "@") { // an abstract socket
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
