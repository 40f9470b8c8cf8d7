package sqldb

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered schema change: a file NNNN_what.sql.
type Migration struct {
	Version int
	Name    string // the file's path in its file system
	SQL     string
}

// Migrations reads the migrations in dir of fsys, in version order. Every file must start
// with its number; two files with one number are an error.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var ms []Migration
	seen := map[int]string{}
	for _, f := range files {
		base := path.Base(f)
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number", base)
		}
		if other, ok := seen[n]; ok {
			return nil, fmt.Errorf("migrations %s and %s have one number", other, base)
		}
		seen[n] = base
		body, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: n, Name: f, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Pending is what must run on a database at version cur; an error when the database is
// newer than every migration known (a newer pacsd wrote it).
func Pending(ms []Migration, cur int) ([]Migration, error) {
	if len(ms) > 0 && cur > ms[len(ms)-1].Version {
		return nil, fmt.Errorf("database schema version %d is newer than this pacsd (%d)", cur, ms[len(ms)-1].Version)
	}
	i := sort.Search(len(ms), func(i int) bool { return ms[i].Version > cur })
	return ms[i:], nil
}
