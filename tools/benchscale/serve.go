package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"pacsd/tools/internal/benchkit"
)

// node is one `pacsd serve` process on a loaded data dir.
type node struct {
	engine string
	benchkit.Proc
	dicomAddr string
	base      string
	startup   time.Duration // from exec to the DIMSE port accepting and /readyz answering 200
}

// benchPassword is the administrator's password once the first run has replaced the
// initial one (pacsd prints that only at the first start of a data dir).
const benchPassword = "benchscale-admin-password"

// startNode runs the real pacsd binary on dataDir (and dbURL when set) on free loopback
// ports, and times its start-up.
func startNode(bin, engine, dataDir, dbURL, logDir string) (*node, error) {
	dp, err := benchkit.FreePort()
	if err != nil {
		return nil, err
	}
	hp, err := benchkit.FreePort()
	if err != nil {
		return nil, err
	}
	n := &node{engine: engine, dicomAddr: "127.0.0.1:" + dp, base: "http://127.0.0.1:" + hp,
		Proc: benchkit.Proc{Log: filepath.Join(logDir, "pacsd-"+engine+".log")}}
	peers := filepath.Join(logDir, "peers.json")
	if err := os.WriteFile(peers, []byte(`[{"aeTitle": "BENCHSCALE", "mayStore": true, "mayQuery": true}]`), 0o644); err != nil {
		return nil, err
	}
	args := []string{"serve", "--peers-file", peers, "--dicom-addr", n.dicomAddr, "--http-addr", "127.0.0.1:" + hp,
		"--data-dir", dataDir, "--aet", "BENCH", "--log-level", "warn", "--dicomweb-open", "--metrics-open"}
	if dbURL != "" {
		args = append(args, "--database", dbURL)
	}
	n.Cmd = exec.Command(bin, args...)
	lf, err := os.Create(n.Log)
	if err != nil {
		return nil, err
	}
	defer lf.Close() // the child has its own descriptor
	n.Cmd.Stdout, n.Cmd.Stderr = lf, lf
	t0 := time.Now()
	if err := n.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pacsd: %w", err)
	}
	n.Exited = make(chan struct{})
	go func() { n.Cmd.Wait(); close(n.Exited) }()
	client := &http.Client{Timeout: 2 * time.Second}
	dicomUp := false
	deadline := t0.Add(5 * time.Minute)
	for {
		if !dicomUp {
			if c, err := net.DialTimeout("tcp", n.dicomAddr, time.Second); err == nil {
				c.Close()
				dicomUp = true
			}
		}
		if dicomUp {
			if resp, err := client.Get(n.base + "/readyz"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					n.startup = time.Since(t0)
					return n, nil
				}
			}
		}
		select {
		case <-n.Exited:
			return nil, fmt.Errorf("pacsd (%s) exited at start:\n%s", engine, n.LogTail())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("pacsd (%s) not ready within 5 min:\n%s", engine, n.LogTail())
		}
	}
}

// stop ends the node: SIGINT (a clean shutdown), SIGKILL after 20 s.
func (n *node) stop() { n.Stop(20 * time.Second) }

// rss is the node's resident set now (VmRSS), in bytes; 0 if unknown.
func (n *node) rss() int64 {
	return benchkit.Memory(n.Cmd.Process.Pid, "VmRSS")
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in to the reading room as the administrator, as a radiologist's browser
// does (a session cookie). At a data dir's first start pacsd prints an initial password
// that must be replaced before anything else: the first run replaces it by benchPassword.
func (n *node) login() (*http.Client, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	pw := benchPassword
	initial := regexp.MustCompile(`initial administrator created: user "([^"]+)", password "([^"]+)"`).FindStringSubmatch(n.LogTail())
	if initial != nil {
		pw = initial[2]
	}
	resp, err := c.PostForm(n.base+"/login", url.Values{"username": {"admin"}, "password": {pw}})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path == "/login" {
		return nil, fmt.Errorf("login as admin: HTTP %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if initial != nil {
		m := csrfRE.FindSubmatch(page)
		if m == nil {
			return nil, fmt.Errorf("login with the initial password: no change-password form at %s", resp.Request.URL)
		}
		resp, err = c.PostForm(n.base+"/account/password", url.Values{"csrf": {string(m[1])},
			"current": {pw}, "new": {benchPassword}, "confirm": {benchPassword}})
		if err != nil {
			return nil, fmt.Errorf("change the initial password: %w", err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Query().Get("changed") != "1" {
			return nil, fmt.Errorf("change the initial password: HTTP %d at %s: %.300s", resp.StatusCode, resp.Request.URL, page)
		}
	}
	return c, nil
}

// get is one GET; it returns the body and the status.
func get(client *http.Client, u, accept string) ([]byte, int, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	return buf.Bytes(), resp.StatusCode, err
}
