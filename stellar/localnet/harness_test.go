package localnet

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/stellar/go-stellar-sdk/amount"
	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/network"
	hProtocol "github.com/stellar/go-stellar-sdk/protocols/horizon"
	"github.com/stellar/go-stellar-sdk/txnbuild"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// harness drives a network through the real horizonclient over HTTP, as Kazna does.
type harness struct {
	t  testing.TB
	n  *Network
	hc *horizonclient.Client
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		checkNetworkInvariants(t, n)
		// The network first, so that submissions still waiting for a ledger are answered before the server
		// waits for their connections.
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		srv.Close()
	})
	return &harness{t: t, n: n, hc: &horizonclient.Client{HorizonURL: srv.URL + "/", HTTP: srv.Client()}}
}

func (h *harness) account(id string) hProtocol.Account {
	h.t.Helper()
	a, err := h.hc.AccountDetail(horizonclient.AccountRequest{AccountID: id})
	if err != nil {
		h.t.Fatalf("AccountDetail(%s): %v", id, err)
	}
	return a
}

// build signs a transaction from source's current sequence number.
func (h *harness) build(source string, ops []txnbuild.Operation, signers ...*keypair.Full) *txnbuild.Transaction {
	h.t.Helper()
	acct := h.account(source)
	return h.buildAt(&acct, ops, signers...)
}

func (h *harness) buildAt(acct txnbuild.Account, ops []txnbuild.Operation, signers ...*keypair.Full) *txnbuild.Transaction {
	h.t.Helper()
	tx, err := txnbuild.NewTransaction(txnbuild.TransactionParams{
		SourceAccount: acct, IncrementSequenceNum: true, Operations: ops, BaseFee: txnbuild.MinBaseFee,
		Preconditions: txnbuild.Preconditions{TimeBounds: txnbuild.NewTimeout(300)},
	})
	if err != nil {
		h.t.Fatalf("NewTransaction: %v", err)
	}
	if tx, err = tx.Sign(h.n.Passphrase(), signers...); err != nil {
		h.t.Fatalf("Sign: %v", err)
	}
	return tx
}

func (h *harness) submit(source string, ops []txnbuild.Operation, signers ...*keypair.Full) (hProtocol.Transaction, error) {
	h.t.Helper()
	return h.hc.SubmitTransaction(h.build(source, ops, signers...))
}

func (h *harness) mustSubmit(source string, ops []txnbuild.Operation, signers ...*keypair.Full) hProtocol.Transaction {
	h.t.Helper()
	tx, err := h.submit(source, ops, signers...)
	if err != nil {
		h.t.Fatalf("submit: %v (%v)", err, resultCodesOf(err))
	}
	if !tx.Successful {
		h.t.Fatalf("submit: transaction %s not successful", tx.Hash)
	}
	return tx
}

// fund creates accounts funded by the root with xlm each.
func (h *harness) fund(xlm string, kps ...*keypair.Full) {
	h.t.Helper()
	var ops []txnbuild.Operation
	for _, kp := range kps {
		ops = append(ops, &txnbuild.CreateAccount{Destination: kp.Address(), Amount: xlm})
	}
	h.mustSubmit(h.n.Root().Address(), ops, h.n.Root())
}

func randomKeys(t testing.TB, n int) []*keypair.Full {
	t.Helper()
	out := make([]*keypair.Full, n)
	for i := range out {
		kp, err := keypair.Random()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = kp
	}
	return out
}

func resultCodesOf(err error) *hProtocol.TransactionResultCodes {
	herr := horizonclient.GetError(err)
	if herr == nil {
		return nil
	}
	rc, rerr := herr.ResultCodes()
	if rerr != nil {
		return nil
	}
	return rc
}

// expectCodes asserts that err is a Horizon transaction failure with exactly these result codes, and that its
// result_xdr says the same.
func expectCodes(t testing.TB, err error, txCode string, opCodes ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s %v, got success", txCode, opCodes)
	}
	herr := horizonclient.GetError(err)
	if herr == nil {
		t.Fatalf("want a Horizon error with %s, got %v", txCode, err)
	}
	rc, rerr := herr.ResultCodes()
	if rerr != nil {
		t.Fatalf("want result codes %s, got %v (%+v)", txCode, rerr, herr.Problem)
	}
	if rc.TransactionCode != txCode || !slices.Equal(rc.OperationCodes, opCodes) {
		t.Fatalf("result codes: got %s %v, want %s %v", rc.TransactionCode, rc.OperationCodes, txCode, opCodes)
	}
	resB64, rerr := herr.ResultString()
	if rerr != nil {
		t.Fatalf("result_xdr missing: %v", rerr)
	}
	var res xdr.TransactionResult
	if err := xdr.SafeUnmarshalBase64(resB64, &res); err != nil {
		t.Fatalf("result_xdr does not decode: %v", err)
	}
	if got := codesOf(res); got.Transaction != txCode || !slices.Equal(got.Operations, opCodes) {
		t.Fatalf("result_xdr says %s %v, want %s %v", got.Transaction, got.Operations, txCode, opCodes)
	}
	if _, eerr := herr.EnvelopeXDR(); eerr != nil {
		t.Fatalf("envelope_xdr missing: %v", eerr)
	}
}

// balance returns an account's balance of asset in stroops ("" code = XLM); -1 when it holds no such line.
func balance(t testing.TB, a hProtocol.Account, code, issuer string) int64 {
	t.Helper()
	for _, b := range a.Balances {
		if (code == "" && b.Asset.Type == "native") || (b.Asset.Code == code && b.Asset.Issuer == issuer) {
			v, err := amount.ParseInt64(b.Balance)
			if err != nil {
				t.Fatalf("balance %q: %v", b.Balance, err)
			}
			return v
		}
	}
	return -1
}

func lineOf(t testing.TB, a hProtocol.Account, code, issuer string) hProtocol.Balance {
	t.Helper()
	for _, b := range a.Balances {
		if b.Asset.Code == code && b.Asset.Issuer == issuer {
			return b
		}
	}
	t.Fatalf("account %s has no %s trustline", a.AccountID, code)
	return hProtocol.Balance{}
}

// rawEnvelope builds and signs an envelope by hand, for what txnbuild refuses to build (zero amounts, low fees,
// too many signatures).
func rawEnvelope(t testing.TB, passphrase string, source *keypair.Full, seq int64, fee uint32, ops []xdr.Operation, signers ...*keypair.Full) string {
	t.Helper()
	src, err := xdr.AddressToMuxedAccount(source.Address())
	if err != nil {
		t.Fatal(err)
	}
	env := xdr.TransactionEnvelope{Type: xdr.EnvelopeTypeEnvelopeTypeTx, V1: &xdr.TransactionV1Envelope{
		Tx: xdr.Transaction{SourceAccount: src, Fee: xdr.Uint32(fee), SeqNum: xdr.SequenceNumber(seq),
			Cond: xdr.Preconditions{Type: xdr.PreconditionTypePrecondNone}, Memo: xdr.Memo{Type: xdr.MemoTypeMemoNone},
			Operations: ops},
	}}
	hash, err := network.HashTransactionInEnvelope(env, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range signers {
		ds, err := s.SignDecorated(hash[:])
		if err != nil {
			t.Fatal(err)
		}
		env.V1.Signatures = append(env.V1.Signatures, ds)
	}
	b64, err := xdr.MarshalBase64(env)
	if err != nil {
		t.Fatal(err)
	}
	return b64
}

func paymentOp(t testing.TB, dest string, stroops int64) xdr.Operation {
	t.Helper()
	d, err := xdr.AddressToMuxedAccount(dest)
	if err != nil {
		t.Fatal(err)
	}
	return xdr.Operation{Body: xdr.OperationBody{Type: xdr.OperationTypePayment,
		PaymentOp: &xdr.PaymentOp{Destination: d, Asset: xdr.Asset{Type: xdr.AssetTypeAssetTypeNative}, Amount: xdr.Int64(stroops)}}}
}

var horizonclientSkipMemo = horizonclient.SubmitTxOpts{SkipMemoRequiredCheck: true}

func (h *harness) latestLedger() uint32 {
	h.n.mu.RLock()
	defer h.n.mu.RUnlock()
	return h.n.hist.latest().Seq
}

// checkNetworkInvariants checks what must hold after any test: lumens are conserved (balances plus the fee pool
// equal the coins created at genesis), every account is sound, history indexes ascend, and a stored network
// holds on disk exactly the accounts it holds in memory.
func checkNetworkInvariants(t testing.TB, n *Network) {
	t.Helper()
	n.mu.RLock()
	defer n.mu.RUnlock()
	var total int64
	for _, a := range n.accounts {
		if err := a.checkInvariants(); err != nil {
			t.Error(err)
		}
		total += a.balance
	}
	l := n.hist.latest()
	if total+l.FeePool != l.TotalCoins {
		t.Errorf("lumens not conserved: balances %d + fee pool %d != %d", total, l.FeePool, l.TotalCoins)
	}
	for id, ids := range n.hist.accountPayments {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("payments of %s out of order", id)
			}
		}
	}
	if n.store == nil || n.closed {
		return
	}
	snap, err := n.store.load()
	if err != nil {
		t.Fatalf("load stored network: %v", err)
	}
	if len(snap.accounts) != len(n.accounts) || len(snap.hist.ledgers) != len(n.hist.ledgers) || len(snap.hist.txs) != len(n.hist.txs) {
		t.Errorf("stored network differs: %d/%d accounts, %d/%d ledgers, %d/%d transactions", len(snap.accounts), len(n.accounts),
			len(snap.hist.ledgers), len(n.hist.ledgers), len(snap.hist.txs), len(n.hist.txs))
	}
	for id, a := range n.accounts {
		mem, _ := json.Marshal(recordOf(a))
		disk, _ := json.Marshal(recordOf(orEmpty(snap.accounts[id])))
		if string(mem) != string(disk) {
			t.Errorf("account %s differs on disk:\n mem %s\ndisk %s", id, mem, disk)
		}
	}
}

func orEmpty(a *account) *account {
	if a == nil {
		return &account{}
	}
	return a
}
