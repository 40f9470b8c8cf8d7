// Package pgtest starts a real PostgreSQL server for tests and benchmarks: Debian's
// postgresql package (initdb and postgres), in a temporary directory, listening only on a
// Unix socket there (no TCP port to collide with anything), owned by the test binary and
// stopped when it ends. No system service is used.
//
// A test package that uses it runs its tests through Main:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// and each test asks for a fresh database with DB. Under CI (the environment variable CI
// set) a missing PostgreSQL fails the test; elsewhere it is skipped (internal/peertest).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"pacsd/internal/peertest"
)

// Server is one PostgreSQL server in a temporary directory.
type Server struct {
	dir  string // data directory and socket directory's parent
	sock string // the Unix socket's directory
	cmd  *exec.Cmd
	done chan struct{}
	logf *os.File
}

// Options tune a server. The zero value is a test server: no fsync (a test's data need not
// survive a power cut), small shared buffers.
type Options struct {
	// Durable keeps fsync and synchronous_commit on, as a production server runs: what a
	// benchmark measures.
	Durable bool
	// Settings are more postgres -c name=value settings.
	Settings map[string]string
}

// Bin finds a PostgreSQL server program: on PATH, else in Debian's versioned directory.
func Bin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // newest version first
		p := filepath.Join(dirs[i], name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin (Debian package postgresql)", name)
}

// Start initialises a new cluster in a temporary directory and starts its server. When the
// process runs as root, the server runs as the user "postgres" (which Debian's package
// creates): PostgreSQL refuses to run as root.
func Start(ctx context.Context, o Options) (*Server, error) {
	initdb, err := Bin("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := Bin("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pacsd-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir, sock: filepath.Join(dir, "sock"), done: make(chan struct{})}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Mkdir(s.sock, 0o700); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("pgtest: running as root needs the user postgres (Debian package postgresql): %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, p := range []string{dir, s.sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fail(fmt.Errorf("pgtest: %w", err))
			}
		}
	}
	data := filepath.Join(dir, "data")
	init := exec.CommandContext(ctx, initdb, "-D", data, "-U", "pacsd", "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := init.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %w\n%s", err, out))
	}
	settings := map[string]string{
		"listen_addresses":        "",
		"unix_socket_directories": s.sock,
		"max_connections":         "200",
		"shared_buffers":          "128MB",
		"log_min_messages":        "warning",
	}
	if !o.Durable {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range o.Settings {
		settings[k] = v
	}
	args := []string{"-D", data}
	for k, v := range settings {
		args = append(args, "-c", k+"="+v)
	}
	s.logf, err = os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	s.cmd = exec.Command(postgres, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.logf, s.logf
	// The server dies with the process that started it, however that process ends.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.logf.Close()
		return fail(fmt.Errorf("pgtest: start postgres: %w", err))
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			c.Close(ctx)
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			s.Stop()
			return nil, fmt.Errorf("pgtest: postgres exited: %s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("pgtest: postgres did not accept connections: %w", err)
		}
	}
}

// URL is the connection URL of database db (over the server's Unix socket).
func (s *Server) URL(db string) string {
	q := url.Values{"host": {s.sock}, "user": {"pacsd"}, "sslmode": {"disable"}}
	return "postgres:///" + url.PathEscape(db) + "?" + q.Encode()
}

// CreateDB creates an empty database and returns its URL.
func (s *Server) CreateDB(ctx context.Context, name string) (string, error) {
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// Stop stops the server at once (the data is thrown away) and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.logf != nil {
		s.logf.Close()
	}
	os.RemoveAll(s.dir)
}

var (
	shared struct {
		sync.Mutex
		srv *Server
		err error
	}
	dbSeq atomic.Int64
)

// Main runs a package's tests and stops the shared server, if a test started it.
func Main(m *testing.M) int {
	code := m.Run()
	shared.Lock()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	shared.Unlock()
	return code
}

// Shared returns the test binary's one server, started on first use (tests must run
// through Main, which stops it). A missing PostgreSQL skips the test, or fails it under CI.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = Start(context.Background(), Options{})
	}
	if shared.err != nil {
		if errors.Is(shared.err, exec.ErrNotFound) || strings.Contains(shared.err.Error(), "not found") {
			peertest.Missing(t, "PostgreSQL: %v", shared.err)
		}
		t.Fatal(shared.err)
	}
	return shared.srv
}

// DB creates a fresh, empty database on the shared server for one test and returns its
// connection URL.
func DB(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	u, err := s.CreateDB(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
