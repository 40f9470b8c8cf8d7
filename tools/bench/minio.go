package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// minioServer is a MinIO process for the S3 rows of the benchmark, on loopback, with its
// data on the same disk as the other targets.
type minioServer struct {
	cmd                  *exec.Cmd
	endpoint             string
	accessKey, secretKey string
}

// minioBinary finds the server scripts/minio.sh built (the same lookup as miniotest).
func minioBinary() (string, error) {
	if p := os.Getenv("PACSD_MINIO"); p != "" {
		return p, nil
	}
	dir := os.Getenv("PACSD_CACHE")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".cache", "pacsd", "bin")
	}
	p := filepath.Join(dir, "minio")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("minio server not found: run scripts/minio.sh (make deps does)")
}

func startMinio(dir string) (*minioServer, error) {
	bin, err := minioBinary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	console, err := freePort()
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	rand.Read(key)
	m := &minioServer{endpoint: "127.0.0.1:" + port, accessKey: "bench" + hex.EncodeToString(key[:4]), secretKey: hex.EncodeToString(key)}
	m.cmd = exec.Command(bin, "server", dir, "--address", m.endpoint, "--console-address", "127.0.0.1:"+console, "--quiet")
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.accessKey, "MINIO_ROOT_PASSWORD="+m.secretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CONFIG_ENV_FILE=/dev/null")
	m.cmd.Stdout, m.cmd.Stderr = os.Stderr, os.Stderr
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + m.endpoint + "/minio/health/cluster")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.stop()
	return nil, fmt.Errorf("minio at %s did not become ready", m.endpoint)
}

func (m *minioServer) stop() {
	m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-done
	}
}
