package dimse

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCommandRoundTrip(t *testing.T) {
	tests := []command{
		{CommandField: cmdCEchoRQ, MessageID: 7, AffectedSOPClassUID: "1.2.840.10008.1.1"},
		{CommandField: cmdCEchoRSP, MessageIDBeingRespondedTo: 7, AffectedSOPClassUID: "1.2.840.10008.1.1", Status: 0},
		{CommandField: cmdCStoreRQ, MessageID: 65535, Priority: 2, AffectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.7",
			AffectedSOPInstanceUID: "1.2.3.4.5", HasDataSet: true, MoveOriginatorAETitle: "MOVER", MoveOriginatorMessageID: 9},
		{CommandField: cmdCStoreRSP, MessageIDBeingRespondedTo: 3, AffectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.7",
			AffectedSOPInstanceUID: "1.2.3.4.55", Status: 0xA700, ErrorComment: "out of space"},
	}
	for _, want := range tests {
		t.Run(commandName(want.CommandField), func(t *testing.T) {
			b := want.encode()
			if len(b)%2 != 0 {
				t.Fatalf("odd length %d", len(b))
			}
			got, err := decodeCommand(b)
			if err != nil {
				t.Fatal(err)
			}
			got.present = nil
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestCommandEncodingDetails(t *testing.T) {
	b := (&command{CommandField: cmdCStoreRSP, MessageIDBeingRespondedTo: 1, AffectedSOPClassUID: "1.2.3",
		AffectedSOPInstanceUID: "1.2", Status: 0x0110, ErrorComment: "bad\\thing ü" + strings.Repeat("x", 100)}).encode()
	// Group length element first, value = bytes after it.
	if binary.LittleEndian.Uint32(b[0:]) != 0 || binary.LittleEndian.Uint32(b[4:]) != 4 || int(binary.LittleEndian.Uint32(b[8:])) != len(b)-12 {
		t.Fatalf("group length element % X", b[:12])
	}
	c, err := decodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.AffectedSOPClassUID != "1.2.3" { // odd UID padded with NUL, trimmed when read
		t.Errorf("UID %q", c.AffectedSOPClassUID)
	}
	if len(c.ErrorComment) > maxErrorComment || strings.ContainsAny(c.ErrorComment, "\\ü") {
		t.Errorf("error comment %q not sanitized", c.ErrorComment)
	}
	if c.HasDataSet {
		t.Error("response claims a data set")
	}
	// Elements strictly ascending.
	var last uint32
	for p := b; len(p) > 0; {
		tag := uint32(binary.LittleEndian.Uint16(p))<<16 | uint32(binary.LittleEndian.Uint16(p[2:]))
		if len(p) > 12 && tag < last {
			t.Fatalf("tag %08X after %08X", tag, last)
		}
		last = tag
		p = p[8+binary.LittleEndian.Uint32(p[4:]):]
	}
}

func elem(e uint16, v []byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, 0)
	b = binary.LittleEndian.AppendUint16(b, e)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func TestDecodeCommandMalformed(t *testing.T) {
	field := elem(elemCommandField, []byte{0x30, 0})
	dst := elem(elemCommandDataSetType, []byte{1, 1})
	cat := func(parts ...[]byte) []byte {
		return []byte(strings.Join(func() []string {
			var s []string
			for _, p := range parts {
				s = append(s, string(p))
			}
			return s
		}(), ""))
	}
	tests := map[string][]byte{
		"truncated header":    {0, 0, 0, 1},
		"length past end":     cat(field, []byte{0, 0, 0x10, 0, 0xFF, 0, 0, 0}),
		"group 0008":          cat(field, dst, []byte{8, 0, 0x16, 0, 0, 0, 0, 0}),
		"no command field":    dst,
		"no data set type":    field,
		"US of 4 bytes":       cat(elem(elemCommandField, []byte{1, 0, 0, 0}), dst),
		"repeated element":    cat(field, field, dst),
		"response w/o status": cat(elem(elemCommandField, []byte{0x30, 0x80}), dst),
		"undefined length":    cat(field, dst, []byte{0, 0, 2, 0, 0xFF, 0xFF, 0xFF, 0xFF}),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeCommand(in); !errors.Is(err, errBadCommand) {
				t.Fatalf("err %v", err)
			}
		})
	}
	if _, err := decodeCommand(cat(field, dst)); err != nil {
		t.Fatalf("minimal valid command: %v", err)
	}
}

func TestMsgAssemblerBounds(t *testing.T) {
	var m msgAssembler
	big := make([]byte, 40<<10)
	if _, err := m.addCommand(pdv{ContextID: 1, Command: true, Data: big}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.addCommand(pdv{ContextID: 1, Command: true, Data: big}); !errors.Is(err, errProtocol) {
		t.Fatalf("oversized command set accepted: %v", err)
	}
	m = msgAssembler{}
	m.addCommand(pdv{ContextID: 1, Command: true, Data: []byte{0}})
	if _, err := m.addCommand(pdv{ContextID: 3, Command: true, Last: true}); !errors.Is(err, errProtocol) {
		t.Fatalf("context switch inside a command accepted: %v", err)
	}
}
