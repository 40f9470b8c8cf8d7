package dimse

import "fmt"

// The DICOM Upper Layer state machine, PS3.8 9.2. The transition table below is Table 9-10
// transcribed cell by cell; the side effects of each action (Tables 9-6 to 9-9) live in
// assoc.perform. Keeping the table as data lets a reader check it against the standard
// line by line, and makes an event that the standard leaves undefined for a state an
// explicit error instead of a fall-through.

// state is Sta1..Sta13, PS3.8 Table 9-1.
type state uint8

const (
	sta1  state = iota + 1 // Idle
	sta2                   // Transport connection open (awaiting A-ASSOCIATE-RQ PDU)
	sta3                   // Awaiting local A-ASSOCIATE response primitive
	sta4                   // Awaiting transport connection opening to complete
	sta5                   // Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU
	sta6                   // Association established and ready for data transfer
	sta7                   // Awaiting A-RELEASE-RP PDU
	sta8                   // Awaiting local A-RELEASE response primitive
	sta9                   // Release collision requestor side; awaiting A-RELEASE response
	sta10                  // Release collision acceptor side; awaiting A-RELEASE-RP PDU
	sta11                  // Release collision requestor side; awaiting A-RELEASE-RP PDU
	sta12                  // Release collision acceptor side; awaiting A-RELEASE response primitive
	sta13                  // Awaiting Transport Connection Close Indication
	numStates
)

// event is Evt1..Evt19, PS3.8 Table 9-10.
type event uint8

const (
	evt1  event = iota + 1 // A-ASSOCIATE request (local user)
	evt2                   // Transport connect confirmation (local transport service)
	evt3                   // A-ASSOCIATE-AC PDU (received on transport connection)
	evt4                   // A-ASSOCIATE-RJ PDU (received on transport connection)
	evt5                   // Transport connection indication (local transport service)
	evt6                   // A-ASSOCIATE-RQ PDU (received on transport connection)
	evt7                   // A-ASSOCIATE response primitive (accept)
	evt8                   // A-ASSOCIATE response primitive (reject)
	evt9                   // P-DATA request primitive
	evt10                  // P-DATA-TF PDU
	evt11                  // A-RELEASE request primitive
	evt12                  // A-RELEASE-RQ PDU
	evt13                  // A-RELEASE-RP PDU
	evt14                  // A-RELEASE response primitive
	evt15                  // A-ABORT request primitive
	evt16                  // A-ABORT PDU
	evt17                  // Transport connection closed indication
	evt18                  // ARTIM timer expired
	evt19                  // Unrecognized or invalid PDU received
	numEvents
)

// action is one of the actions of PS3.8 Tables 9-6 to 9-9.
type action uint8

const (
	actNone action = iota // the table defines no transition
	ae1                   // Issue TRANSPORT CONNECT request primitive to local transport service
	ae2                   // Send A-ASSOCIATE-RQ PDU
	ae3                   // Issue A-ASSOCIATE confirmation (accept) primitive
	ae4                   // Issue A-ASSOCIATE confirmation (reject) primitive and close transport connection
	ae5                   // Issue Transport connection response primitive; start ARTIM timer
	ae6                   // Stop ARTIM; if A-ASSOCIATE-RQ acceptable by service-provider issue A-ASSOCIATE indication, else send A-ASSOCIATE-RJ and start ARTIM
	ae7                   // Send A-ASSOCIATE-AC PDU
	ae8                   // Send A-ASSOCIATE-RJ PDU and start ARTIM timer
	dt1                   // Send P-DATA-TF PDU
	dt2                   // Send P-DATA indication primitive
	ar1                   // Send A-RELEASE-RQ PDU
	ar2                   // Issue A-RELEASE indication primitive
	ar3                   // Issue A-RELEASE confirmation primitive, and close transport connection
	ar4                   // Issue A-RELEASE-RP PDU and start ARTIM timer
	ar5                   // Stop ARTIM timer
	ar6                   // Issue P-DATA indication
	ar7                   // Issue P-DATA-TF PDU
	ar8                   // Issue A-RELEASE indication (release collision)
	ar9                   // Send A-RELEASE-RP PDU
	ar10                  // Issue A-RELEASE confirmation primitive
	aa1                   // Send A-ABORT PDU (service-user source) and start (or restart) ARTIM timer
	aa2                   // Stop ARTIM timer if running. Close transport connection
	aa3                   // Issue A-ABORT or A-P-ABORT indication and close transport connection
	aa4                   // Issue A-P-ABORT indication primitive
	aa5                   // Stop ARTIM timer
	aa6                   // Ignore PDU
	aa7                   // Send A-ABORT PDU
	aa8                   // Send A-ABORT PDU (service-provider source), issue an A-P-ABORT indication, and start ARTIM timer
	numActions
)

// transitions is PS3.8 Table 9-10: transitions[event][state]. Empty cells are actNone.
var transitions = [numEvents][numStates]action{
	evt1: {sta1: ae1},
	evt2: {sta4: ae2},
	evt3: {sta2: aa1, sta3: aa8, sta5: ae3, sta6: aa8, sta7: aa8, sta8: aa8, sta9: aa8,
		sta10: aa8, sta11: aa8, sta12: aa8, sta13: aa6},
	evt4: {sta2: aa1, sta3: aa8, sta5: ae4, sta6: aa8, sta7: aa8, sta8: aa8, sta9: aa8,
		sta10: aa8, sta11: aa8, sta12: aa8, sta13: aa6},
	evt5: {sta1: ae5},
	evt6: {sta2: ae6, sta3: aa8, sta5: aa8, sta6: aa8, sta7: aa8, sta8: aa8, sta9: aa8,
		sta10: aa8, sta11: aa8, sta12: aa8, sta13: aa7},
	evt7: {sta3: ae7},
	evt8: {sta3: ae8},
	evt9: {sta6: dt1, sta8: ar7},
	evt10: {sta2: aa1, sta3: aa8, sta5: aa8, sta6: dt2, sta7: ar6, sta8: aa8, sta9: aa8,
		sta10: aa8, sta11: aa8, sta12: aa8, sta13: aa6},
	evt11: {sta6: ar1},
	evt12: {sta2: aa1, sta3: aa8, sta5: aa8, sta6: ar2, sta7: ar8, sta8: aa8, sta9: aa8,
		sta10: aa8, sta11: aa8, sta12: aa8, sta13: aa6},
	evt13: {sta2: aa1, sta3: aa8, sta5: aa8, sta6: aa8, sta7: ar3, sta8: aa8, sta9: aa8,
		sta10: ar10, sta11: ar3, sta12: aa8, sta13: aa6},
	evt14: {sta8: ar4, sta9: ar9, sta12: ar4},
	evt15: {sta3: aa1, sta4: aa2, sta5: aa1, sta6: aa1, sta7: aa1, sta8: aa1, sta9: aa1,
		sta10: aa1, sta11: aa1, sta12: aa1},
	evt16: {sta2: aa2, sta3: aa3, sta5: aa3, sta6: aa3, sta7: aa3, sta8: aa3, sta9: aa3,
		sta10: aa3, sta11: aa3, sta12: aa3, sta13: aa2},
	evt17: {sta2: aa5, sta3: aa4, sta4: aa4, sta5: aa4, sta6: aa4, sta7: aa4, sta8: aa4,
		sta9: aa4, sta10: aa4, sta11: aa4, sta12: aa4, sta13: ar5},
	evt18: {sta2: aa2, sta13: aa2},
	evt19: {sta2: aa1, sta3: aa8, sta5: aa8, sta6: aa8, sta7: aa8, sta8: aa8, sta9: aa8,
		sta10: aa8, sta11: aa8, sta12: aa8, sta13: aa7},
}

// nextState is the state each action leads to (PS3.8 Tables 9-6 to 9-9). AE-6 and AR-8
// branch; assoc.perform picks their state, which must be one of the listed alternatives.
var nextState = [numActions][]state{
	ae1: {sta4}, ae2: {sta5}, ae3: {sta6}, ae4: {sta1}, ae5: {sta2}, ae6: {sta3, sta13},
	ae7: {sta6}, ae8: {sta13},
	dt1: {sta6}, dt2: {sta6},
	ar1: {sta7}, ar2: {sta8}, ar3: {sta1}, ar4: {sta13}, ar5: {sta1}, ar6: {sta7}, ar7: {sta8},
	ar8: {sta9, sta10}, ar9: {sta11}, ar10: {sta12},
	aa1: {sta13}, aa2: {sta1}, aa3: {sta1}, aa4: {sta1}, aa5: {sta1}, aa6: {sta13}, aa7: {sta13},
	aa8: {sta13},
}

// lookup returns the action Table 9-10 prescribes for ev in st.
func lookup(st state, ev event) (action, error) {
	if st == 0 || st >= numStates || ev == 0 || ev >= numEvents {
		return actNone, fmt.Errorf("state machine: bad state %d or event %d", st, ev)
	}
	a := transitions[ev][st]
	if a == actNone {
		return actNone, fmt.Errorf("state machine: %v not allowed in %v", ev, st)
	}
	return a, nil
}

func (s state) String() string {
	if s == 0 || s >= numStates {
		return fmt.Sprintf("Sta?%d", uint8(s))
	}
	return fmt.Sprintf("Sta%d", uint8(s))
}

func (e event) String() string {
	if e == 0 || e >= numEvents {
		return fmt.Sprintf("Evt?%d", uint8(e))
	}
	return fmt.Sprintf("Evt%d", uint8(e))
}

var actionNames = [numActions]string{
	actNone: "none",
	ae1:     "AE-1", ae2: "AE-2", ae3: "AE-3", ae4: "AE-4", ae5: "AE-5", ae6: "AE-6", ae7: "AE-7", ae8: "AE-8",
	dt1: "DT-1", dt2: "DT-2",
	ar1: "AR-1", ar2: "AR-2", ar3: "AR-3", ar4: "AR-4", ar5: "AR-5", ar6: "AR-6", ar7: "AR-7",
	ar8: "AR-8", ar9: "AR-9", ar10: "AR-10",
	aa1: "AA-1", aa2: "AA-2", aa3: "AA-3", aa4: "AA-4", aa5: "AA-5", aa6: "AA-6", aa7: "AA-7", aa8: "AA-8",
}

func (a action) String() string {
	if a >= numActions {
		return fmt.Sprintf("action?%d", uint8(a))
	}
	return actionNames[a]
}

// pduEvent maps a received PDU to its state-machine event (PS3.8 Table 9-10). A P-DATA-TF
// carrying a PDV for a presentation context that accepted() refuses is an invalid PDU
// (Evt19): both the SCP and the SCU abort on it.
func pduEvent(p pdu, accepted func(id byte) bool) (event, error) {
	switch p.pduType() {
	case pduAssociateRQ:
		return evt6, nil
	case pduAssociateAC:
		return evt3, nil
	case pduAssociateRJ:
		return evt4, nil
	case pduPDataTF:
		for _, v := range p.(*pDataTF).PDVs {
			if !accepted(v.ContextID) {
				return evt19, malformed(abortReasonInvalidParamValue, "PDV on presentation context %d, which was not accepted", v.ContextID)
			}
		}
		return evt10, nil
	case pduReleaseRQ:
		return evt12, nil
	case pduReleaseRP:
		return evt13, nil
	case pduAbort:
		return evt16, nil
	}
	return evt19, malformed(abortReasonUnrecognizedPDU, "unknown PDU")
}
