package viewer

import "io/fs"

// filesOnly serves the files of an fs.FS and nothing else: opening a directory fails as if
// it did not exist, so that http.FileServer answers 404 where it would list it (what the
// binary carries is nobody's business but the pages').
type filesOnly struct{ fs.FS }

func (f filesOnly) Open(name string) (fs.File, error) {
	file, err := f.FS.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := file.Stat()
	if err != nil || st.IsDir() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return file, nil
}
