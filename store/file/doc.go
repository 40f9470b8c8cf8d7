// Package file keeps Part-10 objects as files under one root folder: the blob store of a
// single-node pacsd. Keys are slash-separated relative paths; a successful Put or AdoptFile
// is durable (file fsync'd, renamed into place, directories fsync'd) before it returns.
//
// It is not an index: it never looks inside the objects, and it does not know which keys are
// referenced (store.Archive and the index do). Directories are never removed, so a Put never
// races a Delete that prunes the directory it is writing into.
package file
