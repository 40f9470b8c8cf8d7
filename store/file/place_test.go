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
