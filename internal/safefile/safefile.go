// Package safefile writes files that hold keys, credentials or trust
// anchors without following links someone else placed and without keeping
// an old file's mode.
package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write puts data at path with the given mode. The data goes to a fresh
// file in path's directory (created exclusively, 0600), is given its mode
// and synced, then renamed into place: an existing file is replaced, never
// written through, so it cannot keep a looser mode, and a symbolic link
// (or anything but a regular file) in the way is refused, its target left
// untouched. A crash leaves the old file or the new one, never half of it.
func Write(path string, data []byte, mode fs.FileMode) (err error) {
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
