package sign

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// FileDigest is one regular file of a directory: its path relative to the
// directory (slash-separated) and its SHA-256.
type FileDigest struct {
	Name   string
	SHA256 [sha256.Size]byte
}

// Manifest is the sorted list of a directory's files and their digests,
// with the patterns that were left out.
type Manifest struct {
	Files  []FileDigest
	Ignore []string
}

// ManifestOptions say what to leave out of a manifest.
type ManifestOptions struct {
	// Ignore holds path.Match patterns, matched against each relative path
	// and against each of its elements (so "*.sig" or ".git" leave a file
	// out wherever it is). A matching directory is not walked.
	Ignore []string
	// Workers digest files in parallel (default: GOMAXPROCS).
	Workers int
}

// ErrSymlink is returned for a symbolic link in a directory: a link may
// point outside the directory, so what it names is not what was signed.
// Manifests refuse links rather than follow them (model_signing's
// allow_symlinks=false).
type ErrSymlink struct{ Path string }

func (e *ErrSymlink) Error() string {
	return fmt.Sprintf("%s is a symbolic link: links are refused (copy the file into the directory, or --ignore it)", e.Path)
}

// ignored reports whether a relative path matches one of the patterns.
func ignored(rel string, patterns []string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, rel); ok {
			return true
		}
		for _, el := range strings.Split(rel, "/") {
			if ok, _ := path.Match(p, el); ok {
				return true
			}
		}
	}
	return false
}

// CheckPatterns refuses malformed path.Match patterns.
func CheckPatterns(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("ignore pattern %q: %w", p, err)
		}
	}
	return nil
}

// BuildManifest walks dir and digests every regular file not ignored.
// Symbolic links and special files are refused.
func BuildManifest(dir string, opts ManifestOptions) (*Manifest, error) {
	if err := CheckPatterns(opts.Ignore); err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	var names []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ignored(rel, opts.Ignore) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return &ErrSymlink{Path: p}
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a regular file (%s)", p, d.Type())
		}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	files, err := digestAll(dir, names, opts.Workers)
	if err != nil {
		return nil, err
	}
	return &Manifest{Files: files, Ignore: append([]string(nil), opts.Ignore...)}, nil
}

// digestAll digests the named files in parallel, keeping their order.
func digestAll(dir string, names []string, workers int) ([]FileDigest, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	files := make([]FileDigest, len(names))
	errs := make([]error, len(names))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			for i := range next {
				files[i].Name = names[i]
				files[i].SHA256, errs[i] = DigestFile(filepath.Join(dir, filepath.FromSlash(names[i])), buf)
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// DigestFile returns the SHA-256 of a file's content. buf may be nil.
func DigestFile(name string, buf []byte) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(name)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if buf == nil {
		buf = make([]byte, 1<<20)
	}
	if _, err := io.CopyBuffer(h, f, buf); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// WriteSHA256SUMS writes the manifest as `sha256sum -c` reads it: one
// line per file, the hex digest, two spaces (text mode; the digest is the
// same in binary mode on every system sha256sum runs on here), the path.
// Names with a newline or backslash cannot be written that way and are
// refused.
func (m *Manifest) WriteSHA256SUMS(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, f := range m.Files {
		if strings.ContainsAny(f.Name, "\n\r\\") {
			return fmt.Errorf("%q: a name with a newline or backslash cannot be written in SHA256SUMS", f.Name)
		}
		fmt.Fprintf(bw, "%s  %s\n", hex.EncodeToString(f.SHA256[:]), f.Name)
	}
	return bw.Flush()
}

// Diff compares a signed manifest (want) with the one built now (got).
type Diff struct {
	Changed, Added, Removed []string
}

// Empty reports whether the two manifests are the same.
func (d Diff) Empty() bool { return len(d.Changed)+len(d.Added)+len(d.Removed) == 0 }

// Compare lists the files whose digest differs, the files present only
// in got (added) and those present only in want (removed).
func Compare(want, got []FileDigest) Diff {
	var d Diff
	w := make(map[string][sha256.Size]byte, len(want))
	for _, f := range want {
		w[f.Name] = f.SHA256
	}
	seen := make(map[string]bool, len(got))
	for _, f := range got {
		seen[f.Name] = true
		sum, ok := w[f.Name]
		switch {
		case !ok:
			d.Added = append(d.Added, f.Name)
		case sum != f.SHA256:
			d.Changed = append(d.Changed, f.Name)
		}
	}
	for _, f := range want {
		if !seen[f.Name] {
			d.Removed = append(d.Removed, f.Name)
		}
	}
	return d
}
