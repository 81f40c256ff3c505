package account

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrSealChanged is a reseal whose expected previous value is no longer the account's sealed seed: another
// rotation (or node) re-sealed it meanwhile.
var ErrSealChanged = errors.New("account: the sealed seed changed since it was read")

// ResealKey replaces the account's sealed seed by the same seed sealed under a newer master key (a master key
// rotation). Prev is the value the rotation read, so two rotations never overwrite each other's work.
type ResealKey struct {
	Prev []byte    `json:"prev"`
	Next []byte    `json:"next"`
	At   time.Time `json:"at"`
}

// AccountKeyResealed: the account's seed is now sealed as SealedSeed (same key, newer master key version).
// Read models ignore it; only the custody of the seed changed.
type AccountKeyResealed struct {
	GUID       string    `json:"guid"`
	SealedSeed []byte    `json:"sealed_seed"`
	At         time.Time `json:"at"`
}

func (AccountKeyResealed) isAccountEvent() {}

func decideReseal(s State, c ResealKey) ([]Event, error) {
	if !s.Generated() {
		return nil, ErrNotGenerated
	}
	if len(c.Next) == 0 || len(c.Next) > maxSealedBytes {
		return nil, fmt.Errorf("%w: sealed seed must be 1 to %d bytes", ErrInvalid, maxSealedBytes)
	}
	if bytes.Equal(s.SealedSeed, c.Next) {
		return nil, nil // a retry of this very reseal
	}
	if !bytes.Equal(s.SealedSeed, c.Prev) {
		return nil, ErrSealChanged
	}
	return []Event{AccountKeyResealed{GUID: s.GUID, SealedSeed: slices.Clone(c.Next), At: c.At}}, nil
}
