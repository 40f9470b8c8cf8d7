// Package browsertest runs the Node scenarios of browsertest/ (playwright-core driving
// Debian's headless Chromium) from Go tests, and reads their results.
//
// A scenario is a script in <repo>/browsertest/ that uses browsertest/lib.mjs: it gets the
// server's base URL and an artifacts folder from the environment, logs progress on stderr and
// prints one JSON result line on stdout, and exits non-zero when a step failed. Run forwards
// every line to t.Log, so a failing test shows what the browser saw.
//
// Node, Chromium or playwright-core missing is a skip on a developer's machine and a failure
// in CI (the CI environment variable set), where `make test` has installed them
// (scripts/deps.sh).
package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pacsd/internal/peertest"
)

// Chromium is the browser the scenarios drive: Debian's package, never one downloaded by
// playwright.
const Chromium = "/usr/bin/chromium"

// Options describe one run of a scenario.
type Options struct {
	// BaseURL is the origin of the server under test, e.g. "http://127.0.0.1:41234".
	BaseURL string
	// Artifacts is the folder for screenshots; "" means ArtifactsDir(t, scenario).
	Artifacts string
	// Env adds variables for the scenario (its own parameters).
	Env map[string]string
	// Timeout bounds the whole run; 0 means 3 minutes. The browser is killed with the script.
	Timeout time.Duration
}

// Result is what a scenario printed as its last stdout line.
type Result struct {
	Scenario        string    `json:"scenario"`
	OK              bool      `json:"ok"`
	Seconds         float64   `json:"seconds"`
	Steps           []Step    `json:"steps"`
	HTTPErrors      []Request `json:"httpErrors"`
	RequestFailures []Request `json:"requestFailures"`
	PageErrors      []string  `json:"pageErrors"`
	ConsoleErrors   []string  `json:"consoleErrors"`
	Requests        int       `json:"requests"`
	// RequestKinds counts the requests to the server under test by method, status and path
	// pattern (UIDs as {uid}, numbers as {n}, static files as *.ext).
	RequestKinds map[string]int `json:"requestKinds"`
	Screenshots  []string       `json:"screenshots"`
	// ExitCode is the script's; non-zero exactly when a step failed.
	ExitCode int `json:"-"`
}

// Step is one named step of a scenario.
type Step struct {
	Name   string          `json:"name"`
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Ms     int64           `json:"ms"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Request is one request the page made that did not succeed.
type Request struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Step returns the step called name, or nil.
func (r *Result) Step(name string) *Step {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

// RepoRoot is the folder holding go.mod, found upwards from the working directory (a test
// runs in its package's folder).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("browsertest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ArtifactsDir is where a scenario's screenshots are kept: $PACSD_ARTIFACTS/<scenario> when
// that variable is set (CI collects it), else <repo>/.cache/artifacts/<scenario>. It is
// emptied first, so it holds only the last run's files.
func ArtifactsDir(t testing.TB, scenario string) string {
	t.Helper()
	base := os.Getenv("PACSD_ARTIFACTS")
	if base == "" {
		base = filepath.Join(RepoRoot(t), ".cache", "artifacts")
	}
	dir := filepath.Join(base, scenario)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("browsertest: clear artifacts: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: artifacts: %v", err)
	}
	return dir
}

// Require skips t (or, in CI, fails it) unless node, Chromium and browsertest's
// node_modules are present, and returns the path of node.
func Require(t testing.TB) string {
	t.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	if st, err := os.Stat(Chromium); err != nil || st.IsDir() {
		missing = append(missing, Chromium+" (Debian package chromium)")
	}
	pw := filepath.Join(RepoRoot(t), "browsertest", "node_modules", "playwright-core", "package.json")
	if _, err := os.Stat(pw); err != nil {
		missing = append(missing, "browsertest/node_modules (npm ci in browsertest/)")
	}
	if len(missing) > 0 {
		peertest.Missing(t, "browser test needs %s; `make deps` installs them", strings.Join(missing, ", "))
	}
	return node
}

// Run runs browsertest/<script> (or script itself when it is an absolute path) with node
// and returns its result. A scenario that ran and
// reported is returned whatever its verdict (the caller asserts on Steps); one that could not
// be started, timed out or printed no result fails t.
func Run(t testing.TB, script string, opts Options) *Result {
	t.Helper()
	node := Require(t)
	root := RepoRoot(t)
	name := strings.TrimSuffix(filepath.Base(script), filepath.Ext(script))
	if opts.Artifacts == "" {
		opts.Artifacts = ArtifactsDir(t, name)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()

	path := script
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, "browsertest", script)
	}
	cmd := exec.CommandContext(ctx, node, path)
	cmd.Dir = filepath.Join(root, "browsertest")
	cmd.Env = append(os.Environ(),
		"PACSD_BASE_URL="+opts.BaseURL,
		"PACSD_ARTIFACTS="+opts.Artifacts,
		"BROWSERTEST_CHROMIUM="+Chromium,
		// A fresh profile that the test owns, so it is removed even when the browser is killed.
		"BROWSERTEST_USER_DATA_DIR="+t.TempDir(),
	)
	for k, v := range opts.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Own process group: on timeout the browser processes go with the script.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second

	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("browsertest: start %s: %v", script, err)
	}
	// Whatever happens, leave no browser behind.
	pgid := cmd.Process.Pid
	defer func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }()

	var (
		wg       sync.WaitGroup
		lastLine []byte
	)
	forward := func(r io.Reader, prefix string, keepLast bool) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20) // the result line lists every failed request
		for sc.Scan() {
			line := sc.Bytes()
			if keepLast && bytes.HasPrefix(bytes.TrimSpace(line), []byte("{")) {
				lastLine = append(lastLine[:0], line...)
			}
			t.Logf("%s %s: %s", name, prefix, line)
		}
	}
	wg.Add(2)
	go forward(stdout, "out", true)
	go forward(stderr, "log", false)
	wg.Wait()
	waitErr := cmd.Wait()

	if ctx.Err() != nil {
		t.Fatalf("browsertest: %s did not finish within %v", script, opts.Timeout)
	}
	if lastLine == nil {
		t.Fatalf("browsertest: %s printed no result (%v)", script, waitErr)
	}
	res := &Result{}
	if err := json.Unmarshal(lastLine, res); err != nil {
		t.Fatalf("browsertest: %s result: %v", script, err)
	}
	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	default:
		t.Fatalf("browsertest: %s: %v", script, waitErr)
	}
	if (res.ExitCode == 0) != res.OK {
		t.Errorf("browsertest: %s exited %d with ok=%v", script, res.ExitCode, res.OK)
	}
	return res
}

// Report logs a summary of res: each step, and every request that failed, so the test log
// names what the server still lacks.
func Report(t testing.TB, res *Result) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ok=%v in %.1fs, %d requests to the server\n", res.Scenario, res.OK, res.Seconds, res.Requests)
	for _, s := range res.Steps {
		mark := "PASS"
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %s (%d ms)", mark, s.Name, s.Ms)
		if s.Error != "" {
			fmt.Fprintf(&b, ": %s", s.Error)
		}
		b.WriteByte('\n')
	}
	kinds := make([]string, 0, len(res.RequestKinds))
	for k := range res.RequestKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %4d x %s\n", res.RequestKinds[k], k)
	}
	for _, r := range res.HTTPErrors {
		fmt.Fprintf(&b, "  HTTP %d %s %s\n", r.Status, r.Method, r.URL)
	}
	for _, r := range res.RequestFailures {
		fmt.Fprintf(&b, "  no response: %s %s (%s)\n", r.Method, r.URL, r.Error)
	}
	for _, e := range res.PageErrors {
		fmt.Fprintf(&b, "  page error: %s\n", e)
	}
	for _, s := range res.Screenshots {
		fmt.Fprintf(&b, "  screenshot: %s\n", s)
	}
	t.Log(b.String())
}

// RequireSteps fails t for every named step of res that did not run or did not pass: the
// steps a Go test depends on, whatever else the scenario does.
func RequireSteps(t testing.TB, res *Result, names ...string) {
	t.Helper()
	for _, name := range names {
		s := res.Step(name)
		switch {
		case s == nil:
			t.Errorf("step %q did not run", name)
		case !s.OK:
			t.Errorf("step %q failed: %s", name, s.Error)
		}
	}
}
