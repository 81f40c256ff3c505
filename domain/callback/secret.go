package callback

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
)

// A bank's notices are signed with a secret only it and Kazna know (HMAC-SHA256), so that the bank can tell
// Kazna's notices from anyone else's and refuse a replayed one:
//
//	X-Kazna-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// The bank recomputes the HMAC over the raw body with the t of the header, compares in constant time, and
// refuses a t too far from its clock (Verify with a tolerance of a few minutes). The secret is 32 random
// bytes, shown to the bank once when it is set or rotated, and kept sealed by the platform vault.

// SignatureHeader is the header that carries the signature of a notice.
const SignatureHeader = "X-Kazna-Signature"

// SecretBytes is the length of a callback secret.
const SecretBytes = 32

var (
	// ErrBadSignature is a signature header that is malformed or does not match the body.
	ErrBadSignature = errors.New("callback: bad signature")
	// ErrStaleSignature is a signature whose time is further from now than the tolerance (a replay, or a
	// clock far off).
	ErrStaleSignature = errors.New("callback: signature time outside the tolerance")
)

// Sign returns the X-Kazna-Signature value of body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a signature header against body, as a bank does: one t, at least one v1 (every v1 is tried,
// so that a sender may sign with two secrets while one replaces the other), and t within tolerance of now.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return fmt.Errorf("%w: %q is not key=value", ErrBadSignature, part)
		case k == "t":
			if ts != "" {
				return fmt.Errorf("%w: two times", ErrBadSignature)
			}
			ts = v
		case k == "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex SHA-256 HMAC", ErrBadSignature)
			}
			sigs = append(sigs, sig)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex>", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %d, %v from now", ErrStaleSignature, sec, d)
	}
	want := mac(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 matches the body", ErrBadSignature)
}

// SecretState is a counterparty's callback secret, sealed.
type SecretState struct {
	Counterparty string
	Sealed       []byte
	Rotations    int // secrets set, the first included
	SetAt        time.Time
}

// Exists reports whether a secret was set.
func (s SecretState) Exists() bool { return len(s.Sealed) > 0 }

// Commands of a secret stream.
type (
	// SetSecret sets a new secret, replacing any earlier one (a rotation).
	SetSecret struct {
		Counterparty uuid.UUID `json:"counterparty_guid"`
		SealedSecret []byte    `json:"sealed_secret"`
		At           time.Time `json:"at"`
	}
	// ResealSecret stores the same secret sealed under another master key, if the stored seal is still Prev
	// (compare-and-swap, for a master key rotation).
	ResealSecret struct {
		Prev []byte    `json:"prev"`
		Next []byte    `json:"next"`
		At   time.Time `json:"at"`
	}
)

// SecretEvent is an event of a secret stream.
type SecretEvent interface{ isSecretEvent() }

type (
	CallbackSecretSet struct {
		Counterparty string    `json:"counterparty_guid"`
		SealedSecret []byte    `json:"sealed_secret"`
		At           time.Time `json:"at"`
	}
	CallbackSecretResealed struct {
		Counterparty string    `json:"counterparty_guid"`
		SealedSecret []byte    `json:"sealed_secret"`
		At           time.Time `json:"at"`
	}
)

func (CallbackSecretSet) isSecretEvent()      {}
func (CallbackSecretResealed) isSecretEvent() {}

// EvolveSecret folds one event.
func EvolveSecret(s SecretState, e SecretEvent) SecretState {
	switch e := e.(type) {
	case CallbackSecretSet:
		s.Counterparty, s.Sealed, s.SetAt = e.Counterparty, e.SealedSecret, e.At
		s.Rotations++
	case CallbackSecretResealed:
		s.Sealed = e.SealedSecret
	}
	return s
}

// DecideSecret decides a command of a secret stream.
func DecideSecret(s SecretState, cmd any) ([]SecretEvent, error) {
	switch c := cmd.(type) {
	case SetSecret:
		if c.Counterparty == uuid.Nil {
			return nil, invalid("counterparty_guid", "required")
		}
		if err := checkSealed("sealed_secret", c.SealedSecret); err != nil {
			return nil, err
		}
		if s.Counterparty != "" && s.Counterparty != c.Counterparty.String() {
			return nil, invalid("counterparty_guid", "this secret is counterparty %s's", s.Counterparty)
		}
		return []SecretEvent{CallbackSecretSet{Counterparty: c.Counterparty.String(), SealedSecret: bytes.Clone(c.SealedSecret), At: c.At}}, nil
	case ResealSecret:
		if !s.Exists() {
			return nil, ErrNoSecret
		}
		if err := checkSealed("next", c.Next); err != nil {
			return nil, err
		}
		switch {
		case bytes.Equal(s.Sealed, c.Next):
			return nil, nil // done already: a retry
		case !bytes.Equal(s.Sealed, c.Prev):
			return nil, ErrSealChanged
		}
		return []SecretEvent{CallbackSecretResealed{Counterparty: s.Counterparty, SealedSecret: bytes.Clone(c.Next), At: c.At}}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func checkSealed(field string, b []byte) error {
	if len(b) == 0 || len(b) > MaxSealedBytes {
		return invalid(field, "1 to %d bytes", MaxSealedBytes)
	}
	return nil
}

// SecretDecider is the aggregate of a counterparty's callback secret.
var SecretDecider = command.Decider[SecretState, any, SecretEvent]{Evolve: EvolveSecret, Decide: DecideSecret}

// SecretEvents is the codec of secret streams.
var SecretEvents = newSecretEvents()

func newSecretEvents() *command.Registry[SecretEvent] {
	r := command.NewRegistry[SecretEvent]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks the round trip.
	_ = errors.Join(
		command.Register[SecretEvent, CallbackSecretSet](r, "CallbackSecretSet"),
		command.Register[SecretEvent, CallbackSecretResealed](r, "CallbackSecretResealed"),
	)
	return r
}
