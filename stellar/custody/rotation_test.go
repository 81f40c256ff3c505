package custody

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

func TestParseKeyringNamesTheCurrentVersion(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	for text, want := range map[string]Version{
		"2:" + b64(k2) + ",1:" + b64(k1):                 2, // the highest by default
		"current=1,2:" + b64(k2) + ",1:" + b64(k1):       1, // rolled out, not current yet
		"2:" + b64(k2) + "\ncurrent=2\n1:" + b64(k1):     2,
		" current = 1 ,\n2:" + b64(k2) + ",1:" + b64(k1): 1,
	} {
		r, err := ParseKeyring(text)
		if err != nil || r.Current() != want || !slices.Equal(r.Versions(), []Version{1, 2}) {
			t.Fatalf("ParseKeyring(%q) current %v, %v", text, r, err)
		}
	}
	for _, text := range []string{
		"current=3,2:" + b64(k2) + ",1:" + b64(k1), // names a version not given
		"current=0,1:" + b64(k1),
		"current=one,1:" + b64(k1),
		"current=1,current=1,1:" + b64(k1),
		"current=1",
	} {
		_, err := ParseKeyring(text)
		if err == nil {
			t.Fatalf("ParseKeyring(%q) accepted", text)
		}
		if strings.Contains(err.Error(), b64(k1)) {
			t.Fatalf("error echoes key material: %v", err)
		}
	}
	// The environment takes the same form.
	env := func(string) string { return "current=1,2:" + b64(k2) + ",1:" + b64(k1) }
	r, err := LoadKeyring(env, "")
	if err != nil || r.Current() != 1 {
		t.Fatalf("LoadKeyring from the environment: %v %v", r, err)
	}
	// A keyring whose current version is below the highest is written and read back as it is; the usual
	// keyring is written without the entry, so older releases still read it.
	pending, _ := NewKeyring(1, map[Version][]byte{1: k1, 2: k2})
	back, err := ParseKeyring(pending.format())
	if err != nil || back.Current() != 1 || !slices.Equal(back.Versions(), []Version{1, 2}) || !strings.HasPrefix(pending.format(), "current=1\n") {
		t.Fatalf("format round trip: %q %v", pending.format(), err)
	}
	usual, _ := NewKeyring(2, map[Version][]byte{1: k1, 2: k2})
	if strings.Contains(usual.format(), "current") {
		t.Fatalf("usual keyring written with a current entry: %q", usual.format())
	}
}

// TestNotCurrentKeyOpensBeforeItSeals walks the cluster procedure: a node given the new key as not current
// seals under the old key but opens values sealed under the new one by a node that already made it current.
func TestNotCurrentKeyOpensBeforeItSeals(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	lagging, _ := ParseKeyring("current=1,2:" + b64(k2) + ",1:" + b64(k1))
	ahead, _ := ParseKeyring("2:" + b64(k2) + ",1:" + b64(k1))
	lv, _ := NewVault(lagging)
	av, _ := NewVault(ahead)
	fromAhead, _ := av.SealCustomerSeed("account-1", secretA, seed)
	fromLagging, _ := lv.SealPlatformKey("platform/issuer/G1", seed)
	if ver, _ := SealedVersion(fromLagging); ver != 1 {
		t.Fatalf("a node with the new key not current sealed under %d", ver)
	}
	if got, err := lv.OpenCustomerSeed("account-1", secretA, fromAhead); err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("lagging node opens a value sealed under the new key: %v", err)
	}
	if got, err := av.OpenPlatformKey("platform/issuer/G1", fromLagging); err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("node ahead opens a value sealed under the old key: %v", err)
	}
	// Add is that step for a keyring in memory.
	r, _ := NewKeyring(1, map[Version][]byte{1: k1})
	if err := r.Add(2, k2); err != nil || r.Current() != 1 || len(r.Versions()) != 2 {
		t.Fatalf("Add: current %d, versions %v, %v", r.Current(), r.Versions(), err)
	}
	if err := r.Add(2, k1); err == nil {
		t.Fatal("Add replaced a version's key")
	}
}

func TestMerge(t *testing.T) {
	k1, k2, k3 := mustKey(t), mustKey(t), mustKey(t)
	running, _ := NewKeyring(1, map[Version][]byte{1: k1})
	v, _ := NewVault(running)
	old, _ := v.SealPlatformKey("issuer", seed)

	// The file gains version 2, current: the running keyring takes it in and seals under it.
	file, _ := NewKeyring(2, map[Version][]byte{1: k1, 2: k2})
	ch, err := running.Merge(file)
	if err != nil || !slices.Equal(ch.Added, []Version{2}) || ch.Previous != 1 || ch.Current != 2 || !ch.Changed() {
		t.Fatalf("merge: %+v %v", ch, err)
	}
	if s, _ := v.SealPlatformKey("issuer", seed); mustVersion(t, s) != 2 {
		t.Fatal("new seals are not under the merged current version")
	}
	if ch, err := running.Merge(file); err != nil || ch.Changed() {
		t.Fatalf("merging the same reading again: %+v %v", ch, err)
	}

	// The file retires version 1: the running keyring keeps it (values read before the rotation still open).
	retired, _ := NewKeyring(2, map[Version][]byte{2: k2})
	if ch, err := running.Merge(retired); err != nil || ch.Changed() || !slices.Equal(running.Versions(), []Version{1, 2}) {
		t.Fatalf("merge after retirement: %+v %v, versions %v", ch, err, running.Versions())
	}
	if got, err := v.OpenPlatformKey("issuer", old); err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("a value under the retired version no longer opens in the running process: %v", err)
	}

	// The file names version 1 current again while adding 3 (not current): both are adopted.
	back, _ := NewKeyring(1, map[Version][]byte{1: k1, 2: k2, 3: k3})
	if ch, err := running.Merge(back); err != nil || !slices.Equal(ch.Added, []Version{3}) || running.Current() != 1 {
		t.Fatalf("merge with current=1: %+v %v", ch, err)
	}

	// Another key under a version already held changes nothing.
	clash, _ := NewKeyring(2, map[Version][]byte{2: k3, 4: k1})
	if _, err := running.Merge(clash); err == nil || running.Current() != 1 || len(running.Versions()) != 3 {
		t.Fatalf("clashing merge: %v, current %d, versions %v", err, running.Current(), running.Versions())
	}
	if _, err := running.Merge(nil); err == nil {
		t.Fatal("merge of nil")
	}
	if ch, err := running.Merge(running); err != nil || ch.Changed() {
		t.Fatalf("merge with itself: %+v %v", ch, err)
	}
}

// TestMergeWhileSealing runs merges beside seals and opens, for the race detector.
func TestMergeWhileSealing(t *testing.T) {
	keys := map[Version][]byte{1: mustKey(t)}
	running, _ := NewKeyring(1, keys)
	v, _ := NewVault(running)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s, err := v.SealCustomerSeed("account-x", secretA, seed)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := v.OpenCustomerSeed("account-x", secretA, s); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for ver := Version(2); ver <= 10; ver++ {
		keys[ver] = mustKey(t)
		next, err := NewKeyring(ver, keys)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := running.Merge(next); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if running.Current() != 10 {
		t.Fatalf("current %d", running.Current())
	}
}

func mustVersion(t *testing.T, sealed []byte) Version {
	t.Helper()
	v, err := SealedVersion(sealed)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	v := testVault(t)
	p, _ := v.SealPlatformKey("platform/issuer/G1", seed)
	c, _ := v.SealCustomerSeed("account-1", secretA, seed)
	for owner, s := range map[string][]byte{"platform/issuer/G1": p, "account-1": c} {
		if ver, err := v.Verify(owner, s); err != nil || ver != 1 {
			t.Fatalf("verify %s: %d %v", owner, ver, err)
		}
		if _, err := v.Verify("account-2", s); !errors.Is(err, ErrOpenFailed) {
			t.Fatalf("verify %s for another owner: %v", owner, err)
		}
		if _, err := v.Verify("", s); !errors.Is(err, ErrNoOwner) {
			t.Fatalf("verify without owner: %v", err)
		}
		bad := bytes.Clone(s)
		bad[headerLen+nonceLen+1] ^= 1 // inside the master key's layer of either kind
		if _, err := v.Verify(owner, bad); !errors.Is(err, ErrOpenFailed) {
			t.Fatalf("verify of a tampered %s: %v", owner, err)
		}
	}
	if _, err := v.Verify("x", []byte("junk")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("verify junk: %v", err)
	}
	if err := v.Keyring().Promote(2, mustKey(t)); err != nil {
		t.Fatal(err)
	}
	if err := v.Keyring().Retire(1); err != nil {
		t.Fatal(err)
	}
	var uv *UnknownVersionError
	if ver, err := v.Verify("account-1", c); !errors.As(err, &uv) || ver != 1 {
		t.Fatalf("verify under a retired version: %d %v", ver, err)
	}
}

func TestPromoteOnAFullKeyring(t *testing.T) {
	keys := map[Version][]byte{}
	for v := Version(1); v <= maxKeyVersions; v++ {
		keys[v] = bytes.Repeat([]byte{byte(v)}, KeySize)
	}
	r, err := NewKeyring(1, keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Promote(maxKeyVersions, keys[maxKeyVersions]); err != nil || r.Current() != maxKeyVersions {
		t.Fatalf("re-promoting a held version on a full keyring: %v", err)
	}
	if err := r.Promote(maxKeyVersions+1, mustKey(t)); err == nil {
		t.Fatal("a full keyring took another version")
	}
}

func TestLoadKeyFileNeverCreates(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKeyFile(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKeyFile of a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKeyFile created the file: %v", err)
	}
	if _, err := RotateKeyFile(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("RotateKeyFile of a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFileName+".lock")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the lock outlived a failed update: %v", err)
	}
}

// TestConcurrentRotationsOfTheKeyFile: rotations started at once each add their own version; no key that a
// rotation returned (and would seal under) is lost from the file.
func TestConcurrentRotationsOfTheKeyFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateKeyFile(dir); err != nil {
		t.Fatal(err)
	}
	const n = 6
	rings := make([]*Keyring, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rings[i], errs[i] = RotateKeyFile(dir)
		}()
	}
	wg.Wait()
	file, err := LoadKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(file.Versions()) != n+1 || file.Current() != n+1 {
		t.Fatalf("file has versions %v, current %d", file.Versions(), file.Current())
	}
	fv, _ := NewVault(file)
	for i, r := range rings {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		rv, _ := NewVault(r)
		sealed, _ := rv.SealPlatformKey("issuer", seed)
		if _, err := fv.OpenPlatformKey("issuer", sealed); err != nil {
			t.Fatalf("rotation %d sealed under version %d, which the file does not hold: %v", i, r.Current(), err)
		}
	}
}

func TestUpdateKeyFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateKeyFile(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := RotateKeyFile(dir); err != nil {
		t.Fatal(err)
	}
	// A change that fails leaves the file alone.
	before, _ := os.ReadFile(filepath.Join(dir, KeyFileName))
	if _, err := UpdateKeyFile(dir, func(r *Keyring) error { _ = r.Retire(1); return fmt.Errorf("changed my mind") }); err == nil {
		t.Fatal("a failed change reported success")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, KeyFileName)); !bytes.Equal(before, after) {
		t.Fatal("a failed change wrote the file")
	}
	r, err := UpdateKeyFile(dir, func(r *Keyring) error { return r.Retire(1) })
	if err != nil || !slices.Equal(r.Versions(), []Version{2}) {
		t.Fatalf("retire through the file: %v %v", r, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, KeyFileName)); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o", st.Mode().Perm())
	}
	// A lock left behind by a crashed update is reported with the file to remove.
	keyFileLockWait = 100 * time.Millisecond
	t.Cleanup(func() { keyFileLockWait = 5 * time.Second })
	lock := filepath.Join(dir, KeyFileName+".lock")
	if err := os.WriteFile(lock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RotateKeyFile(dir); err == nil || !strings.Contains(err.Error(), lock) {
		t.Fatalf("rotation under a stale lock: %v", err)
	}
	os.Remove(lock)
	if r, err := RotateKeyFile(dir); err != nil || r.Current() != 3 {
		t.Fatalf("rotation after the lock is removed: %v %v", r, err)
	}
}

func TestCensus(t *testing.T) {
	v := testVault(t)
	store := &memValues{m: map[string][]byte{}}
	store.m["platform/issuer/G1"], _ = v.SealPlatformKey("platform/issuer/G1", seed)
	store.m["account-1"], _ = v.SealCustomerSeed("account-1", secretA, seed)
	if err := v.Keyring().Promote(2, mustKey(t)); err != nil {
		t.Fatal(err)
	}
	store.m["account-2"], _ = v.SealCustomerSeed("account-2", secretB, seed)
	c, err := v.Census(context.Background(), store)
	if err != nil || c.Scanned != 3 || c.ByVersion[1] != 2 || c.ByVersion[2] != 1 || c.Outside(2) != 2 {
		t.Fatalf("census before rotation: %+v %v", c, err)
	}
	if _, err := v.Rotate(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	if c, err := v.Census(context.Background(), store); err != nil || c.Scanned != 3 || c.Outside(2) != 0 {
		t.Fatalf("census after rotation: %+v %v", c, err)
	}
	// A value that does not open stops the census, naming its owner.
	store.m["account-1"] = store.m["account-2"]
	if _, err := v.Census(context.Background(), store); !errors.Is(err, ErrOpenFailed) || !strings.Contains(err.Error(), "account-1") {
		t.Fatalf("census of a moved value: %v", err)
	}
}
