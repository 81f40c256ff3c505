package custody

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var (
	seed    = []byte("SBK2VIYYSVG76E7VC3QHYARNFLY2EAQXDHRC7BMXBBGIFG74ARPRMNQM") // a Stellar secret, as bytes
	secretA = []byte("customer-secret-from-bank-A-0001")
	secretB = []byte("customer-secret-from-bank-B-0002")
)

func testKeyring(t *testing.T) *Keyring {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewKeyring(1, map[Version][]byte{1: k})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testVault(t *testing.T) *Vault {
	t.Helper()
	v, err := NewVault(testKeyring(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCustomerSeedRoundTrip(t *testing.T) {
	v := testVault(t)
	sealed, err := v.SealCustomerSeed("customer-1", secretA, seed)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, seed) {
		t.Fatal("sealed value contains the plaintext seed")
	}
	got, err := v.OpenCustomerSeed("customer-1", secretA, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, seed) {
		t.Fatalf("round trip: got %q", got)
	}
}

func TestPlatformKeyRoundTrip(t *testing.T) {
	v := testVault(t)
	sealed, err := v.SealPlatformKey("issuer:eUAH", seed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.OpenPlatformKey("issuer:eUAH", sealed)
	if err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	if _, err := v.OpenCustomerSeed("issuer:eUAH", secretA, sealed); !errors.Is(err, ErrWrongKind) {
		t.Fatalf("platform value opened as customer seed: %v", err)
	}
}

func TestWrongCustomerSecret(t *testing.T) {
	v := testVault(t)
	sealed, _ := v.SealCustomerSeed("customer-1", secretA, seed)
	if _, err := v.OpenCustomerSeed("customer-1", secretB, sealed); !errors.Is(err, ErrOpenFailed) {
		t.Fatalf("wrong secret: want ErrOpenFailed, got %v", err)
	}
	if _, err := v.OpenCustomerSeed("customer-1", []byte("short"), sealed); !errors.Is(err, ErrWeakCustomerSecret) {
		t.Fatalf("short secret: want ErrWeakCustomerSecret, got %v", err)
	}
	if _, err := v.SealCustomerSeed("customer-1", nil, seed); !errors.Is(err, ErrWeakCustomerSecret) {
		t.Fatalf("seal without secret: want ErrWeakCustomerSecret, got %v", err)
	}
}

func TestWrongMasterKey(t *testing.T) {
	v1 := testVault(t)
	v2 := testVault(t) // another random key with the same version number
	sealedC, _ := v1.SealCustomerSeed("customer-1", secretA, seed)
	sealedP, _ := v1.SealPlatformKey("channel-1", seed)
	if _, err := v2.OpenCustomerSeed("customer-1", secretA, sealedC); !errors.Is(err, ErrOpenFailed) {
		t.Fatalf("customer seed under wrong master key: %v", err)
	}
	if _, err := v2.OpenPlatformKey("channel-1", sealedP); !errors.Is(err, ErrOpenFailed) {
		t.Fatalf("platform key under wrong master key: %v", err)
	}
}

func TestTamperedCiphertext(t *testing.T) {
	v := testVault(t)
	sealed, _ := v.SealCustomerSeed("customer-1", secretA, seed)
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		_, err := v.OpenCustomerSeed("customer-1", secretA, bad)
		if err == nil {
			t.Fatalf("flipping byte %d still opened", i)
		}
		var uv *UnknownVersionError
		if !errors.Is(err, ErrOpenFailed) && !errors.Is(err, ErrMalformed) && !errors.As(err, &uv) {
			t.Fatalf("byte %d: unexpected error %v", i, err)
		}
	}
	for _, n := range []int{0, 1, headerLen, headerLen + nonceLen + tagLen, len(sealed) - 1} {
		if _, err := v.OpenCustomerSeed("customer-1", secretA, sealed[:n]); err == nil {
			t.Fatalf("truncated to %d bytes still opened", n)
		}
		if _, err := v.OpenPlatformKey("customer-1", sealed[:n]); err == nil {
			t.Fatalf("truncated to %d bytes opened as platform key", n)
		}
	}
	// Random garbage never panics.
	for n := 0; n < 200; n++ {
		junk := bytes.Repeat([]byte{byte(n)}, n)
		_, _ = v.OpenCustomerSeed("x", secretA, junk)
		_, _ = v.OpenPlatformKey("x", junk)
		_, _, _ = v.Reseal("x", junk)
	}
}

func TestSwappedOwner(t *testing.T) {
	v := testVault(t)
	sealedA, _ := v.SealCustomerSeed("customer-A", secretA, seed)
	// The same customer secret, a blob moved to another entity: refused.
	if _, err := v.OpenCustomerSeed("customer-B", secretA, sealedA); !errors.Is(err, ErrOpenFailed) {
		t.Fatalf("swapped customer seed: %v", err)
	}
	sealedP, _ := v.SealPlatformKey("issuer", seed)
	if _, err := v.OpenPlatformKey("channel-1", sealedP); !errors.Is(err, ErrOpenFailed) {
		t.Fatalf("swapped platform key: %v", err)
	}
	if _, _, err := v.Reseal("channel-1", sealedP); err == nil {
		// Same version: Reseal returns it unchanged without opening. Force a version change to check.
		t.Log("reseal at current version does not open; checked below after rotation")
	}
	if _, err := v.OpenPlatformKey("", sealedP); !errors.Is(err, ErrNoOwner) {
		t.Fatalf("empty owner: %v", err)
	}
}

// memValues is a SealedValues kept in a map, for the rotation test.
type memValues struct{ m map[string][]byte }

func (s *memValues) Each(ctx context.Context, fn func(string, []byte) error) error {
	owners := make([]string, 0, len(s.m))
	for o := range s.m {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	for _, o := range owners {
		if err := fn(o, s.m[o]); err != nil {
			return err
		}
	}
	return nil
}

func (s *memValues) Replace(ctx context.Context, owner string, prev, next []byte) error {
	if !bytes.Equal(s.m[owner], prev) {
		return fmt.Errorf("value of %s changed meanwhile", owner)
	}
	s.m[owner] = next
	return nil
}

func TestRotation(t *testing.T) {
	v := testVault(t)
	store := &memValues{m: map[string][]byte{}}
	for i := range 5 {
		owner := fmt.Sprintf("customer-%d", i)
		s, err := v.SealCustomerSeed(owner, secretA, seed)
		if err != nil {
			t.Fatal(err)
		}
		store.m[owner] = s
	}
	p, _ := v.SealPlatformKey("issuer", seed)
	store.m["issuer"] = p
	oldIssuer := bytes.Clone(p)
	oldCustomer := bytes.Clone(store.m["customer-0"])

	// Step 1: promote a new key. Old values still open; new seals use version 2.
	newKey, _ := GenerateKey()
	if err := v.Keyring().Promote(2, newKey); err != nil {
		t.Fatal(err)
	}
	if got, err := v.OpenCustomerSeed("customer-0", secretA, oldCustomer); err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("old customer seed after promote: %v", err)
	}
	fresh, _ := v.SealPlatformKey("channel-1", seed)
	if ver, _ := SealedVersion(fresh); ver != 2 {
		t.Fatalf("new seal version = %d, want 2", ver)
	}
	store.m["channel-1"] = fresh

	// Step 2: re-seal everything; a value moved to another owner is refused, not laundered.
	if _, _, err := v.Reseal("channel-9", oldIssuer); !errors.Is(err, ErrOpenFailed) {
		t.Fatalf("reseal of a swapped blob: %v", err)
	}
	rep, err := v.Rotate(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scanned != 7 || rep.Resealed != 6 {
		t.Fatalf("rotation report %+v, want 7 scanned, 6 resealed", rep)
	}
	for owner, s := range store.m {
		if ver, _ := SealedVersion(s); ver != 2 {
			t.Fatalf("%s still at version %d", owner, ver)
		}
	}

	// Step 3: retire version 1. Re-sealed values open under the new key only.
	if err := v.Keyring().Retire(1); err != nil {
		t.Fatal(err)
	}
	if got, err := v.OpenCustomerSeed("customer-3", secretA, store.m["customer-3"]); err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("resealed customer seed: %v", err)
	}
	if got, err := v.OpenPlatformKey("issuer", store.m["issuer"]); err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("resealed platform key: %v", err)
	}
	var uv *UnknownVersionError
	if _, err := v.OpenPlatformKey("issuer", oldIssuer); !errors.As(err, &uv) || uv.Version != 1 {
		t.Fatalf("old blob after retire: %v", err)
	}
	// A vault holding only the old key cannot open re-sealed values, and the customer secret is still needed.
	if _, err := v.OpenCustomerSeed("customer-3", secretB, store.m["customer-3"]); !errors.Is(err, ErrOpenFailed) {
		t.Fatalf("resealed seed with wrong secret: %v", err)
	}
	oldOnly, _ := NewKeyring(2, map[Version][]byte{2: bytes.Repeat([]byte{7}, KeySize)})
	ov, _ := NewVault(oldOnly)
	if _, err := ov.OpenCustomerSeed("customer-3", secretA, store.m["customer-3"]); !errors.Is(err, ErrOpenFailed) {
		t.Fatalf("resealed seed under a different key: %v", err)
	}
	if err := v.Keyring().Retire(2); err == nil {
		t.Fatal("retired the current version")
	}
}

func TestParseMasterKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xAB}, KeySize)
	for _, s := range []string{
		hex.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
		" " + hex.EncodeToString(raw) + "\n",
	} {
		k, err := ParseMasterKey(s)
		if err != nil || !bytes.Equal(k, raw) {
			t.Fatalf("ParseMasterKey(%q) = %x, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "abc", hex.EncodeToString(raw[:31]), base64.StdEncoding.EncodeToString(raw[:16]),
		strings.Repeat("z", 64)} {
		if _, err := ParseMasterKey(s); !errors.Is(err, ErrBadMasterKey) {
			t.Fatalf("ParseMasterKey(%q): want ErrBadMasterKey, got %v", s, err)
		}
	}
	r, err := ParseKeyring("2:" + hex.EncodeToString(raw) + ",1:" + base64.StdEncoding.EncodeToString(raw))
	if err != nil || r.Current() != 2 || len(r.Versions()) != 2 {
		t.Fatalf("ParseKeyring: %v", err)
	}
	getenv := func(string) string { return "not-a-key" }
	if _, err := LoadKeyring(getenv, t.TempDir()); !errors.Is(err, ErrBadMasterKey) {
		t.Fatalf("bad KAZNA_MASTER_KEY: %v", err)
	}
	if strings.Contains(fmt.Sprint(ParseKeyring("1:"+strings.Repeat("q", 40))), strings.Repeat("q", 40)) {
		t.Fatal("error echoes key material")
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	getenv := func(string) string { return "" }
	r1, err := LoadKeyring(getenv, dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFileName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("created key file mode %04o, want 0600", st.Mode().Perm())
	}
	// Second start reads the same key.
	v1, _ := NewVault(r1)
	sealed, _ := v1.SealPlatformKey("issuer", seed)
	r2, err := LoadKeyring(getenv, dir)
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := NewVault(r2)
	if _, err := v2.OpenPlatformKey("issuer", sealed); err != nil {
		t.Fatalf("key changed across restarts: %v", err)
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		var insecure *InsecureKeyFileError
		if _, err := LoadKeyring(getenv, dir); !errors.As(err, &insecure) {
			t.Fatalf("mode %04o: want InsecureKeyFileError, got %v", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(getenv, dir); err != nil {
		t.Fatalf("mode 0400 should be accepted: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}

	// Rotation through the file: the new version is current, the old still opens.
	r3, err := RotateKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Current() != 2 {
		t.Fatalf("rotated current = %d", r3.Current())
	}
	st, _ = os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("rotated key file mode %04o", st.Mode().Perm())
	}
	v3, _ := NewVault(r3)
	if _, err := v3.OpenPlatformKey("issuer", sealed); err != nil {
		t.Fatalf("old value after file rotation: %v", err)
	}

	// A corrupt file is a clear error.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(getenv, dir); !errors.Is(err, ErrBadMasterKey) {
		t.Fatalf("corrupt key file: %v", err)
	}
}
