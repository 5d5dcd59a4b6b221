package api

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vcc/vccpki/api/auth"
)

func TestFileConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		enabled    bool
		roles      []string
		err        string
	}{
		{"defaults", ``, true, auth.DefaultRoles.Names(), ""},
		{"disabled", "enabled: false", false, auth.DefaultRoles.Names(), ""},
		{"own roles", "roles: {ops: ['cert:*', 'ca:read'], root: ['*']}\nrate: {burst: 5, every: 2s}\napproval_ttl: 4h", true, []string{"ops", "root"}, ""},
		{"unknown permission", "roles: {ops: ['cert:steal']}", true, nil, `"cert:steal" is not a permission`},
		{"unknown resource", "roles: {ops: ['moon:*']}", true, nil, `"moon:*" is not a permission`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f FileConfig
			if err := yaml.Unmarshal([]byte(tc.yaml), &f); err != nil {
				t.Fatal(err)
			}
			s, err := f.Settings()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || s.Enabled != tc.enabled || strings.Join(s.Roles.Names(), ",") != strings.Join(tc.roles, ",") {
				t.Errorf("settings %+v, %v", s, err)
			}
		})
	}
}
