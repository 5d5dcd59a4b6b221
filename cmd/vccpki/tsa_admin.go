package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vcc/vccpki/tsa"
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
	var q tsa.Query
	var err error
	switch {
	case *serialText != "":
		q, err = tsa.SerialQuery(*serialText)
	case *imprintText != "":
		q, err = tsa.ImprintQuery(*imprintText)
	default:
		data, rerr := os.ReadFile(*dataPath)
		if rerr != nil {
			return rerr
		}
		q = tsa.DataQuery(data, *dataPath)
	}
	if err != nil {
		return &exitError{2, err.Error()}
	}
	a, err := openApp(ctx, cf)
	if err != nil {
		return err
	}
	defer a.Close()
	found, err := tsa.Lookup(ctx, a.store, q)
	if err != nil {
		return err
	}
	if err := a.audit(ctx, "tsa.lookup", q.What, fmt.Sprintf("ok: %d found", len(found))); err != nil {
		return err
	}
	if len(found) == 0 {
		return &exitError{1, "no time-stamp token recorded for " + q.What}
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
