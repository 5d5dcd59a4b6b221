package fleet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteRecipe writes a recipe's files into dir (made 0700 if missing).
// Each file is written under a fresh name in dir (created exclusively,
// 0600), given its mode, then renamed into place: an existing file is
// replaced, never written through, so it cannot keep a looser mode, and
// a symbolic link (or anything but a regular file) in the way is refused,
// its target left untouched.
func WriteRecipe(dir string, files []RecipeFile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeReplacing(filepath.Join(dir, f.Name), []byte(f.Body), fs.FileMode(f.Mode)); err != nil {
			return err
		}
	}
	return nil
}

func writeReplacing(path string, data []byte, mode fs.FileMode) (err error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("refusing to write %s: it is a %s, not a regular file", path, kindOf(fi.Mode()))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}
