package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar"
)

// Multisignature (guide §11, domain/counterparty/multisig.go). A bank that chose multisignature registers the
// public halves of its signer keys (SetSignerKeys). Every customer account opened while its choice is on gets
// the bank's keys, the platform's co-signing key and the customer's own key as signers, with thresholds that
// need all three parties (counterparty.CosignerWeights); the set-up is recorded on the account's cosigning
// stream. The settlement worker pays from such an account in a transaction of its own, signed by the customer
// (the bank's secret opens the key, as for any customer) and by the platform, then sends it to the bank's
// POST {callback_url}/sign and submits it only with the bank's checked signatures (settlement's payCosigned).
//
// The platform's co-signing key is derived from the issuer's seed (HMAC-SHA256 under a fixed label), so it
// needs no sealed value of its own: it is as safe as the issuer's key, which already controls the asset
// (clawback, authorization), survives every master key rotation with it, and is the same on every node.

// Defaults and bounds of multisignature.
const (
	DefaultSignTimeout = 10 * time.Second // one POST /sign, connection and answer included
	maxSignTimeout     = time.Minute
	// DefaultCosignedInFlight bounds the cosigned payments being signed and submitted at once. Each holds a
	// channel account while its bank signs (the envelope names the channel's sequence number), so slow banks
	// must not take every channel from the batched payments: a quarter of serve's default 64.
	DefaultCosignedInFlight = 16
	// signAnswerBytes bounds a bank's /sign answer: an envelope with a few signatures is a few kilobytes.
	signAnswerBytes  = 64 << 10
	signSnippetRunes = 200
	signUserAgent    = "Kazna-Multisig/1"
	// SignPath is appended to a bank's callback_url to reach its signer (guide §11, §12).
	SignPath = "/sign"
	// cosigningCacheSize bounds the accounts whose cosigning record is kept in memory.
	cosigningCacheSize = 100_000
	cosignerLabel      = "kazna/multisig/platform-co-signer/v1"
)

// CosigningNetwork is what setting up a cosigned account needs of the network (stellar.Horizon).
type CosigningNetwork interface {
	SetSigners(ctx context.Context, s stellar.SignerSetup) (stellar.Receipt, error)
	Account(ctx context.Context, address string) (stellar.AccountState, error)
}

// SigningDirectory finds a bank's callback_url (projections.Counterparties).
type SigningDirectory interface {
	Counterparty(ctx context.Context, guid string) (projections.Counterparty, bool)
}

// MultisigDeps is what NewMultisig needs.
type MultisigDeps struct {
	Store     command.Store
	Platform  *Platform
	Network   CosigningNetwork
	Directory SigningDirectory
	// Transport carries the /sign requests; nil is a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// SignTimeout bounds one /sign request (default 10 s, at most 1 min).
	SignTimeout time.Duration
	// InFlight bounds the cosigned payments signed and submitted at once (default DefaultCosignedInFlight).
	InFlight int
	Logger   *slog.Logger
	Now      func() time.Time
}

// Multisig runs multisignature: the banks' signer keys, the set-up of cosigned accounts, and the bank's /sign.
type Multisig struct {
	d      MultisigDeps
	client *http.Client
	slots  chan struct{} // a slot per cosigned payment under way (InFlight)

	keyOnce sync.Once
	key     *stellar.KeySigner
	keyErr  error

	mu        sync.Mutex
	cosigning map[string]counterparty.CosignedAccount // by account GUID; Exists false for a single-key account
}

// NewMultisig checks deps and fills defaults.
func NewMultisig(d MultisigDeps) (*Multisig, error) {
	if d.Store == nil || d.Platform == nil || d.Network == nil || d.Directory == nil {
		return nil, fmt.Errorf("%w: multisig needs the store, the platform, the network and the counterparties directory", ErrNotReady)
	}
	if d.SignTimeout == 0 {
		d.SignTimeout = DefaultSignTimeout
	}
	if d.SignTimeout < 0 || d.SignTimeout > maxSignTimeout {
		return nil, fmt.Errorf("app: multisig: sign timeout %v, want up to %v", d.SignTimeout, maxSignTimeout)
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.InFlight <= 0 {
		d.InFlight = DefaultCosignedInFlight
	}
	transport := d.Transport
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Multisig{d: d, cosigning: map[string]counterparty.CosignedAccount{}, slots: make(chan struct{}, d.InFlight),
		client: &http.Client{Transport: transport, Timeout: d.SignTimeout, CheckRedirect: sameHostRedirect}}, nil
}

func (m *Multisig) now() time.Time { return m.d.Now().UTC() }

// PlatformSigner is the platform's co-signing key, derived from the issuer's seed.
func (m *Multisig) PlatformSigner() (*stellar.KeySigner, error) {
	m.keyOnce.Do(func() { m.key, m.keyErr = m.d.Platform.cosigningKey() })
	return m.key, m.keyErr
}

// cosigningKey derives the platform's co-signing key from the issuer's seed.
func (p *Platform) cosigningKey() (*stellar.KeySigner, error) {
	p.mu.RLock()
	s := p.state
	p.mu.RUnlock()
	if s.IssuerAddress == "" {
		return nil, fmt.Errorf("%w: the issuer is not set up", ErrNotReady)
	}
	seed, err := p.deps.Vault.OpenPlatformKey(issuerOwner(s.IssuerAddress), s.IssuerSealedSeed)
	if err != nil {
		return nil, fmt.Errorf("app: open the issuer key: %w", err)
	}
	mac := hmac.New(sha256.New, seed)
	clear(seed)
	mac.Write([]byte(cosignerLabel))
	raw := mac.Sum(nil)
	k, err := stellar.KeySignerFromRawSeed(raw)
	clear(raw)
	if err != nil {
		return nil, fmt.Errorf("app: the platform's co-signing key: %w", err)
	}
	return k, nil
}

// SignerKeysView is a bank's multisignature set-up as the API shows it.
type SignerKeysView struct {
	Addresses      []string
	Multisig       bool
	CallbackURL    string
	PlatformSigner string
	UpdatedAt      time.Time
}

// SignerKeys returns the bank's signer keys and the platform's co-signing address (the bank may check it
// among a customer account's signers).
func (m *Multisig) SignerKeys(ctx context.Context, cp uuid.UUID) (SignerKeysView, error) {
	s, err := loadState(ctx, m.d.Store, counterparty.Stream(cp), counterparty.Decider, counterparty.Events)
	if err != nil {
		return SignerKeysView{}, err
	}
	if !s.Exists {
		return SignerKeysView{}, counterparty.ErrNotFound
	}
	k, err := m.PlatformSigner()
	if err != nil {
		return SignerKeysView{}, err
	}
	return SignerKeysView{Addresses: append([]string{}, s.SignerKeys...), Multisig: s.Profile.Multisig,
		CallbackURL: s.Profile.CallbackURL, PlatformSigner: k.Address(), UpdatedAt: s.UpdatedAt}, nil
}

// SetSignerKeys replaces the bank's signer public keys. Accounts opened before keep the keys they were
// opened with.
func (m *Multisig) SetSignerKeys(ctx context.Context, r Request, cp uuid.UUID, addresses []string) (eventstore.Position, error) {
	env := command.Envelope{Metadata: eventstore.Metadata{Actor: r.Actor, Counterparty: cp.String(), Time: m.now()},
		IdempotencyKey: r.IdempotencyKey, Fingerprint: r.Fingerprint}
	res, err := command.Handle(ctx, m.d.Store, counterparty.Stream(cp), counterparty.Decider, counterparty.Events,
		any(counterparty.SetSignerKeys{Addresses: addresses, At: m.now()}), env)
	if err != nil {
		return eventstore.Position{}, err
	}
	return res.Position, nil
}

// setUpAccount gives a customer account being opened its cosigners when its bank chose multisignature: it
// records the set-up on the account's cosigning stream, then makes the chain agree. A retry after a crash
// finds the record and only finishes the chain's part; an account opened without multisignature stays so.
func (m *Multisig) setUpAccount(ctx context.Context, cp uuid.UUID, s account.State, holder *stellar.KeySigner) error {
	id, err := uuid.Parse(s.GUID)
	if err != nil {
		return fmt.Errorf("app: account %q: %w", s.GUID, err)
	}
	stream := counterparty.CosignedAccountStream(id)
	rec, err := loadState(ctx, m.d.Store, stream, counterparty.CosignedDecider, counterparty.CosignedEvents)
	if err != nil {
		return err
	}
	if !rec.Exists {
		bank, err := loadState(ctx, m.d.Store, counterparty.Stream(cp), counterparty.Decider, counterparty.Events)
		if err != nil {
			return err
		}
		if !bank.Profile.Multisig {
			return nil
		}
		if err := cosigningReady(bank); err != nil {
			return err
		}
		k, err := m.PlatformSigner()
		if err != nil {
			return err
		}
		w, err := counterparty.CosignerWeights(len(bank.SignerKeys))
		if err != nil {
			return err
		}
		cmd := counterparty.RecordCosigning{AccountGUID: id, CounterpartyGUID: cp, Address: s.Address, BankSigners: bank.SignerKeys,
			PlatformSigner: k.Address(), Weights: w, At: m.now()}
		env := command.Envelope{Metadata: eventstore.Metadata{Actor: "kazna multisig", Counterparty: cp.String()}}
		if _, err := command.Handle(ctx, m.d.Store, stream, counterparty.CosignedDecider, counterparty.CosignedEvents, any(cmd), env); err != nil {
			return fmt.Errorf("app: record the cosigners of account %s: %w", id, err)
		}
		if rec, err = loadState(ctx, m.d.Store, stream, counterparty.CosignedDecider, counterparty.CosignedEvents); err != nil {
			return err
		}
	}
	onChain, err := m.d.Network.Account(ctx, s.Address)
	if err != nil {
		return fmt.Errorf("app: read account %s: %w", s.Address, err)
	}
	if hasCosigners(onChain, rec.CosignedAccountSetUp) {
		return nil
	}
	w := rec.Weights
	setup := stellar.SignerSetup{Account: holder.Signatory(), MasterWeight: &w.Customer,
		Thresholds: &stellar.Thresholds{Low: w.Low, Medium: w.Medium, High: w.High}}
	for _, a := range rec.BankSigners {
		setup.Signers = append(setup.Signers, stellar.SignerWeight{Address: a, Weight: w.BankKey})
	}
	setup.Signers = append(setup.Signers, stellar.SignerWeight{Address: rec.PlatformSigner, Weight: w.Platform})
	if _, err := m.d.Network.SetSigners(ctx, setup); err != nil {
		return fmt.Errorf("app: set the cosigners of account %s: %w", s.Address, err)
	}
	m.d.Logger.InfoContext(ctx, "customer account cosigned", "account", s.GUID, "counterparty", cp.String(),
		"bank_signers", len(rec.BankSigners), "medium_threshold", w.Medium)
	return nil
}

// checkReady refuses, before anything is written or opened on chain, a customer account of a bank that chose
// multisignature but cannot sign yet.
func (m *Multisig) checkReady(ctx context.Context, cp uuid.UUID) error {
	bank, err := loadState(ctx, m.d.Store, counterparty.Stream(cp), counterparty.Decider, counterparty.Events)
	if err != nil {
		return err
	}
	if !bank.Profile.Multisig {
		return nil
	}
	return cosigningReady(bank)
}

func cosigningReady(bank counterparty.State) error {
	if len(bank.SignerKeys) == 0 || bank.Profile.CallbackURL == "" {
		return &counterparty.ErrInvalid{Field: "multisig",
			Reason: "the bank chose multisignature: register its signer keys (PUT …/signers) and a callback_url first"}
	}
	return nil
}

// hasCosigners reports whether the chain shows the recorded signers and thresholds.
func hasCosigners(st stellar.AccountState, rec counterparty.CosignedAccountSetUp) bool {
	w := rec.Weights
	if st.Thresholds != (stellar.Thresholds{Low: w.Low, Medium: w.Medium, High: w.High}) {
		return false
	}
	want := map[string]uint8{st.Address: w.Customer, rec.PlatformSigner: w.Platform}
	for _, a := range rec.BankSigners {
		want[a] = w.BankKey
	}
	got := map[string]uint8{}
	for _, s := range st.Signers {
		got[s.Address] = s.Weight
	}
	for a, wt := range want {
		if got[a] != wt {
			return false
		}
	}
	return true
}

// Cosigning returns the account's cosigning record; Exists is false for an account its own key signs for.
// An account's record is written before the account is opened and never changes, so the answer is kept.
func (m *Multisig) Cosigning(ctx context.Context, accountGUID string) (counterparty.CosignedAccount, error) {
	m.mu.Lock()
	rec, ok := m.cosigning[accountGUID]
	m.mu.Unlock()
	if ok {
		return rec, nil
	}
	id, err := uuid.Parse(accountGUID)
	if err != nil {
		return rec, fmt.Errorf("app: account %q: %w", accountGUID, err)
	}
	rec, err = loadState(ctx, m.d.Store, counterparty.CosignedAccountStream(id), counterparty.CosignedDecider, counterparty.CosignedEvents)
	if err != nil {
		return rec, err
	}
	m.mu.Lock()
	if len(m.cosigning) >= cosigningCacheSize {
		clear(m.cosigning)
	}
	m.cosigning[accountGUID] = rec
	m.mu.Unlock()
	return rec, nil
}

// signBody is the guide's request and answer of POST /sign.
type signBody struct {
	Address        []string `json:"address"`
	TransactionXDR string   `json:"transaction_xdr"`
}

// signAnswer is what one POST /sign brought: the bank's answer, or why none usable came.
type signAnswer struct {
	answer  stellar.CosignAnswer
	refusal payment.Refusal // "" when answer is the bank's 2xx body
	status  int
	reason  string
}

// askBank posts the envelope to the bank's /sign and classifies the answer (guide §11): 400, 401 and 404 as
// the guide names them; no answer, 5xx or another status as unavailable; a 2xx body that is not the guide's
// as a bad answer.
func (m *Multisig) askBank(ctx context.Context, cp string, req stellar.CosignRequest) signAnswer {
	bank, ok := m.d.Directory.Counterparty(ctx, cp)
	if !ok || bank.CallbackURL == "" {
		return signAnswer{refusal: payment.RefusalUnavailable, reason: "the bank has no callback_url to reach its /sign"}
	}
	target, err := signURL(bank.CallbackURL)
	if err != nil {
		return signAnswer{refusal: payment.RefusalUnavailable, reason: "the bank's callback_url is not usable: " + err.Error()}
	}
	body, _ := json.Marshal(signBody{Address: req.Addresses, TransactionXDR: req.EnvelopeXDR}) // strings only: cannot fail
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return signAnswer{refusal: payment.RefusalUnavailable, reason: "the bank's /sign URL is not usable"}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("User-Agent", signUserAgent)
	resp, err := m.client.Do(hreq)
	if err != nil {
		return signAnswer{refusal: payment.RefusalUnavailable, reason: cleanText("no answer: "+err.Error(), payment.MaxReasonRunes)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, signAnswerBytes+1))
	status := resp.StatusCode
	msg := "HTTP " + strconv.Itoa(status)
	if s := cleanText(string(data), signSnippetRunes); s != "" && status/100 != 2 {
		msg += ": " + s
	}
	switch {
	case status == http.StatusBadRequest:
		return signAnswer{refusal: payment.RefusalBadRequest, status: status, reason: msg}
	case status == http.StatusUnauthorized:
		return signAnswer{refusal: payment.RefusalUnauthorized, status: status, reason: msg}
	case status == http.StatusNotFound:
		return signAnswer{refusal: payment.RefusalNotFound, status: status, reason: msg}
	case status/100 != 2:
		return signAnswer{refusal: payment.RefusalUnavailable, status: status, reason: msg}
	case err != nil:
		return signAnswer{refusal: payment.RefusalUnavailable, status: status, reason: "the answer broke off: " + cleanText(err.Error(), signSnippetRunes)}
	case len(data) > signAnswerBytes:
		return signAnswer{refusal: payment.RefusalBadAnswer, status: status, reason: fmt.Sprintf("the answer is longer than %d bytes", signAnswerBytes)}
	}
	var b signBody
	if err := json.Unmarshal(data, &b); err != nil {
		return signAnswer{refusal: payment.RefusalBadAnswer, status: status, reason: "the answer is not the JSON object {\"address\", \"transaction_xdr\"}"}
	}
	return signAnswer{answer: stellar.CosignAnswer{Addresses: b.Address, EnvelopeXDR: b.TransactionXDR}, status: status}
}

// signURL is the bank's signer: {callback_url}/sign, its query kept.
func signURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("not an absolute http(s) URL")
	}
	u.Path = strings.TrimRight(u.Path, "/") + SignPath
	u.RawPath = ""
	return u.String(), nil
}

// signatureRefused is a /sign attempt that brought no usable signature; final when the payment must fail.
type signatureRefused struct {
	final  bool
	reason string
}

func (e *signatureRefused) Error() string { return "app: the bank did not sign: " + e.reason }

// bankCosigner is the stellar.Cosigner of one payment: every request and its outcome are recorded on the
// payment's stream (attempt numbers continue from the stream, so they survive a restart).
type bankCosigner struct {
	m       *Multisig
	book    *PaymentBook
	env     command.Envelope
	payment uuid.UUID
	bank    string
	attempt int // the last attempt recorded
}

func (b *bankCosigner) Cosign(ctx context.Context, req stellar.CosignRequest) (stellar.CosignAnswer, error) {
	stream := payment.Stream(b.payment)
	b.attempt++
	// Writes of the outcome go on while the worker stops: an answer received must not be forgotten.
	record := func(cmd any) ([]payment.Event, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callbackRecordTimeout)
		defer cancel()
		res, err := b.book.Handle(rctx, stream, cmd, b.env)
		return res.Events, err
	}
	if _, err := record(payment.RequestSignature{Attempt: b.attempt, Addresses: req.Addresses,
		TxHash: hex.EncodeToString(req.Hash[:]), At: b.m.now()}); err != nil {
		return stellar.CosignAnswer{}, fmt.Errorf("app: record the signature request: %w", err)
	}
	got := b.m.askBank(ctx, b.bank, req)
	if got.refusal == payment.RefusalUnavailable && got.status == 0 && ctx.Err() != nil {
		// Stopping: the attempt is asked again after the restart, under the next number.
		return stellar.CosignAnswer{}, ctx.Err()
	}
	var signed []string
	if got.refusal == "" {
		var err error
		if _, signed, err = stellar.CheckCosigned(req, got.answer); err != nil {
			var ce *stellar.CosignError
			got.refusal, got.reason = payment.RefusalBadAnswer, err.Error()
			if errors.As(err, &ce) {
				got.reason = ce.Reason
				if ce.WrongKey {
					got.refusal = payment.RefusalWrongKey
				}
			}
		}
	}
	if got.refusal != "" {
		evs, err := record(payment.RecordSignatureRefusal{Attempt: b.attempt, Refusal: got.refusal, HTTPStatus: got.status,
			Reason: cleanText(got.reason, payment.MaxReasonRunes), At: b.m.now()})
		if err != nil {
			return stellar.CosignAnswer{}, fmt.Errorf("app: record the bank's refusal: %w", err)
		}
		final := false
		for _, e := range evs {
			if r, ok := e.(payment.PaymentSignatureRefused); ok {
				final = r.Final
			}
		}
		b.m.d.Logger.WarnContext(ctx, "the bank did not sign", "payment", b.payment.String(), "attempt", b.attempt,
			"refusal", string(got.refusal), "status", got.status, "reason", got.reason, "final", final)
		return stellar.CosignAnswer{}, &signatureRefused{final: final, reason: got.reason}
	}
	if _, err := record(payment.RecordSigned{Attempt: b.attempt, Addresses: signed, At: b.m.now()}); err != nil {
		return stellar.CosignAnswer{}, fmt.Errorf("app: record the bank's signature: %w", err)
	}
	return got.answer, nil
}

// CosignedPayer pays one payment with the bank's signatures (stellar.Horizon).
type CosignedPayer interface {
	PayCosigned(ctx context.Context, p stellar.Payment, addresses []string, cosigner stellar.Cosigner) (stellar.Receipt, error)
}

// payCosigned settles a PENDING payment from a cosigned account: the customer's and the platform's
// signatures, then the bank's /sign, then the network. A refusal the domain calls final fails the payment; any
// other is asked again after SignRetryDelay.
func (s *Settlement) payCosigned(ctx context.Context, p payment.State, rec counterparty.CosignedAccount) (next, error) {
	c := p.Created
	if p.Signatures.Stopped {
		return done, s.fail(ctx, c, p.Signatures.FailureReason())
	}
	if s.d.Multisig == nil || s.d.Cosigned == nil {
		return retrySigning, errors.New("app: settlement: the account needs its bank's signature but multisignature is not wired")
	}
	from, err := s.signatory(ctx, c.Sender)
	if err != nil {
		return retrySoon, err
	}
	platformKey, err := s.d.Multisig.PlatformSigner()
	if err != nil {
		return retrySoon, err
	}
	from.Signers = append(from.Signers, platformKey)
	asset := s.d.Platform.Asset()
	select {
	case s.d.Multisig.slots <- struct{}{}:
		defer func() { <-s.d.Multisig.slots }()
	case <-ctx.Done():
		return retrySoon, nil
	}
	cosigner := &bankCosigner{m: s.d.Multisig, book: s.d.Payments, env: s.env(), payment: uuid.MustParse(c.GUID),
		bank: rec.CounterpartyGUID, attempt: p.Signatures.Requests}
	r, err := s.d.Cosigned.PayCosigned(ctx, stellar.Payment{GUID: c.GUID, From: from, To: c.Receiver.Address,
		Asset: stellar.Asset{Code: c.AssetCode, Issuer: c.AssetIssuer, Decimals: asset.Decimals}, AmountMinor: c.Amount},
		rec.BankSigners, cosigner)
	var refused *signatureRefused
	switch {
	case err == nil:
		if err := s.complete(ctx, c, r.Hash, r.Ledger); err != nil {
			return retrySoon, err
		}
		return done, nil
	case stellar.OutcomeUnknown(err):
		return retryAfterWindow, nil
	case errors.As(err, &refused):
		if !refused.final {
			return retrySigning, nil
		}
		st, err := s.paymentState(ctx, c.GUID)
		if err != nil {
			return retrySoon, err
		}
		return done, s.fail(ctx, c, st.Signatures.FailureReason())
	case errors.Is(err, payment.ErrSignatureStopped):
		// Requests that ended without an answer recorded (the worker stopped during them) used the bound up.
		return done, s.fail(ctx, c, fmt.Sprintf("the bank's signature did not come in %d requests", payment.MaxSignatureAttempts))
	case errors.Is(err, stellar.ErrClosed) || errors.Is(err, stellar.ErrRateLimited) || ctx.Err() != nil:
		return retrySoon, nil
	}
	var txErr *stellar.TxError
	var bad *stellar.InvalidInputError
	if !errors.As(err, &txErr) && !errors.As(err, &bad) {
		return retryAfterWindow, err
	}
	return done, s.fail(ctx, c, failureReason(err))
}

func (s *Settlement) paymentState(ctx context.Context, guid string) (payment.State, error) {
	var p payment.State
	err := s.d.Payments.View(ctx, payment.Stream(uuid.MustParse(guid)), func(st payment.State) { p = st })
	return p, err
}
