package localnet

import (
	"testing"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/stellar/go-stellar-sdk/txnbuild"
	"github.com/stellar/go-stellar-sdk/xdr"
)

func TestCreateAccounts(t *testing.T) {
	h := newHarness(t, Config{})
	kps := randomKeys(t, 2)
	rootBefore := balance(t, h.account(h.n.Root().Address()), "", "")
	if rootBefore != rootStartingBalance {
		t.Fatalf("root starts with %d stroops, want %d", rootBefore, int64(rootStartingBalance))
	}
	tx := h.mustSubmit(h.n.Root().Address(), []txnbuild.Operation{
		&txnbuild.CreateAccount{Destination: kps[0].Address(), Amount: "100"},
		&txnbuild.CreateAccount{Destination: kps[1].Address(), Amount: "50.5"},
	}, h.n.Root())

	if tx.FeeCharged != 200 || tx.OperationCount != 2 || tx.Ledger < 2 || tx.ResultXdr == "" {
		t.Fatalf("transaction: fee %d ops %d ledger %d result %q", tx.FeeCharged, tx.OperationCount, tx.Ledger, tx.ResultXdr)
	}
	var res xdr.TransactionResult
	if err := xdr.SafeUnmarshalBase64(tx.ResultXdr, &res); err != nil || res.Result.Code != xdr.TransactionResultCodeTxSuccess ||
		len(*res.Result.Results) != 2 || res.FeeCharged != 200 {
		t.Fatalf("result_xdr: %v %+v", err, res)
	}
	a := h.account(kps[0].Address())
	if got := balance(t, a, "", ""); got != 100*stroopsPerLumen {
		t.Fatalf("balance %d", got)
	}
	if a.Sequence != int64(tx.Ledger)<<32 {
		t.Fatalf("new account sequence %d, want ledger %d << 32", a.Sequence, tx.Ledger)
	}
	if len(a.Signers) != 1 || a.Signers[0].Key != kps[0].Address() || a.Signers[0].Weight != 1 {
		t.Fatalf("signers %+v", a.Signers)
	}
	if a.LastModifiedLedger != uint32(tx.Ledger) || a.PT != a.ID || a.LastModifiedTime == nil {
		t.Fatalf("last modified %d / %v, paging token %q", a.LastModifiedLedger, a.LastModifiedTime, a.PT)
	}
	if got := balance(t, h.account(kps[1].Address()), "", ""); got != 505_000_000 {
		t.Fatalf("balance %d", got)
	}
	rootAfter := h.account(h.n.Root().Address())
	if want := rootBefore - 1505_000_000 - 200; balance(t, rootAfter, "", "") != want {
		t.Fatalf("root balance %d, want %d", balance(t, rootAfter, "", ""), want)
	}

	_, err := h.submit(h.n.Root().Address(), []txnbuild.Operation{
		&txnbuild.CreateAccount{Destination: kps[0].Address(), Amount: "10"}}, h.n.Root())
	expectCodes(t, err, "tx_failed", "op_already_exists")
	fresh := randomKeys(t, 1)[0]
	_, err = h.submit(h.n.Root().Address(), []txnbuild.Operation{
		&txnbuild.CreateAccount{Destination: fresh.Address(), Amount: "0.5"}}, h.n.Root())
	expectCodes(t, err, "tx_failed", "op_low_reserve")
	_, err = h.submit(kps[1].Address(), []txnbuild.Operation{
		&txnbuild.CreateAccount{Destination: fresh.Address(), Amount: "50"}}, kps[1])
	expectCodes(t, err, "tx_failed", "op_underfunded")
}

func TestIssuerFlagsTrustAuthorizePayClawback(t *testing.T) {
	h := newHarness(t, Config{Dir: t.TempDir()})
	kps := randomKeys(t, 2)
	issuer, holder := kps[0], kps[1]
	h.fund("100", issuer, holder)
	usd := txnbuild.CreditAsset{Code: "USD", Issuer: issuer.Address()}

	h.mustSubmit(issuer.Address(), []txnbuild.Operation{&txnbuild.SetOptions{SetFlags: []txnbuild.AccountFlag{
		txnbuild.AuthRequired, txnbuild.AuthRevocable, txnbuild.AuthClawbackEnabled}}}, issuer)
	ia := h.account(issuer.Address())
	if !ia.Flags.AuthRequired || !ia.Flags.AuthRevocable || !ia.Flags.AuthClawbackEnabled || ia.Flags.AuthImmutable {
		t.Fatalf("issuer flags %+v", ia.Flags)
	}

	line, _ := usd.ToChangeTrustAsset()
	h.mustSubmit(holder.Address(), []txnbuild.Operation{&txnbuild.ChangeTrust{Line: line, Limit: "1000"}}, holder)
	ha := h.account(holder.Address())
	tl := lineOf(t, ha, "USD", issuer.Address())
	if *tl.IsAuthorized || !*tl.IsClawbackEnabled || tl.Limit != "1000.0000000" || tl.Balance != "0.0000000" {
		t.Fatalf("new trustline %+v authorized=%v clawback=%v", tl, *tl.IsAuthorized, *tl.IsClawbackEnabled)
	}
	if ha.SubentryCount != 1 {
		t.Fatalf("subentries %d", ha.SubentryCount)
	}

	_, err := h.submit(issuer.Address(), []txnbuild.Operation{
		&txnbuild.Payment{Destination: holder.Address(), Amount: "10", Asset: usd}}, issuer)
	expectCodes(t, err, "tx_failed", "op_not_authorized")

	h.mustSubmit(issuer.Address(), []txnbuild.Operation{
		&txnbuild.SetTrustLineFlags{Trustor: holder.Address(), Asset: usd, SetFlags: []txnbuild.TrustLineFlag{txnbuild.TrustLineAuthorized}},
		&txnbuild.Payment{Destination: holder.Address(), Amount: "100", Asset: usd},
	}, issuer)
	if got := balance(t, h.account(holder.Address()), "USD", issuer.Address()); got != 100*stroopsPerLumen {
		t.Fatalf("holder USD %d after mint", got)
	}

	h.mustSubmit(issuer.Address(), []txnbuild.Operation{&txnbuild.Clawback{From: holder.Address(), Amount: "30", Asset: usd}}, issuer)
	if got := balance(t, h.account(holder.Address()), "USD", issuer.Address()); got != 70*stroopsPerLumen {
		t.Fatalf("holder USD %d after clawback, want 70", got)
	}
	_, err = h.submit(issuer.Address(), []txnbuild.Operation{&txnbuild.Clawback{From: holder.Address(), Amount: "71", Asset: usd}}, issuer)
	expectCodes(t, err, "tx_failed", "op_underfunded")

	// Paying the issuer burns; the line limit caps what the holder may receive.
	h.mustSubmit(holder.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: issuer.Address(), Amount: "20", Asset: usd}}, holder)
	if got := balance(t, h.account(holder.Address()), "USD", issuer.Address()); got != 50*stroopsPerLumen {
		t.Fatalf("holder USD %d after burn, want 50", got)
	}
	_, err = h.submit(issuer.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: holder.Address(), Amount: "950.0000001", Asset: usd}}, issuer)
	expectCodes(t, err, "tx_failed", "op_line_full")
	_, err = h.submit(holder.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: issuer.Address(), Amount: "50.0000001", Asset: usd}}, holder)
	expectCodes(t, err, "tx_failed", "op_underfunded")

	// A trustline with a balance cannot be removed; an empty one can, and frees its reserve.
	_, err = h.submit(holder.Address(), []txnbuild.Operation{&txnbuild.ChangeTrust{Line: line, Limit: "0"}}, holder)
	expectCodes(t, err, "tx_failed", "op_invalid_limit")
	h.mustSubmit(holder.Address(), []txnbuild.Operation{
		&txnbuild.Payment{Destination: issuer.Address(), Amount: "50", Asset: usd},
		&txnbuild.ChangeTrust{Line: line, Limit: "0"},
	}, holder)
	if ha := h.account(holder.Address()); ha.SubentryCount != 0 || balance(t, ha, "USD", issuer.Address()) != -1 {
		t.Fatalf("trustline not removed: %+v", ha.Balances)
	}
}

func TestTrustlineWithoutAuthRequiredIsAuthorizedAndNotClawbackable(t *testing.T) {
	h := newHarness(t, Config{})
	kps := randomKeys(t, 2)
	issuer, holder := kps[0], kps[1]
	h.fund("100", issuer, holder)
	eur := txnbuild.CreditAsset{Code: "EURO12", Issuer: issuer.Address()}
	line, _ := eur.ToChangeTrustAsset()
	h.mustSubmit(holder.Address(), []txnbuild.Operation{&txnbuild.ChangeTrust{Line: line}}, holder)
	tl := lineOf(t, h.account(holder.Address()), "EURO12", issuer.Address())
	if !*tl.IsAuthorized || *tl.IsClawbackEnabled || tl.Asset.Type != "credit_alphanum12" || tl.Limit != "922337203685.4775807" {
		t.Fatalf("trustline %+v", tl)
	}
	h.mustSubmit(issuer.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: holder.Address(), Amount: "5", Asset: eur}}, issuer)
	_, err := h.submit(issuer.Address(), []txnbuild.Operation{&txnbuild.Clawback{From: holder.Address(), Amount: "1", Asset: eur}}, issuer)
	expectCodes(t, err, "tx_failed", "op_not_clawback_enabled")
	// Without AUTH_REVOCABLE the issuer cannot take authorization back.
	_, err = h.submit(issuer.Address(), []txnbuild.Operation{&txnbuild.SetTrustLineFlags{Trustor: holder.Address(), Asset: eur,
		ClearFlags: []txnbuild.TrustLineFlag{txnbuild.TrustLineAuthorized}}}, issuer)
	expectCodes(t, err, "tx_failed", "op_cant_revoke")
	// Clawback needs revocable.
	_, err = h.submit(issuer.Address(), []txnbuild.Operation{&txnbuild.SetOptions{
		SetFlags: []txnbuild.AccountFlag{txnbuild.AuthClawbackEnabled}}}, issuer)
	expectCodes(t, err, "tx_failed", "op_auth_revocable_required")
}

func TestDeauthorizedTrustlineRefusesPayments(t *testing.T) {
	h := newHarness(t, Config{Dir: t.TempDir()})
	kps := randomKeys(t, 3)
	issuer, holder, other := kps[0], kps[1], kps[2]
	h.fund("100", issuer, holder, other)
	usd := txnbuild.CreditAsset{Code: "USD", Issuer: issuer.Address()}
	line, _ := usd.ToChangeTrustAsset()
	h.mustSubmit(issuer.Address(), []txnbuild.Operation{&txnbuild.SetOptions{SetFlags: []txnbuild.AccountFlag{
		txnbuild.AuthRequired, txnbuild.AuthRevocable}}}, issuer)
	for _, kp := range []*keypair.Full{holder, other} {
		h.mustSubmit(kp.Address(), []txnbuild.Operation{&txnbuild.ChangeTrust{Line: line}}, kp)
		h.mustSubmit(issuer.Address(), []txnbuild.Operation{&txnbuild.SetTrustLineFlags{Trustor: kp.Address(), Asset: usd,
			SetFlags: []txnbuild.TrustLineFlag{txnbuild.TrustLineAuthorized}}}, issuer)
	}
	h.mustSubmit(issuer.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: holder.Address(), Amount: "10", Asset: usd}}, issuer)

	h.mustSubmit(issuer.Address(), []txnbuild.Operation{&txnbuild.SetTrustLineFlags{Trustor: holder.Address(), Asset: usd,
		ClearFlags: []txnbuild.TrustLineFlag{txnbuild.TrustLineAuthorized}}}, issuer)
	if tl := lineOf(t, h.account(holder.Address()), "USD", issuer.Address()); *tl.IsAuthorized {
		t.Fatal("trustline still authorized")
	}
	_, err := h.submit(holder.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: other.Address(), Amount: "1", Asset: usd}}, holder)
	expectCodes(t, err, "tx_failed", "op_src_not_authorized")
	_, err = h.submit(issuer.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: holder.Address(), Amount: "1", Asset: usd}}, issuer)
	expectCodes(t, err, "tx_failed", "op_not_authorized")

	// Only the issuer may set trustline flags.
	_, err = h.submit(other.Address(), []txnbuild.Operation{&txnbuild.SetTrustLineFlags{Trustor: holder.Address(), Asset: usd,
		SetFlags: []txnbuild.TrustLineFlag{txnbuild.TrustLineAuthorized}}}, other)
	expectCodes(t, err, "tx_failed", "op_malformed")
}
