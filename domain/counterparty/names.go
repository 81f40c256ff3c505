package counterparty

import "strconv"

// quote bounds what an error repeats of caller input.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strconv.Quote(s)
}
