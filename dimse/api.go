package dimse

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
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
// C-STORE-RSP, which is sent only after HandleStore returned: return success only once the
// object is durable. A panic becomes status 0x0110. ctx is cancelled when the association
// is aborted or the server closes (not by Shutdown: a running handler may finish); if the
// association breaks while data is still arriving, reads from data fail.
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
	AssociationID  string
	CallingAETitle string
	CalledAETitle  string
	RemoteAddr     string
}

// Server is a DIMSE SCP: Verification and, with a Store handler, every Storage SOP class,
// in every transfer syntax pacsd knows. Zero values of the optional fields mean the
// defaults noted. A Server must not be copied after first use.
type Server struct {
	AETitle        string // our AE title; with StrictCalledAE, requests to another title are rejected
	StrictCalledAE bool
	Store          StoreHandler // nil: Storage SOP classes are not offered
	Logger         *slog.Logger // nil: slog.Default()

	// Accept, when set, may refuse an association (return a non-nil error: A-ASSOCIATE-RJ,
	// calling AE title not recognised).
	Accept func(AssociationInfo) error

	MaxPDULength    uint32        // we receive; default 128 KiB (announced in A-ASSOCIATE-AC), clamped to 4 KiB..16 MiB
	MaxAssociations int           // concurrent; default 64; over it: A-ASSOCIATE-RJ transient, local limit
	ARTIMTimeout    time.Duration // PS3.8 9.1.5; default 30 s
	IdleTimeout     time.Duration // no PDU for this long aborts the association; default 5 min

	st serverState
}

// ClientConfig configures an SCU association.
type ClientConfig struct {
	CallingAETitle string // default "PACSD-SCU"
	CalledAETitle  string // default "ANY-SCP"
	MaxPDULength   uint32 // we receive; default 128 KiB
	// Contexts to propose: abstract syntax -> transfer syntaxes. Verification is always added.
	// See Dial for how they are laid out (one presentation context per pair).
	Contexts map[string][]string
	Timeout  time.Duration // connect + negotiation, and A-RELEASE; default 30 s
	// ResponseTimeout bounds every wait for the peer once associated (a DIMSE response,
	// the next PDU): default 5 min, as the SCP may be making a large object durable.
	ResponseTimeout time.Duration
	// TLS, when set, secures the connection before the association is requested (PS3.15
	// B.1); its ServerName defaults to the host of the address dialled.
	TLS *tls.Config
}
