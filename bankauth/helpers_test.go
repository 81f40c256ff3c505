package bankauth

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/auth"
)

// RSA key generation is slow; the test binary makes two keys once and shares them.
var (
	keysOnce sync.Once
	rsaKeys  [2]*rsa.PrivateKey
)

// testKeyring returns a keyring signing with test key i (0: Kazna, 1: an impostor).
func testKeyring(t *testing.T, i int) *auth.Keyring {
	t.Helper()
	keysOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	sk, err := auth.NewSigningKey(rsaKeys[i], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := auth.NewKeyring(auth.KeyringConfig{}, sk)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
