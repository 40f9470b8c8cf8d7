package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLS for the reading room and DICOMweb (HTTPS) and for DIMSE (the Secure Transport
// Connection profiles of PS3.15 B.1 and B.9, which name TLS 1.2 or later as in BCP 195).
// Townships reach the county over networks pacsd does not control; the passwords of the
// reading room and the patients' images should not cross them in clear.

// tlsFlags are the TLS settings shared by the listeners of `serve`.
type tlsFlags struct {
	cert, key string // PEM files: the certificate chain and its private key
	clientCA  string // PEM bundle: DIMSE peers must present a certificate it signed
	dicomAddr string // DIMSE over TLS listen address ("" for none)
}

func (t tlsFlags) enabled() bool { return t.cert != "" || t.key != "" }

func (t tlsFlags) check() error {
	if (t.cert == "") != (t.key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if t.dicomAddr != "" && !t.enabled() {
		return errors.New("--dicom-tls-addr needs --tls-cert and --tls-key")
	}
	if t.clientCA != "" && t.dicomAddr == "" {
		return errors.New("--dicom-tls-client-ca applies to --dicom-tls-addr, which is not set")
	}
	return nil
}

// certReloadCheck is how often the certificate files are looked at for a renewal: a
// certificate renewed on disk (by certbot or the hospital's IT) is used from the next
// handshake on, without restarting pacsd and cutting the transfers under way.
const certReloadCheck = 10 * time.Second

// certLoader serves the key pair from its files, reloading it when they change.
type certLoader struct {
	certFile, keyFile string
	every             time.Duration // how often the files are looked at

	mu      sync.Mutex
	cert    *tls.Certificate
	mtimes  [2]time.Time
	checked time.Time
}

func newCertLoader(certFile, keyFile string) (*certLoader, error) {
	l := &certLoader{certFile: certFile, keyFile: keyFile, every: certReloadCheck}
	if err := l.load(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *certLoader) stat() ([2]time.Time, error) {
	var m [2]time.Time
	for i, p := range []string{l.certFile, l.keyFile} {
		st, err := os.Stat(p)
		if err != nil {
			return m, err
		}
		m[i] = st.ModTime()
	}
	return m, nil
}

func (l *certLoader) load() error {
	m, err := l.stat()
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		return fmt.Errorf("tls certificate %s with key %s: %w", l.certFile, l.keyFile, err)
	}
	l.cert, l.mtimes, l.checked = &cert, m, time.Now()
	return nil
}

// get is tls.Config.GetCertificate. A renewal that cannot be read (half-written files)
// keeps the previous pair and is tried again at the next check.
func (l *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.checked) >= l.every {
		l.checked = time.Now()
		if m, err := l.stat(); err == nil && m != l.mtimes {
			old := l.cert
			if err := l.load(); err != nil {
				l.cert = old
			}
		}
	}
	return l.cert, nil
}

// serverTLS is the configuration of a listener: TLS 1.2 or later; with a client CA, a
// peer must present a certificate it signed (PS3.15 B.1: the peers authenticate each
// other with certificates).
func (t tlsFlags) serverTLS(l *certLoader, requireClient bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: l.get}
	if requireClient && t.clientCA != "" {
		pem, err := os.ReadFile(t.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--dicom-tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--dicom-tls-client-ca %s: no PEM certificate in it", t.clientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// configs are the TLS configurations of the HTTPS and DICOM TLS listeners: nil, nil
// without a certificate.
func (t tlsFlags) configs() (httpTLS, dimseTLS *tls.Config, err error) {
	if !t.enabled() {
		return nil, nil, nil
	}
	certs, err := newCertLoader(t.cert, t.key)
	if err != nil {
		return nil, nil, err
	}
	if httpTLS, err = t.serverTLS(certs, false); err != nil {
		return nil, nil, err
	}
	if dimseTLS, err = t.serverTLS(certs, true); err != nil {
		return nil, nil, err
	}
	return httpTLS, dimseTLS, nil
}
