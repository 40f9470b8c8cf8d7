package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pacsd/internal/peertest"
)

// TestSystemdUnit: packaging/pacsd.service is a unit systemd accepts without a single warning
// (systemd-analyze verify prints unknown keys and bad values but exits 0, so its output must
// be empty), with the hardening the brief asks for, and its sample configuration is one that
// pacsd itself accepts.
func TestSystemdUnit(t *testing.T) {
	peertest.Tool(t, "systemd-analyze")
	unit, err := os.ReadFile("../../packaging/pacsd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "DynamicUser=yes", "StateDirectory=pacsd", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "Restart=on-failure", "--config /etc/pacsd/pacsd.conf", "Environment=PACSD_DATA_DIR=/var/lib/pacsd"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	conf, err := filepath.Abs("../../packaging/pacsd.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	local := strings.NewReplacer("/usr/local/bin/pacsd", pacsdBin, "/etc/pacsd/pacsd.conf", conf).Replace(string(unit))
	path := filepath.Join(dir, "pacsd.service")
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestReadinessAndNotify: pacsd (with the packaged configuration file) says READY=1 to
// systemd once it can take a C-STORE, /readyz agrees, a spool that cannot be written makes it
// unready while /healthz stays live, and SIGTERM says STOPPING=1.
func TestReadinessAndNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	conf, _ := filepath.Abs("../../packaging/pacsd.conf")
	data := t.TempDir()
	n := startPacsd(t, data, "--config", conf, "--aet", "PACSD")

	next := func() string {
		t.Helper()
		ln.SetReadDeadline(time.Now().Add(30 * time.Second))
		b := make([]byte, 256)
		k, err := ln.Read(b)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(b[:k])
	}
	if got := next(); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(n.baseURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 512)
		k, _ := resp.Body.Read(b)
		return resp.StatusCode, string(b[:k])
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz once ready: %d %s", code, body)
	}

	// A spool that takes no write: a file where its folder was.
	spool := filepath.Join(data, "spool")
	if err := os.Rename(spool, spool+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spool, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "spool") || strings.Contains(body, data) {
		t.Errorf("/readyz with an unwritable spool: %d %q, want 503 naming the spool and no path", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with an unwritable spool: %d, want 200 (alive)", code)
	}
	os.Remove(spool)
	if err := os.Rename(spool+".away", spool); err != nil {
		t.Fatal(err)
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the spool came back: %d", code)
	}

	n.cmd.Process.Signal(syscall.SIGTERM)
	if got := next(); got != "STOPPING=1" {
		t.Errorf("notification at SIGTERM %q, want STOPPING=1", got)
	}
	<-n.exited
}
