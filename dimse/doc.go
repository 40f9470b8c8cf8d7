// Package dimse implements the DICOM upper layer (PS3.8: PDUs, the association state
// machine, presentation-context negotiation) and DIMSE messages (PS3.7: command sets,
// C-ECHO, C-STORE), as an SCP (Server) and a small SCU (Client, StoreAll).
//
// It knows nothing of storage: a C-STORE data set reaches a StoreHandler as a stream of
// the bytes the peer sent, in the negotiated transfer syntax, never held whole in memory,
// and the C-STORE-RSP carries the status the handler returned, after it returned.
//
// Layout: pdu.go encodes and decodes the seven PDU types side by side, bounding every
// length before allocating; fsm.go holds the state table of PS3.8 Table 9-10 as data and
// assoc.go performs its actions; negotiate.go answers A-ASSOCIATE-RQ; command.go reads and
// writes command sets; server.go and scp.go are the SCP (lifecycle modelled on net/http:
// Serve, Shutdown, Close); client.go and sender.go the SCU.
//
// TLS (the Secure Transport Connection profiles, PS3.15 B.1) sits below this package:
// Server.Serve takes any net.Listener, so a tls.NewListener serves DICOM TLS (cmd/pacsd's
// --dicom-tls-addr), and Dial secures the connection when ClientConfig.TLS is set (pacsd
// echo/send --tls).
//
// What it is not (yet): C-FIND, C-MOVE, C-GET and the N- services are answered with
// "unrecognized operation" (0x0211); there is no extended negotiation and no asynchronous
// operations window beyond one.
package dimse
