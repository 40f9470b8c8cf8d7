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
	StatusNotAuthorized        uint16 = 0x0124 // PS3.7 C.5.x: Refused, not authorized
	StatusDuplicateSOPInstance uint16 = 0x0111 // PS3.7 C.5.x: Failure, duplicate SOP instance

	// Query/Retrieve (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4).
	StatusPendingOptionalKeys   uint16 = 0xFF01 // pending, one or more optional keys not supported
	StatusOutOfResourcesMatches uint16 = 0xA701 // refused: cannot calculate number of matches
	StatusOutOfResourcesSubOps  uint16 = 0xA702 // refused: cannot perform sub-operations
	StatusMoveDestUnknown       uint16 = 0xA801
	StatusSubOpsWarning         uint16 = 0xB000 // sub-operations complete, one or more failures or warnings
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
	TLS            bool // the connection is a *tls.Conn (the Secure Transport Connection profile)
}

// QueryRequest is a C-FIND-RQ, C-MOVE-RQ or C-GET-RQ (PS3.7 9.1.2-9.1.4), its identifier,
// and the association it came on.
type QueryRequest struct {
	AssociationID  string
	CallingAETitle string
	CalledAETitle  string
	RemoteAddr     string
	TLS            bool
	MessageID      uint16
	Priority       uint16
	// SOPClassUID is the Affected SOP Class UID: the information model asked (PS3.4 C.6).
	SOPClassUID string
	// TransferSyntaxUID is that of the presentation context: the identifier is encoded in
	// it, and so must be every identifier a FindHandler sends back.
	TransferSyntaxUID string
	// Identifier is the identifier data set exactly as received (bounded by
	// Server.MaxIdentifierLength before it is read).
	Identifier []byte
	// MoveDestination is the Move Destination (0000,0600) of a C-MOVE-RQ, trimmed.
	MoveDestination string
}

// FindHandler answers C-FIND requests (every SOP class in Server.FindSOPClasses).
// HandleFind runs in its own goroutine and calls send once per match with a pending status
// (StatusPending or StatusPendingOptionalKeys) and the match's identifier encoded in
// req.TransferSyntaxUID; send returns once the response is written, and an error once the
// association is gone or the peer sent a C-CANCEL-RQ for this request (ctx is then
// cancelled too, with context.Cause ErrCancelled), and the handler should stop. HandleFind
// returns the final status (success, or a failure: 0xA900, 0xC000, 0xA700, 0x0124). After
// a C-CANCEL-RQ the server answers Cancel (0xFE00) whatever is returned. A panic becomes
// 0xC000 (unable to process).
type FindHandler interface {
	HandleFind(ctx context.Context, req *QueryRequest, send func(status uint16, identifier []byte) error) Status
}

// SubOperations counts the C-STORE sub-operations of a C-MOVE or C-GET (PS3.7 9.1.3,
// 9.1.4: Number of Remaining/Completed/Failed/Warning Sub-operations).
type SubOperations struct {
	Remaining, Completed, Failed, Warning int
}

// RetrieveResult is the outcome of a C-MOVE or C-GET. The server sends it as the final
// response: Status, the counts, and, when FailedSOPInstanceUIDs is not empty, an
// identifier holding Failed SOP Instance UID List (0008,0058) (PS3.4 C.4.2.3.1).
type RetrieveResult struct {
	Status                Status
	SubOperations         SubOperations
	FailedSOPInstanceUIDs []string
}

// Progress sends a pending response (0xFF00) with the sub-operation counts so far
// (PS3.4 C.4.2.3.1: after each sub-operation, optionally). It returns an error once the
// association is gone or the peer cancelled (ctx is then cancelled too, with
// context.Cause ErrCancelled after a C-CANCEL-RQ).
type Progress func(SubOperations) error

// MoveHandler performs C-MOVE requests (every SOP class in Server.MoveSOPClasses): it
// resolves req.MoveDestination itself (StatusMoveDestUnknown when it cannot) and sends the
// objects on its own association to it (Dial with ClientConfig.MoveOriginator, then
// StoreVia; or StoreAll). HandleMove runs in its own goroutine. After a C-CANCEL-RQ the
// server answers Cancel with the counts the handler returned (Remaining included). A panic
// becomes 0xC000 with the counts last reported through Progress.
type MoveHandler interface {
	HandleMove(ctx context.Context, req *QueryRequest, progress Progress) RetrieveResult
}

// GetHandler performs C-GET requests (every SOP class in Server.GetSOPClasses): it sends
// the objects back on the same association through sub (StoreVia), where the requester is
// the Storage SCP by SCP/SCU role selection (PS3.4 C.4.3, PS3.7 D.3.3.4); an object of a
// class or syntax the requester did not accept so is a failed sub-operation
// (ErrNoContext). HandleGet runs in its own goroutine; calls through sub are serialised,
// one sub-operation at a time. Cancel and panics as for MoveHandler.
type GetHandler interface {
	HandleGet(ctx context.Context, req *QueryRequest, sub SubStorer, progress Progress) RetrieveResult
}

// SubStorer sends C-STORE requests to a peer: the requester of a C-GET on its own
// association, or (*Client) the destination of a C-MOVE. StoreVia sends StoreItems
// through one, with StoreAll's transfer-syntax fallback.
type SubStorer interface {
	// CanStore reports whether a presentation context for sopClass with transfer syntax ts
	// was accepted with the peer as the Storage SCP.
	CanStore(sopClass, ts string) bool
	// Store sends one C-STORE-RQ whose data set (bare, in ts) is read from data, streamed,
	// and waits for the C-STORE-RSP. ErrNoContext (wrapped) when CanStore is false: the
	// association stays usable; any other error means it is gone.
	Store(ctx context.Context, sopClass, sopInstance, ts string, data io.Reader) (Status, error)
}

// Server is a DIMSE SCP: Verification and, with a Store handler, every Storage SOP class,
// in every transfer syntax pacsd knows; with the query/retrieve handlers, C-FIND, C-MOVE
// and C-GET for the SOP classes listed. Zero values of the optional fields mean the
// defaults noted. A Server must not be copied after first use.
type Server struct {
	AETitle        string // our AE title; with StrictCalledAE, requests to another title are rejected
	StrictCalledAE bool
	Store          StoreHandler // nil: Storage SOP classes are not offered

	// Query/retrieve services: each handler, when set, is offered for the SOP classes
	// (abstract syntaxes) listed beside it. With Get set, storage presentation contexts
	// proposed with SCP/SCU role selection (the requester as Storage SCP) are accepted
	// for the C-STORE sub-operations, and the role selection is answered.
	Find           FindHandler
	FindSOPClasses []string
	Move           MoveHandler
	MoveSOPClasses []string
	Get            GetHandler
	GetSOPClasses  []string
	// Action, when set, performs N-ACTION requests for the SOP classes listed beside it
	// (naction.go: Storage Commitment Push Model, PS3.4 J.3), and may send N-EVENT-REPORTs
	// back on the same association.
	Action           ActionHandler
	ActionSOPClasses []string
	// MaxIdentifierLength bounds a C-FIND/C-MOVE/C-GET identifier (and an N-ACTION's
	// Action Information); default
	// DefaultMaxIdentifierLength (64 KiB). A longer one is refused (0xA900) without being
	// held.
	MaxIdentifierLength int
	Logger              *slog.Logger // nil: slog.Default()

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
	// MoveOriginator, when its AETitle is set, goes into every C-STORE-RQ of the
	// association as Move Originator AE Title / Message ID (0000,1030/1031): the
	// association is a C-MOVE's sub-association.
	MoveOriginator MoveOriginator
	// SCPRoles lists SOP classes for which we propose to be the SCP by role selection
	// (PS3.7 D.3.3.4: SCU-role 0, SCP-role 1): the Storage Commitment class when we open
	// an association to send an N-EVENT-REPORT (PS3.4 J.3.3).
	SCPRoles []string
}

// MoveOriginator names the C-MOVE request a sub-association serves.
type MoveOriginator struct {
	AETitle   string
	MessageID uint16
}
