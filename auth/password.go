package auth

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Password rules (guide §19): at least 8 characters with a capital, a lowercase letter, a digit and a special
// symbol. bcrypt reads only 72 bytes, so longer passwords are refused rather than silently cut.
var (
	ErrPasswordTooShort  = errors.New("password: shorter than 8 characters")
	ErrPasswordTooLong   = errors.New("password: longer than 72 bytes")
	ErrPasswordNoUpper   = errors.New("password: no capital letter")
	ErrPasswordNoLower   = errors.New("password: no lowercase letter")
	ErrPasswordNoDigit   = errors.New("password: no digit")
	ErrPasswordNoSpecial = errors.New("password: no special symbol")
	ErrPasswordInvalid   = errors.New("password: not valid UTF-8 or contains control characters")
	// ErrPasswordMismatch is returned by CheckPassword when the password is wrong.
	ErrPasswordMismatch = errors.New("password: does not match")
)

const (
	minPasswordRunes = 8
	maxPasswordBytes = 72
)

// passwordCost is the bcrypt work factor: about a quarter of a second per check on a server core. A variable only
// so that tests can lower it; nothing else may change it.
var passwordCost = 12

// ValidatePassword checks the password rule and returns every rule that failed (use errors.Is), or nil.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return ErrPasswordInvalid
	}
	var upper, lower, digit, special bool
	for _, r := range pw {
		switch {
		case unicode.IsControl(r):
			return ErrPasswordInvalid
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			special = true
		}
	}
	var failed []error
	if utf8.RuneCountInString(pw) < minPasswordRunes {
		failed = append(failed, ErrPasswordTooShort)
	}
	if len(pw) > maxPasswordBytes {
		failed = append(failed, ErrPasswordTooLong)
	}
	if !upper {
		failed = append(failed, ErrPasswordNoUpper)
	}
	if !lower {
		failed = append(failed, ErrPasswordNoLower)
	}
	if !digit {
		failed = append(failed, ErrPasswordNoDigit)
	}
	if !special {
		failed = append(failed, ErrPasswordNoSpecial)
	}
	return errors.Join(failed...)
}

// HashPassword returns the bcrypt hash of a password that passes ValidatePassword.
func HashPassword(pw string) (string, error) {
	if err := ValidatePassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), passwordCost)
	if err != nil {
		return "", fmt.Errorf("password: hash: %w", err)
	}
	return string(h), nil
}

// CheckPassword compares a password with its hash in constant time. It returns ErrPasswordMismatch when they
// differ and another error when the hash is unusable.
func CheckPassword(hash, pw string) error {
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return ErrPasswordMismatch
	default:
		return fmt.Errorf("password: unusable hash: %w", err)
	}
}
