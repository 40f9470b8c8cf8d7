// Package dimse implements the DICOM upper layer (PS3.8: PDUs, the association state
// machine, presentation-context negotiation with SCP/SCU role selection) and DIMSE messages
// (PS3.7: command sets, C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET, C-CANCEL), as an SCP
// (Server) and a small SCU (Client, StoreAll, StoreVia).
//
// It knows nothing of storage or of queries: a C-STORE data set reaches a StoreHandler as a
// stream of the bytes the peer sent, in the negotiated transfer syntax, never held whole in
// memory, and the C-STORE-RSP carries the status the handler returned, after it returned.
// A C-FIND, C-MOVE or C-GET reaches a FindHandler, MoveHandler or GetHandler with its
// identifier (bounded by Server.MaxIdentifierLength) while the association goes on being
// read: pending responses go out as the handler produces them, a C-CANCEL-RQ or an abort
// cancels the handler's context, and the final response follows its return (PS3.4 Annex C).
// A C-MOVE handler sends over its own association (Dial with ClientConfig.MoveOriginator);
// a C-GET handler sends C-STORE sub-operations back over the request's association, on the
// storage contexts where the requester took the SCP role (PS3.7 D.3.3.4), through a
// SubStorer. StoreVia sends items through either with StoreAll's transfer-syntax rule.
//
// Layout: pdu.go encodes and decodes the seven PDU types side by side, bounding every
// length before allocating; fsm.go holds the state table of PS3.8 Table 9-10 as data and
// assoc.go performs its actions; negotiate.go answers A-ASSOCIATE-RQ; command.go reads and
// writes command sets; server.go and scp.go are the SCP (lifecycle modelled on net/http:
// Serve, Shutdown, Close), query.go its query/retrieve side; client.go and sender.go the
// SCU.
//
// TLS (the Secure Transport Connection profiles, PS3.15 B.1) sits below this package:
// Server.Serve takes any net.Listener, so a tls.NewListener serves DICOM TLS (cmd/pacsd's
// --dicom-tls-addr; AssociationInfo.TLS and QueryRequest.TLS tell a handler), and Dial
// secures the connection when ClientConfig.TLS is set (pacsd echo/send --tls).
//
// What it is not (yet): the N- services are answered with "unrecognized operation"
// (0x0211); there is no extended negotiation (relational queries, PS3.4 C.5) and no
// asynchronous operations window beyond one: a request arriving while a C-FIND, C-MOVE or
// C-GET is outstanding aborts the association.
package dimse
