package stellar

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

var bg = context.Background()

func TestAccountIssuerTrustlinePaymentClawback(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 2})
	tn.setUpAsset()

	st, err := tn.h.Account(bg, tn.issuer.Address())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Flags.AuthRequired || !st.Flags.AuthRevocable || !st.Flags.AuthClawbackEnabled {
		t.Fatalf("issuer flags %+v", st.Flags)
	}

	// Trustline opened without the issuer is not authorized yet; authorizing it makes it usable.
	alice := tn.account("10")
	if _, err := tn.h.OpenTrustline(bg, Trustline{Holder: alice.Signatory(), Asset: tn.asset}); err != nil {
		t.Fatal(err)
	}
	st, _ = tn.h.Account(bg, alice.Address())
	if line, ok := st.Trustline(tn.asset); !ok || line.Authorized {
		t.Fatalf("trustline before authorization: %+v, %v", line, ok)
	}
	if _, err := tn.h.AuthorizeTrustline(bg, tn.issuer.Signatory(), alice.Address(), tn.asset); err != nil {
		t.Fatal(err)
	}
	st, _ = tn.h.Account(bg, alice.Address())
	if line, _ := st.Trustline(tn.asset); !line.Authorized || !line.ClawbackEnabled {
		t.Fatalf("trustline after authorization: %+v", line)
	}

	// Issue, then pay between holders.
	tn.issue(alice.Address(), 100_00)
	bob := tn.holder(0)
	guid := newGUID()
	r, err := tn.h.Pay(bg, Payment{GUID: guid, From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 25_50})
	if err != nil {
		t.Fatal(err)
	}
	if r.Hash == "" || r.Ledger == 0 {
		t.Fatalf("receipt %+v", r)
	}
	if a, b := tn.balance(alice.Address()), tn.balance(bob.Address()); a != 74_50 || b != 25_50 {
		t.Fatalf("balances alice %d bob %d", a, b)
	}

	// Clawback from bob burns 5.50.
	cg := newGUID()
	if _, err := tn.h.Clawback(bg, Clawback{GUID: cg, Issuer: tn.issuer.Signatory(), From: bob.Address(), Asset: tn.asset,
		AmountMinor: 5_50}); err != nil {
		t.Fatal(err)
	}
	if b := tn.balance(bob.Address()); b != 20_00 {
		t.Fatalf("bob after clawback %d", b)
	}
	rec, err := tn.h.FindPayment(bg, bob.Address(), cg)
	if err != nil || rec.Kind != "clawback" || rec.From != bob.Address() || rec.Stroops != 55_000_000 {
		t.Fatalf("find clawback: %+v, %v", rec, err)
	}

	// Find the payment by its GUID, from either side.
	for _, acct := range []string{alice.Address(), bob.Address()} {
		rec, err := tn.h.FindPayment(bg, acct, guid)
		if err != nil {
			t.Fatalf("find payment via %s: %v", acct, err)
		}
		minor, _ := rec.Minor(2)
		if rec.TxHash != r.Hash || rec.From != alice.Address() || rec.To != bob.Address() || minor != 25_50 ||
			rec.Code != "eUAH" || rec.Issuer != tn.issuer.Address() {
			t.Fatalf("found %+v", rec)
		}
	}
	if _, err := tn.h.FindPayment(bg, alice.Address(), newGUID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown GUID: %v", err)
	}
	if _, err := tn.h.Account(bg, tn.root().Address()); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.h.Account(bg, mustRandom(t).Address()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing account: %v", err)
	}
}

func (tn *testNet) root() *KeySigner {
	s, _ := NewKeySigner(tn.ln.Root().Seed())
	return s
}

func mustRandom(t testing.TB) *KeySigner {
	s, err := RandomKeySigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPayAllAndPaymentsSinceCursor(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 2})
	tn.setUpAsset()
	processing := tn.holder(1_000_00)
	var customers []*KeySigner
	for range 3 {
		customers = append(customers, tn.holder(0))
	}
	// Cursor after the funding.
	page, err := tn.h.Payments(bg, processing.Address(), "", 200)
	if err != nil {
		t.Fatal(err)
	}
	cursor := page.Next
	if len(page.Records) == 0 || cursor == "" {
		t.Fatalf("first page %+v", page)
	}

	var batch []Payment
	var guids []string
	for i, c := range customers {
		g := newGUID()
		guids = append(guids, g)
		batch = append(batch, Payment{GUID: g, From: processing.Signatory(), To: c.Address(), Asset: tn.asset, AmountMinor: int64(i+1) * 1_00})
	}
	r, err := tn.h.PayAll(bg, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range customers {
		if b := tn.balance(c.Address()); b != int64(i+1)*1_00 {
			t.Fatalf("customer %d balance %d", i, b)
		}
		// Each GUID maps to its own payment in the one transaction.
		rec, err := tn.h.FindPayment(bg, c.Address(), guids[i])
		if err != nil || rec.TxHash != r.Hash || rec.To != c.Address() || rec.Stroops != int64(i+1)*10_000_000 {
			t.Fatalf("find %d: %+v, %v", i, rec, err)
		}
	}

	page, err = tn.h.Payments(bg, processing.Address(), cursor, 200)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 3 {
		t.Fatalf("payments since cursor: %d records: %+v", len(page.Records), page.Records)
	}
	for i, rec := range page.Records {
		if rec.GUID != guids[i] || rec.TxHash != r.Hash || rec.To != customers[i].Address() || !rec.Successful {
			t.Fatalf("record %d: %+v", i, rec)
		}
	}
	page2, err := tn.h.Payments(bg, processing.Address(), page.Next, 200)
	if err != nil || len(page2.Records) != 0 || page2.Next != page.Next {
		t.Fatalf("nothing new after the last cursor: %+v, %v", page2, err)
	}
	// An atomic batch with one bad payment applies nothing.
	bad := append(slices.Clone(batch[:2]), Payment{GUID: newGUID(), From: customers[0].Signatory(), To: processing.Address(),
		Asset: tn.asset, AmountMinor: 1_000_000_00})
	_, err = tn.h.PayAll(bg, bad)
	var txErr *TxError
	if !errors.As(err, &txErr) || txErr.TxCode != "tx_failed" || !txErr.HasOpCode("op_underfunded") || OutcomeUnknown(err) {
		t.Fatalf("atomic batch with an underfunded payment: %v", err)
	}
	if b := tn.balance(customers[0].Address()); b != 1_00 {
		t.Fatalf("partial application: customer 0 has %d", b)
	}
}

func TestSignersThresholdsAndMultisig(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1})
	tn.setUpAsset()
	cust := tn.holder(50_00)
	dest := tn.holder(0)
	counterparty, platform, customerKey := mustRandom(t), mustRandom(t), mustRandom(t)

	zero := uint8(0)
	if _, err := tn.h.SetSigners(bg, SignerSetup{
		Account:      cust.Signatory(),
		MasterWeight: &zero,
		Signers: []SignerWeight{{Address: counterparty.Address(), Weight: 1}, {Address: platform.Address(), Weight: 1},
			{Address: customerKey.Address(), Weight: 1}},
		Thresholds: &Thresholds{Low: 3, Medium: 3, High: 3},
	}); err != nil {
		t.Fatal(err)
	}
	st, err := tn.h.Account(bg, cust.Address())
	if err != nil {
		t.Fatal(err)
	}
	if st.Thresholds != (Thresholds{3, 3, 3}) || len(st.Signers) < 3 {
		t.Fatalf("signers %+v thresholds %+v", st.Signers, st.Thresholds)
	}
	weights := map[string]uint8{}
	for _, s := range st.Signers {
		weights[s.Address] = s.Weight
	}
	if weights[counterparty.Address()] != 1 || weights[platform.Address()] != 1 || weights[customerKey.Address()] != 1 || weights[cust.Address()] != 0 {
		t.Fatalf("weights %v", weights)
	}

	// Two of three signatures: refused, definitely.
	two := Signatory{Account: cust.Address(), Signers: []Signer{counterparty, platform}}
	_, err = tn.h.Pay(bg, Payment{GUID: newGUID(), From: two, To: dest.Address(), Asset: tn.asset, AmountMinor: 1_00})
	var txErr *TxError
	if !errors.As(err, &txErr) || OutcomeUnknown(err) || (txErr.TxCode != "tx_bad_auth" && !txErr.HasOpCode("op_bad_auth")) {
		t.Fatalf("payment with 2 of 3 signatures: %v", err)
	}
	// All three: applied.
	three := Signatory{Account: cust.Address(), Signers: []Signer{counterparty, platform, customerKey}}
	if _, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: three, To: dest.Address(), Asset: tn.asset, AmountMinor: 1_00}); err != nil {
		t.Fatalf("payment with 3 of 3: %v", err)
	}
	if b := tn.balance(dest.Address()); b != 1_00 {
		t.Fatalf("destination %d", b)
	}
	// A remote signer (the bank's /sign) returning a wrong signature is caught before submission.
	posts := tn.gate.posts.Load()
	liar := Signatory{Account: cust.Address(), Signers: []Signer{counterparty, platform, lyingSigner{customerKey}}}
	if _, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: liar, To: dest.Address(), Asset: tn.asset, AmountMinor: 1_00}); err == nil || OutcomeUnknown(err) {
		t.Fatalf("lying remote signer: %v", err)
	}
	if tn.gate.posts.Load() != posts {
		t.Fatal("a transaction with a bad remote signature was submitted")
	}
}

// lyingSigner is a remote signer that signs something else.
type lyingSigner struct{ k *KeySigner }

func (l lyingSigner) Address() string { return l.k.Address() }
func (l lyingSigner) Sign(ctx context.Context, req SignRequest) ([]byte, error) {
	if req.EnvelopeXDR == "" {
		return nil, errors.New("remote signer got no envelope")
	}
	req.Hash[0] ^= 1
	return l.k.Sign(ctx, req)
}

func TestBlockedTrustlineRefusesPayments(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1})
	tn.setUpAsset()
	alice, bob := tn.holder(10_00), tn.holder(10_00)
	if _, err := tn.h.BlockTrustline(bg, tn.issuer.Signatory(), bob.Address(), tn.asset); err != nil {
		t.Fatal(err)
	}
	st, _ := tn.h.Account(bg, bob.Address())
	if line, _ := st.Trustline(tn.asset); line.Authorized {
		t.Fatal("blocked trustline still authorized")
	}
	var txErr *TxError
	_, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00})
	if !errors.As(err, &txErr) || !txErr.HasOpCode("op_not_authorized") {
		t.Fatalf("payment to a blocked trustline: %v", err)
	}
	_, err = tn.h.Pay(bg, Payment{GUID: newGUID(), From: bob.Signatory(), To: alice.Address(), Asset: tn.asset, AmountMinor: 1_00})
	if !errors.As(err, &txErr) || !txErr.HasOpCode("op_src_not_authorized") {
		t.Fatalf("payment from a blocked trustline: %v", err)
	}
	if _, err := tn.h.AuthorizeTrustline(bg, tn.issuer.Signatory(), bob.Address(), tn.asset); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: bob.Signatory(), To: alice.Address(), Asset: tn.asset, AmountMinor: 1_00}); err != nil {
		t.Fatalf("payment after re-authorization: %v", err)
	}
	if a, b := tn.balance(alice.Address()), tn.balance(bob.Address()); a != 11_00 || b != 9_00 {
		t.Fatalf("balances %d %d", a, b)
	}
}

func TestBadInputRejectedBeforeSubmission(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1})
	tn.setUpAsset()
	alice := tn.holder(10_00)
	bob := tn.holder(0)
	good := Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00}
	before := tn.gate.requests.Load()

	cases := map[string]Payment{}
	p := good
	p.To = "GBADADDRESS"
	cases["malformed destination"] = p
	p = good
	p.To = "SBK2VIYYSVG76E7VC3QHYARNFLY2EAQXDHRC7BMXBBGIFG74ARPRMNQM"
	cases["secret as destination"] = p
	p = good
	p.From.Account = flipLast(bob.Address())
	cases["bad checksum source"] = p
	p = good
	p.AmountMinor = 0
	cases["zero amount"] = p
	p = good
	p.AmountMinor = -5
	cases["negative amount"] = p
	p = good
	p.AmountMinor = 1 << 62
	cases["amount that does not fit"] = p
	p = good
	p.Asset.Code = "TOOLONGASSETCODE"
	cases["asset code too long"] = p
	p = good
	p.Asset.Code = "e UAH"
	cases["asset code with a space"] = p
	p = good
	p.Asset.Issuer = "not-an-issuer"
	cases["bad issuer"] = p
	p = good
	p.Asset.Decimals = 9
	cases["decimals beyond 7"] = p
	p = good
	p.From.Signers = nil
	cases["no signer"] = p
	p = good
	p.GUID = string(make([]byte, 65))
	cases["guid too long"] = p
	p = good
	p.To = alice.Address()
	cases["payment to self"] = p

	b, err := tn.h.NewBatcher(BatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for name, p := range cases {
		var ie *InvalidInputError
		if _, err := tn.h.Pay(bg, p); !errors.As(err, &ie) {
			t.Errorf("%s: Pay: want InvalidInputError, got %v", name, err)
		}
		if _, err := b.Pay(bg, p); !errors.As(err, &ie) {
			t.Errorf("%s: Batcher.Pay: want InvalidInputError, got %v", name, err)
		}
	}
	var ie *InvalidInputError
	if _, err := tn.h.CreateAccount(bg, AccountOpening{Account: "G123", StartingBalance: "5"}); !errors.As(err, &ie) {
		t.Errorf("create account with a bad address: %v", err)
	}
	if _, err := tn.h.CreateAccount(bg, AccountOpening{Account: mustRandom(t).Address(), StartingBalance: "1.00000001"}); !errors.As(err, &ie) {
		t.Errorf("starting balance with 8 decimals: %v", err)
	}
	if _, err := tn.h.Clawback(bg, Clawback{Issuer: tn.issuer.Signatory(), From: bob.Address(), Asset: tn.asset, AmountMinor: -1}); !errors.As(err, &ie) {
		t.Errorf("negative clawback: %v", err)
	}
	if _, err := NewKeySigner("SNOTASECRET"); !errors.As(err, &ie) {
		t.Errorf("malformed secret: %v", err)
	}
	cfg := tn.cfg
	cfg.RootSecret = "SBADSECRET"
	if _, err := NewHorizon(cfg); err == nil {
		t.Error("adapter accepted a malformed root secret")
	}
	var many []Payment
	for range MaxPaymentsPerTx + 1 {
		many = append(many, good)
	}
	if _, err := tn.h.PayAll(bg, many); !errors.As(err, &ie) {
		t.Errorf("101 operations: %v", err)
	}
	if n := tn.gate.requests.Load() - before; n != 0 {
		t.Fatalf("%d requests reached the server for bad input", n)
	}
}

func TestRetryOn429(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1})
	tn.setUpAsset()
	alice, bob := tn.holder(10_00), tn.holder(0)
	tn.gate.failNext(http.MethodPost, 2, answer429)
	if _, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00}); err != nil {
		t.Fatal(err)
	}
	if b := tn.balance(bob.Address()); b != 1_00 {
		t.Fatalf("balance %d", b)
	}
	// 429 forever: a definite failure (nothing was accepted), not an unknown outcome.
	tn.gate.failNext(http.MethodPost, 1000, answer429)
	_, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00})
	if !errors.Is(err, ErrRateLimited) || OutcomeUnknown(err) {
		t.Fatalf("endless 429: %v", err)
	}
}

func TestResubmitSameEnvelopeOn504(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1})
	tn.setUpAsset()
	alice, bob := tn.holder(10_00), tn.holder(0)

	// 504 before the network saw it: the identical envelope goes again and applies once.
	var bodies []string
	var mu sync.Mutex
	tn.gate.failNext(http.MethodPost, 2, func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		_ = r.ParseForm()
		mu.Lock()
		bodies = append(bodies, r.PostForm.Get("tx"))
		mu.Unlock()
		answer504(w, r, nil)
	})
	stats := tn.h.Stats()
	r, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00})
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 || bodies[0] != bodies[1] {
		t.Fatal("resubmission after 504 was not the identical envelope")
	}
	if got := tn.h.Stats().Resubmissions - stats.Resubmissions; got != 2 {
		t.Fatalf("resubmissions %d, want 2", got)
	}
	if r.Hash == "" || tn.balance(bob.Address()) != 1_00 {
		t.Fatalf("receipt %+v balance %d", r, tn.balance(bob.Address()))
	}

	// The network applied it but the answer was lost: the resubmission is recognised as already applied
	// (looked up by hash); the payment is applied exactly once.
	tn.gate.failNext(http.MethodPost, 1, applyThen504)
	guid := newGUID()
	r, err = tn.h.Pay(bg, Payment{GUID: guid, From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 2_00})
	if err != nil {
		t.Fatalf("applied-then-504: %v", err)
	}
	if b := tn.balance(bob.Address()); b != 3_00 {
		t.Fatalf("applied-then-504: bob has %d, want 300 (exactly once)", b)
	}
	if rec, err := tn.h.FindPayment(bg, bob.Address(), guid); err != nil || rec.TxHash != r.Hash {
		t.Fatalf("applied-then-504: find %+v %v (receipt %s)", rec, err, r.Hash)
	}
	// Same, against a Horizon that answers the resubmission with tx_bad_seq instead of the stored result:
	// the earlier envelope is found by hash, so the payment is not rebuilt and sent a second time.
	tn.gate.failNext(http.MethodPost, 1, applyThen504)
	tn.gate.failNext(http.MethodPost, 1, func(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
		writeProblem(w, http.StatusBadRequest, "Transaction Failed",
			map[string]any{"result_codes": map[string]any{"transaction": "tx_bad_seq"}})
	})
	guid = newGUID()
	r, err = tn.h.Pay(bg, Payment{GUID: guid, From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00})
	if err != nil {
		t.Fatalf("applied, then 504, then tx_bad_seq: %v", err)
	}
	if b := tn.balance(bob.Address()); b != 4_00 {
		t.Fatalf("applied, then 504, then tx_bad_seq: bob has %d, want 400 (exactly once)", b)
	}
	if rec, err := tn.h.FindPayment(bg, bob.Address(), guid); err != nil || rec.TxHash != r.Hash {
		t.Fatalf("find %+v %v (receipt %s)", rec, err, r.Hash)
	}
	// The channel's sequence number is still right for the next payment.
	if _, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00}); err != nil {
		t.Fatal(err)
	}

	// 504 forever: unknown outcome carrying the hash; the caller must not treat it as failed.
	tn.gate.failNext(http.MethodPost, 1000, answer504)
	_, err = tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00})
	var u *UnknownOutcomeError
	if !errors.As(err, &u) || len(u.Hashes) != 1 {
		t.Fatalf("endless 504: %v", err)
	}
	tn.gate.mu.Lock()
	tn.gate.rules = nil
	tn.gate.mu.Unlock()
	if b := tn.balance(bob.Address()); b != 5_00 {
		t.Fatalf("after endless 504: %d", b)
	}
	if _, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00}); err != nil {
		t.Fatalf("after an unknown outcome the channel recovers: %v", err)
	}
}

func TestFeeBumpOnInsufficientFee(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1})
	tn.setUpAsset()
	alice, bob := tn.holder(10_00), tn.holder(0)
	tn.gate.failNext(http.MethodPost, 2, answerInsufficientFee)
	stats := tn.h.Stats()
	if _, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00}); err != nil {
		t.Fatal(err)
	}
	if got := tn.h.Stats().FeeBumps - stats.FeeBumps; got != 2 {
		t.Fatalf("fee bumps %d", got)
	}
	// With the fee at its ceiling, tx_insufficient_fee is final.
	cfg := tn.cfg
	cfg.BaseFee, cfg.MaxBaseFee = 100, 100
	h2, err := NewHorizon(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn.gate.failNext(http.MethodPost, 1, answerInsufficientFee)
	_, err = h2.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00})
	var txErr *TxError
	if !errors.As(err, &txErr) || txErr.TxCode != "tx_insufficient_fee" || OutcomeUnknown(err) {
		t.Fatalf("fee at ceiling: %v", err)
	}
	if b := tn.balance(bob.Address()); b != 1_00 {
		t.Fatalf("balance %d", b)
	}
}

func TestRebuildOnTooLate(t *testing.T) {
	var mu sync.Mutex
	lag := time.Hour // the adapter's clock starts an hour behind: its first time bound is already past
	tn := newTestNet(t, netOptions{channels: 1, tweak: func(c *Config) {
		c.Now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now := time.Now().Add(-lag)
			lag = 0
			return now
		}
	}})
	// newTestNet's OpenChannels sent the first transaction: it went out too late and was rebuilt.
	tn.setUpAsset()
	if tn.h.Stats().TooLate != 1 {
		t.Fatalf("tx_too_late count %d, want 1", tn.h.Stats().TooLate)
	}
	if st, err := tn.h.Account(bg, tn.issuer.Address()); err != nil || !st.Flags.AuthRequired {
		t.Fatalf("issuer after rebuild: %+v %v", st.Flags, err)
	}
}

func TestReloadSequenceOnBadSeq(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1})
	tn.setUpAsset()
	alice, bob := tn.holder(10_00), tn.holder(0)
	// Another adapter on the same channel moves its sequence number behind this adapter's back.
	other, err := NewHorizon(tn.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := other.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00}); err != nil {
			t.Fatal(err)
		}
	}
	stats := tn.h.Stats()
	if _, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00}); err != nil {
		t.Fatal(err)
	}
	s := tn.h.Stats()
	if s.BadSequence-stats.BadSequence != 1 || s.SequenceLoads-stats.SequenceLoads != 1 {
		t.Fatalf("bad seq %d, loads %d", s.BadSequence-stats.BadSequence, s.SequenceLoads-stats.SequenceLoads)
	}
	if b := tn.balance(bob.Address()); b != 3_00 {
		t.Fatalf("balance %d", b)
	}
}

func TestFinalErrorsAreTyped(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1})
	tn.setUpAsset()
	alice, bob := tn.holder(1_00), tn.holder(0)
	_, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 2_00})
	var txErr *TxError
	t.Logf("stats %+v", tn.h.Stats())
	if !errors.As(err, &txErr) || txErr.TxCode != "tx_failed" || !slices.Equal(txErr.OpCodes, []string{"op_success", "op_underfunded"}) {
		t.Fatalf("underfunded: %v", err)
	}
	if OutcomeUnknown(err) || txErr.Hash == "" {
		t.Fatalf("underfunded must be final with a hash: %v %q", OutcomeUnknown(err), txErr.Hash)
	}
	stranger := mustRandom(t)
	_, err = tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: stranger.Address(), Asset: tn.asset, AmountMinor: 1_00})
	if !errors.As(err, &txErr) || !txErr.HasOpCode("op_no_destination") {
		t.Fatalf("no destination: %v", err)
	}
	t.Logf("stats %+v", tn.h.Stats())
	// Wrong key for the account.
	_, err = tn.h.Pay(bg, Payment{GUID: newGUID(), From: Signatory{Account: alice.Address(), Signers: []Signer{stranger}},
		To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00})
	if !errors.As(err, &txErr) || OutcomeUnknown(err) {
		t.Fatalf("wrong signer: %v", err)
	}
	t.Logf("wrong signer: %v; stats %+v", err, tn.h.Stats())
	// The channel's sequence stays right after all of these.
	if _, err := tn.h.Pay(bg, Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00}); err != nil {
		t.Fatal(err)
	}
	if s := tn.h.Stats(); s.BadSequence != 0 {
		t.Fatalf("bad sequence %d", s.BadSequence)
	}
}

// 100 concurrent payments from 10 sources, through the channel pool and through the batcher: every payment
// applied exactly once, no tx_bad_seq.
func TestConcurrentPaymentsFromTenSources(t *testing.T) {
	for _, mode := range []string{"pay", "batcher"} {
		t.Run(mode, func(t *testing.T) {
			tn := newTestNet(t, netOptions{channels: 4})
			tn.setUpAsset()
			const sources, perSource = 10, 10
			var payers, payees []*KeySigner
			for range sources {
				payers = append(payers, tn.holder(1_000_00))
				payees = append(payees, tn.holder(0))
			}
			var batcher *Batcher
			if mode == "batcher" {
				var err error
				if batcher, err = tn.h.NewBatcher(BatcherConfig{}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, sources*perSource)
			hashes := make(chan string, sources*perSource)
			for i := range sources {
				for j := range perSource {
					wg.Add(1)
					go func() {
						defer wg.Done()
						p := Payment{GUID: newGUID(), From: payers[i].Signatory(), To: payees[(i+j)%sources].Address(),
							Asset: tn.asset, AmountMinor: int64(j + 1)}
						var r Receipt
						var err error
						if batcher != nil {
							r, err = batcher.Pay(bg, p)
						} else {
							r, err = tn.h.Pay(bg, p)
						}
						if err != nil {
							errs <- fmt.Errorf("payer %d payment %d: %w", i, j, err)
						}
						hashes <- r.Hash
					}()
				}
			}
			wg.Wait()
			close(errs)
			close(hashes)
			for err := range errs {
				t.Error(err)
			}
			if batcher != nil {
				_ = batcher.Close()
				st := batcher.Stats()
				t.Logf("batcher: %d payments in %d transactions", st.Payments, st.Transactions)
			}
			// Each payer paid 1+2+…+10 = 55; each payee received 55 (one of each amount).
			for i := range sources {
				if b := tn.balance(payers[i].Address()); b != 1_000_00-55 {
					t.Errorf("payer %d balance %d", i, b)
				}
				if b := tn.balance(payees[i].Address()); b != 55 {
					t.Errorf("payee %d balance %d", i, b)
				}
			}
			if s := tn.h.Stats(); s.BadSequence != 0 || s.Unknown != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestBatcherIsolatesFailingPayments(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1, tweak: func(c *Config) { c.Logger = testLogger(t) }})
	tn.setUpAsset()
	processing := tn.holder(1_000_00)
	poor := tn.holder(1_00)
	var customers []*KeySigner
	for range 5 {
		customers = append(customers, tn.holder(0))
	}
	stranger := mustRandom(t)
	b, err := tn.h.NewBatcher(BatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Hold the only channel so that every payment is queued and goes out in one batch.
	ch, _ := tn.h.channels.acquire(bg)
	type outcome struct {
		i   int
		r   Receipt
		err error
	}
	results := make(chan outcome, 50)
	var wg sync.WaitGroup
	pay := func(i int, p Payment) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := b.Pay(bg, p)
			results <- outcome{i, r, err}
		}()
	}
	for i := range 47 {
		pay(i, Payment{GUID: newGUID(), From: processing.Signatory(), To: customers[i%5].Address(), Asset: tn.asset, AmountMinor: 1_00})
	}
	pay(100, Payment{GUID: newGUID(), From: poor.Signatory(), To: customers[0].Address(), Asset: tn.asset, AmountMinor: 5_00})   // underfunded
	pay(101, Payment{GUID: newGUID(), From: processing.Signatory(), To: stranger.Address(), Asset: tn.asset, AmountMinor: 1_00}) // no account
	pay(102, Payment{GUID: newGUID(), From: Signatory{Account: poor.Address(), Signers: []Signer{stranger}}, To: customers[1].Address(),
		Asset: tn.asset, AmountMinor: 1}) // wrong signer
	for len(b.queue) < 49 { // the dispatcher holds the first one while it waits for the channel
		time.Sleep(time.Millisecond)
	}
	tn.h.channels.release(ch)
	wg.Wait()
	close(results)
	_ = b.Close()
	failed := map[int]error{}
	for o := range results {
		if o.err != nil {
			failed[o.i] = o.err
		}
	}
	if len(failed) != 3 || failed[100] == nil || failed[101] == nil || failed[102] == nil {
		t.Fatalf("failed payments %v", failed)
	}
	var txErr *TxError
	if !errors.As(failed[100], &txErr) || !txErr.HasOpCode("op_underfunded") {
		t.Fatalf("underfunded: %v", failed[100])
	}
	if !errors.As(failed[101], &txErr) || !txErr.HasOpCode("op_no_destination") {
		t.Fatalf("no destination: %v", failed[101])
	}
	if b := tn.balance(processing.Address()); b != 1_000_00-47_00 {
		t.Fatalf("processing balance %d", b)
	}
	t.Logf("batcher stats %+v", b.Stats())
}

func TestRestartKeepsBalances(t *testing.T) {
	dir := t.TempDir()
	tn := newTestNet(t, netOptions{dir: dir, channels: 2})
	tn.setUpAsset()
	alice, bob := tn.holder(10_00), tn.holder(0)
	guid := newGUID()
	if _, err := tn.h.Pay(bg, Payment{GUID: guid, From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 3_33}); err != nil {
		t.Fatal(err)
	}
	cfg := tn.cfg
	tn.close()

	tn2 := newTestNet(t, netOptions{dir: dir, tweak: func(c *Config) { c.Channels = cfg.Channels }})
	tn2.issuer, tn2.asset = tn.issuer, tn.asset
	if a, b := tn2.balance(alice.Address()), tn2.balance(bob.Address()); a != 6_67 || b != 3_33 {
		t.Fatalf("after restart: alice %d bob %d", a, b)
	}
	if _, err := tn2.h.FindPayment(bg, bob.Address(), guid); err != nil {
		t.Fatalf("history after restart: %v", err)
	}
	// Channels resume from the persisted sequence numbers.
	if _, err := tn2.h.Pay(bg, Payment{GUID: newGUID(), From: bob.Signatory(), To: alice.Address(), Asset: tn.asset, AmountMinor: 33}); err != nil {
		t.Fatal(err)
	}
	if b := tn2.balance(bob.Address()); b != 3_00 {
		t.Fatalf("bob %d", b)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{EnvHorizonURL: "https://horizon-testnet.stellar.org", EnvPassphrase: "testnet",
		EnvRootSecret: mustRandom(t).Secret()}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || cfg.Passphrase != "Test SDF Network ; September 2015" {
		t.Fatalf("%+v %v", cfg.Passphrase, err)
	}
	env[EnvRootSecret] = "SNOPE"
	if _, err := ConfigFromEnv(func(k string) string { return env[k] }); err == nil {
		t.Fatal("bad root secret accepted")
	}
	env[EnvRootSecret] = mustRandom(t).Secret()
	env[EnvHorizonURL] = "ftp://x"
	if _, err := ConfigFromEnv(func(k string) string { return env[k] }); err == nil {
		t.Fatal("bad URL accepted")
	}
	if _, err := ConfigFromEnv(func(string) string { return "" }); err == nil {
		t.Fatal("empty env accepted")
	}
}

func flipLast(address string) string {
	last := address[len(address)-1]
	if last == 'A' {
		return address[:len(address)-1] + "B"
	}
	return address[:len(address)-1] + "A"
}

func TestCancelledContextSubmitsNothing(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1})
	tn.setUpAsset()
	alice, bob := tn.holder(10_00), tn.holder(0)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	posts := tn.gate.posts.Load()
	p := Payment{GUID: newGUID(), From: alice.Signatory(), To: bob.Address(), Asset: tn.asset, AmountMinor: 1_00}
	if _, err := tn.h.Pay(ctx, p); !errors.Is(err, context.Canceled) || OutcomeUnknown(err) {
		t.Fatalf("Pay with a cancelled context: %v", err)
	}
	b, err := tn.h.NewBatcher(BatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Pay(ctx, p); !errors.Is(err, context.Canceled) || OutcomeUnknown(err) {
		t.Fatalf("Batcher.Pay with a cancelled context: %v", err)
	}
	_ = b.Close()
	if _, err := b.Pay(bg, p); !errors.Is(err, ErrClosed) {
		t.Fatalf("Pay on a closed batcher: %v", err)
	}
	if tn.gate.posts.Load() != posts {
		t.Fatal("a transaction was submitted")
	}
}
