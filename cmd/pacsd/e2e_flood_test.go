package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pacsd/dimse"
)

// TestConnectionFloodKeepsServing: a flood of idle HTTP connections from a few addresses,
// several times the process's descriptor limit, while a modality stores over DIMSE and a
// monitor polls /healthz. Before the listeners were bounded, the flood took every descriptor
// and both ports answered "accept4: too many open files". A body dripped a byte at a time
// is cut after the body timeout instead of holding its connection for ever.
func TestConnectionFloodKeepsServing(t *testing.T) {
	needTool(t, "storescu", "prlimit")
	n := startPacsd(t, t.TempDir(), "--http-max-conns-per-addr", "64", "--http-body-timeout", "2s",
		"--max-associations-per-addr", "8")
	// 1024 descriptors for pacsd; the flood holds up to 3000 connections.
	runTool(t, "prlimit", "--pid", strconv.Itoa(n.cmd.Process.Pid), "--nofile=1024:1024")
	httpAddr := strings.TrimPrefix(n.baseURL, "http://")

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := map[string]int{} // per flooding address: connections the server kept open
	var conns []net.Conn
	defer func() {
		stop()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}()
	for a := 0; a < 6; a++ {
		ip := fmt.Sprintf("127.0.0.%d", 100+a)
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
			for i := 0; i < 500 && ctx.Err() == nil; i++ {
				c, err := d.DialContext(ctx, "tcp", httpAddr)
				if err != nil {
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	t.Logf("flood: %d connections open from 6 addresses", len(conns))
	mu.Unlock()

	// While the flood stands: /healthz answers from another address, and storescu stores.
	monitor := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 5; i++ {
		resp, err := monitor.Get(n.baseURL + "/healthz")
		if err != nil {
			t.Fatalf("healthz during the flood: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz during the flood: %d", resp.StatusCode)
		}
	}
	files := testdataFiles(t)[:4]
	if got := storescu(t, n, append([]string{"-R"}, files...)...); got != len(files) {
		t.Fatalf("storescu during the flood: %d successes, want %d", got, len(files))
	}

	// The server kept at most 64 of each flooding address's connections: probe them.
	mu.Lock()
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && isTimeout(err) {
			held[c.LocalAddr().(*net.TCPAddr).IP.String()]++
		}
	}
	mu.Unlock()
	for ip, k := range held {
		if k > 64 {
			t.Errorf("%s holds %d connections, want at most 64", ip, k)
		}
	}
	if !strings.Contains(n.log.String(), "connection refused") {
		t.Error("pacsd logged no refused connection")
	}

	// A slowly dripped login body is cut after --http-body-timeout (2 s), long before it ends.
	c, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 400\r\n\r\n")
	cut := false
	for i := 0; i < 400 && !cut; i++ { // up to 400 × 100 ms = 40 s of drip
		if _, err := c.Write([]byte("a")); err != nil {
			cut = true
			break
		}
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		b := make([]byte, 512)
		if k, err := c.Read(b); k > 0 || (err != nil && !isTimeout(err)) {
			cut = true // answered (an error) or closed
		}
	}
	if !cut {
		t.Error("a login body dripped for 40 s was never cut")
	}
	// pacsd is still up.
	if err := exec.Command("kill", "-0", strconv.Itoa(n.cmd.Process.Pid)).Run(); err != nil {
		t.Fatal("pacsd died during the flood")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestIdleAssociationFreed: an association whose peer goes quiet is aborted after
// --dicom-idle-timeout, so an idle sender cannot hold its slots (the default was 5 minutes).
func TestIdleAssociationFreed(t *testing.T) {
	n := startPacsd(t, t.TempDir(), "--dicom-idle-timeout", "1s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dimse.Dial(ctx, n.dicomAddr, dimse.ClientConfig{CallingAETitle: "IDLER", CalledAETitle: "PACSD"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	if st, err := c.Echo(ctx); err != nil || st.Code != dimse.StatusSuccess {
		t.Fatalf("echo: %v %v", st, err)
	}
	// Quiet now: the server must end the association by itself, well before 5 minutes.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(n.log.String(), "idle timeout") {
		if time.Now().After(deadline) {
			t.Fatal("the idle association was not aborted within 20 s with --dicom-idle-timeout 1s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.Echo(ctx); err == nil {
		t.Error("an echo on the aborted association succeeded")
	}
}
