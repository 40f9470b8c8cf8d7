package dimse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Command Field values, PS3.7 E.1 Table E.1-1.
const (
	cmdCStoreRQ        uint16 = 0x0001
	cmdCStoreRSP       uint16 = 0x8001
	cmdCGetRQ          uint16 = 0x0010
	cmdCGetRSP         uint16 = 0x8010
	cmdCFindRQ         uint16 = 0x0020
	cmdCFindRSP        uint16 = 0x8020
	cmdCMoveRQ         uint16 = 0x0021
	cmdCMoveRSP        uint16 = 0x8021
	cmdCEchoRQ         uint16 = 0x0030
	cmdCEchoRSP        uint16 = 0x8030
	cmdNEventReportRQ  uint16 = 0x0100
	cmdNEventReportRSP uint16 = 0x8100
	cmdNGetRQ          uint16 = 0x0110
	cmdNSetRQ          uint16 = 0x0120
	cmdNActionRQ       uint16 = 0x0130
	cmdNActionRSP      uint16 = 0x8130
	cmdNCreateRQ       uint16 = 0x0140
	cmdNDeleteRQ       uint16 = 0x0150
	cmdCCancelRQ       uint16 = 0x0FFF
	cmdResponseBit     uint16 = 0x8000
	dataSetAbsent      uint16 = 0x0101 // Command Data Set Type: no data set follows, PS3.7 E.1
	dataSetPresent     uint16 = 0x0001 // any other value means a data set follows
	priorityMedium     uint16 = 0x0000
	maxCommandSetBytes        = 64 << 10 // a command set is a few hundred bytes; bound the reassembly
	maxErrorComment           = 64       // (0000,0902) is LO, PS3.5 6.2
)

// Command set elements (group 0000), PS3.7 E.1 Table E.1-1.
const (
	elemCommandGroupLength        uint16 = 0x0000
	elemAffectedSOPClassUID       uint16 = 0x0002
	elemRequestedSOPClassUID      uint16 = 0x0003
	elemCommandField              uint16 = 0x0100
	elemMessageID                 uint16 = 0x0110
	elemMessageIDBeingRespondedTo uint16 = 0x0120
	elemMoveDestination           uint16 = 0x0600
	elemPriority                  uint16 = 0x0700
	elemCommandDataSetType        uint16 = 0x0800
	elemStatus                    uint16 = 0x0900
	elemErrorComment              uint16 = 0x0902
	elemAffectedSOPInstanceUID    uint16 = 0x1000
	elemRequestedSOPInstanceUID   uint16 = 0x1001
	elemEventTypeID               uint16 = 0x1002
	elemActionTypeID              uint16 = 0x1008
	elemRemainingSubOperations    uint16 = 0x1020
	elemCompletedSubOperations    uint16 = 0x1021
	elemFailedSubOperations       uint16 = 0x1022
	elemWarningSubOperations      uint16 = 0x1023
	elemMoveOriginatorAETitle     uint16 = 0x1030
	elemMoveOriginatorMessageID   uint16 = 0x1031
)

// command is a DIMSE command set: the fields pacsd reads or writes.
type command struct {
	CommandField              uint16
	MessageID                 uint16
	MessageIDBeingRespondedTo uint16
	AffectedSOPClassUID       string
	RequestedSOPClassUID      string
	AffectedSOPInstanceUID    string
	RequestedSOPInstanceUID   string
	Priority                  uint16
	HasDataSet                bool
	Status                    uint16
	ErrorComment              string
	MoveOriginatorAETitle     string
	MoveOriginatorMessageID   uint16
	MoveDestination           string // C-MOVE-RQ (0000,0600)
	// EventTypeID (0000,1002) of N-EVENT-REPORT-RQ/RSP and ActionTypeID (0000,1008) of
	// N-ACTION-RQ/RSP (PS3.7 10.1.1, 10.1.4): written for those commands only.
	EventTypeID  uint16
	ActionTypeID uint16
	// SubOps are the sub-operation counts of a C-MOVE/C-GET response (0000,1020-1023);
	// nil: absent. Remaining is written only when HasRemaining (PS3.7 9.3.3.2, 9.3.4.2:
	// pending responses, and optionally Cancel).
	SubOps *subOpCounts

	present []uint16 // elements seen when decoding
}

// subOpCounts is what a C-MOVE/C-GET response says of its sub-operations.
type subOpCounts struct {
	SubOperations
	HasRemaining bool
}

func (c *command) isResponse() bool { return c.CommandField&cmdResponseBit != 0 }

func (c *command) has(elem uint16) bool { return slices.Contains(c.present, elem) }

// encode writes the command set in Implicit VR Little Endian with its Command Group Length
// first, as PS3.7 6.3.1 and E.1 require whatever the negotiated transfer syntax.
func (c *command) encode() []byte {
	b := make([]byte, 12, 256) // (0000,0000) UL, patched at the end
	str := func(elem uint16, s string, pad byte) {
		if s == "" {
			return
		}
		n := len(s) + len(s)%2
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, elem)
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
		b = append(b, s...)
		if len(s)%2 == 1 {
			b = append(b, pad)
		}
	}
	us := func(elem, v uint16) {
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, elem)
		b = binary.LittleEndian.AppendUint32(b, 2)
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	// Ascending element order, PS3.5 7.1.
	str(elemAffectedSOPClassUID, c.AffectedSOPClassUID, 0)
	str(elemRequestedSOPClassUID, c.RequestedSOPClassUID, 0)
	us(elemCommandField, c.CommandField)
	if c.isResponse() || c.CommandField == cmdCCancelRQ { // PS3.7 9.3.2.3: C-CANCEL-RQ names the request
		us(elemMessageIDBeingRespondedTo, c.MessageIDBeingRespondedTo)
	} else {
		us(elemMessageID, c.MessageID)
	}
	str(elemMoveDestination, c.MoveDestination, ' ')
	switch c.CommandField {
	case cmdCStoreRQ, cmdCFindRQ, cmdCMoveRQ, cmdCGetRQ: // PS3.7 9.3.1.1-9.3.4.1: Priority M
		us(elemPriority, c.Priority)
	}
	if c.HasDataSet {
		us(elemCommandDataSetType, dataSetPresent)
	} else {
		us(elemCommandDataSetType, dataSetAbsent)
	}
	if c.isResponse() {
		us(elemStatus, c.Status)
		str(elemErrorComment, sanitizeComment(c.ErrorComment), ' ')
	}
	str(elemAffectedSOPInstanceUID, c.AffectedSOPInstanceUID, 0)
	str(elemRequestedSOPInstanceUID, c.RequestedSOPInstanceUID, 0)
	switch c.CommandField &^ cmdResponseBit {
	case cmdNEventReportRQ: // PS3.7 10.3.1.1, 10.3.1.2
		us(elemEventTypeID, c.EventTypeID)
	case cmdNActionRQ: // PS3.7 10.3.4.1, 10.3.4.2
		us(elemActionTypeID, c.ActionTypeID)
	}
	if so := c.SubOps; so != nil {
		if so.HasRemaining {
			us(elemRemainingSubOperations, clampCount(so.Remaining))
		}
		us(elemCompletedSubOperations, clampCount(so.Completed))
		us(elemFailedSubOperations, clampCount(so.Failed))
		us(elemWarningSubOperations, clampCount(so.Warning))
	}
	if c.MoveOriginatorAETitle != "" {
		str(elemMoveOriginatorAETitle, c.MoveOriginatorAETitle, ' ')
		us(elemMoveOriginatorMessageID, c.MoveOriginatorMessageID)
	}
	binary.LittleEndian.PutUint16(b[0:], 0)
	binary.LittleEndian.PutUint16(b[2:], elemCommandGroupLength)
	binary.LittleEndian.PutUint32(b[4:], 4)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)-12))
	return b
}

// clampCount fits a sub-operation count into its US element (PS3.7 E.1).
func clampCount(n int) uint16 {
	return uint16(min(max(n, 0), 0xFFFF))
}

// sanitizeComment makes s a valid LO value in the default character repertoire: printable
// ASCII, no backslash (the value delimiter), at most 64 characters.
func sanitizeComment(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if sb.Len() == maxErrorComment {
			break
		}
		switch {
		case r == '\\':
			sb.WriteByte('/')
		case r < 0x20 || r > 0x7E:
			sb.WriteByte('?')
		default:
			sb.WriteRune(r)
		}
	}
	return strings.TrimRight(sb.String(), " ")
}

var errBadCommand = errors.New("malformed command set")

// decodeCommand parses a command set (Implicit VR Little Endian, group 0000 only).
func decodeCommand(b []byte) (*command, error) {
	c := &command{}
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: truncated element header", errBadCommand)
		}
		group := binary.LittleEndian.Uint16(b)
		elem := binary.LittleEndian.Uint16(b[2:])
		n := binary.LittleEndian.Uint32(b[4:])
		if group != 0 {
			return nil, fmt.Errorf("%w: element (%04X,%04X) outside group 0000", errBadCommand, group, elem)
		}
		if uint64(n) > uint64(len(b)-8) {
			return nil, fmt.Errorf("%w: element (0000,%04X) length %d exceeds the %d bytes left", errBadCommand, elem, n, len(b)-8)
		}
		v := b[8 : 8+n]
		b = b[8+n:]
		if slices.Contains(c.present, elem) {
			return nil, fmt.Errorf("%w: element (0000,%04X) repeated", errBadCommand, elem)
		}
		c.present = append(c.present, elem)
		var err error
		switch elem {
		case elemAffectedSOPClassUID:
			c.AffectedSOPClassUID = trimUID(v)
		case elemRequestedSOPClassUID:
			c.RequestedSOPClassUID = trimUID(v)
		case elemAffectedSOPInstanceUID:
			c.AffectedSOPInstanceUID = trimUID(v)
		case elemRequestedSOPInstanceUID:
			c.RequestedSOPInstanceUID = trimUID(v)
		case elemErrorComment:
			c.ErrorComment = strings.TrimRight(string(v), " \x00")
		case elemMoveOriginatorAETitle:
			c.MoveOriginatorAETitle = strings.Trim(string(v), " \x00")
		case elemMoveDestination:
			c.MoveDestination = strings.Trim(string(v), " \x00")
		case elemRemainingSubOperations, elemCompletedSubOperations, elemFailedSubOperations, elemWarningSubOperations:
			var n uint16
			if n, err = us(elem, v); err != nil {
				break
			}
			if c.SubOps == nil {
				c.SubOps = &subOpCounts{}
			}
			switch elem {
			case elemRemainingSubOperations:
				c.SubOps.Remaining, c.SubOps.HasRemaining = int(n), true
			case elemCompletedSubOperations:
				c.SubOps.Completed = int(n)
			case elemFailedSubOperations:
				c.SubOps.Failed = int(n)
			default:
				c.SubOps.Warning = int(n)
			}
		case elemCommandField:
			c.CommandField, err = us(elem, v)
		case elemMessageID:
			c.MessageID, err = us(elem, v)
		case elemMessageIDBeingRespondedTo:
			c.MessageIDBeingRespondedTo, err = us(elem, v)
		case elemPriority:
			c.Priority, err = us(elem, v)
		case elemStatus:
			c.Status, err = us(elem, v)
		case elemMoveOriginatorMessageID:
			c.MoveOriginatorMessageID, err = us(elem, v)
		case elemEventTypeID:
			c.EventTypeID, err = us(elem, v)
		case elemActionTypeID:
			c.ActionTypeID, err = us(elem, v)
		case elemCommandDataSetType:
			var t uint16
			t, err = us(elem, v)
			c.HasDataSet = t != dataSetAbsent
		}
		if err != nil {
			return nil, err
		}
	}
	if !c.has(elemCommandField) {
		return nil, fmt.Errorf("%w: no Command Field", errBadCommand)
	}
	if !c.has(elemCommandDataSetType) {
		return nil, fmt.Errorf("%w: no Command Data Set Type", errBadCommand)
	}
	if c.isResponse() && !c.has(elemStatus) {
		return nil, fmt.Errorf("%w: response without Status", errBadCommand)
	}
	return c, nil
}

func us(elem uint16, v []byte) (uint16, error) {
	if len(v) != 2 {
		return 0, fmt.Errorf("%w: US element (0000,%04X) of %d bytes", errBadCommand, elem, len(v))
	}
	return binary.LittleEndian.Uint16(v), nil
}

// commandName is for logs.
func commandName(field uint16) string {
	names := map[uint16]string{
		cmdCStoreRQ: "C-STORE-RQ", cmdCStoreRSP: "C-STORE-RSP", cmdCGetRQ: "C-GET-RQ", cmdCGetRSP: "C-GET-RSP",
		cmdCFindRQ: "C-FIND-RQ", cmdCFindRSP: "C-FIND-RSP", cmdCMoveRQ: "C-MOVE-RQ", cmdCMoveRSP: "C-MOVE-RSP", cmdCEchoRQ: "C-ECHO-RQ",
		cmdCEchoRSP: "C-ECHO-RSP", cmdNEventReportRQ: "N-EVENT-REPORT-RQ", cmdNEventReportRSP: "N-EVENT-REPORT-RSP", cmdNGetRQ: "N-GET-RQ",
		cmdNSetRQ: "N-SET-RQ", cmdNActionRQ: "N-ACTION-RQ", cmdNActionRSP: "N-ACTION-RSP", cmdNCreateRQ: "N-CREATE-RQ",
		cmdNDeleteRQ: "N-DELETE-RQ", cmdCCancelRQ: "C-CANCEL-RQ",
	}
	if n, ok := names[field]; ok {
		return n
	}
	return fmt.Sprintf("command 0x%04X", field)
}

// msgAssembler reassembles DIMSE messages from PDVs (PS3.8 Annex E, PS3.7 6.3.1): command
// fragments are collected (bounded) until the last one; data fragments are passed through.
type msgAssembler struct {
	cmd     []byte
	cmdOpen bool
	ctxID   byte
}

// errProtocol is a DIMSE-level violation of the message structure: the association is
// aborted.
var errProtocol = errors.New("DIMSE protocol violation")

// addCommand appends one command fragment; it returns the decoded command when v is the last.
func (m *msgAssembler) addCommand(v pdv) (*command, error) {
	if m.cmdOpen && v.ContextID != m.ctxID {
		return nil, fmt.Errorf("%w: command fragments on presentation contexts %d and %d", errProtocol, m.ctxID, v.ContextID)
	}
	if len(m.cmd)+len(v.Data) > maxCommandSetBytes {
		return nil, fmt.Errorf("%w: command set over %d bytes", errProtocol, maxCommandSetBytes)
	}
	m.cmdOpen, m.ctxID = true, v.ContextID
	m.cmd = append(m.cmd, v.Data...)
	if !v.Last {
		return nil, nil
	}
	c, err := decodeCommand(m.cmd)
	m.cmd, m.cmdOpen = m.cmd[:0], false
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errProtocol, err)
	}
	return c, nil
}
