package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// fileConfig is the YAML schema of a template. It is only decoded into;
// validate turns it into a Profile. Pointers mark fields whose absence
// differs from their zero value.
type fileConfig struct {
	Description     string            `yaml:"description"`
	Issuer          string            `yaml:"issuer"`
	Organisation    string            `yaml:"organisation"`
	Protocols       []string          `yaml:"protocols"`
	Identifiers     identifiersConfig `yaml:"identifiers"`
	Keys            []keyConfig       `yaml:"keys"`
	Validity        string            `yaml:"validity"`
	Backdate        *string           `yaml:"backdate"`
	KeyUsage        []string          `yaml:"key_usage"`
	ExtKeyUsage     []string          `yaml:"ext_key_usage"`
	RenewalFraction *float64          `yaml:"renewal_fraction"`
	RequireBinding  bool              `yaml:"require_binding"`
	LintIgnore      []string          `yaml:"lint_ignore"`
	EST             *estConfig        `yaml:"est"`
}

type identifiersConfig struct {
	DNS           []string `yaml:"dns"`
	IP            []string `yaml:"ip"`
	URI           []string `yaml:"uri"`
	AllowWildcard bool     `yaml:"allow_wildcard"`
	Subject       string   `yaml:"subject"`
	SubjectURI    string   `yaml:"subject_uri"`
	MaxNames      *int     `yaml:"max_names"`
}

type keyConfig struct {
	Type    string   `yaml:"type"`
	Curves  []string `yaml:"curves"`
	MinBits *int     `yaml:"min_bits"`
	MaxBits *int     `yaml:"max_bits"`
}

// fieldErr formats the one error shape of this package: one line per error.
func fieldErr(file, field, reason string) error {
	reason = oneLine(reason)
	if field == "" {
		return errors.New(file + ": " + reason)
	}
	return errors.New(file + ": field " + strconv.Quote(field) + ": " + reason)
}

// oneLine escapes control characters (a YAML tag or value may hold any).
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// decode decodes data strictly into cfg. It returns the decoding errors,
// already naming file and field; the top-level fields they concern, so that
// validation does not report a second, derived error for them; and whether
// the failure is fatal (nothing useful was decoded).
func decode(file string, data []byte, cfg *fileConfig) ([]error, map[string]bool, bool) {
	if len(data) > maxFileSize {
		return []error{fieldErr(file, "", fmt.Sprintf("larger than %d bytes; not a profile template", maxFileSize))}, nil, true
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if errors.Is(err, io.EOF) {
		return nil, nil, false // empty file: validation reports the missing fields
	}
	var te *yaml.TypeError
	if err != nil && !errors.As(err, &te) {
		return []error{fieldErr(file, "", "not valid YAML: "+strings.TrimPrefix(err.Error(), "yaml: "))}, nil, true
	}
	if te == nil {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if !errors.Is(err, io.EOF) {
			return []error{fieldErr(file, "", "holds more than one YAML document (a template is one mapping)")}, nil, true
		}
		return nil, nil, false
	}

	// Type errors carry only a line number: find the field from the node
	// tree. The syntax is valid here, so the second parse succeeds.
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	var spots []spot
	collect(&root, "", &spots)
	var errs []error
	bad := make(map[string]bool)
	fatal := false
	for _, msg := range te.Errors {
		field, reason := explain(msg, spots)
		if field == "" {
			fatal = true
		}
		bad[topLevel(field)] = true
		errs = append(errs, fieldErr(file, field, reason))
	}
	return errs, bad, fatal
}

// spot is a node of the document with its line and field path.
type spot struct {
	line  int
	path  string // "keys[1].min_bits"; "" for the document
	key   bool   // a mapping key rather than a value
	value string // scalar text or key name
}

func collect(n *yaml.Node, path string, out *[]spot) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			collect(c, path, out)
		}
	case yaml.MappingNode:
		*out = append(*out, spot{line: n.Line, path: path})
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			*out = append(*out, spot{line: k.Line, path: p, key: true, value: k.Value})
			collect(v, p, out)
		}
	case yaml.SequenceNode:
		*out = append(*out, spot{line: n.Line, path: path})
		for i, c := range n.Content {
			collect(c, path+"["+strconv.Itoa(i)+"]", out)
		}
	default: // scalars and aliases; aliases are not followed
		*out = append(*out, spot{line: n.Line, path: path, value: n.Value})
	}
}

var (
	reLine     = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
	reUnknown  = regexp.MustCompile(`(?s)^field (.*) not found in type (\S+)$`)
	reDup      = regexp.MustCompile(`(?s)^mapping key (".*") already defined at line (\d+)$`)
	reUnmarsh  = regexp.MustCompile("(?s)^cannot unmarshal (.+?)(?: `(.*)`)? into (.+)$")
	knownByTyp = map[string]string{}
)

func init() {
	for _, v := range []any{fileConfig{}, identifiersConfig{}, keyConfig{}, estConfig{}} {
		t := reflect.TypeOf(v)
		var names []string
		for i := range t.NumField() {
			names = append(names, strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0])
		}
		knownByTyp[t.String()] = strings.Join(names, ", ")
	}
}

// explain turns one yaml.v3 type error message into a field path ("" if it
// concerns no field) and a reason a person can act on.
func explain(msg string, spots []spot) (string, string) {
	m := reLine.FindStringSubmatch(msg)
	if m == nil {
		return "", msg
	}
	line, _ := strconv.Atoi(m[1])
	rest := m[2]
	at := " (line " + m[1] + ")"
	if u := reUnknown.FindStringSubmatch(rest); u != nil {
		field := find(spots, line, true, func(s spot) bool { return s.value == u[1] })
		return field, "unknown field" + at + "; known fields here: " + knownByTyp[u[2]]
	}
	if d := reDup.FindStringSubmatch(rest); d != nil {
		field := find(spots, line, true, func(s spot) bool { return strconv.Quote(s.value) == d[1] })
		return field, "given twice" + at + ", first at line " + d[2]
	}
	if u := reUnmarsh.FindStringSubmatch(rest); u != nil {
		tag, val, typ := u[1], u[2], u[3]
		if typ == "profile.fileConfig" {
			return "", "the document is " + describeTag(tag, val) + ", not a mapping of profile fields" + at
		}
		field := find(spots, line, false, func(s spot) bool {
			if trunc, ok := strings.CutSuffix(val, "..."); ok && len(val) == 10 {
				return strings.HasPrefix(s.value, trunc)
			}
			return s.value == val
		})
		if field == "" {
			field = find(spots, line, false, func(spot) bool { return true })
		}
		if field == "" {
			return "", describeTag(tag, val) + " is not " + describeType(typ) + at
		}
		return field, describeTag(tag, val) + " is not " + describeType(typ) + at
	}
	return "", msg
}

// find returns the path of the first spot on line that satisfies ok.
func find(spots []spot, line int, key bool, ok func(spot) bool) string {
	for _, s := range spots {
		if s.line == line && s.key == key && s.path != "" && ok(s) {
			return s.path
		}
	}
	return ""
}

func describeTag(tag, val string) string {
	switch tag {
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	}
	return strconv.Quote(val)
}

func describeType(goType string) string {
	switch goType {
	case "int":
		return "an integer"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "[]string":
		return "a list of strings"
	case "[]profile.keyConfig":
		return "a list of key rules"
	case "profile.keyConfig":
		return "a key rule mapping (type, curves, min_bits, max_bits)"
	case "profile.estConfig":
		return "a mapping (auth, channel_binding)"
	case "profile.identifiersConfig":
		return "a mapping (dns, ip, allow_wildcard, subject, subject_uri, max_names)"
	}
	return goType
}

// topLevel returns the top-level field of a path: "keys" for "keys[0].type".
func topLevel(path string) string {
	if i := strings.IndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return path
}
