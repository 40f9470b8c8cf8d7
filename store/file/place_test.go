package file

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestPlaceSyncsAfterRename: AdoptFile makes every metadata change first (new folders, the
// rename) and fsyncs after, so that one journal commit holds them all; and it still fsyncs,
// before returning, the object, every folder that gained an entry and the object's folder.
// An object already at the key (the same content stored before, perhaps a kept version's
// blob) is never replaced by bytes not yet durable: the source is synced before the rename.
func TestPlaceSyncsAfterRename(t *testing.T) {
	root := t.TempDir()
	b, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		path    string
		atFinal bool // the object was at its key when the call was made
	}
	var calls []call
	var final string
	t.Cleanup(func() { fsync = (*os.File).Sync })
	fsync = func(f *os.File) error {
		_, err := os.Stat(final)
		calls = append(calls, call{f.Name(), err == nil})
		return f.Sync()
	}
	spool := func(name, body string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	const key = "ab/1.2.3/1.2.3.4/1.2.3.4.5.0123456789abcdef.dcm"
	final = filepath.Join(root, filepath.FromSlash(key))

	src := spool("put-1.spool", "object")
	if err := b.AdoptFile(ctx, key, src); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range calls {
		if !c.atFinal {
			t.Errorf("fsync of %s before the rename: one journal commit each", c.path)
		}
		got = append(got, c.path)
	}
	want := []string{final, root, filepath.Join(root, "ab"), filepath.Join(root, "ab", "1.2.3"),
		filepath.Join(root, "ab", "1.2.3", "1.2.3.4")}
	if !slices.Equal(got, want) {
		t.Errorf("fsyncs:\n got %q\nwant %q (the object first, then each folder that gained an entry)", got, want)
	}
	if b, err := os.ReadFile(final); err != nil || string(b) != "object" {
		t.Fatalf("adopted object: %q, %v", b, err)
	}

	// The same key again (same content): the source is synced before it replaces the object.
	calls = nil
	src = spool("put-2.spool", "object")
	if err := b.AdoptFile(ctx, key, src); err != nil {
		t.Fatal(err)
	}
	if len(calls) < 2 || calls[0].path != src || calls[1].path != final {
		t.Fatalf("re-adopting an existing key: fsyncs %+v, want the source first, then the object", calls)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Errorf("source still there after adoption: %v", err)
	}
}

// TestPlaceMakesFoldersOnlyWhenMissing: an object whose folder exists is renamed straight
// into it (no folder is made, only the object and its folder are synced); when the rename
// finds the folder missing (first object of a series, or a Delete pruned it) the folders
// are made and every one that gained an entry is synced, as for the first object.
func TestPlaceMakesFoldersOnlyWhenMissing(t *testing.T) {
	root := t.TempDir()
	b, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	var synced []string
	t.Cleanup(func() { fsync = (*os.File).Sync })
	fsync = func(f *os.File) error {
		synced = append(synced, f.Name())
		return f.Sync()
	}
	ctx := context.Background()
	adopt := func(key, body string) {
		t.Helper()
		synced = nil
		p := filepath.Join(t.TempDir(), "put-1.spool")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := b.AdoptFile(ctx, key, p); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
		if err != nil || string(got) != body {
			t.Fatalf("adopted %s: %q, %v", key, got, err)
		}
	}
	series := filepath.Join(root, "ab", "1.2.3", "1.2.3.4")
	chain := []string{root, filepath.Join(root, "ab"), filepath.Join(root, "ab", "1.2.3"), series}

	adopt("ab/1.2.3/1.2.3.4/1.2.3.4.5.0123456789abcdef.dcm", "first")
	if want := append([]string{filepath.Join(series, "1.2.3.4.5.0123456789abcdef.dcm")}, chain...); !slices.Equal(synced, want) {
		t.Errorf("first object: fsyncs\n got %q\nwant %q", synced, want)
	}
	adopt("ab/1.2.3/1.2.3.4/1.2.3.4.6.0123456789abcdef.dcm", "second")
	if want := []string{filepath.Join(series, "1.2.3.4.6.0123456789abcdef.dcm"), series}; !slices.Equal(synced, want) {
		t.Errorf("second object of the series: fsyncs\n got %q\nwant %q", synced, want)
	}
	if err := os.RemoveAll(filepath.Join(root, "ab")); err != nil {
		t.Fatal(err)
	}
	adopt("ab/1.2.3/1.2.3.4/1.2.3.4.7.0123456789abcdef.dcm", "after the folders went")
	if want := append([]string{filepath.Join(series, "1.2.3.4.7.0123456789abcdef.dcm")}, chain...); !slices.Equal(synced, want) {
		t.Errorf("object whose folders were pruned: fsyncs\n got %q\nwant %q", synced, want)
	}
}
