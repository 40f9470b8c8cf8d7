// Package dimse implements the DICOM upper layer (PS3.8: PDUs, the association state
// machine, presentation-context negotiation) and DIMSE messages (PS3.7: command sets,
// C-ECHO, C-STORE), as an SCP (Server) and a small SCU (Client).
//
// It knows nothing of storage: a C-STORE data set reaches a StoreHandler as a stream of
// the bytes the peer sent, in the negotiated transfer syntax, never held whole in memory.
package dimse
