package custody

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"
)

// Layout of a sealed value (all integers big-endian):
//
//	header:   magic "KZS" | format 0x01 | kind (1 platform, 2 customer) | master key version (uint32)
//	platform: nonce (12) | AES-256-GCM(platform key_v, value, aad = header+owner)
//	customer: nonce (12) | AES-256-GCM(wrap key_v, data key (32), aad = header+owner)
//	          | salt (16) | nonce (12) | AES-256-GCM(HKDF(data key || customer secret, salt, owner), seed, aad = owner)
//
// The customer seed key is derived from a random data key that only the master key unwraps and from the
// customer's secret, so neither side alone can open it. Rotation re-wraps the data key under the new master key
// and leaves the inner ciphertext as it is: no customer secret is needed to rotate.
const (
	magic         = "KZS\x01"
	headerLen     = len(magic) + 1 + 4
	nonceLen      = 12
	tagLen        = 16
	dataKeyLen    = 32
	saltLen       = 16
	maxOwnerLen   = 256
	maxValueLen   = 64 << 10
	minSecretLen  = 16
	kindPlatform  = byte(1)
	kindCustomer  = byte(2)
	wrappedKeyLen = nonceLen + dataKeyLen + tagLen
)

var (
	infoPlatform = []byte("kazna/custody/v1/platform-key")
	infoWrap     = []byte("kazna/custody/v1/customer-data-key-wrap")
	infoSeed     = []byte("kazna/custody/v1/customer-seed:")
	aadOuter     = []byte("kazna/custody/v1/outer:")
	aadInner     = []byte("kazna/custody/v1/inner:")
)

// Vault seals and opens key material under a Keyring. It holds no sealed values itself.
type Vault struct {
	ring *Keyring
}

// NewVault returns a vault over ring.
func NewVault(ring *Keyring) (*Vault, error) {
	if ring == nil {
		return nil, errors.New("custody: nil keyring")
	}
	return &Vault{ring: ring}, nil
}

// Keyring returns the keyring the vault seals under, so a rotation can promote and retire versions.
func (v *Vault) Keyring() *Keyring { return v.ring }

// SealPlatformKey seals a platform key (issuer, channel, platform signer) for owner under the current master key.
func (v *Vault) SealPlatformKey(owner string, value []byte) ([]byte, error) {
	if err := checkInput(owner, value); err != nil {
		return nil, err
	}
	ver, master := v.ring.currentKey()
	hdr := header(kindPlatform, ver)
	ct, err := seal(derive(master[:], nil, infoPlatform), value, outerAAD(hdr, owner))
	if err != nil {
		return nil, err
	}
	return append(hdr, ct...), nil
}

// OpenPlatformKey opens a value sealed by SealPlatformKey for the same owner.
func (v *Vault) OpenPlatformKey(owner string, sealed []byte) ([]byte, error) {
	if owner == "" {
		return nil, ErrNoOwner
	}
	kind, ver, body, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	if kind != kindPlatform {
		return nil, ErrWrongKind
	}
	master, err := v.ring.key(ver)
	if err != nil {
		return nil, err
	}
	return open(derive(master[:], nil, infoPlatform), body, outerAAD(sealed[:headerLen], owner))
}

// SealCustomerSeed seals a customer's seed for owner (the digital entity's id) so that opening it needs the
// master key and customerSecret, the secret the bank's authorization service returns for that customer.
func (v *Vault) SealCustomerSeed(owner string, customerSecret, seed []byte) ([]byte, error) {
	if err := checkInput(owner, seed); err != nil {
		return nil, err
	}
	if len(customerSecret) < minSecretLen {
		return nil, ErrWeakCustomerSecret
	}
	dataKey := make([]byte, dataKeyLen+saltLen)
	if _, err := io.ReadFull(rand.Reader, dataKey); err != nil {
		return nil, fmt.Errorf("custody: random data key: %w", err)
	}
	defer clear(dataKey)
	dk, salt := dataKey[:dataKeyLen], dataKey[dataKeyLen:]

	ver, master := v.ring.currentKey()
	hdr := header(kindCustomer, ver)
	wrapped, err := seal(derive(master[:], nil, infoWrap), dk, outerAAD(hdr, owner))
	if err != nil {
		return nil, err
	}
	inner, err := seal(seedKey(dk, customerSecret, salt, owner), seed, innerAAD(owner))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, headerLen+len(wrapped)+saltLen+len(inner))
	out = append(out, hdr...)
	out = append(out, wrapped...)
	out = append(out, salt...)
	return append(out, inner...), nil
}

// OpenCustomerSeed opens a value sealed by SealCustomerSeed; it needs the same owner and customer secret.
func (v *Vault) OpenCustomerSeed(owner string, customerSecret, sealed []byte) ([]byte, error) {
	if owner == "" {
		return nil, ErrNoOwner
	}
	if len(customerSecret) < minSecretLen {
		return nil, ErrWeakCustomerSecret
	}
	dk, body, err := v.unwrapDataKey(owner, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	salt, inner := body[:saltLen], body[saltLen:]
	return open(seedKey(dk, customerSecret, salt, owner), inner, innerAAD(owner))
}

// SealedVersion reports the master key version a value was sealed under.
func SealedVersion(sealed []byte) (Version, error) {
	_, ver, _, err := parse(sealed)
	return ver, err
}

// Verify checks that sealed authenticates for owner under the master key version it names, and returns that
// version. It opens the master key's layer only and returns no key material: a customer seed's data key is
// unwrapped and dropped, so no customer secret is needed. A rotation runs it over every stored value before it
// retires a version, to prove that nothing still needs the old key and that the new key opens everything.
func (v *Vault) Verify(owner string, sealed []byte) (Version, error) {
	if owner == "" {
		return 0, ErrNoOwner
	}
	kind, ver, _, err := parse(sealed)
	if err != nil {
		return 0, err
	}
	switch kind {
	case kindPlatform:
		plain, err := v.OpenPlatformKey(owner, sealed)
		if err != nil {
			return ver, err
		}
		clear(plain)
	default:
		dk, _, err := v.unwrapDataKey(owner, sealed)
		if err != nil {
			return ver, err
		}
		clear(dk)
	}
	return ver, nil
}

// Reseal returns sealed re-encrypted under the current master key, and whether it changed. A value already
// under the current key is returned as is. Customer seeds are re-wrapped without the customer's secret. The
// value must authenticate for owner, so a blob moved to another owner is refused, not laundered.
func (v *Vault) Reseal(owner string, sealed []byte) ([]byte, bool, error) {
	if owner == "" {
		return nil, false, ErrNoOwner
	}
	kind, ver, _, err := parse(sealed)
	if err != nil {
		return nil, false, err
	}
	if ver == v.ring.Current() {
		return sealed, false, nil
	}
	switch kind {
	case kindPlatform:
		plain, err := v.OpenPlatformKey(owner, sealed)
		if err != nil {
			return nil, false, err
		}
		defer clear(plain)
		out, err := v.SealPlatformKey(owner, plain)
		return out, err == nil, err
	case kindCustomer:
		dk, body, err := v.unwrapDataKey(owner, sealed)
		if err != nil {
			return nil, false, err
		}
		defer clear(dk)
		newVer, master := v.ring.currentKey()
		hdr := header(kindCustomer, newVer)
		wrapped, err := seal(derive(master[:], nil, infoWrap), dk, outerAAD(hdr, owner))
		if err != nil {
			return nil, false, err
		}
		out := make([]byte, 0, headerLen+len(wrapped)+len(body))
		out = append(out, hdr...)
		out = append(out, wrapped...)
		return append(out, body...), true, nil
	default:
		return nil, false, ErrMalformed
	}
}

// SealedValues is where sealed values live, as the rotation sees them. Implementations belong to the storage
// layer; custody never stores anything.
type SealedValues interface {
	// Each calls fn for every sealed value with its owner, and stops at the first error fn returns.
	Each(ctx context.Context, fn func(owner string, sealed []byte) error) error
	// Replace stores next for owner if the stored value is still prev (compare and swap); otherwise it returns
	// an error and leaves the value alone (someone re-sealed or replaced it meanwhile).
	Replace(ctx context.Context, owner string, prev, next []byte) error
}

// RotationReport counts what a rotation did.
type RotationReport struct {
	Scanned  int
	Resealed int
}

// Rotate re-seals every value in values that is not under the current master key. Run it after
// Keyring.Promote; the service keeps running meanwhile, because old values open under the previous key until
// they are replaced. Retire the old version only after a rotation that reports no error.
func (v *Vault) Rotate(ctx context.Context, values SealedValues) (RotationReport, error) {
	var rep RotationReport
	err := values.Each(ctx, func(owner string, sealed []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep.Scanned++
		next, changed, err := v.Reseal(owner, sealed)
		if err != nil {
			return fmt.Errorf("custody: reseal value of %q: %w", owner, err)
		}
		if !changed {
			return nil
		}
		if err := values.Replace(ctx, owner, sealed, next); err != nil {
			return fmt.Errorf("custody: store resealed value of %q: %w", owner, err)
		}
		rep.Resealed++
		return nil
	})
	return rep, err
}

// Census counts the stored values by the master key version they are sealed under.
type Census struct {
	Scanned   int
	ByVersion map[Version]int
}

// Outside returns how many values are sealed under a version other than current.
func (c Census) Outside(current Version) int { return c.Scanned - c.ByVersion[current] }

// Census counts every value in values by the master key version it is sealed under, and checks that each one
// authenticates for its owner under that version's key (Verify), so that a version no value is counted under
// can be retired knowing the remaining keys open everything. It stops at the first value that does not open.
func (v *Vault) Census(ctx context.Context, values SealedValues) (Census, error) {
	c := Census{ByVersion: map[Version]int{}}
	err := values.Each(ctx, func(owner string, sealed []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ver, err := v.Verify(owner, sealed)
		if err != nil {
			return fmt.Errorf("custody: value of %q (master key version %d): %w", owner, ver, err)
		}
		c.Scanned++
		c.ByVersion[ver]++
		return nil
	})
	return c, err
}

func (v *Vault) unwrapDataKey(owner string, sealed []byte) (dataKey, rest []byte, err error) {
	kind, ver, body, err := parse(sealed)
	if err != nil {
		return nil, nil, err
	}
	if kind != kindCustomer {
		return nil, nil, ErrWrongKind
	}
	if len(body) < wrappedKeyLen+saltLen+nonceLen+tagLen {
		return nil, nil, ErrMalformed
	}
	master, err := v.ring.key(ver)
	if err != nil {
		return nil, nil, err
	}
	dk, err := open(derive(master[:], nil, infoWrap), body[:wrappedKeyLen], outerAAD(sealed[:headerLen], owner))
	if err != nil {
		return nil, nil, err
	}
	if len(dk) != dataKeyLen {
		return nil, nil, ErrMalformed
	}
	return dk, body[wrappedKeyLen:], nil
}

func checkInput(owner string, value []byte) error {
	if owner == "" {
		return ErrNoOwner
	}
	if len(owner) > maxOwnerLen {
		return fmt.Errorf("custody: owner id longer than %d bytes", maxOwnerLen)
	}
	if len(value) == 0 || len(value) > maxValueLen {
		return fmt.Errorf("custody: value must be 1 to %d bytes", maxValueLen)
	}
	return nil
}

func header(kind byte, ver Version) []byte {
	h := make([]byte, headerLen, headerLen+256)
	copy(h, magic)
	h[len(magic)] = kind
	binary.BigEndian.PutUint32(h[len(magic)+1:], uint32(ver))
	return h
}

func parse(sealed []byte) (kind byte, ver Version, body []byte, err error) {
	if len(sealed) < headerLen+nonceLen+tagLen || string(sealed[:len(magic)]) != magic {
		return 0, 0, nil, ErrMalformed
	}
	kind = sealed[len(magic)]
	if kind != kindPlatform && kind != kindCustomer {
		return 0, 0, nil, ErrMalformed
	}
	ver = Version(binary.BigEndian.Uint32(sealed[len(magic)+1 : headerLen]))
	return kind, ver, sealed[headerLen:], nil
}

// outerAAD binds a value to its owner and to the header (kind and key version), so a blob cannot be moved to
// another entity, and its version cannot be altered, without failing authentication.
func outerAAD(hdr []byte, owner string) []byte {
	a := make([]byte, 0, len(aadOuter)+len(hdr)+2+len(owner))
	a = append(a, aadOuter...)
	a = append(a, hdr...)
	a = binary.BigEndian.AppendUint16(a, uint16(len(owner)))
	return append(a, owner...)
}

func innerAAD(owner string) []byte {
	return append(append([]byte{}, aadInner...), owner...)
}

func derive(secret, salt, info []byte) []byte {
	k := make([]byte, KeySize)
	// HKDF-SHA256 can produce up to 255*32 bytes; 32 never fails.
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, salt, info), k); err != nil {
		return make([]byte, KeySize) // unreachable; an all-zero key only makes opens fail, never succeed wrongly
	}
	return k
}

func seedKey(dataKey, customerSecret, salt []byte, owner string) []byte {
	ikm := make([]byte, 0, len(dataKey)+len(customerSecret))
	ikm = append(append(ikm, dataKey...), customerSecret...)
	defer clear(ikm)
	return derive(ikm, salt, append(append([]byte{}, infoSeed...), owner...))
}

func seal(key, plain, aad []byte) ([]byte, error) {
	defer clear(key)
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, nonceLen, nonceLen+len(plain)+tagLen)
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("custody: random nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, aad), nil
}

func open(key, body, aad []byte) ([]byte, error) {
	defer clear(key)
	if len(body) < nonceLen+tagLen {
		return nil, ErrMalformed
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, body[:nonceLen], body[nonceLen:], aad)
	if err != nil {
		return nil, ErrOpenFailed
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("custody: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("custody: gcm: %w", err)
	}
	return aead, nil
}
