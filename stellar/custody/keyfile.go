package custody

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// KeyFileName is the master key file kept in the data directory in embedded mode.
const KeyFileName = "master.key"

// EnvMasterKey is the environment variable that carries the master keyring in a distributed deployment.
const EnvMasterKey = "KAZNA_MASTER_KEY"

// maxKeyFileBytes bounds how much of a key file is read (64 versions of base64 keys fit easily).
const maxKeyFileBytes = 16 << 10

// LoadKeyring returns the master keyring: from KAZNA_MASTER_KEY when it is set (a bad value is an error, never
// a silent fallback), otherwise from <dataDir>/master.key, created with a fresh key on first start.
func LoadKeyring(getenv func(string) string, dataDir string) (*Keyring, error) {
	if s := getenv(EnvMasterKey); s != "" {
		r, err := ParseKeyring(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
		return r, nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("custody: neither %s nor a data directory is set", EnvMasterKey)
	}
	return LoadOrCreateKeyFile(dataDir)
}

// LoadOrCreateKeyFile reads <dataDir>/master.key, or creates it (mode 0600) with one fresh key, version 1.
// It refuses a file that group or others can read or write.
func LoadOrCreateKeyFile(dataDir string) (*Keyring, error) {
	path := filepath.Join(dataDir, KeyFileName)
	r, err := readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	r, err = NewKeyring(1, map[Version][]byte{1: key})
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our read and create: use theirs.
		return readKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("custody: create master key file: %w", err)
	}
	if err := writeAndSync(f, r.format()); err != nil {
		return nil, fmt.Errorf("custody: write master key file %s: %w", path, err)
	}
	// The key must outlive a crash: everything sealed from now on is lost without it.
	if err := syncDir(dataDir); err != nil {
		return nil, fmt.Errorf("custody: write master key file %s: sync the directory: %w", path, err)
	}
	return r, nil
}

// LoadKeyFile reads <dataDir>/master.key. Unlike LoadOrCreateKeyFile it never creates the file: a tool that
// rotates keys, or a node that re-reads the file, must not invent a key no stored value was sealed under.
func LoadKeyFile(dataDir string) (*Keyring, error) {
	return readKeyFile(filepath.Join(dataDir, KeyFileName))
}

// RotateKeyFile generates a new master key, adds it to <dataDir>/master.key as the next version, makes it
// current and returns the updated keyring. The file is replaced atomically; older versions stay in it until
// they are retired (UpdateKeyFile).
func RotateKeyFile(dataDir string) (*Keyring, error) {
	return UpdateKeyFile(dataDir, func(r *Keyring) error {
		key, err := GenerateKey()
		if err != nil {
			return err
		}
		vs := r.Versions()
		return r.Promote(vs[len(vs)-1]+1, key)
	})
}

// UpdateKeyFile reads <dataDir>/master.key, lets change edit the keyring, and saves the result atomically. The
// read-change-write holds the file's lock (<dataDir>/master.key.lock), so that two rotations started at once
// cannot both add "the next version" with different keys, one of which would then be lost with every value
// sealed under it. If change returns an error the file is left as it was.
func UpdateKeyFile(dataDir string, change func(*Keyring) error) (*Keyring, error) {
	unlock, err := lockKeyFile(dataDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	r, err := LoadKeyFile(dataDir)
	if err != nil {
		return nil, err
	}
	if err := change(r); err != nil {
		return nil, err
	}
	if err := SaveKeyFile(dataDir, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Bounds of the wait for the key file's lock: an update holds it for the few milliseconds of a read and an
// atomic write, so a lock held longer was left by a process that died in between. A variable so that a test
// need not wait the whole time.
var keyFileLockWait = 5 * time.Second

const keyFileLockPoll = 20 * time.Millisecond

// lockKeyFile takes the key file's lock: a lock file created exclusively, which works on every file system
// and platform (a crash can leave it behind; the error then says which file to remove).
func lockKeyFile(dataDir string) (unlock func(), err error) {
	path := filepath.Join(dataDir, KeyFileName+".lock")
	deadline := time.Now().Add(keyFileLockWait)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
			return func() { _ = os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("custody: lock the master key file: %w", err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("custody: the master key file is locked by %s for more than %v: another key rotation is running, "+
				"or one stopped half way; if none is running, remove %s", path, keyFileLockWait, path)
		}
		time.Sleep(keyFileLockPoll)
	}
}

// SaveKeyFile replaces <dataDir>/master.key with the keyring's keys (mode 0600), atomically and durably: the
// directory is synced after the rename, because values re-sealed under a new key are lost with it if a crash
// undid the rename.
func SaveKeyFile(dataDir string, r *Keyring) error {
	path := filepath.Join(dataDir, KeyFileName)
	tmp, err := os.CreateTemp(dataDir, KeyFileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("custody: save master key file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("custody: save master key file: %w", err)
	}
	if err := writeAndSync(tmp, r.format()); err != nil {
		return fmt.Errorf("custody: save master key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("custody: save master key file: %w", err)
	}
	if err := syncDir(dataDir); err != nil {
		return fmt.Errorf("custody: save master key file: sync %s: %w", dataDir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func readKeyFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("custody: open master key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("custody: stat master key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("custody: master key file %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, &InsecureKeyFileError{Path: path, Mode: st.Mode()}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("custody: read master key file: %w", err)
	}
	if len(b) > maxKeyFileBytes {
		return nil, fmt.Errorf("custody: master key file %s is larger than %d bytes", path, maxKeyFileBytes)
	}
	r, err := ParseKeyring(string(b))
	if err != nil {
		return nil, fmt.Errorf("custody: master key file %s: %w", path, err)
	}
	return r, nil
}

func writeAndSync(f *os.File, s string) error {
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
