package main

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vcc/vccpki/store"
)

// tokenView is one record as tsa lookup prints it.
type tokenView struct {
	Serial  int64     `json:"serial"`
	Time    time.Time `json:"time"`
	Hash    string    `json:"hash"`
	Imprint string    `json:"imprint"`
	Policy  string    `json:"policy"`
}

func runTSALookup(ctx context.Context, args []string, out io.Writer) error {
	fs, cf := newFlags("tsa lookup", "--serial N | --imprint HEX | --file FILE [--json]", out)
	serialText := fs.String("serial", "", "token serial: decimal, or hex with 0x as 'openssl ts -reply -text' prints it")
	imprintText := fs.String("imprint", "", "the hashed message, in hex (spaces, colons and dashes are ignored)")
	dataPath := fs.String("file", "", "a file: finds tokens over its SHA-256, SHA-384 or SHA-512 digest")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := parse(fs, args); err != nil {
		return err
	}
	given := 0
	for _, s := range []string{*serialText, *imprintText, *dataPath} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return &exitError{2, "tsa lookup needs exactly one of --serial, --imprint and --file"}
	}
	var (
		serial   int64
		imprints [][]byte
		what     string
		err      error
	)
	switch {
	case *serialText != "":
		if serial, err = parseTokenSerial(*serialText); err != nil {
			return &exitError{2, err.Error()}
		}
		what = fmt.Sprintf("serial %d", serial)
	case *imprintText != "":
		clean := strings.NewReplacer(" ", "", ":", "", "-", "", "\n", "").Replace(strings.TrimPrefix(strings.ToLower(*imprintText), "0x"))
		b, err := hex.DecodeString(clean)
		if err != nil || len(b) == 0 {
			return &exitError{2, fmt.Sprintf("--imprint %q is not hex", *imprintText)}
		}
		imprints, what = [][]byte{b}, "imprint "+clean
	default:
		data, err := os.ReadFile(*dataPath)
		if err != nil {
			return err
		}
		s256, s384, s512 := sha256.Sum256(data), sha512.Sum384(data), sha512.Sum512(data)
		imprints, what = [][]byte{s256[:], s384[:], s512[:]}, "file "+*dataPath
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	records := a.store
	var found []store.TimestampRecord
	if imprints == nil {
		r, err := records.TimestampBySerial(ctx, serial)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil {
			found = append(found, r)
		}
	}
	for _, im := range imprints {
		rs, err := records.TimestampsByImprint(ctx, im)
		if err != nil {
			return err
		}
		found = append(found, rs...)
	}
	if err := a.audit(ctx, "tsa.lookup", what, fmt.Sprintf("ok: %d found", len(found))); err != nil {
		return err
	}
	if len(found) == 0 {
		return &exitError{1, "no time-stamp token recorded for " + what}
	}
	views := make([]tokenView, len(found))
	for i, r := range found {
		views[i] = tokenView{r.Serial, r.Time, r.Hash, hex.EncodeToString(r.Imprint), r.Policy}
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "serial:   %d (0x%x)\ntime:     %s\nhash:     %s\nimprint:  %s\npolicy:   %s\n",
			v.Serial, v.Serial, v.Time.Format("2006-01-02T15:04:05.999999Z07:00"), v.Hash, v.Imprint, v.Policy)
	}
	return nil
}

// parseTokenSerial reads a serial as openssl prints it ("0x2A") or in
// decimal.
func parseTokenSerial(s string) (int64, error) {
	s = strings.TrimSpace(s)
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = strings.ReplaceAll(h, ":", ""), 16
	}
	n, err := strconv.ParseInt(s, base, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--serial %q is not a time-stamp serial (decimal, or hex with 0x)", s)
	}
	return n, nil
}
