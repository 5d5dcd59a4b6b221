// Package der holds checks on DER that the parsers of untrusted input
// (OCSP and time-stamp requests) share.
package der

// MinimalInteger reports whether b is the contents of a DER INTEGER: at
// least one byte and the shortest two's complement encoding, with no
// redundant leading 0x00 or 0xff (X.690 §8.3.2).
func MinimalInteger(b []byte) bool {
	switch {
	case len(b) == 0:
		return false
	case len(b) == 1:
		return true
	case b[0] == 0 && b[1]&0x80 == 0, b[0] == 0xff && b[1]&0x80 != 0:
		return false
	}
	return true
}
