// Package audit is the audit trail: who (a user, a DICOM AE title, an anonymous holder of
// a link, pacsd itself) did what (viewed, retrieved, queried, signed, logged in, changed a
// user or a site, shared, exported, deleted) to which patient and study, when (UTC), from
// which address, and with what outcome. Chinese regulation (等保 2.0, 网络安全法 §21: logs
// kept at least six months) and IHE ATNA ask for it.
//
// Event is one record; Action is a closed set, each with its Chinese label. Store keeps
// events append-only (store/sqlite implements it; audittest is the contract every
// implementation passes); Filter searches them, newest first, paged by cursor. WriteCSV
// exports a search for Excel. Recorder is what request paths call: Record queues the event
// and returns, one goroutine appends the queue in batches (one transaction each), and a
// full queue makes the caller wait briefly and then write its own event: an event is never
// dropped to keep a request fast. Syslog forwards every event to a collector as an RFC 5424
// message carrying the DICOM audit message (PS3.15 A.5), from its own bounded queue, so a
// collector that is down costs the recorded paths nothing.
//
// It is not access control (viewer and dicomweb decide who may see what) and knows nothing
// of HTTP or SQL. Patient names and IDs in events are PHI: they go to the store, the export
// and the collector, never to the log.
package audit
