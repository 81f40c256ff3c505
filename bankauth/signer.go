package bankauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/stellar"
)

// ReferenceSigner is the reference (demo) bank's multisignature signer (guide §11): it holds the bank's
// signer keys and serves POST /sign, so that Kazna's embedded defaults work with multisignature on. Like the
// reference authorization service it is NOT a bank: a real bank looks the payment up (GET payment by the
// envelope's payment_guid) and decides whether to sign; this one checks that the envelope is a payment
// carrying a payment_guid, asks Lookup if one is set, and signs.
type ReferenceSigner struct {
	passphrase string
	keys       map[string]*stellar.KeySigner
	order      []string
	lookup     PaymentLookup
}

// PaymentLookup tells whether Kazna knows the payment (the guide's GET payment); nil signs without asking.
type PaymentLookup func(ctx context.Context, paymentGUID string) (bool, error)

const (
	maxSignRequestBytes = 64 << 10
	signerSeedsFormat   = 1
)

// NewReferenceSigner makes a signer for the network with passphrase, holding the given secret seeds (S…).
func NewReferenceSigner(passphrase string, seeds []string, lookup PaymentLookup) (*ReferenceSigner, error) {
	if passphrase == "" || len(seeds) == 0 {
		return nil, errors.New("bankauth: reference signer: a network passphrase and at least one seed are required")
	}
	s := &ReferenceSigner{passphrase: passphrase, keys: map[string]*stellar.KeySigner{}, lookup: lookup}
	for _, seed := range seeds {
		k, err := stellar.NewKeySigner(seed)
		if err != nil {
			return nil, fmt.Errorf("bankauth: reference signer: %w", err)
		}
		if _, dup := s.keys[k.Address()]; !dup {
			s.keys[k.Address()] = k
			s.order = append(s.order, k.Address())
		}
	}
	return s, nil
}

// Addresses are the public keys the bank gives the platform (PUT …/signers).
func (s *ReferenceSigner) Addresses() []string { return append([]string(nil), s.order...) }

type signMessage struct {
	Address        []string `json:"address"`
	TransactionXDR string   `json:"transaction_xdr"`
}

// ServeHTTP serves POST /sign: 400 for a malformed request or envelope, 401 when it holds none of the
// requested keys, 404 when Lookup does not know the payment, else the envelope with its signatures.
func (s *ReferenceSigner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxSignRequestBytes+1))
	var req signMessage
	if err != nil || len(data) > maxSignRequestBytes || json.Unmarshal(data, &req) != nil || req.TransactionXDR == "" || len(req.Address) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `the body must be {"address":[...],"transaction_xdr":"..."}`})
		return
	}
	var mine []*stellar.KeySigner
	var addresses []string
	for _, a := range req.Address {
		if k, ok := s.keys[a]; ok {
			mine = append(mine, k)
			addresses = append(addresses, a)
		}
	}
	if len(mine) == 0 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "none of the requested addresses is ours"})
		return
	}
	if _, guid, err := stellar.SignEnvelope(req.TransactionXDR, s.passphrase); err != nil || uuid.Validate(guid) != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "transaction_xdr is not a payment envelope with a payment_guid"})
		return
	} else if s.lookup != nil {
		known, err := s.lookup(r.Context(), guid)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "payment lookup failed"})
			return
		}
		if !known {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "payment " + guid + " not found"})
			return
		}
	}
	signed, _, err := stellar.SignEnvelope(req.TransactionXDR, s.passphrase, mine...)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "transaction_xdr cannot be signed"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(signMessage{Address: addresses, TransactionXDR: signed})
}

type signerSeedsFile struct {
	Version int      `json:"v"`
	Seeds   []string `json:"seeds"`
}

// LoadOrCreateSignerSeeds returns the seeds kept in path, or generates n and writes them there (mode 0600,
// never overwritten), so a demo bank keeps its signer keys across restarts. A file group or others can read
// is refused: it holds secret keys.
func LoadOrCreateSignerSeeds(path string, n int) ([]string, error) {
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("bankauth: %s holds signer seeds but has mode %v; chmod 600 it", path, st.Mode().Perm())
		}
		var d signerSeedsFile
		data, err := io.ReadAll(io.LimitReader(f, 64<<10))
		if err != nil || json.Unmarshal(data, &d) != nil || d.Version != signerSeedsFormat || len(d.Seeds) == 0 {
			return nil, fmt.Errorf("bankauth: %s is not a signer seeds file", path)
		}
		return d.Seeds, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	d := signerSeedsFile{Version: signerSeedsFormat}
	for range n {
		k, err := stellar.RandomKeySigner()
		if err != nil {
			return nil, err
		}
		d.Seeds = append(d.Seeds, k.Secret())
	}
	data, _ := json.Marshal(d)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bankauth: create %s: %w", path, err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("bankauth: write %s: %w", path, werr)
	}
	return d.Seeds, nil
}
