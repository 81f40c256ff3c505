package counterparty

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/text"
)

// checkText checks a free-text field (see text.Clean); descriptions may span lines.
func checkText(field, s string, maxRunes int, required bool) (string, error) {
	clean, err := text.Clean(s, text.Rule{MaxRunes: maxRunes, Required: required, Multiline: true})
	if err != nil {
		return "", invalid(field, err.Error())
	}
	return clean, nil
}

// checkURL checks an optional URL the platform will call: absolute http(s), a host, no credentials (they
// would end up in logs and events), no fragment.
func checkURL(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > MaxURLBytes {
		return "", invalid(field, fmt.Sprintf("longer than %d bytes", MaxURLBytes))
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", invalid(field, "not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", invalid(field, "must be an absolute http or https URL")
	case u.Host == "" || u.Hostname() == "":
		return "", invalid(field, "has no host")
	case u.User != nil:
		return "", invalid(field, "must not carry credentials")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", invalid(field, "must not have a fragment")
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "", invalid(field, "contains a space or control character")
	}
	return s, nil
}

func checkGUID(field string, g uuid.UUID) error {
	if g == uuid.Nil {
		return invalid(field, "required (a non-zero GUID)")
	}
	return nil
}

// checkAssetCode: a Stellar asset code is 1 to 12 ASCII letters and digits.
func checkAssetCode(code string) error {
	if code == "" || len(code) > 12 {
		return invalid("asset_code", "must be 1 to 12 letters or digits")
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return invalid("asset_code", "must be 1 to 12 letters or digits")
		}
	}
	return nil
}

// checkAccountID checks a Stellar public key (G…, StrKey: base32 of a version byte, 32 key bytes and a
// CRC16-XModem checksum), so that a typo in an issuer is refused before money is issued against it.
func checkAccountID(field, s string) error {
	const versionAccountID = 6 << 3 // 'G'
	if len(s) != 56 || s[0] != 'G' {
		return invalid(field, "must be a Stellar account ID (56 characters starting with G)")
	}
	raw := make([]byte, 35)
	if n, err := stellarBase32.Decode(raw, []byte(s)); err != nil || n != 35 {
		return invalid(field, "is not valid base32")
	}
	if raw[0] != versionAccountID {
		return invalid(field, "is not an account ID")
	}
	sum := crc16XModem(raw[:33])
	if raw[33] != byte(sum) || raw[34] != byte(sum>>8) {
		return invalid(field, "has a bad checksum")
	}
	return nil
}

func crc16XModem(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// privateJWKMembers are the members only a private (or symmetric) key has (RFC 7518 §6.3.2, §6.4).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// checkJWK checks the shape of a bank's public JWK: a bounded JSON object, RSA, with n and e, no private
// member, and a kid that, if present, is the registered kid. The app layer checks the key itself (size,
// exponent) with auth.ParseBankJWK before it sends the command; the domain keeps what must never be stored.
func checkJWK(kid string, jwk json.RawMessage) (json.RawMessage, error) {
	if len(jwk) == 0 || len(jwk) > MaxJWKBytes {
		return nil, invalid("jwk", fmt.Sprintf("must be 1 to %d bytes", MaxJWKBytes))
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(jwk, &members); err != nil || members == nil {
		return nil, invalid("jwk", "must be a JSON object")
	}
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			return nil, invalid("jwk", "carries private key material ("+m+"); register only the public key")
		}
	}
	str := func(name string) string {
		var s string
		if raw, ok := members[name]; ok && json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if str("kty") != "RSA" {
		return nil, invalid("jwk", `kty must be "RSA"`)
	}
	if str("n") == "" || str("e") == "" {
		return nil, invalid("jwk", "n and e are required")
	}
	if alg := str("alg"); alg != "" && alg != "RS256" {
		return nil, invalid("jwk", `alg must be "RS256"`)
	}
	if _, ok := members["kid"]; ok && str("kid") != kid {
		return nil, invalid("jwk", "its kid differs from the key's kid")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, jwk); err != nil {
		return nil, invalid("jwk", "must be a JSON object")
	}
	return compact.Bytes(), nil
}

func checkKID(kid string) error {
	if kid == "" || len(kid) > MaxKIDBytes {
		return invalid("kid", fmt.Sprintf("must be 1 to %d bytes", MaxKIDBytes))
	}
	if !utf8.ValidString(kid) || strings.ContainsFunc(kid, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return invalid("kid", "must be printable with no spaces")
	}
	return nil
}
