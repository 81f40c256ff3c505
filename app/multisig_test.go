package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/bankauth"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/stellar"
)

// signingBank is bank A's /sign: the reference signer, or an answer a test chooses.
type signingBank struct {
	t          *testing.T
	ref        *bankauth.ReferenceSigner
	passphrase string
	mode       atomic.Value // "ok", "wrong-key", "400", "401", "404", "slow"
	calls      atomic.Int64
	srv        *httptest.Server
}

func newSigningBank(t *testing.T, passphrase string) *signingBank {
	t.Helper()
	var seeds []string
	for range 2 { // the guide's bank "generates 2 key pairs"
		k, err := stellar.RandomKeySigner()
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, k.Secret())
	}
	ref, err := bankauth.NewReferenceSigner(passphrase, seeds, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &signingBank{t: t, ref: ref, passphrase: passphrase}
	b.mode.Store("ok")
	b.srv = httptest.NewServer(b)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *signingBank) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/sign" {
		http.NotFound(w, r)
		return
	}
	b.calls.Add(1)
	switch mode := b.mode.Load().(string); mode {
	case "ok":
		b.ref.ServeHTTP(w, r)
	case "wrong-key":
		// Signs with a key of its own but names the requested address: the platform must see through it.
		var req signBody
		data, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(data, &req)
		other, _ := stellar.RandomKeySigner()
		signed, _, err := stellar.SignEnvelope(req.TransactionXDR, b.passphrase, other)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(signBody{Address: req.Address[:1], TransactionXDR: signed})
	case "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	default:
		code := map[string]int{"400": 400, "401": 401, "404": 404}[mode]
		http.Error(w, `{"error":"`+mode+`"}`, code)
	}
}

// msEnv is the payments environment with bank A on multisignature and a settlement worker that pays cosigned
// accounts through the bank's /sign.
type msEnv struct {
	*payEnv
	ms   *Multisig
	bank *signingBank
}

func newMSEnv(t *testing.T) *msEnv {
	t.Helper()
	e := &msEnv{payEnv: newPayEnv(t)}
	e.stop() // the plain worker; startCosigningWorker replaces it
	ctx := testCtx(t)
	ms, err := NewMultisig(MultisigDeps{Store: e.store, Platform: e.plat, Network: e.horizon, Directory: e.dir,
		SignTimeout: 300 * time.Millisecond, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.ms = ms
	e.svc.d.Multisig = ms
	e.bank = newSigningBank(t, e.horizon.Passphrase())
	if _, err := ms.SetSignerKeys(ctx, Request{Actor: "admin"}, e.a, e.bank.ref.Addresses()); err != nil {
		t.Fatal(err)
	}
	on, cb := true, e.bank.srv.URL
	pos, err := e.cpEnv.svc.UpdateCounterparty(ctx, Request{Actor: "admin"}, e.a, ProfilePatch{Multisig: &on, CallbackURL: &cb})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.runner.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	e.startCosigningWorker(t)
	return e
}

func (e *msEnv) startCosigningWorker(t *testing.T) {
	t.Helper()
	b, err := e.horizon.NewBatcher(stellar.BatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSettlement(SettlementDeps{Store: e.store, Accounts: e.book, Payments: e.pbook, Payer: b, Chain: e.horizon,
		Signers: e.svc.AccountSigners(), Platform: e.plat, Logger: slog.New(slog.DiscardHandler), InFlightWindow: 200 * time.Millisecond,
		RetryDelay: 50 * time.Millisecond, OrphanGrace: 100 * time.Millisecond,
		Multisig: e.ms, Cosigned: e.horizon, SignRetryDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.settle = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	var once sync.Once
	e.stop = func() { once.Do(func() { cancel(); <-done; b.Close() }) }
	t.Cleanup(e.stop)
}

// funded opens two customers of bank A (both cosigned) and gives the first 100.00.
func (e *msEnv) funded(t *testing.T) (payer, payee, emission, processing uuid.UUID) {
	t.Helper()
	emission, processing = e.entities(t, e.a)
	payer = e.customerAccount(t, e.a, "olena")
	payee = e.customerAccount(t, e.a, "taras")
	e.issue(t, e.a, emission, 100_00)
	if s := e.transfer(t, e.a, emission, processing, 100_00, ""); s.Status != payment.StatusConfirmed {
		t.Fatalf("emission → processing: %+v", s)
	}
	if s := e.transfer(t, e.a, processing, payer, 100_00, ""); s.Status != payment.StatusConfirmed {
		t.Fatalf("processing → customer: %+v", s)
	}
	return payer, payee, emission, processing
}

// send creates and confirms a payment and returns its GUID without waiting.
func (e *msEnv) send(t *testing.T, from, to uuid.UUID, amount int64) uuid.UUID {
	t.Helper()
	ctx := testCtx(t)
	w, err := e.pay.CreatePayment(ctx, e.a, PaymentInput{SenderID: from.String(), ReceiverID: to.String(), Amount: amount,
		AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress(), Purpose: "multisig"}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.MustParse(w.GUID)
	if _, err := e.pay.ConfirmPayment(ctx, e.a, id, "", "", Write{}); err != nil {
		t.Fatal(err)
	}
	return id
}

// signatureSteps is the payment's history of signature steps: "requested 1", "refused 1 not_found", "signed 1".
func (e *msEnv) signatureSteps(t *testing.T, id uuid.UUID) []string {
	t.Helper()
	var steps []string
	for _, r := range e.stream(t, payment.Stream(id)) {
		ev, err := payment.Events.Decode(r.Type, r.Data)
		if err != nil {
			t.Fatal(err)
		}
		switch ev := ev.(type) {
		case payment.PaymentSignatureRequested:
			steps = append(steps, "requested "+itoa(ev.Attempt))
		case payment.PaymentSigned:
			steps = append(steps, "signed "+itoa(ev.Attempt))
		case payment.PaymentSignatureRefused:
			steps = append(steps, "refused "+itoa(ev.Attempt)+" "+string(ev.Refusal))
		}
	}
	return steps
}

// itoa writes an attempt number with two digits, so that the steps compare as text.
func itoa(n int) string { return fmt.Sprintf("%02d", n) }

func TestMultisigAccountNeedsBankPlatformAndCustomer(t *testing.T) {
	e := newMSEnv(t)
	payer, payee, emission, processing := e.funded(t)
	ctx := testCtx(t)

	// On chain: the bank's two keys (weight 1 each), the platform's (2) and the customer's own (2); payments
	// and signer changes need 5.
	st := e.accountState(t, payer.String())
	onChain, err := e.horizon.Account(ctx, st.Address)
	if err != nil {
		t.Fatal(err)
	}
	platformKey, err := e.ms.PlatformSigner()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint8{st.Address: 2, platformKey.Address(): 2}
	for _, a := range e.bank.ref.Addresses() {
		want[a] = 1
	}
	got := map[string]uint8{}
	for _, s := range onChain.Signers {
		got[s.Address] = s.Weight
	}
	if len(got) != len(want) {
		t.Errorf("signers on chain %v, want %v", got, want)
	}
	for a, w := range want {
		if got[a] != w {
			t.Errorf("signer %s weighs %d on chain, want %d", a, got[a], w)
		}
	}
	if onChain.Thresholds != (stellar.Thresholds{Low: 1, Medium: 5, High: 5}) {
		t.Errorf("thresholds %+v", onChain.Thresholds)
	}

	// The network itself refuses the customer's and the platform's signatures without the bank's.
	customerKey, err := e.svc.AccountSigners().AccountSigner(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	payeeAddress := e.accountState(t, payee.String()).Address
	_, err = e.horizon.Pay(ctx, stellar.Payment{GUID: uuid.NewString(), To: payeeAddress, Asset: e.asset(), AmountMinor: 1_00,
		From: stellar.Signatory{Account: st.Address, Signers: []stellar.Signer{customerKey, platformKey}}})
	var txErr *stellar.TxError
	if !errors.As(err, &txErr) || stellar.OutcomeUnknown(err) || (txErr.TxCode != "tx_bad_auth" && !txErr.HasOpCode("op_bad_auth")) {
		t.Fatalf("payment without the bank's signature: %v", err)
	}

	// Through settlement: the bank is asked once, signs, and the payment settles.
	id := e.send(t, payer, payee, 25_50)
	s := e.await(t, id)
	if s.Status != payment.StatusConfirmed || s.Hash == "" {
		t.Fatalf("cosigned payment: %+v", s)
	}
	if steps := e.signatureSteps(t, id); strings.Join(steps, ", ") != "requested 01, signed 01" {
		t.Errorf("signature steps %v", steps)
	}
	if n := e.bank.calls.Load(); n != 1 {
		t.Errorf("the bank was asked %d times", n)
	}
	// A payment from the processing entity needs no bank signature: the bank is not asked.
	e.checkBooks(t, payer, payee, emission, processing)
	if f, _ := e.funds(t, payee); f.Balance != 25_50 {
		t.Errorf("payee balance %d", f.Balance)
	}
}

func TestMultisigRefusals(t *testing.T) {
	cases := []struct {
		mode     string
		steps    string
		reason   string
		requests int64
	}{
		{"wrong-key", "requested 01, refused 01 wrong_key", "bank signed with the wrong key", 1},
		{"400", "requested 01, refused 01 bad_request", "malformed (HTTP 400)", 1},
		{"401", "requested 01, refused 01 unauthorized", "none of the requested keys (HTTP 401)", 1},
		{"404", "requested 01, refused 01 not_found, requested 02, refused 02 not_found, requested 03, refused 03 not_found, " +
			"requested 04, refused 04 not_found, requested 05, refused 05 not_found", "did not find the payment in 5 signature requests", 5},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			e := newMSEnv(t)
			payer, payee, emission, processing := e.funded(t)
			e.bank.mode.Store(c.mode)
			id := e.send(t, payer, payee, 10_00)
			s := e.await(t, id)
			if s.Status != payment.StatusFailed || !strings.Contains(s.Reason, c.reason) {
				t.Fatalf("payment %s %q, want FAILED with %q", s.Status, s.Reason, c.reason)
			}
			if steps := strings.Join(e.signatureSteps(t, id), ", "); steps != c.steps {
				t.Errorf("signature steps:\n got %s\nwant %s", steps, c.steps)
			}
			if n := e.bank.calls.Load(); n != c.requests {
				t.Errorf("the bank was asked %d times, want %d", n, c.requests)
			}
			// Nothing moved on chain; the reservation is released.
			e.checkBooks(t, payer, payee, emission, processing)
			if f, _ := e.funds(t, payer); f.Balance != 100_00 {
				t.Errorf("payer balance %d", f.Balance)
			}
		})
	}
}

func TestMultisigBankTimesOutThenSigns(t *testing.T) {
	e := newMSEnv(t)
	payer, payee, emission, processing := e.funded(t)
	e.bank.mode.Store("slow")
	id := e.send(t, payer, payee, 10_00)
	deadline := time.Now().Add(20 * time.Second)
	for e.bank.calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s, _ := e.pay.payment(testCtx(t), id); s.Status != payment.StatusPending {
		t.Fatalf("after two timeouts the payment is %s, want PENDING (asked again later)", s.Status)
	}
	e.bank.mode.Store("ok")
	if s := e.await(t, id); s.Status != payment.StatusConfirmed {
		t.Fatalf("payment %+v", s)
	}
	steps := e.signatureSteps(t, id)
	if len(steps) < 4 || steps[1] != "refused 01 unavailable" || steps[len(steps)-1] != "signed "+itoa(len(steps)/2) {
		t.Errorf("signature steps %v", steps)
	}
	e.checkBooks(t, payer, payee, emission, processing)
}

func TestMultisigRetriesSurviveARestart(t *testing.T) {
	e := newMSEnv(t)
	payer, payee, emission, processing := e.funded(t)
	e.bank.mode.Store("404")
	id := e.send(t, payer, payee, 10_00)
	refused := func() int {
		n := 0
		for _, s := range e.signatureSteps(t, id) {
			if strings.HasPrefix(s, "refused") {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for refused() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	e.stop()
	before := refused()
	if before < 2 || before >= payment.MaxSignatureNotFound {
		t.Fatalf("%d refusals before the restart", before)
	}
	e.startCosigningWorker(t)
	s := e.await(t, id)
	if s.Status != payment.StatusFailed || !strings.Contains(s.Reason, "in 5 signature requests") {
		t.Fatalf("payment %s %q", s.Status, s.Reason)
	}
	// The restarted worker continued the count: five 404s in all, numbered on.
	var notFound []string
	for _, st := range e.signatureSteps(t, id) {
		if strings.HasSuffix(st, "not_found") {
			notFound = append(notFound, st)
		}
	}
	if len(notFound) != payment.MaxSignatureNotFound {
		t.Errorf("404 refusals %v", notFound)
	}
	e.checkBooks(t, payer, payee, emission, processing)
}

func TestMultisigNeedsSignerKeysToOpenAccounts(t *testing.T) {
	e := newMSEnv(t)
	ctx := testCtx(t)
	if _, err := e.ms.SetSignerKeys(ctx, Request{Actor: "admin"}, e.a, nil); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.RegisterCustomer(ctx, e.a, e.input("nokeys"), Write{})
	var inv interface{ InvalidField() (string, string) }
	if !errors.As(err, &inv) {
		t.Fatalf("customer of a multisig bank without signer keys: %v", err)
	}
	// Bank B did not choose multisignature: its customers' accounts have the customer's key alone.
	acc := e.customerAccount(t, e.b, "plain")
	rec, err := e.ms.Cosigning(ctx, acc.String())
	if err != nil || rec.Exists {
		t.Fatalf("bank B's customer account cosigned: %+v %v", rec, err)
	}
	view, err := e.ms.SignerKeys(ctx, e.a)
	if err != nil || !view.Multisig || len(view.Addresses) != 0 || view.PlatformSigner == "" {
		t.Fatalf("signer keys view %+v %v", view, err)
	}
}
