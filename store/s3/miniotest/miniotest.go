package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one MinIO process.
type Server struct {
	Endpoint  string // 127.0.0.1:port, no scheme (plain HTTP)
	AccessKey string
	SecretKey string
	Dir       string // data folder

	t       testing.TB
	bin     string
	console string
	log     *tailBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// Binary returns the path of the MinIO server binary, or an error saying how to get one.
func Binary() (string, error) {
	if p := os.Getenv("PACSD_MINIO"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("PACSD_MINIO=%s: %w", p, err)
		}
		return p, nil
	}
	if dir, err := CacheDir(); err == nil {
		p := filepath.Join(dir, "minio")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", errors.New("minio server binary not found ($PACSD_MINIO, the pacsd cache, PATH): run scripts/minio.sh")
}

// CacheDir is where scripts/minio.sh puts the binary: $PACSD_CACHE, else ~/.cache/pacsd/bin.
func CacheDir() (string, error) {
	if d := os.Getenv("PACSD_CACHE"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "pacsd", "bin"), nil
}

// startTimeout bounds one start; a cold MinIO is ready in about a second.
const startTimeout = 60 * time.Second

// Start runs a MinIO server for the rest of the test. It skips under -short and fails the
// test if the binary is missing or the server does not come up.
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("MinIO tests skipped in -short mode")
	}
	bin, err := Binary()
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	s := &Server{
		t:         t,
		bin:       bin,
		Dir:       t.TempDir(), // before Cleanup below: cleanups run last-in first-out
		AccessKey: "pacsd-" + randomHex(4),
		SecretKey: randomHex(20),
		log:       &tailBuffer{max: 64 << 10},
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("miniotest: last MinIO output:\n%s", s.log.String())
		}
	})
	// A free port found by listening on :0 may be taken by someone else before MinIO
	// binds it; try a few.
	for attempt := 0; ; attempt++ {
		s.Endpoint, s.console = freeAddr(t), freeAddr(t)
		err = s.start()
		if err == nil {
			return s
		}
		if attempt == 2 {
			t.Fatalf("miniotest: %v\n%s", err, s.log.String())
		}
		t.Logf("miniotest: %v; retrying on other ports", err)
	}
}

// Stop terminates the server (SIGTERM, then SIGKILL after 10 s) and waits for it to exit.
// Clients then see refused connections.
func (s *Server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart starts the server again on the same address with the same data and credentials.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("miniotest: restart: %v\n%s", err, s.log.String())
	}
}

// URL is the endpoint with its scheme.
func (s *Server) URL() string { return "http://" + s.Endpoint }

func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, "server", s.Dir,
		"--address", s.Endpoint, "--console-address", s.console, "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",               // no console UI to serve
		"MINIO_UPDATE=off",                // never phone home
		"MINIO_CONFIG_ENV_FILE=/dev/null", // ignore a host-wide /etc/default/minio
	)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Cleanups do not run when go test kills a hung test binary (-timeout); the kernel
	// then kills MinIO with it instead of leaving it running with a port and a folder.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// /minio/health/live answers while the object layer is still initialising ("Server not
	// initialized yet"); /minio/health/cluster waits for write quorum, i.e. for S3 to work.
	health := "http://" + s.Endpoint + "/minio/health/cluster"
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("minio exited while starting: %v", waitErr)
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("minio not live at %s after %v", health, startTimeout)
		case <-tick.C:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("miniotest: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tailBuffer keeps the last max bytes written to it; MinIO logs every request error, and a
// long fault test must not grow memory without bound.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
