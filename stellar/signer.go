package stellar

import (
	"context"
	"fmt"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/strkey"
)

// Signer signs transactions for one key. Custody supplies local keys (KeySigner); a counterparty's key is a
// Signer that calls the bank's /sign callback with the envelope.
type Signer interface {
	// Address is the signer's public key (G…).
	Address() string
	// Sign returns the ed25519 signature of req.Hash.
	Sign(ctx context.Context, req SignRequest) ([]byte, error)
}

// SignRequest is what a signer is asked to sign. Remote signers should check that Hash is the hash of
// EnvelopeXDR under Passphrase before signing.
type SignRequest struct {
	Hash        [32]byte
	EnvelopeXDR string // the unsigned transaction envelope, base64
	Passphrase  string
}

// KeySigner signs with a private key held in memory.
type KeySigner struct {
	kp *keypair.Full
}

// NewKeySigner parses a secret seed (S…). A malformed secret is an InvalidInputError that never echoes it.
func NewKeySigner(secret string) (*KeySigner, error) {
	if !strkey.IsValidEd25519SecretSeed(secret) {
		return nil, invalid("secret", "not a valid Stellar secret seed")
	}
	kp, err := keypair.ParseFull(secret)
	if err != nil {
		return nil, invalid("secret", "not a valid Stellar secret seed")
	}
	return &KeySigner{kp: kp}, nil
}

// KeySignerFromRawSeed makes a signer from a 32-byte ed25519 seed, as custody stores it.
func KeySignerFromRawSeed(seed []byte) (*KeySigner, error) {
	if len(seed) != 32 {
		return nil, invalid("seed", "must be 32 bytes, got %d", len(seed))
	}
	kp, err := keypair.FromRawSeed([32]byte(seed))
	if err != nil {
		return nil, fmt.Errorf("stellar: key from seed: %w", err)
	}
	return &KeySigner{kp: kp}, nil
}

// RandomKeySigner makes a signer for a freshly generated key.
func RandomKeySigner() (*KeySigner, error) {
	kp, err := keypair.Random()
	if err != nil {
		return nil, fmt.Errorf("stellar: random key: %w", err)
	}
	return &KeySigner{kp: kp}, nil
}

// Address is the public key.
func (s *KeySigner) Address() string { return s.kp.Address() }

// Secret returns the secret seed, for sealing in custody.
func (s *KeySigner) Secret() string { return s.kp.Seed() }

// Sign signs req.Hash.
func (s *KeySigner) Sign(_ context.Context, req SignRequest) ([]byte, error) {
	sig, err := s.kp.Sign(req.Hash[:])
	if err != nil {
		return nil, fmt.Errorf("stellar: sign with %s: %w", s.kp.Address(), err)
	}
	return sig, nil
}

// Signatory returns a one-key signatory for the signer's own account.
func (s *KeySigner) Signatory() Signatory {
	return Signatory{Account: s.kp.Address(), Signers: []Signer{s}}
}
