package custody

import (
	"errors"
	"fmt"
	"os"
)

var (
	// ErrOpenFailed means a sealed value did not authenticate: wrong master key, wrong customer secret, a
	// tampered blob or a blob presented for another owner. AEAD cannot tell these apart, by design.
	ErrOpenFailed = errors.New("custody: sealed value does not open with this key, secret and owner")
	// ErrMalformed means the bytes are not a sealed value of a known layout.
	ErrMalformed = errors.New("custody: malformed sealed value")
	// ErrBadMasterKey means a master key is not exactly 32 bytes of hex or base64.
	ErrBadMasterKey = errors.New("custody: master key must be 32 bytes, hex or base64 encoded")
	// ErrWeakCustomerSecret means the customer's secret is too short to protect a seed.
	ErrWeakCustomerSecret = errors.New("custody: customer secret must be at least 16 bytes")
	// ErrNoOwner means a seal or open was asked without the owner id that binds the value.
	ErrNoOwner = errors.New("custody: owner id is required")
	// ErrWrongKind means a platform value was opened as a customer seed or the other way round.
	ErrWrongKind = errors.New("custody: sealed value is of another kind")
)

// UnknownVersionError means a value was sealed under a master key version the keyring does not hold (retired
// too early, or the wrong keyring).
type UnknownVersionError struct{ Version Version }

func (e *UnknownVersionError) Error() string {
	return fmt.Sprintf("custody: master key version %d is not in the keyring", e.Version)
}

// InsecureKeyFileError means the master key file can be read by group or others; Kazna refuses to start.
type InsecureKeyFileError struct {
	Path string
	Mode os.FileMode
}

func (e *InsecureKeyFileError) Error() string {
	return fmt.Sprintf("custody: master key file %s has mode %04o; it must not be readable by group or others (chmod 600)",
		e.Path, e.Mode.Perm())
}
