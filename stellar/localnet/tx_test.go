package localnet

import (
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/amount"

	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"
	"github.com/stellar/go-stellar-sdk/xdr"
)

func TestMultisig3of3(t *testing.T) {
	h := newHarness(t, Config{Dir: t.TempDir()})
	kps := randomKeys(t, 5)
	owner, a, b, c, dest := kps[0], kps[1], kps[2], kps[3], kps[4]
	h.fund("100", owner, dest)
	h.mustSubmit(owner.Address(), []txnbuild.Operation{
		&txnbuild.SetOptions{Signer: &txnbuild.Signer{Address: a.Address(), Weight: 1}},
		&txnbuild.SetOptions{Signer: &txnbuild.Signer{Address: b.Address(), Weight: 1}},
		&txnbuild.SetOptions{Signer: &txnbuild.Signer{Address: c.Address(), Weight: 1}},
		&txnbuild.SetOptions{MasterWeight: txnbuild.NewThreshold(0), LowThreshold: txnbuild.NewThreshold(3),
			MediumThreshold: txnbuild.NewThreshold(3), HighThreshold: txnbuild.NewThreshold(3)},
	}, owner)
	acct := h.account(owner.Address())
	if acct.SubentryCount != 3 || acct.Thresholds.LowThreshold != 3 || acct.Thresholds.HighThreshold != 3 {
		t.Fatalf("account after set options: subentries %d thresholds %+v", acct.SubentryCount, acct.Thresholds)
	}
	if got := acct.SignerSummary(); len(got) != 4 || got[owner.Address()] != 0 || got[a.Address()] != 1 || got[c.Address()] != 1 {
		t.Fatalf("signers %v", got)
	}
	pay := []txnbuild.Operation{&txnbuild.Payment{Destination: dest.Address(), Amount: "1", Asset: txnbuild.NativeAsset{}}}

	_, err := h.submit(owner.Address(), pay, a, b)
	expectCodes(t, err, "tx_bad_auth")
	_, err = h.submit(owner.Address(), pay, owner, a, b) // the master key weighs 0 now
	expectCodes(t, err, "tx_bad_auth")
	if got := h.account(owner.Address()).Sequence; got != acct.Sequence {
		t.Fatalf("a refused transaction consumed the sequence number: %d -> %d", acct.Sequence, got)
	}
	h.mustSubmit(owner.Address(), pay, a, b, c)

	// The owner as an operation source inside someone else's transaction needs its medium threshold too.
	_, err = h.submit(dest.Address(), []txnbuild.Operation{&txnbuild.Payment{SourceAccount: owner.Address(),
		Destination: dest.Address(), Amount: "1", Asset: txnbuild.NativeAsset{}}}, dest, a, b)
	expectCodes(t, err, "tx_failed", "op_bad_auth")
	h.mustSubmit(dest.Address(), []txnbuild.Operation{&txnbuild.Payment{SourceAccount: owner.Address(),
		Destination: dest.Address(), Amount: "1", Asset: txnbuild.NativeAsset{}}}, dest, a, b, c)

	// Removing a signer frees its reserve.
	h.mustSubmit(owner.Address(), []txnbuild.Operation{
		&txnbuild.SetOptions{LowThreshold: txnbuild.NewThreshold(2), MediumThreshold: txnbuild.NewThreshold(2), HighThreshold: txnbuild.NewThreshold(2)},
		&txnbuild.SetOptions{Signer: &txnbuild.Signer{Address: c.Address(), Weight: 0}},
	}, a, b, c)
	acct = h.account(owner.Address())
	if acct.SubentryCount != 2 || len(acct.Signers) != 3 {
		t.Fatalf("after removing a signer: subentries %d signers %+v", acct.SubentryCount, acct.Signers)
	}
	h.mustSubmit(owner.Address(), pay, a, b)
}

func TestBadAuthExtra(t *testing.T) {
	h := newHarness(t, Config{})
	kps := randomKeys(t, 3)
	owner, dest, stranger := kps[0], kps[1], kps[2]
	h.fund("100", owner, dest)
	before := h.account(owner.Address())
	pay := []txnbuild.Operation{&txnbuild.Payment{Destination: dest.Address(), Amount: "1", Asset: txnbuild.NativeAsset{}}}
	_, err := h.submit(owner.Address(), pay, owner, stranger)
	expectCodes(t, err, "tx_bad_auth_extra")
	// A duplicate of a used signature is extra too: each signer counts once.
	_, err = h.submit(owner.Address(), pay, owner, owner)
	expectCodes(t, err, "tx_bad_auth_extra")
	_, err = h.submit(owner.Address(), pay)
	expectCodes(t, err, "tx_bad_auth")
	after := h.account(owner.Address())
	if after.Sequence != before.Sequence || balance(t, after, "", "") != balance(t, before, "", "") {
		t.Fatal("a refused transaction changed the account")
	}
}

func TestTooManySignatures(t *testing.T) {
	h := newHarness(t, Config{})
	root := h.n.Root()
	signers := make([]*keypair.Full, 21)
	for i := range signers {
		signers[i] = root
	}
	seq := h.account(root.Address()).Sequence
	env := rawEnvelope(t, h.n.Passphrase(), root, seq+1, 100, []xdr.Operation{paymentOp(t, root.Address(), 1)}, signers...)
	_, err := h.hc.SubmitTransactionXDR(env)
	expectCodes(t, err, "tx_malformed")
}

func TestTimeBounds(t *testing.T) {
	h := newHarness(t, Config{})
	root := h.n.Root()
	acct := h.account(root.Address())
	build := func(tb txnbuild.TimeBounds) *txnbuild.Transaction {
		tx, err := txnbuild.NewTransaction(txnbuild.TransactionParams{
			SourceAccount:        &txnbuild.SimpleAccount{AccountID: root.Address(), Sequence: acct.Sequence},
			IncrementSequenceNum: true, BaseFee: txnbuild.MinBaseFee, Preconditions: txnbuild.Preconditions{TimeBounds: tb},
			Operations: []txnbuild.Operation{&txnbuild.BumpSequence{BumpTo: 0}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if tx, err = tx.Sign(h.n.Passphrase(), root); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	now := time.Now().Unix()
	_, err := h.hc.SubmitTransaction(build(txnbuild.NewTimebounds(now-600, now-300)))
	expectCodes(t, err, "tx_too_late")
	_, err = h.hc.SubmitTransaction(build(txnbuild.NewTimebounds(now+300, now+600)))
	expectCodes(t, err, "tx_too_early")
	if _, err = h.hc.SubmitTransaction(build(txnbuild.NewTimebounds(now-10, now+600))); err != nil {
		t.Fatalf("valid time bounds: %v", err)
	}
}

func TestFeeAndSequenceChecks(t *testing.T) {
	h := newHarness(t, Config{})
	root := h.n.Root()
	seq := h.account(root.Address()).Sequence
	twoOps := []xdr.Operation{paymentOp(t, root.Address(), 1), paymentOp(t, root.Address(), 1)}
	_, err := h.hc.SubmitTransactionXDR(rawEnvelope(t, h.n.Passphrase(), root, seq+1, 199, twoOps, root))
	expectCodes(t, err, "tx_insufficient_fee")
	_, err = h.hc.SubmitTransactionXDR(rawEnvelope(t, h.n.Passphrase(), root, seq+2, 200, twoOps, root))
	expectCodes(t, err, "tx_bad_seq")
	_, err = h.hc.SubmitTransactionXDR(rawEnvelope(t, h.n.Passphrase(), root, seq, 200, twoOps, root))
	expectCodes(t, err, "tx_bad_seq")
	// A generous bid is accepted but only the base fee per operation is charged.
	before := balance(t, h.account(root.Address()), "", "")
	tx, err := h.hc.SubmitTransactionXDR(rawEnvelope(t, h.n.Passphrase(), root, seq+1, 10_000, twoOps, root))
	if err != nil {
		t.Fatalf("submit: %v %v", err, resultCodesOf(err))
	}
	if tx.FeeCharged != 200 || tx.MaxFee != 10_000 {
		t.Fatalf("fee charged %d, max fee %d", tx.FeeCharged, tx.MaxFee)
	}
	if got := balance(t, h.account(root.Address()), "", ""); got != before-200 {
		t.Fatalf("root paid %d stroops, want 200", before-got)
	}
	// An unknown source account.
	stranger := randomKeys(t, 1)[0]
	_, err = h.hc.SubmitTransactionXDR(rawEnvelope(t, h.n.Passphrase(), stranger, 1, 100, twoOps[:1], stranger))
	expectCodes(t, err, "tx_no_source_account")
	// Zero operations.
	_, err = h.hc.SubmitTransactionXDR(rawEnvelope(t, h.n.Passphrase(), root, seq+2, 100, nil, root))
	expectCodes(t, err, "tx_missing_operation")
}

func TestAtomicRollback(t *testing.T) {
	h := newHarness(t, Config{Dir: t.TempDir()})
	kps := randomKeys(t, 3)
	src, dest, missing := kps[0], kps[1], kps[2]
	h.fund("100", src, dest)
	before := h.account(src.Address())
	_, err := h.submit(src.Address(), []txnbuild.Operation{
		&txnbuild.Payment{Destination: dest.Address(), Amount: "10", Asset: txnbuild.NativeAsset{}},
		&txnbuild.Payment{Destination: missing.Address(), Amount: "10", Asset: txnbuild.NativeAsset{}},
	}, src)
	expectCodes(t, err, "tx_failed", "op_success", "op_no_destination")
	after := h.account(src.Address())
	if after.Sequence != before.Sequence+1 {
		t.Fatalf("sequence %d, want %d consumed", after.Sequence, before.Sequence+1)
	}
	if got, want := balance(t, after, "", ""), balance(t, before, "", "")-200; got != want {
		t.Fatalf("source balance %d, want %d (fee only)", got, want)
	}
	if got := balance(t, h.account(dest.Address()), "", ""); got != 100*stroopsPerLumen {
		t.Fatalf("first operation was applied: destination has %d", got)
	}
	// The failed transaction is in a ledger: it is in history, and resubmitting it repeats its failure.
	herr := horizonclient.GetError(err)
	hash, _ := herr.Problem.Extras["hash"].(string)
	stored, derr := h.hc.TransactionDetail(hash)
	if derr != nil || stored.Successful || stored.FeeCharged != 200 {
		t.Fatalf("stored failed transaction: %v %+v", derr, stored)
	}
	env, _ := herr.EnvelopeXDR()
	_, err = h.hc.SubmitTransactionXDR(env)
	expectCodes(t, err, "tx_failed", "op_success", "op_no_destination")
	if got := h.account(src.Address()); got.Sequence != after.Sequence || balance(t, got, "", "") != balance(t, after, "", "") {
		t.Fatal("resubmitting a failed transaction charged it again")
	}
}

func TestPaymentFailureCodes(t *testing.T) {
	h := newHarness(t, Config{})
	kps := randomKeys(t, 4)
	issuer, a, b, missing := kps[0], kps[1], kps[2], kps[3]
	h.fund("10", issuer, a, b)
	usd := txnbuild.CreditAsset{Code: "USD", Issuer: issuer.Address()}
	cases := []struct {
		name string
		from *keypair.Full
		op   txnbuild.Operation
		code string
	}{
		{"no destination", a, &txnbuild.Payment{Destination: missing.Address(), Amount: "1", Asset: txnbuild.NativeAsset{}}, "op_no_destination"},
		{"no trust", issuer, &txnbuild.Payment{Destination: b.Address(), Amount: "1", Asset: usd}, "op_no_trust"},
		{"source no trust", a, &txnbuild.Payment{Destination: issuer.Address(), Amount: "1", Asset: usd}, "op_src_no_trust"},
		// 10 XLM less the 1 XLM base reserve (two units of 0.5) and the fee leaves 8.99999 spendable.
		{"native underfunded", a, &txnbuild.Payment{Destination: b.Address(), Amount: "9", Asset: txnbuild.NativeAsset{}}, "op_underfunded"},
		{"unknown operation", a, &txnbuild.ManageSellOffer{Selling: txnbuild.NativeAsset{}, Buying: usd, Amount: "1", Price: xdr.Price{N: 1, D: 1}}, "op_not_supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.submit(c.from.Address(), []txnbuild.Operation{c.op}, c.from)
			expectCodes(t, err, "tx_failed", c.code)
		})
	}
	t.Run("non-positive amount", func(t *testing.T) {
		seq := h.account(a.Address()).Sequence
		_, err := h.hc.SubmitTransactionXDR(rawEnvelope(t, h.n.Passphrase(), a, seq+1, 100, []xdr.Operation{paymentOp(t, b.Address(), 0)}, a))
		expectCodes(t, err, "tx_failed", "op_malformed")
		_, err = h.hc.SubmitTransactionXDR(rawEnvelope(t, h.n.Passphrase(), a, seq+1, 100, []xdr.Operation{paymentOp(t, b.Address(), -5)}, a))
		expectCodes(t, err, "tx_failed", "op_malformed")
	})
	t.Run("spendable exactly", func(t *testing.T) {
		spendable := balance(t, h.account(a.Address()), "", "") - 2*baseReserve - baseFee
		over := []txnbuild.Operation{&txnbuild.Payment{Destination: b.Address(), Amount: amount.StringFromInt64(spendable + 1), Asset: txnbuild.NativeAsset{}}}
		_, err := h.submit(a.Address(), over, a)
		expectCodes(t, err, "tx_failed", "op_underfunded")
		spendable -= baseFee // the failed attempt was charged
		h.mustSubmit(a.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: b.Address(), Amount: amount.StringFromInt64(spendable), Asset: txnbuild.NativeAsset{}}}, a)
		if got := balance(t, h.account(a.Address()), "", ""); got != 2*baseReserve {
			t.Fatalf("left %d stroops, want exactly the reserve", got)
		}
	})
}

func TestReserveForSubentries(t *testing.T) {
	h := newHarness(t, Config{})
	kps := randomKeys(t, 3)
	issuer, poor, signerKey := kps[0], kps[1], kps[2]
	h.fund("10", issuer)
	h.fund("1.0002", poor) // the base reserve and two fees, nothing for a subentry
	usd := txnbuild.CreditAsset{Code: "USD", Issuer: issuer.Address()}
	line, _ := usd.ToChangeTrustAsset()
	_, err := h.submit(poor.Address(), []txnbuild.Operation{&txnbuild.ChangeTrust{Line: line}}, poor)
	expectCodes(t, err, "tx_failed", "op_low_reserve")
	_, err = h.submit(poor.Address(), []txnbuild.Operation{&txnbuild.SetOptions{Signer: &txnbuild.Signer{Address: signerKey.Address(), Weight: 1}}}, poor)
	expectCodes(t, err, "tx_failed", "op_low_reserve")
	missing := randomKeys(t, 1)[0]
	_, err = h.submit(poor.Address(), []txnbuild.Operation{&txnbuild.ChangeTrust{Line: txnbuild.ChangeTrustAssetWrapper{
		Asset: txnbuild.CreditAsset{Code: "ABC", Issuer: missing.Address()}}}}, poor)
	expectCodes(t, err, "tx_failed", "op_no_issuer")
}

func TestManageData(t *testing.T) {
	h := newHarness(t, Config{Dir: t.TempDir()})
	kps := randomKeys(t, 2)
	owner, poor := kps[0], kps[1]
	h.fund("10", owner)
	h.mustSubmit(owner.Address(), []txnbuild.Operation{&txnbuild.ManageData{Name: "config.memo_required", Value: []byte("0")},
		&txnbuild.ManageData{Name: "kazna", Value: []byte("v1")}}, owner)
	acct := h.account(owner.Address())
	if acct.SubentryCount != 2 || string(acct.MustGetData("kazna")) != "v1" {
		t.Fatalf("after set: subentries %d data %v", acct.SubentryCount, acct.Data)
	}
	data, err := h.hc.AccountData(horizonclient.AccountRequest{AccountID: owner.Address(), DataKey: "kazna"})
	if err != nil || data.Value != "djE=" {
		t.Fatalf("AccountData: %v %+v", err, data)
	}
	h.mustSubmit(owner.Address(), []txnbuild.Operation{&txnbuild.ManageData{Name: "kazna", Value: []byte("v2")}}, owner)
	if acct = h.account(owner.Address()); acct.SubentryCount != 2 || string(acct.MustGetData("kazna")) != "v2" {
		t.Fatalf("after update: %d %v", acct.SubentryCount, acct.Data)
	}
	h.mustSubmit(owner.Address(), []txnbuild.Operation{&txnbuild.ManageData{Name: "kazna"}}, owner)
	if acct = h.account(owner.Address()); acct.SubentryCount != 1 || acct.Data["kazna"] != "" {
		t.Fatalf("after delete: %d %v", acct.SubentryCount, acct.Data)
	}
	_, err = h.hc.AccountData(horizonclient.AccountRequest{AccountID: owner.Address(), DataKey: "kazna"})
	if herr := horizonclient.GetError(err); herr == nil || herr.Response.StatusCode != 404 {
		t.Fatalf("deleted entry: %v", err)
	}
	_, err = h.submit(owner.Address(), []txnbuild.Operation{&txnbuild.ManageData{Name: "kazna"}}, owner)
	expectCodes(t, err, "tx_failed", "op_data_name_not_found")

	h.fund("1.0001", poor)
	_, err = h.submit(poor.Address(), []txnbuild.Operation{&txnbuild.ManageData{Name: "x", Value: []byte("y")}}, poor)
	expectCodes(t, err, "tx_failed", "op_low_reserve")
}

func TestBumpSequence(t *testing.T) {
	h := newHarness(t, Config{})
	root := h.n.Root()
	seq := h.account(root.Address()).Sequence
	h.mustSubmit(root.Address(), []txnbuild.Operation{&txnbuild.BumpSequence{BumpTo: seq + 100}}, root)
	if got := h.account(root.Address()).Sequence; got != seq+100 {
		t.Fatalf("sequence %d, want %d", got, seq+100)
	}
	// Bumping backwards leaves the sequence as the transaction set it.
	h.mustSubmit(root.Address(), []txnbuild.Operation{&txnbuild.BumpSequence{BumpTo: 5}}, root)
	if got := h.account(root.Address()).Sequence; got != seq+101 {
		t.Fatalf("sequence %d, want %d", got, seq+101)
	}
}

func TestIdenticalResubmissionIsSafe(t *testing.T) {
	h := newHarness(t, Config{})
	kps := randomKeys(t, 1)
	h.fund("10", kps[0])
	root := h.n.Root()
	tx := h.build(root.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: kps[0].Address(), Amount: "5", Asset: txnbuild.NativeAsset{}}}, root)
	first, err := h.hc.SubmitTransaction(tx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.hc.SubmitTransaction(tx)
	if err != nil {
		t.Fatalf("resubmission: %v %v", err, resultCodesOf(err))
	}
	if first.Hash != second.Hash || first.Ledger != second.Ledger || first.ResultXdr != second.ResultXdr || first.PT != second.PT {
		t.Fatalf("resubmission answered differently: %+v vs %+v", first, second)
	}
	if got := balance(t, h.account(kps[0].Address()), "", ""); got != 15*stroopsPerLumen {
		t.Fatalf("destination has %d, want the payment applied once", got)
	}
	detail, err := h.hc.TransactionDetail(first.Hash)
	if err != nil || detail.EnvelopeXdr != first.EnvelopeXdr || !detail.Successful || detail.Account != root.Address() ||
		detail.OperationCount != 1 || detail.MemoType != "none" || detail.LedgerCloseTime.IsZero() {
		t.Fatalf("TransactionDetail: %v %+v", err, detail)
	}
}

func TestFeeBumpIsRefusedClearly(t *testing.T) {
	h := newHarness(t, Config{})
	root := h.n.Root()
	inner := h.build(root.Address(), []txnbuild.Operation{&txnbuild.BumpSequence{BumpTo: 0}}, root)
	fb, err := txnbuild.NewFeeBumpTransaction(txnbuild.FeeBumpTransactionParams{Inner: inner, FeeAccount: root.Address(), BaseFee: 200})
	if err != nil {
		t.Fatal(err)
	}
	if fb, err = fb.Sign(h.n.Passphrase(), root); err != nil {
		t.Fatal(err)
	}
	_, err = h.hc.SubmitFeeBumpTransaction(fb)
	expectCodes(t, err, "tx_not_supported")
}

func TestMemoIsRecorded(t *testing.T) {
	h := newHarness(t, Config{})
	root := h.n.Root()
	acct := h.account(root.Address())
	tx, err := txnbuild.NewTransaction(txnbuild.TransactionParams{
		SourceAccount: &acct, IncrementSequenceNum: true, BaseFee: txnbuild.MinBaseFee, Memo: txnbuild.MemoText("order-42"),
		Preconditions: txnbuild.Preconditions{TimeBounds: txnbuild.NewTimeout(60)},
		Operations:    []txnbuild.Operation{&txnbuild.BumpSequence{BumpTo: 0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tx, _ = tx.Sign(h.n.Passphrase(), root)
	got, err := h.hc.SubmitTransaction(tx)
	if err != nil {
		t.Fatal(err)
	}
	if got.MemoType != "text" || got.Memo != "order-42" || got.Preconditions == nil || got.Preconditions.TimeBounds == nil {
		t.Fatalf("memo %q %q preconditions %+v", got.MemoType, got.Memo, got.Preconditions)
	}
}
