package iban

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLength is the most characters an IBAN may have in electronic form (ISO 13616). The registry's longest
// today is Russia's 33.
const MaxLength = 34

// maxPaperLength bounds how much of the input is scanned: MaxLength characters in groups of 4 need 8 spaces.
const maxPaperLength = MaxLength + (MaxLength-1)/4

// IBAN is an IBAN in electronic form: upper-case letters and digits, no spaces. Parse and Generate return only
// valid ones. It deliberately has no UnmarshalText: events store it as a plain string, and replaying history
// must not fail because a later registry release changed a country's length.
type IBAN string

// Kinds of error. Every error of Parse, CheckDigits and Generate is an *Error whose Kind is one of these, so
// callers match with errors.Is and show Reason.
var (
	ErrEmpty       = errors.New("iban: empty")
	ErrCharset     = errors.New("iban: bad characters")
	ErrCountry     = errors.New("iban: unknown country")
	ErrLength      = errors.New("iban: wrong length")
	ErrCheckDigits = errors.New("iban: bad check digits")
)

// Error says exactly what is wrong with an IBAN. Reason repeats at most a country code or one offending
// character of the input, so the API can return it as the reason of a 400 on the IBAN field.
type Error struct {
	Kind   error  // one of the Err* kinds above
	Reason string // for people: "wrong length for country DE (want 22, got 21)"
}

func (e *Error) Error() string { return "iban: " + e.Reason }

// Unwrap lets errors.Is(err, ErrLength) and the like see the kind.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// lengths is the IBAN length of every country in the SWIFT IBAN Registry, Release 100 (89 countries), keyed by
// the IBAN's ISO 3166 prefix. A new release is a one-line change here plus its example in the tests.
var lengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
	"BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
	"EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
	"GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
	"LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
	"NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
	"RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
	"SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// territories are ISO 3166 codes that the registry folds into another country's IBANs (an account in Jersey
// has a GB IBAN). They are refused like any unknown code, but the reason names the prefix to use instead.
var territories = map[string]string{
	"AX": "FI",
	"GF": "FR", "GP": "FR", "MQ": "FR", "RE": "FR", "PF": "FR", "TF": "FR", "YT": "FR", "NC": "FR",
	"BL": "FR", "MF": "FR", "PM": "FR", "WF": "FR",
	"IM": "GB", "JE": "GB", "GG": "GB",
}

// Parse validates s and returns it in electronic form. It accepts the electronic form and the paper form
// (groups of 4 separated by single spaces, the last group 1 to 4 characters) in either case; anything else,
// including surrounding spaces, is refused with an *Error.
func Parse(s string) (IBAN, error) {
	if s == "" {
		return "", fail(ErrEmpty, "empty")
	}
	b := make([]byte, 0, MaxLength)
	group, spaced, pos := 0, false, 0 // group counts the characters since the last space
	for _, r := range s {
		// Counting runes, not bytes, so that a Cyrillic look-alike (А for A) is reported as such, not as length.
		pos++
		if pos > maxPaperLength {
			return "", fail(ErrLength, "longer than %d characters", MaxLength)
		}
		switch {
		case r == ' ':
			if group != 4 {
				return "", fail(ErrCharset, "spaces may only separate groups of 4 characters, as in GB82 WEST 1234 5698 7654 32")
			}
			group, spaced = 0, true
			continue
		case r >= 'a' && r <= 'z':
			b = append(b, byte(r-'a'+'A'))
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b = append(b, byte(r))
		default:
			return "", fail(ErrCharset, "character %d (%q) is not a Latin letter, digit or space", pos, r)
		}
		group++
	}
	if spaced && (group == 0 || group > 4) {
		return "", fail(ErrCharset, "spaces may only separate groups of 4 characters, as in GB82 WEST 1234 5698 7654 32")
	}
	e := string(b)

	if len(e) < 2 || !isLetter(e[0]) || !isLetter(e[1]) {
		return "", fail(ErrCountry, "must start with a two-letter country code")
	}
	country := e[:2]
	want, err := lengthOf(country)
	if err != nil {
		return "", err
	}
	if len(e) != want {
		return "", fail(ErrLength, "wrong length for country %s (want %d, got %d)", country, want, len(e))
	}
	if !isDigit(e[2]) || !isDigit(e[3]) {
		return "", fail(ErrCheckDigits, "characters 3 and 4 must be the check digits")
	}
	// Comparing with the computed digits, not only testing mod 97 == 1, also refuses the aliases 00, 01 and 99
	// (for 97, 98 and 02) that ISO 13616 never issues, so changing any one digit is always caught.
	if e[2:4] != checkDigits(country, e[4:]) {
		return "", fail(ErrCheckDigits, "check digits do not match the account number (ISO 7064 MOD 97-10): a character is likely mistyped")
	}
	return IBAN(e), nil
}

// CheckDigits computes the two check digits of an IBAN of country (a registry code, either case) for bban
// (letters and digits, either case, exactly as long as country's IBANs need).
func CheckDigits(country, bban string) (string, error) {
	c, b, err := parts(country, bban)
	if err != nil {
		return "", err
	}
	return checkDigits(c, b), nil
}

// Generate builds the IBAN of bban in country, for an account whose bank issued none.
func Generate(country, bban string) (IBAN, error) {
	c, b, err := parts(country, bban)
	if err != nil {
		return "", err
	}
	// Parse re-checks the result, so Generate can never hand out an IBAN that Parse would refuse.
	return Parse(c + checkDigits(c, b) + b)
}

// String returns the electronic form.
func (i IBAN) String() string { return string(i) }

// Country returns the ISO 3166 country code, or "" for the zero IBAN.
func (i IBAN) Country() string {
	if len(i) < 2 {
		return ""
	}
	return string(i[:2])
}

// BBAN returns the national account number: what follows the country code and check digits.
func (i IBAN) BBAN() string {
	if len(i) < 4 {
		return ""
	}
	return string(i[4:])
}

// Paper returns the paper form, for people: groups of 4 separated by single spaces.
func (i IBAN) Paper() string {
	var b strings.Builder
	b.Grow(len(i) + len(i)/4)
	for k := 0; k < len(i); k++ {
		if k > 0 && k%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteByte(i[k])
	}
	return b.String()
}

// lengthOf returns the IBAN length of an upper-case country code, or why the code is refused.
func lengthOf(country string) (int, error) {
	if n, ok := lengths[country]; ok {
		return n, nil
	}
	if parent, ok := territories[country]; ok {
		return 0, fail(ErrCountry, "country %s has no IBANs of its own: they start with %s", country, parent)
	}
	return 0, fail(ErrCountry, "unknown country %s: not in the SWIFT IBAN registry", country)
}

// parts validates and upper-cases the country and BBAN given to CheckDigits and Generate.
func parts(country, bban string) (string, string, error) {
	if len(country) != 2 || !isLetter(upper(country[0])) || !isLetter(upper(country[1])) {
		return "", "", fail(ErrCountry, "country must be a two-letter code")
	}
	c := string([]byte{upper(country[0]), upper(country[1])})
	want, err := lengthOf(c)
	if err != nil {
		return "", "", err
	}
	if bban == "" {
		return "", "", fail(ErrEmpty, "empty BBAN")
	}
	b := make([]byte, 0, MaxLength)
	pos := 0
	for _, r := range bban {
		pos++
		if pos > want-4 {
			break // too long; reported below without scanning the rest
		}
		if r > unicode.MaxASCII || !isLetter(upper(byte(r))) && !isDigit(byte(r)) {
			return "", "", fail(ErrCharset, "BBAN character %d (%q) is not a Latin letter or digit", pos, r)
		}
		b = append(b, upper(byte(r)))
	}
	if len(b) != want-4 || len(bban) != want-4 {
		return "", "", fail(ErrLength, "wrong BBAN length for country %s (want %d, got %d)", c, want-4, utf8.RuneCountInString(bban))
	}
	return c, string(b), nil
}

// checkDigits is ISO 7064 MOD 97-10 as ISO 13616 applies it: move country and "00" behind the BBAN, read
// letters as 10 to 35, and subtract the remainder from 98. country and bban must be upper-case alphanumeric.
func checkDigits(country, bban string) string {
	r := mod97(mod97(mod97(0, bban), country), "00")
	d := 98 - r // 2 to 98
	return string([]byte{byte('0' + d/10), byte('0' + d%10)})
}

// mod97 continues the remainder r by 97 of the decimal number that s spells. Taking the remainder after each
// character keeps r below 97, so r*100+35 fits in an int and no big integer is needed.
func mod97(r int, s string) int {
	for k := 0; k < len(s); k++ {
		c := s[k]
		switch {
		case isDigit(c):
			r = (r*10 + int(c-'0')) % 97
		case isLetter(c):
			r = (r*100 + int(c-'A') + 10) % 97
		default:
			panic(fmt.Sprintf("iban: mod97 of %q: callers must pass upper-case letters and digits only", c))
		}
	}
	return r
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' }

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
