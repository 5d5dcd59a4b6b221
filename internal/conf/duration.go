// Package conf holds what the configuration file's sections share: the
// duration syntax.
package conf

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a configuration duration: Go syntax ("90m", "2160h") or
// whole days ("3650d").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads a positive duration in Go syntax, whole days or
// whole years of 365 days ("5y").
func ParseDuration(s string) (time.Duration, error) {
	if years, ok := strings.CutSuffix(s, "y"); ok {
		n, err := strconv.Atoi(years)
		if err != nil || n <= 0 || n > 100 {
			return 0, fmt.Errorf("%q is not a duration (use e.g. 5y, 30d or 720h)", s)
		}
		return time.Duration(n) * 365 * 24 * time.Hour, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a duration (use e.g. 30d or 720h)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a duration (use e.g. 30d or 720h)", s)
	}
	return v, nil
}
