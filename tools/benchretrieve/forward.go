package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"pacsd/internal/cputime"
)

// runForward measures forwarding: storescu -> pacsd -> (rule) -> storescp, from the first
// object queued to the queue empty, beside storescu -> storescp directly.
func runForward(images, rounds int, work string) error {
	pacsdBin, files, total, err := prepare(work, images)
	if err != nil {
		return err
	}
	work, _ = filepath.Abs(work)
	fmt.Printf("Forwarding of one study: %d DR images, %.1f MB\n", len(files), mb(total))
	sink, sinkPort, err := startSink()
	if err != nil {
		return err
	}
	defer sink.stop()
	var direct, fwd, ingest, cpu, alone, aloneCPU []float64
	for r := 0; r < rounds; r++ {
		start := time.Now()
		if _, err := storescu("SINK", sinkPort, files); err != nil {
			return err
		}
		direct = append(direct, time.Since(start).Seconds())

		rr, err := forwardRound(pacsdBin, filepath.Join(work, "pacsd-forward"), sinkPort, files)
		if err != nil {
			return err
		}
		fwd, ingest, cpu = append(fwd, rr.fwd), append(ingest, rr.ingest), append(cpu, rr.cpu)
		alone, aloneCPU = append(alone, rr.alone), append(aloneCPU, rr.aloneCPU)
	}
	rd, rf := mb(total)/median(direct), mb(total)/median(fwd)
	fmt.Printf("\n%-44s %10s %10s %14s\n", "", "seconds", "MB/s", "pacsd CPU s")
	fmt.Printf("%-44s %10.2f %10.1f %14s\n", "storescu -> storescp (reference)", median(direct), rd, "")
	fmt.Printf("%-44s %10.2f %10.1f %14s\n", "storescu -> pacsd (ingest, alongside)", median(ingest), mb(total)/median(ingest), "")
	fmt.Printf("%-44s %10.2f %10.1f %14.2f\n", "pacsd forwarding -> storescp (queued..empty)", median(fwd), rf, median(cpu))
	ra := mb(total) / median(alone)
	fmt.Printf("%-44s %10.2f %10.1f %14.2f\n", "pacsd manual re-send -> storescp (alone)", median(alone), ra, median(aloneCPU))
	fmt.Printf("\nforwarding while receiving / storescu: %.2fx (target >= 0.8x)\nforwarding alone / storescu:          %.2fx\n", rf/rd, ra/rd)
	return nil
}

// roundResult is one round's seconds (and pacsd's CPU seconds).
type roundResult struct{ fwd, ingest, cpu, alone, aloneCPU float64 }

// forwardRound starts pacsd on an empty archive with the forwarding rule, sends the files
// to it with storescu and waits, polling /metrics, until every object has been forwarded:
// the seconds from the first object queued (or sent) to the queue empty, the seconds
// storescu took, pacsd's CPU seconds. Then it re-sends the stored study by hand (the
// administrator's API) and times the queue from the re-send to empty: forwarding alone.
func forwardRound(bin, dir, sinkPort string, files []string) (roundResult, error) {
	var rr roundResult
	p, dp, hp, err := startPacsd(bin, dir, sinkPort, true)
	if err != nil {
		return rr, err
	}
	defer p.stop()
	base := "http://127.0.0.1:" + hp
	metrics := base + "/metrics"
	if err := waitMetrics(metrics); err != nil {
		return rr, fmt.Errorf("pacsd: %w\n%s", err, tail(p.log.String()))
	}
	rr.fwd, rr.ingest, rr.cpu, err = forwardPipeline(p, dp, metrics, files)
	if err != nil {
		return rr, err
	}
	resend, err := adminSession(base, p.log.String())
	if err != nil {
		return rr, err
	}
	cpu0 := cputime.Of(p.cmd.Process.Pid).Seconds()
	start := time.Now()
	if err := resend(); err != nil {
		return rr, err
	}
	for time.Since(start) < 30*time.Minute {
		queued, objects, err := forwardMetrics(metrics)
		if err != nil {
			return rr, err
		}
		if queued == 0 && objects >= float64(2*len(files)) {
			rr.alone, rr.aloneCPU = time.Since(start).Seconds(), cputime.Of(p.cmd.Process.Pid).Seconds()-cpu0
			return rr, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return rr, fmt.Errorf("the re-send did not finish\n%s", tail(p.log.String()))
}

var adminPWRe = regexp.MustCompile(`password "([^"]+)"`)
var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// adminSession logs in as the administrator pacsd made at its first start (the password it
// printed), sets a password as the reading room demands, and returns a function that
// re-sends the study to destination 1 (the forward file's only one).
func adminSession(base, log string) (func() error, error) {
	m := adminPWRe.FindStringSubmatch(log)
	if m == nil {
		return nil, fmt.Errorf("no initial administrator password in pacsd's output\n%s", tail(log))
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	page := func(path string) (string, error) {
		resp, err := c.Get(base + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if mm := csrfRe.FindSubmatch(b); mm != nil {
			return string(mm[1]), nil
		}
		return "", fmt.Errorf("no CSRF token on %s (%s)", path, resp.Status)
	}
	post := func(path string, form url.Values) error {
		resp, err := c.PostForm(base+path, form)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("POST %s: %s", path, resp.Status)
		}
		return nil
	}
	if err := post("/login", url.Values{"username": {"admin"}, "password": {m[1]}}); err != nil {
		return nil, err
	}
	csrf, err := page("/account/password")
	if err != nil {
		return nil, err
	}
	if err := post("/account/password", url.Values{"csrf": {csrf}, "current": {m[1]}, "new": {"bench-password-1"}, "confirm": {"bench-password-1"}}); err != nil {
		return nil, err
	}
	if csrf, err = page("/admin/forward"); err != nil {
		return nil, err
	}
	return func() error {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/admin/studies/"+studyUID+"/forward", strings.NewReader(`{"destinationId":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("re-send: %s %s", resp.Status, b)
		}
		return nil
	}, nil
}

// forwardPipeline sends the files to pacsd and waits for them all to be forwarded.
func forwardPipeline(p *proc, dp, metrics string, files []string) (fwd, ingest, cpu float64, err error) {
	cpu0 := cputime.Of(p.cmd.Process.Pid).Seconds()
	sent := make(chan error, 1)
	startStore := time.Now()
	var storeDone time.Duration
	go func() {
		_, err := storescu("PACSD", dp, files)
		storeDone = time.Since(startStore)
		sent <- err
	}()
	var first time.Time
	storing := true
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		if storing {
			select {
			case err := <-sent:
				if err != nil {
					return 0, 0, 0, err
				}
				storing = false
			default:
			}
		}
		queued, objects, err := forwardMetrics(metrics)
		if err != nil {
			return 0, 0, 0, err
		}
		now := time.Now()
		if first.IsZero() && queued+objects > 0 {
			first = now
		}
		if !storing && queued == 0 && objects >= float64(len(files)) {
			return now.Sub(first).Seconds(), storeDone.Seconds(), cputime.Of(p.cmd.Process.Pid).Seconds() - cpu0, nil
		}
		time.Sleep(20 * time.Millisecond) // the poll's period: its error on the rate, not a synchronisation
	}
	return 0, 0, 0, fmt.Errorf("forwarding did not finish\n%s", tail(p.log.String()))
}

func waitMetrics(url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, err := forwardMetrics(url); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s never answered", url)
}

// forwardMetrics reads pacsd_forward_queued and pacsd_forward_sent_objects_total (one
// destination) from /metrics.
func forwardMetrics(url string) (queued, sent float64, err error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for name, v := range map[string]*float64{"pacsd_forward_queued{": &queued, "pacsd_forward_sent_objects_total{": &sent} {
			if strings.HasPrefix(line, name) {
				f := strings.Fields(line)
				*v, err = strconv.ParseFloat(f[len(f)-1], 64)
				if err != nil {
					return 0, 0, err
				}
				found++
			}
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("GET %s: no forwarding series (%w)", url, sc.Err())
	}
	return queued, sent, nil
}
