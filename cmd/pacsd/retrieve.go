package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"pacsd/qr"
	"pacsd/store"
)

// newRetriever is the C-MOVE/C-GET SCP of the Q/R service q over the archive: the
// registered peers that may retrieve get their scope's objects, by C-GET on their own
// association or by C-MOVE to a registered destination (dialled over TLS when it requires
// it, with clientTLS).
func newRetriever(c serveConfig, q *qr.Service, archive *store.Archive) (*qr.Retriever, error) {
	clientTLS, err := c.tls.clientTLS()
	if err != nil {
		return nil, err
	}
	return qr.NewRetriever(q, qr.RetrieveConfig{Archive: archive, TLS: clientTLS, Pixels: c.pixels}), nil
}

// clientTLS is how pacsd calls a C-MOVE destination registered with RequireTLS (PS3.15
// B.1): TLS 1.2 or later; the destination's certificate verified against
// --dicom-tls-client-ca (the CA that signs the county's peers) when set, else the system's
// CAs; and our --tls-cert presented (re-read when renewed), for destinations that
// authenticate their callers.
func (t tlsFlags) clientTLS() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.clientCA != "" {
		pem, err := os.ReadFile(t.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--dicom-tls-client-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--dicom-tls-client-ca %s: no PEM certificate in it", t.clientCA)
		}
	}
	if t.enabled() {
		certs, err := newCertLoader(t.cert, t.key)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return certs.get(nil) }
	}
	return cfg, nil
}
