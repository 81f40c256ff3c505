package platform

import (
	"bytes"
	"errors"
	"slices"
	"time"
)

// Re-sealing: a master key rotation replaces a sealed key by the same key sealed under the newer master key.
// Each command names the value it read (Prev), so that two rotations running at once never overwrite each
// other's work: the second one finds the value changed and is told so (ErrSealChanged), or finds its own
// value already there and does nothing (a retry).

var (
	// ErrSealChanged is a reseal whose Prev is no longer the stored sealed value: another rotation (or node)
	// re-sealed it meanwhile.
	ErrSealChanged = errors.New("platform: the sealed value changed since it was read")
	// ErrUnknownSigningKey is a reseal of a signing key the platform never recorded.
	ErrUnknownSigningKey = errors.New("platform: no signing key with this kid")
)

type (
	// ResealIssuerKey replaces the seed of issuer Address, sealed, by Next if it is still Prev.
	ResealIssuerKey struct {
		Address string
		Prev    []byte
		Next    []byte
		At      time.Time
	}
	// ResealSigningKey replaces the sealed key of signing key KID by Next, if it is still Prev.
	ResealSigningKey struct {
		KID  string
		Prev []byte
		Next []byte
		At   time.Time
	}
)

// IssuerKeyResealed: the issuer's seed is now sealed as SealedSeed (the same key, a newer master key version).
// Read models ignore it: only the custody of the seed changed.
type IssuerKeyResealed struct {
	Address    string    `json:"address"`
	SealedSeed []byte    `json:"sealed_seed"`
	At         time.Time `json:"at"`
}

// SigningKeyResealed: signing key KID is now sealed as SealedKey (the same key, a newer master key version).
type SigningKeyResealed struct {
	KID       string    `json:"kid"`
	SealedKey []byte    `json:"sealed_key"`
	At        time.Time `json:"at"`
}

func (IssuerKeyResealed) isPlatformEvent()  {}
func (SigningKeyResealed) isPlatformEvent() {}

func decideResealIssuer(s State, c ResealIssuerKey) ([]Event, error) {
	if s.IssuerAddress == "" {
		return nil, ErrNoIssuerKey
	}
	if c.Address != s.IssuerAddress {
		return nil, ErrIssuerMismatch
	}
	if err := checkSealed(c.Next); err != nil {
		return nil, err
	}
	switch {
	case bytes.Equal(s.IssuerSealedSeed, c.Next):
		return nil, nil // a retry of this very reseal
	case !bytes.Equal(s.IssuerSealedSeed, c.Prev):
		return nil, ErrSealChanged
	}
	return []Event{IssuerKeyResealed{Address: s.IssuerAddress, SealedSeed: slices.Clone(c.Next), At: c.At}}, nil
}

func decideResealSigningKey(s State, c ResealSigningKey) ([]Event, error) {
	if c.KID == "" || len(c.KID) > maxKIDBytes {
		return nil, invalid("kid must be 1 to %d bytes", maxKIDBytes)
	}
	if err := checkSealed(c.Next); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(s.SigningKeys, func(k SigningKey) bool { return k.KID == c.KID })
	if i < 0 {
		return nil, ErrUnknownSigningKey
	}
	switch cur := s.SigningKeys[i].SealedKey; {
	case bytes.Equal(cur, c.Next):
		return nil, nil
	case !bytes.Equal(cur, c.Prev):
		return nil, ErrSealChanged
	}
	return []Event{SigningKeyResealed{KID: c.KID, SealedKey: slices.Clone(c.Next), At: c.At}}, nil
}

func checkSealed(b []byte) error {
	if len(b) == 0 || len(b) > maxSealedBytes {
		return invalid("sealed value must be 1 to %d bytes", maxSealedBytes)
	}
	return nil
}

// evolveReseal applies the two reseal events; the stored values are copied, never shared with the event.
func evolveReseal(s State, e Event) State {
	switch e := e.(type) {
	case IssuerKeyResealed:
		s.IssuerSealedSeed = slices.Clone(e.SealedSeed)
	case SigningKeyResealed:
		keys := slices.Clone(s.SigningKeys)
		for i := range keys {
			if keys[i].KID == e.KID {
				keys[i].SealedKey = slices.Clone(e.SealedKey)
			}
		}
		s.SigningKeys = keys
	}
	return s
}
