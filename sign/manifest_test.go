package sign

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vcc/vccpki/internal/testtool"
)

func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func names(m *Manifest) []string {
	var out []string
	for _, f := range m.Files {
		out = append(out, f.Name)
	}
	return out
}

func TestManifest(t *testing.T) {
	files := map[string]string{"b.bin": "b", "a/z.txt": "z", "a/b/c.txt": "c", ".git/HEAD": "ref", "model.sig": "{}", "x.sig": "{}"}
	cases := []struct {
		name   string
		ignore []string
		want   []string
	}{
		{name: "everything, sorted, slash paths", want: []string{".git/HEAD", "a/b/c.txt", "a/z.txt", "b.bin", "model.sig", "x.sig"}},
		{name: "an element pattern leaves a directory out", ignore: []string{".git"}, want: []string{"a/b/c.txt", "a/z.txt", "b.bin", "model.sig", "x.sig"}},
		{name: "a glob on names", ignore: []string{"*.sig", ".git"}, want: []string{"a/b/c.txt", "a/z.txt", "b.bin"}},
		{name: "a relative path", ignore: []string{"a/b/c.txt"}, want: []string{".git/HEAD", "a/z.txt", "b.bin", "model.sig", "x.sig"}},
	}
	dir := tree(t, files)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := BuildManifest(dir, ManifestOptions{Ignore: tc.ignore, Workers: 3})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(m); !slices.Equal(got, tc.want) {
				t.Fatalf("files %v, want %v", got, tc.want)
			}
		})
	}
}

func TestManifestRefusals(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		opts  ManifestOptions
		check func(error) bool
	}{
		{name: "a symbolic link", setup: func(t *testing.T, dir string) {
			if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
		}, check: func(err error) bool { var s *ErrSymlink; return errors.As(err, &s) }},
		{name: "a bad pattern", opts: ManifestOptions{Ignore: []string{"["}}, check: func(err error) bool { return err != nil && strings.Contains(err.Error(), "ignore pattern") }},
		{name: "an ignored link is fine", setup: func(t *testing.T, dir string) {
			os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
		}, opts: ManifestOptions{Ignore: []string{"link"}}, check: func(err error) bool { return err == nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tree(t, map[string]string{"f": "x"})
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			_, err := BuildManifest(dir, tc.opts)
			if !tc.check(err) {
				t.Fatalf("error %v", err)
			}
		})
	}
}

// TestSHA256SUMS: sha256sum -c accepts the manifest, and refuses it once
// a file changes.
func TestSHA256SUMS(t *testing.T) {
	sha256sum := testtool.Need(t, "sha256sum")
	dir := tree(t, map[string]string{"w/a b.bin": "with a space", "c.json": "{}"})
	m, err := BuildManifest(dir, ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WriteSHA256SUMS(&buf); err != nil {
		t.Fatal(err)
	}
	sums := filepath.Join(t.TempDir(), "SHA256SUMS")
	os.WriteFile(sums, buf.Bytes(), 0o644)
	cmd := exec.Command(sha256sum, "-c", "--strict", sums)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "c.json"), []byte("{ }"), 0o644)
	cmd = exec.Command(sha256sum, "-c", "--strict", sums)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("sha256sum -c accepted a changed file:\n%s", out)
	}
}

func TestCompare(t *testing.T) {
	f := func(name string, b byte) FileDigest { return FileDigest{Name: name, SHA256: [32]byte{b}} }
	d := Compare([]FileDigest{f("a", 1), f("b", 2), f("c", 3)}, []FileDigest{f("a", 1), f("b", 9), f("d", 4)})
	if !slices.Equal(d.Changed, []string{"b"}) || !slices.Equal(d.Added, []string{"d"}) || !slices.Equal(d.Removed, []string{"c"}) {
		t.Fatalf("%+v", d)
	}
}
