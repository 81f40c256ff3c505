package custody

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
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

// Add adds key as version v without making it current: a node can then open values sealed under v before
// any node seals under it (the first step of a rotation in a cluster). Adding a version already held with the
// same key is a no-op.
func (r *Keyring) Add(v Version, key []byte) error { return r.put(v, key, false) }

// Promote adds key as version v and makes it current. Values sealed under earlier versions still open until
// those versions are retired. Step one of a rotation on a single node.
func (r *Keyring) Promote(v Version, key []byte) error { return r.put(v, key, true) }

func (r *Keyring) put(v Version, key []byte, makeCurrent bool) error {
	if v == 0 {
		return fmt.Errorf("custody: key version 0 is reserved")
	}
	if len(key) != KeySize {
		return ErrBadMasterKey
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old, held := r.keys[v]
	if held && old != [KeySize]byte(key) {
		return fmt.Errorf("custody: key version %d already holds another key", v)
	}
	// Promoting a version already held adds nothing, so a full keyring may still switch to it.
	if !held && len(r.keys) >= maxKeyVersions {
		return fmt.Errorf("custody: keyring is full (%d versions); retire old versions first", maxKeyVersions)
	}
	r.keys[v] = [KeySize]byte(key)
	if makeCurrent {
		r.current = v
	}
	return nil
}

// KeyringChange says what Merge changed.
type KeyringChange struct {
	// Added are the versions taken in, oldest first.
	Added []Version
	// Current is the current version after the merge; Previous the one before it.
	Current, Previous Version
}

// Changed reports whether the merge changed anything.
func (c KeyringChange) Changed() bool { return len(c.Added) > 0 || c.Current != c.Previous }

// Merge takes a newer reading of the keyring's source (the key file, re-read while the process runs) into r:
// it adds the versions of other that r lacks and makes other's current version current. It is how a running
// node learns of a key added for a rotation, without a restart.
//
// Merge never removes a version, even one other no longer has (retired in the file): the process may still
// hold values it read before they were re-sealed (the platform keeps its issuer's sealed seed in memory
// between refreshes), and dropping their key would break it until a restart, while keeping it in memory adds
// no exposure the process did not have already. A retired version is gone from the process at its next start,
// which reads the file as it is then.
//
// A version that both keyrings hold with different keys is an error and changes nothing: two keys under one
// version number would make values sealed under it open on one node and not on another.
func (r *Keyring) Merge(other *Keyring) (KeyringChange, error) {
	if other == nil {
		return KeyringChange{}, errors.New("custody: merge of a nil keyring")
	}
	if other == r {
		cur := r.Current()
		return KeyringChange{Current: cur, Previous: cur}, nil
	}
	// Copy other first, so that the two locks are never held together (no lock-order deadlock).
	other.mu.RLock()
	theirs := make(map[Version][KeySize]byte, len(other.keys))
	for v, k := range other.keys {
		theirs[v] = k
	}
	theirCurrent := other.current
	other.mu.RUnlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	change := KeyringChange{Previous: r.current, Current: r.current}
	for v, k := range theirs {
		mine, held := r.keys[v]
		switch {
		case held && mine != k:
			return KeyringChange{Previous: r.current, Current: r.current},
				fmt.Errorf("custody: key version %d is another key in the new reading; keeping the keyring as it is", v)
		case !held:
			change.Added = append(change.Added, v)
		}
	}
	if len(r.keys)+len(change.Added) > maxKeyVersions {
		return KeyringChange{Previous: r.current, Current: r.current},
			fmt.Errorf("custody: keyring would hold more than %d versions; restart to drop retired ones", maxKeyVersions)
	}
	slices.Sort(change.Added)
	for _, v := range change.Added {
		r.keys[v] = theirs[v]
	}
	r.current, change.Current = theirCurrent, theirCurrent
	return change, nil
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

// currentName names the current version explicitly in a keyring's text form: "current=<version>". A key
// never reads as it: base64 may end in '=', but never has "current" before it.
const (
	currentName  = "current"
	currentEntry = currentName + "="
)

// ParseKeyring reads a keyring from its text form, as given in KAZNA_MASTER_KEY or kept in master.key: one key,
// or several separated by commas or newlines, each written "<version>:<key>" or just "<key>" (version 1), and
// at most one entry "current=<version>". Without it the highest version is current.
//
// Naming the current version lets a cluster roll a new key out before any node seals under it:
// "current=1,2:<new key>,1:<old key>" on every node first (every node can then open values sealed under 2),
// then "2:<new key>,1:<old key>" (new values are sealed under 2), then re-seal, then "2:<new key>".
func ParseKeyring(s string) (*Keyring, error) {
	keys := map[Version][]byte{}
	var highest, current Version
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' })
	if len(fields) > maxKeyVersions+1 {
		return nil, fmt.Errorf("custody: more than %d master keys", maxKeyVersions)
	}
	for i, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if name, rest, ok := strings.Cut(f, "="); ok && strings.TrimSpace(name) == currentName {
			n, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 32)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("custody: master key entry %d: %s must name a positive version", i+1, currentEntry)
			}
			if current != 0 {
				return nil, fmt.Errorf("custody: the current master key version is named twice")
			}
			current = Version(n)
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
		highest = max(highest, v)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("custody: no master key given: %w", ErrBadMasterKey)
	}
	if current == 0 {
		current = highest
	} else if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("custody: %s%d names a version that is not given: %w", currentEntry, current, ErrBadMasterKey)
	}
	return NewKeyring(current, keys)
}

// format writes the keyring in the text form ParseKeyring reads, newest first. The current version is named
// only when it is not the highest, so that the usual file stays readable by releases that predate "current=".
func (r *Keyring) format() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	vs := make([]Version, 0, len(r.keys))
	for v := range r.keys {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	var b strings.Builder
	if r.current != vs[len(vs)-1] {
		fmt.Fprintf(&b, "%s%d\n", currentEntry, r.current)
	}
	for i := len(vs) - 1; i >= 0; i-- {
		k := r.keys[vs[i]]
		fmt.Fprintf(&b, "%d:%s\n", vs[i], base64.StdEncoding.EncodeToString(k[:]))
	}
	return b.String()
}
