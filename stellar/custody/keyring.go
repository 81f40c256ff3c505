package custody

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// KeySize is the size of a master key in bytes (AES-256).
const KeySize = 32

// maxKeyVersions bounds how many master key versions a keyring holds at once.
const maxKeyVersions = 64

// Version numbers a master key. Every sealed value records the version that sealed it.
type Version uint32

// Keyring holds the current master key and the previous ones that may still have sealed values outstanding.
// New seals use the current key; opens use whichever version sealed the value. It is safe for concurrent use,
// so a key can be added and made current while the service runs (rotation without downtime).
type Keyring struct {
	mu      sync.RWMutex
	current Version
	keys    map[Version][KeySize]byte
}

// NewKeyring returns a keyring holding keys, with current as the key new values are sealed under.
func NewKeyring(current Version, keys map[Version][]byte) (*Keyring, error) {
	if len(keys) == 0 || len(keys) > maxKeyVersions {
		return nil, fmt.Errorf("custody: keyring needs 1 to %d keys, got %d", maxKeyVersions, len(keys))
	}
	r := &Keyring{keys: make(map[Version][KeySize]byte, len(keys))}
	for v, k := range keys {
		if v == 0 {
			return nil, fmt.Errorf("custody: key version 0 is reserved")
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("custody: key version %d: %w", v, ErrBadMasterKey)
		}
		r.keys[v] = [KeySize]byte(k)
	}
	if _, ok := r.keys[current]; !ok {
		return nil, &UnknownVersionError{Version: current}
	}
	r.current = current
	return r, nil
}

// Current returns the version new values are sealed under.
func (r *Keyring) Current() Version {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current
}

// Versions returns the versions held, oldest first.
func (r *Keyring) Versions() []Version {
	r.mu.RLock()
	defer r.mu.RUnlock()
	vs := make([]Version, 0, len(r.keys))
	for v := range r.keys {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// Promote adds key as version v and makes it current. Values sealed under earlier versions still open until
// those versions are retired. Step one of a rotation.
func (r *Keyring) Promote(v Version, key []byte) error {
	if v == 0 {
		return fmt.Errorf("custody: key version 0 is reserved")
	}
	if len(key) != KeySize {
		return ErrBadMasterKey
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.keys[v]; ok && old != [KeySize]byte(key) {
		return fmt.Errorf("custody: key version %d already holds another key", v)
	}
	if len(r.keys) >= maxKeyVersions {
		return fmt.Errorf("custody: keyring is full (%d versions); retire old versions first", maxKeyVersions)
	}
	r.keys[v] = [KeySize]byte(key)
	r.current = v
	return nil
}

// Retire removes version v once nothing sealed under it remains. The current version cannot be retired.
func (r *Keyring) Retire(v Version) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v == r.current {
		return fmt.Errorf("custody: cannot retire the current key version %d", v)
	}
	if _, ok := r.keys[v]; !ok {
		return &UnknownVersionError{Version: v}
	}
	delete(r.keys, v)
	return nil
}

func (r *Keyring) key(v Version) ([KeySize]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.keys[v]
	if !ok {
		return [KeySize]byte{}, &UnknownVersionError{Version: v}
	}
	return k, nil
}

func (r *Keyring) currentKey() (Version, [KeySize]byte) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current, r.keys[r.current]
}

// GenerateKey returns a fresh random master key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("custody: generate master key: %w", err)
	}
	return k, nil
}

// ParseMasterKey decodes a 32-byte master key written as 64 hex digits or as base64 (standard or URL alphabet,
// padded or not). Anything else is ErrBadMasterKey; the message never echoes the input.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, ErrBadMasterKey
}

// ParseKeyring reads a keyring from its text form, as given in KAZNA_MASTER_KEY: one key, or several separated
// by commas or newlines, each written "<version>:<key>" or just "<key>" (version 1). The highest version is
// current. Example for a rotation in progress: "2:<new key>,1:<old key>".
func ParseKeyring(s string) (*Keyring, error) {
	keys := map[Version][]byte{}
	var current Version
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' })
	if len(fields) > maxKeyVersions {
		return nil, fmt.Errorf("custody: more than %d master keys", maxKeyVersions)
	}
	for i, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v := Version(1)
		if ver, key, ok := strings.Cut(f, ":"); ok {
			n, err := strconv.ParseUint(ver, 10, 32)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("custody: master key entry %d: version must be a positive integer", i+1)
			}
			v, f = Version(n), key
		}
		k, err := ParseMasterKey(f)
		if err != nil {
			return nil, fmt.Errorf("custody: master key entry %d (version %d): %w", i+1, v, err)
		}
		if _, dup := keys[v]; dup {
			return nil, fmt.Errorf("custody: master key version %d given twice", v)
		}
		keys[v] = k
		current = max(current, v)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("custody: no master key given: %w", ErrBadMasterKey)
	}
	return NewKeyring(current, keys)
}

// format writes the keyring in the text form ParseKeyring reads, newest first.
func (r *Keyring) format() string {
	vs := r.Versions()
	var b strings.Builder
	for i := len(vs) - 1; i >= 0; i-- {
		k, _ := r.key(vs[i])
		fmt.Fprintf(&b, "%d:%s\n", vs[i], base64.StdEncoding.EncodeToString(k[:]))
	}
	return b.String()
}
