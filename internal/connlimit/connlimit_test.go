package connlimit

import (
	"io"
	"net"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address ip (127.0.0.0/8 is all local on Linux).
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c without a word (a refused connection).
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF || isReset(err)
}

func isReset(err error) bool {
	ne, ok := err.(*net.OpError)
	return ok && !ne.Timeout()
}

// serveEcho accepts on l and answers each connection's bytes, holding it open until the
// client closes; it says on accepted when a connection was handed out.
func serveEcho(l *Listener, accepted chan<- struct{}) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		accepted <- struct{}{}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

func TestBounds(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(raw, Config{Max: 5, PerAddr: 3, Listener: "test"})
	defer l.Close()
	accepted := make(chan struct{}, 100)
	go serveEcho(l, accepted)
	addr := raw.Addr().String()

	// Three from one address are served; the fourth from it is closed at once.
	var a []net.Conn
	for range 3 {
		a = append(a, dialFrom(t, "127.0.0.2", addr))
		<-accepted
	}
	extra := dialFrom(t, "127.0.0.2", addr)
	if !closedByServer(t, extra) {
		t.Fatal("a fourth connection from one address was not refused")
	}
	// Another address still gets in, up to the total of five.
	b1 := dialFrom(t, "127.0.0.3", addr)
	<-accepted
	dialFrom(t, "127.0.0.4", addr)
	<-accepted
	if !closedByServer(t, dialFrom(t, "127.0.0.5", addr)) {
		t.Fatal("a sixth connection in all was not refused")
	}
	if got := l.Refused(); got != 2 {
		t.Errorf("refused %d, want 2", got)
	}
	// A served connection still works.
	if _, err := b1.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	b1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(b1, buf); err != nil || buf[0] != 'x' {
		t.Fatalf("echo: %v %q", err, buf)
	}

	// Closing gives the slots back: the first address may connect again.
	for _, c := range a {
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.Open() > 2 {
		if time.Now().After(deadline) {
			t.Fatalf("open %d after the clients closed, want 2", l.Open())
		}
		time.Sleep(10 * time.Millisecond)
	}
	dialFrom(t, "127.0.0.2", addr)
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("a slot given back was not reused")
	}
}

func TestDoubleCloseReleasesOnce(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(raw, Config{Max: 2})
	defer l.Close()
	dialFrom(t, "127.0.0.1", raw.Addr().String()) // completes in the kernel's backlog
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if got := l.Open(); got != 0 {
		t.Errorf("open %d after a double close, want 0", got)
	}
}
