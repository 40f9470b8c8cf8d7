package main

import (
	"crypto/tls"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"pacsd/internal/connlimit"
)

// httpLimits are the HTTP listener's bounds against floods of idle or slow connections
// (DESIGN.md §6: every listener has timeouts and connection limits that an idle or slow peer
// cannot exhaust). HTTP and DIMSE share the process's descriptors, so without them a flood on
// the HTTP port stops the modalities too.
type httpLimits struct {
	maxConns      int           // open connections in all; 0: a quarter of RLIMIT_NOFILE
	maxConnsAddr  int           // open connections from one address; 0: none
	readHeader    time.Duration // to read a request's headers
	idle          time.Duration // a kept-alive connection waiting for its next request
	bodyTimeout   time.Duration // a small body (forms, JSON, reports) read in full
	bodyIdle      time.Duration // a large upload (STOW-RS): the longest pause between reads
	maxHeaderSize int
}

func (l *httpLimits) register(fs *flag.FlagSet) {
	fs.IntVar(&l.maxConns, "http-max-conns", 0, "open HTTP connections in all; more are closed at once (0: a quarter of the descriptor limit)")
	fs.IntVar(&l.maxConnsAddr, "http-max-conns-per-addr", 256, "open HTTP connections from one client address (0: no bound; raise it behind a reverse proxy, which is one address)")
	fs.DurationVar(&l.readHeader, "http-header-timeout", 10*time.Second, "time to read a request's headers")
	fs.DurationVar(&l.idle, "http-idle-timeout", 90*time.Second, "how long a kept-alive connection may wait for its next request")
	fs.DurationVar(&l.bodyTimeout, "http-body-timeout", 60*time.Second, "time to read a form or JSON body in full")
	fs.DurationVar(&l.bodyIdle, "http-upload-idle-timeout", 60*time.Second, "longest pause while a STOW-RS upload arrives (its total time is not bounded)")
	l.maxHeaderSize = 64 << 10
}

// effectiveMaxConns resolves the automatic bound: a quarter of the descriptors, leaving
// the rest for DIMSE, objects being stored and read, the index and the spool.
func (l httpLimits) effectiveMaxConns() int {
	if l.maxConns > 0 {
		return l.maxConns
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024
	}
	n := rl.Cur / 4
	if n > 1<<16 {
		n = 1 << 16
	}
	return int(max(n, 64))
}

func (l httpLimits) listener(ln net.Listener, log *slog.Logger) net.Listener {
	return connlimit.Wrap(ln, connlimit.Config{Max: l.effectiveMaxConns(), PerAddr: l.maxConnsAddr, Logger: log, Listener: "http"})
}

func (l httpLimits) server(h http.Handler, tlsCfg *tls.Config) *http.Server {
	return &http.Server{
		Handler:           l.bodyDeadlines(h),
		ReadHeaderTimeout: l.readHeader,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderSize,
		TLSConfig:         tlsCfg,
	}
}

// bodyDeadlines bounds how long a request body may take to arrive: a form or a JSON body
// must arrive within bodyTimeout, so a body dripped a byte at a time is cut; a STOW-RS
// upload (possibly gigabytes over a township's uplink) may take as long as it needs while
// it keeps moving, with at most bodyIdle between reads.
func (l httpLimits) bodyDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if isUpload(r) {
			if l.bodyIdle > 0 {
				r.Body = &idleBody{ReadCloser: r.Body, rc: rc, idle: l.bodyIdle}
				rc.SetReadDeadline(time.Now().Add(l.bodyIdle))
			}
		} else if l.bodyTimeout > 0 {
			rc.SetReadDeadline(time.Now().Add(l.bodyTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// isUpload tells the routes whose bodies are objects: STOW-RS (POST under /dicomweb/studies).
func isUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && (r.URL.Path == "/dicomweb/studies" || strings.HasPrefix(r.URL.Path, "/dicomweb/studies/"))
}

// idleBody moves the read deadline forward after every read that brought bytes.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	return n, err
}
