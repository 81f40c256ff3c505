// Package text checks the free-text fields of commands (names, descriptions, logins' display parts) the same
// way in every aggregate: valid UTF-8, bounded, trimmed, no control characters. It is pure: no I/O, and it
// reports why a value is refused so each aggregate can name the field in its own error type.
package text

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Rule says what one field accepts.
type Rule struct {
	MaxRunes  int  // at most this many characters after trimming
	Required  bool // a blank value is refused
	Multiline bool // line breaks and tabs are allowed (descriptions); other control characters never are
}

// Clean returns s trimmed of surrounding space, or an error whose text says why s is refused.
func Clean(s string, r Rule) (string, error) {
	if len(s) > 4*r.MaxRunes+64 { // cheap bound before scanning: a rune is at most 4 bytes
		return "", fmt.Errorf("longer than %d characters", r.MaxRunes)
	}
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	if r.Required && s == "" {
		return "", errors.New("required")
	}
	if utf8.RuneCountInString(s) > r.MaxRunes {
		return "", fmt.Errorf("longer than %d characters", r.MaxRunes)
	}
	if strings.ContainsFunc(s, func(c rune) bool { return unicode.IsControl(c) && !(r.Multiline && (c == '\n' || c == '\t')) }) {
		return "", errors.New("contains a control character")
	}
	return s, nil
}

// Phone checks an optional phone number in the E.164 spirit: an optional +, then 5 to 15 digits, at most
// maxBytes in all. It returns the trimmed number ("" for none) or why it is refused.
func Phone(s string, maxBytes int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	digits := strings.TrimPrefix(s, "+")
	if len(s) > maxBytes || len(digits) < 5 || len(digits) > 15 || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return "", errors.New("must be an optional + and 5 to 15 digits")
	}
	return s, nil
}
