package fleet

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vcc/vccpki/internal/safefile"
)

// WriteRecipe writes a recipe's files into dir (made 0700 if missing).
// Each file is written with safefile.Write: replaced, never written
// through, and never through a symbolic link.
func WriteRecipe(dir string, files []RecipeFile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		if err := safefile.Write(filepath.Join(dir, f.Name), []byte(f.Body), fs.FileMode(f.Mode)); err != nil {
			return err
		}
	}
	return nil
}
