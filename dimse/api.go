package dimse

import (
	"context"
	"io"
	"log/slog"
	"net"
	"time"
)

// Status is a DIMSE status (PS3.7 Annex C) with an optional Error Comment (0000,0902).
type Status struct {
	Code         uint16
	ErrorComment string
}

// Status codes pacsd sends (PS3.7 C.1-C.5, PS3.4 B.2.3).
const (
	StatusSuccess              uint16 = 0x0000
	StatusWarningCoercion      uint16 = 0xB000
	StatusOutOfResources       uint16 = 0xA700 // storage: Refused, out of resources
	StatusDataSetMismatch      uint16 = 0xA900 // Error: Data Set does not match SOP Class
	StatusCannotUnderstand     uint16 = 0xC000 // Error: cannot understand
	StatusProcessingFailure    uint16 = 0x0110
	StatusSOPClassNotSupported uint16 = 0x0122
)

// StoreRequest is what a C-STORE-RQ said, plus the association it came on.
type StoreRequest struct {
	AssociationID           string
	CallingAETitle          string
	CalledAETitle           string
	RemoteAddr              string
	MessageID               uint16
	Priority                uint16
	SOPClassUID             string // Affected SOP Class UID
	SOPInstanceUID          string // Affected SOP Instance UID
	TransferSyntaxUID       string // of the presentation context the data set came on
	MoveOriginatorAETitle   string
	MoveOriginatorMessageID uint16
}

// StoreHandler receives C-STORE data sets. HandleStore must consume data until EOF or
// return early; the server drains whatever it leaves. data yields exactly the data set
// bytes the peer sent (no File Meta Information). The returned status goes into the
// C-STORE-RSP. ctx is cancelled when the association is aborted or the server closes.
type StoreHandler interface {
	HandleStore(ctx context.Context, req *StoreRequest, data io.Reader) Status
}

// StoreHandlerFunc adapts a function to StoreHandler.
type StoreHandlerFunc func(ctx context.Context, req *StoreRequest, data io.Reader) Status

func (f StoreHandlerFunc) HandleStore(ctx context.Context, req *StoreRequest, data io.Reader) Status {
	return f(ctx, req, data)
}

// AssociationInfo describes an association request, for acceptance policy.
type AssociationInfo struct {
	CallingAETitle string
	CalledAETitle  string
	RemoteAddr     string
}

// Server is a DIMSE SCP. Zero values of the optional fields mean the defaults noted.
type Server struct {
	AETitle        string // our AE title; with StrictCalledAE, requests to another title are rejected
	StrictCalledAE bool
	Store          StoreHandler // nil: Storage SOP classes are not offered
	Logger         *slog.Logger

	// Accept, when set, may refuse an association (return a non-nil error: A-ASSOCIATE-RJ,
	// calling AE title not recognised).
	Accept func(AssociationInfo) error

	MaxPDULength    uint32        // we receive; default 128 KiB (announced in A-ASSOCIATE-AC)
	MaxAssociations int           // concurrent; default 64; over it: A-ASSOCIATE-RJ transient, local limit
	ARTIMTimeout    time.Duration // PS3.8 9.1.5; default 30 s
	IdleTimeout     time.Duration // no PDU for this long aborts the association; default 5 min
}

// Serve accepts associations on ln until Shutdown or Close. It returns ErrServerClosed
// after Shutdown/Close.
func (s *Server) Serve(ln net.Listener) error { panic("TODO") }

// ListenAndServe listens on addr (e.g. ":11112") and serves.
func (s *Server) ListenAndServe(addr string) error { panic("TODO") }

// Shutdown stops accepting, lets in-flight associations finish their current operations
// and release (A-RELEASE after the running C-STORE completes), and aborts the rest when ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error { panic("TODO") }

// Close aborts every association at once.
func (s *Server) Close() error { panic("TODO") }

// ClientConfig configures an SCU association.
type ClientConfig struct {
	CallingAETitle string // default "PACSD-SCU"
	CalledAETitle  string // default "ANY-SCP"
	MaxPDULength   uint32 // we receive; default 128 KiB
	// Contexts to propose: abstract syntax -> transfer syntaxes. Verification is always added.
	Contexts map[string][]string
	Timeout  time.Duration // connect + negotiation; default 30 s
}

// Client is one SCU association.
type Client struct{}

// Dial connects, negotiates and returns an established association.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) { panic("TODO") }

// Echo sends C-ECHO-RQ and returns the response status.
func (c *Client) Echo(ctx context.Context) (Status, error) { panic("TODO") }

// Store sends one data set (bare, no meta) of the given SOP class/instance encoded in
// transfer syntax ts, streaming it in P-DATA fragments. An accepted presentation context for
// (sopClass, ts) must exist; else ErrNoContext.
func (c *Client) Store(ctx context.Context, sopClass, sopInstance, ts string, data io.Reader) (Status, error) {
	panic("TODO")
}

// Release performs A-RELEASE.
func (c *Client) Release(ctx context.Context) error { panic("TODO") }

// Abort sends A-ABORT and closes the connection.
func (c *Client) Abort() error { panic("TODO") }
