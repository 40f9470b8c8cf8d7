package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a certificate authority and the key pairs it signs, written as PEM files.
type testPKI struct {
	t      *testing.T
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	serial int64
}

func newTestPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	p := &testPKI{t: t, dir: t.TempDir(), serial: 1}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.caKey = key
	p.caFile = filepath.Join(p.dir, name+"-ca.pem")
	p.write(p.caFile, "CERTIFICATE", der)
	return p
}

func (p *testPKI) write(path, typ string, der []byte) {
	p.t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// issue writes a key pair for cn (a server on 127.0.0.1, or a client) and returns the
// certificate and key files and the certificate's serial number.
func (p *testPKI) issue(cn string, server bool) (certFile, keyFile string, serial int64) {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, cn+".crt")
	keyFile = filepath.Join(p.dir, cn+".key")
	p.write(certFile, "CERTIFICATE", der)
	p.write(keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile, p.serial
}

func (p *testPKI) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	return pool
}

// TestTLS: with --tls-cert/--tls-key the reading room and DICOMweb are served over HTTPS
// only, and --dicom-tls-addr takes DICOM TLS associations from DCMTK (PS3.15 B.1), from
// peers whose certificate the --dicom-tls-client-ca signed and from nobody else; the plain
// DIMSE port stays for the modalities that cannot do TLS.
func TestTLS(t *testing.T) {
	needTool(t, "echoscu", "storescu")
	pki := newTestPKI(t, "county")
	serverCert, serverKey, _ := pki.issue("pacsd", true)
	clientCert, clientKey, _ := pki.issue("township1", false)
	stranger := newTestPKI(t, "elsewhere")
	strangerCert, strangerKey, _ := stranger.issue("intruder", false)

	tlsPort := freePort(t)
	n := startPacsd(t, t.TempDir(), "--tls-cert", serverCert, "--tls-key", serverKey,
		"--dicom-tls-addr", "127.0.0.1:"+tlsPort, "--dicom-tls-client-ca", pki.caFile)
	httpsURL := strings.Replace(n.baseURL, "http://", "https://", 1)

	// HTTPS, verified against the county CA; plain HTTP on the same port gets nothing.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool()}}}
	resp, err := client.Get(httpsURL + "/dicomweb/studies")
	if err != nil {
		t.Fatalf("HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("HTTPS: %d, TLS %+v", resp.StatusCode, resp.TLS)
	}
	if resp, err := http.Get(n.baseURL + "/dicomweb/studies"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered on the HTTPS port")
		}
	}

	// DICOM TLS with a certificate the county CA signed: echo and store.
	tlsArgs := []string{"+tls", clientKey, clientCert, "+cf", pki.caFile}
	runTool(t, "echoscu", append(append([]string{"-aec", "PACSD"}, tlsArgs...), "127.0.0.1", tlsPort)...)
	file := filepath.Join("..", "..", "testdata", "dr_mono2.dcm")
	out := runTool(t, "storescu", append(append([]string{"-v", "-aec", "PACSD", "-aet", "TOWNSHIP1"}, tlsArgs...),
		"127.0.0.1", tlsPort, file)...)
	if !strings.Contains(out, "Received Store Response (Success)") {
		t.Fatalf("storescu over TLS:\n%s", out)
	}
	resp, err = client.Get(httpsURL + "/dicomweb/studies?StudyInstanceUID=" + loadExpected(t)["dr_mono2.dcm"].StudyInstanceUID)
	if err != nil {
		t.Fatal(err)
	}
	var found []map[string]any
	err = json.NewDecoder(resp.Body).Decode(&found)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(found) != 1 {
		t.Fatalf("the study sent over DICOM TLS, over HTTPS: %d, %d studies, %v", resp.StatusCode, len(found), err)
	}

	// Refused: no client certificate, a certificate another CA signed, and plain DIMSE on
	// the TLS port. The plain port still works.
	for _, c := range []struct {
		name string
		args []string
	}{
		{"anonymous TLS", []string{"+tla", "+cf", pki.caFile}},
		{"stranger's certificate", []string{"+tls", strangerKey, strangerCert, "+cf", pki.caFile}},
		{"no TLS", nil},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, "echoscu", append(append([]string{"-aec", "PACSD"}, c.args...), "127.0.0.1", tlsPort)...).CombinedOutput()
		cancel()
		if err == nil {
			t.Errorf("%s: echoscu succeeded on the TLS port\n%s", c.name, out)
		}
		t.Logf("%s refused: %.300s", c.name, out)
	}
	runTool(t, "echoscu", "-aec", "PACSD", "127.0.0.1", n.dicomPort)

	// pacsd's own SCU (forwarding to another archive): echo and send over TLS, with and
	// without the certificate the peer asks for.
	addr := "127.0.0.1:" + tlsPort
	runTool(t, pacsdBin, "echo", "--addr", addr, "--tls", "--tls-ca", pki.caFile, "--tls-cert", clientCert, "--tls-key", clientKey)
	out = runTool(t, pacsdBin, "send", "--addr", addr, "--aet", "TOWNSHIP1", "--tls", "--tls-ca", pki.caFile,
		"--tls-cert", clientCert, "--tls-key", clientKey, filepath.Join("..", "..", "testdata", "us_multiframe.dcm"))
	if !strings.Contains(out, "status 0x0000") {
		t.Fatalf("pacsd send --tls:\n%s", out)
	}
	for _, args := range [][]string{
		{"--tls", "--tls-ca", pki.caFile}, // no certificate: the peer refuses
		{"--tls", "--tls-ca", stranger.caFile, "--tls-cert", clientCert, "--tls-key", clientKey}, // the peer's certificate is not trusted
	} {
		if out, err := exec.Command(pacsdBin, append([]string{"echo", "--addr", addr}, args...)...).CombinedOutput(); err == nil {
			t.Errorf("pacsd echo %v succeeded\n%s", args, out)
		} else {
			t.Logf("pacsd echo %v refused: %.200s", args, out)
		}
	}

	// Without --dicom-tls-client-ca the link is encrypted and any peer may connect.
	openPort := freePort(t)
	startPacsd(t, t.TempDir(), "--tls-cert", serverCert, "--tls-key", serverKey, "--dicom-tls-addr", "127.0.0.1:"+openPort)
	runTool(t, "echoscu", "-aec", "PACSD", "+tla", "+cf", pki.caFile, "127.0.0.1", openPort)
}

// TestCertReload: a renewed certificate is served from the next handshake after the check
// interval, and a half-written one never replaces a good one.
func TestCertReload(t *testing.T) {
	pki := newTestPKI(t, "county")
	certFile, keyFile, serial := pki.issue("pacsd", true)
	l, err := newCertLoader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l.every = 0
	servedSerial := func() int64 {
		t.Helper()
		c, err := l.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.SerialNumber.Int64()
	}
	if got := servedSerial(); got != serial {
		t.Fatalf("serial %d, want %d", got, serial)
	}
	// Renewal: new files written over the old ones (a later mtime).
	newCert, newKey, newSerial := pki.issue("pacsd-renewed", true)
	later := time.Now().Add(2 * time.Second)
	for _, m := range [][2]string{{newCert, certFile}, {newKey, keyFile}} {
		b, err := os.ReadFile(m[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(m[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(m[1], later, later)
	}
	if got := servedSerial(); got != newSerial {
		t.Fatalf("after renewal: serial %d, want %d", got, newSerial)
	}
	// A broken renewal (key truncated) keeps the pair in use.
	if err := os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later = later.Add(2 * time.Second)
	os.Chtimes(keyFile, later, later)
	if got := servedSerial(); got != newSerial {
		t.Fatalf("after a broken renewal: serial %d, want %d still", got, newSerial)
	}
	// Flags that do not go together are refused before anything starts.
	for _, f := range []tlsFlags{{cert: "c"}, {key: "k"}, {dicomAddr: ":2762"}, {cert: "c", key: "k", clientCA: "ca"}} {
		if err := f.check(); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
}
