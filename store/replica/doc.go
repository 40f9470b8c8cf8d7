// Package replica copies SQLite databases in WAL mode to a bucket as they change, and
// rebuilds them from it (Restore): what lets a county that loses its server get the index,
// the reading room's users, reports and sessions, and the audit trail back with `pacsd
// restore`, while the objects themselves never left the bucket.
//
// It works the way litestream does, written here on the bucket client pacsd already has
// (litestream itself brings its own S3, GCS and Azure clients, and in v0.3 adds tables to
// the database it replicates). For each database:
//
//   - A generation begins with a snapshot: SQLite's online backup of the database as one
//     read transaction sees it, gzipped. Every process start begins one, and so does every
//     SnapshotInterval, so a restore replays at most that much WAL.
//   - Every Interval (1 s) the WAL frames committed since the last segment are read from the
//     -wal file, checked (salt, checksum chain) and uploaded as the next segment: whole
//     transactions only, up to the last commit frame, as the pages a checkpoint of them
//     would write (the last version of each page), which is what a restore applies.
//   - A read transaction (the pin) is held all the while, so SQLite cannot restart the WAL
//     under frames not yet read; it moves forward after each segment (the new one begun
//     before the old one ends), so the owner's own automatic checkpoints keep copying frames
//     into the database. Once the WAL has CheckpointFrames frames the replicator checkpoints
//     up to its pin, reads what was written meanwhile (a few rounds), and then, holding the
//     write lock for the last few milliseconds' frames, checkpoints the rest and pins again:
//     the restart SQLite does at the next write is the continuation a restore expects
//     (salt-1 and checkpoint sequence one more). A WAL reset anyway (seen by its salt)
//     begins a new generation.
//
// Objects (gzip of a JSON header line and a body) sit under the bucket's reserved folder
// (in pacsd: <prefix>/.pacsd/replica/, a name no blob key can have):
//
//	<db>/<generation>/snapshot.gz
//	<db>/<generation>/wal/<seq, 16 hex>.gz
//
// Each object says its WAL header, first frame, frame count, the checksum chain's value
// before and after, and its body's SHA-256, so a restore applies a segment only when it
// continues the previous one exactly; a damaged or missing segment ends the restore there
// (what follows would not continue the database). A restore takes the newest generation
// whose snapshot reads back whole, and its result must pass PRAGMA integrity_check.
//
// The recovery point: a transaction is in the bucket within Interval plus one upload of its
// commit (about 1-2 s on a LAN); while the bucket is unreachable the WAL grows locally
// and nothing is lost until the server is. The two newest generations are kept.
package replica
