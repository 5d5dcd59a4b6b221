package der

import "testing"

func TestMinimalInteger(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want bool
	}{
		{"empty", nil, false},
		{"zero", []byte{0}, true},
		{"minus one", []byte{0xff}, true},
		{"positive with needed zero", []byte{0x00, 0x80}, true},
		{"redundant zero", []byte{0x00, 0x7f}, false},
		{"negative", []byte{0xff, 0x7f}, true},
		{"redundant ff", []byte{0xff, 0x80}, false},
		{"long", []byte{0x01, 0x00, 0x00}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MinimalInteger(tc.in); got != tc.want {
				t.Errorf("MinimalInteger(%x) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
