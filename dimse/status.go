package dimse

import (
	"errors"
	"fmt"
)

// More status codes (PS3.7 Annex C).
const (
	StatusDuplicateInvocation   uint16 = 0x0210 // C.5.3
	StatusUnrecognizedOperation uint16 = 0x0211 // C.5.4: the command field is not one we serve
	StatusMistypedArgument      uint16 = 0x0212 // C.5.5
	StatusCancel                uint16 = 0xFE00 // C.3
	StatusPending               uint16 = 0xFF00 // C.2
)

// StatusCategory groups status codes the way PS3.7 C.1 does.
type StatusCategory int

const (
	CategorySuccess StatusCategory = iota
	CategoryWarning
	CategoryFailure
	CategoryCancel
	CategoryPending
)

// Category classifies s.Code (PS3.7 C.1.1-C.1.5 and the service-specific ranges of PS3.4:
// 0xBxxx, 0x0001, 0x0107 and 0x0116 are warnings; 0xFE00 cancel; 0xFF00/0xFF01 pending;
// everything else that is not 0x0000 is a failure).
func (s Status) Category() StatusCategory {
	switch c := s.Code; {
	case c == StatusSuccess:
		return CategorySuccess
	case c&0xF000 == 0xB000, c == 0x0001, c == 0x0107, c == 0x0116:
		return CategoryWarning
	case c == StatusCancel:
		return CategoryCancel
	case c == StatusPending, c == 0xFF01:
		return CategoryPending
	}
	return CategoryFailure
}

// OK reports whether the operation succeeded, possibly with a warning: for a C-STORE, the
// SCP has taken responsibility for the instance.
func (s Status) OK() bool {
	c := s.Category()
	return c == CategorySuccess || c == CategoryWarning
}

func (s Status) String() string {
	if s.ErrorComment != "" {
		return fmt.Sprintf("0x%04X (%s)", s.Code, s.ErrorComment)
	}
	return fmt.Sprintf("0x%04X", s.Code)
}

var (
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("dimse: server closed")
	// ErrNoContext: the peer accepted no presentation context for the SOP class and
	// transfer syntax of an operation.
	ErrNoContext = errors.New("dimse: no accepted presentation context")
	// ErrClosed: the Client's association was released or aborted.
	ErrClosed = errors.New("dimse: association closed")
)

// RejectError is Dial's error when the peer answers A-ASSOCIATE-RJ (PS3.8 9.3.4).
type RejectError struct {
	Result, Source, Reason byte
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("dimse: association rejected (%s): %s", rejectResultName(e.Result), rejectReasonName(e.Source, e.Reason))
}

// Transient reports whether the peer said it might accept later (result 2).
func (e *RejectError) Transient() bool { return e.Result == rjResultTransient }

func rejectResultName(r byte) string {
	switch r {
	case rjResultPermanent:
		return "permanent"
	case rjResultTransient:
		return "transient"
	}
	return fmt.Sprintf("result %d", r)
}

// rejectReasonName spells out PS3.8 Table 9-21.
func rejectReasonName(source, reason byte) string {
	type key struct{ s, r byte }
	names := map[key]string{
		{rjSourceUser, 1}:         "no reason given",
		{rjSourceUser, 2}:         "application context name not supported",
		{rjSourceUser, 3}:         "calling AE title not recognized",
		{rjSourceUser, 7}:         "called AE title not recognized",
		{rjSourceACSE, 1}:         "no reason given (ACSE)",
		{rjSourceACSE, 2}:         "protocol version not supported",
		{rjSourcePresentation, 1}: "temporary congestion",
		{rjSourcePresentation, 2}: "local limit exceeded",
	}
	if n, ok := names[key{source, reason}]; ok {
		return n
	}
	return fmt.Sprintf("source %d reason %d", source, reason)
}

// AbortError is returned when the peer aborts the association (A-ABORT, PS3.8 9.3.8) or
// the upper layer gives up on it.
type AbortError struct {
	Source, Reason byte
	// Local is true when we aborted (protocol error, timeout, cancelled context).
	Local bool
	Err   error // the local cause, if any
}

func (e *AbortError) Error() string {
	if e.Local {
		return fmt.Sprintf("dimse: association aborted: %v", e.Err)
	}
	return fmt.Sprintf("dimse: association aborted by peer (source %d, reason %d)", e.Source, e.Reason)
}

func (e *AbortError) Unwrap() error { return e.Err }
