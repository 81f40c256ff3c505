package bankauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/network"
	"github.com/stellar/go-stellar-sdk/txnbuild"

	"github.com/kazna-ledger/kazna/stellar"
)

// envelope is an unsigned payment with a payment_guid, as Kazna sends it to /sign.
func envelope(t *testing.T, guid string) string {
	t.Helper()
	src := keypair.MustRandom()
	ops := []txnbuild.Operation{&txnbuild.ManageData{Name: stellar.PaymentGUIDDataName, Value: []byte(guid)},
		&txnbuild.Payment{Destination: keypair.MustRandom().Address(), Amount: "1", Asset: txnbuild.NativeAsset{}}}
	tx, err := txnbuild.NewTransaction(txnbuild.TransactionParams{SourceAccount: &txnbuild.SimpleAccount{AccountID: src.Address(), Sequence: 1},
		IncrementSequenceNum: true, Operations: ops, BaseFee: 100, Preconditions: txnbuild.Preconditions{TimeBounds: txnbuild.NewInfiniteTimeout()}})
	if err != nil {
		t.Fatal(err)
	}
	b64, err := tx.Base64()
	if err != nil {
		t.Fatal(err)
	}
	return b64
}

func TestReferenceSigner(t *testing.T) {
	seeds, err := LoadOrCreateSignerSeeds(filepath.Join(t.TempDir(), "signers"), 2)
	if err != nil {
		t.Fatal(err)
	}
	known := uuid.NewString()
	s, err := NewReferenceSigner(network.TestNetworkPassphrase, seeds, func(_ context.Context, guid string) (bool, error) { return guid == known, nil })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	post := func(body any) (*http.Response, signMessage) {
		b, _ := json.Marshal(body)
		resp, err := http.Post(srv.URL+"/sign", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m signMessage
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	addrs := s.Addresses()
	env := envelope(t, known)
	resp, m := post(signMessage{Address: addrs[:1], TransactionXDR: env})
	if resp.StatusCode != http.StatusOK || len(m.Address) != 1 || m.Address[0] != addrs[0] {
		t.Fatalf("sign: %d %+v", resp.StatusCode, m)
	}
	// The answer verifies with Kazna's own check.
	gt, _ := txnbuild.TransactionFromXDR(env)
	tx, _ := gt.Transaction()
	hash, _ := tx.Hash(network.TestNetworkPassphrase)
	req := stellar.CosignRequest{Addresses: addrs[:1], EnvelopeXDR: env, Hash: hash, Passphrase: network.TestNetworkPassphrase}
	if _, signed, err := stellar.CheckCosigned(req, stellar.CosignAnswer{Addresses: m.Address, EnvelopeXDR: m.TransactionXDR}); err != nil || len(signed) != 1 {
		t.Fatalf("the reference signature does not check: %v", err)
	}
	for name, c := range map[string]struct {
		body any
		want int
	}{
		"malformed":       {`{"address":`, http.StatusBadRequest},
		"not an envelope": {signMessage{Address: addrs, TransactionXDR: "AAAA"}, http.StatusBadRequest},
		"not our key":     {signMessage{Address: []string{keypair.MustRandom().Address()}, TransactionXDR: env}, http.StatusUnauthorized},
		"unknown payment": {signMessage{Address: addrs, TransactionXDR: envelope(t, uuid.NewString())}, http.StatusNotFound},
		"no payment guid": {signMessage{Address: addrs, TransactionXDR: envelope(t, "not-a-guid")}, http.StatusBadRequest},
	} {
		var resp *http.Response
		if s, ok := c.body.(string); ok {
			r, err := http.Post(srv.URL+"/sign", "application/json", strings.NewReader(s))
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			resp = r
		} else {
			resp, _ = post(c.body)
		}
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.want)
		}
	}
	// The seeds file is kept with mode 0600 and read back the same.
	path := filepath.Join(t.TempDir(), "seeds")
	first, err := LoadOrCreateSignerSeeds(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateSignerSeeds(path, 2)
	if err != nil || strings.Join(first, ",") != strings.Join(again, ",") {
		t.Fatalf("seeds changed: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	_ = os.Chmod(path, 0o644)
	if _, err := LoadOrCreateSignerSeeds(path, 2); err == nil {
		t.Error("a world-readable seeds file was accepted")
	}
}
