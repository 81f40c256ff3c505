package reconcile

import (
	"context"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"

	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/stellar"
	"github.com/kazna-ledger/kazna/stellar/localnet"
)

// benchAccountsEnv sets how many accounts BenchmarkReconcile reconciles; the default keeps CI fast. The
// target is KAZNA_RECONCILE_BENCH_ACCOUNTS=100000 in ≤ 60 s per run.
const benchAccountsEnv = "KAZNA_RECONCILE_BENCH_ACCOUNTS"

// accountsPerTx: 18 holders sign with the root and the issuer (20 signatures, Stellar's limit); each takes
// create_account, change_trust, set_trust_line_flags, manageData payment_guid and the issuing payment (90 ops).
const accountsPerTx = 18

// BenchmarkReconcile reconciles N accounts, each opened and issued to today with a payment carrying its
// payment_guid, against the embedded network over loopback HTTP (the real Horizon adapter), the ledger side
// in memory. It reports accounts/s and the seconds per run.
func BenchmarkReconcile(b *testing.B) {
	n := 2_000
	if s := os.Getenv(benchAccountsEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("%s=%q: want a positive number", benchAccountsEnv, s)
		}
		n = v
	}
	e := newBenchEnv(b, n)
	r := e.reconciler(Config{})
	b.ResetTimer()
	for range b.N {
		s, err := r.Run(context.Background(), StartInput{Trigger: reconciliation.TriggerCLI, Metadata: eventstore.Metadata{Actor: "bench"}})
		if err != nil {
			b.Fatal(err)
		}
		if s.Status != reconciliation.RunCompleted || len(s.Discrepancies) != 0 || s.Counts.Accounts != n || s.Counts.Payments != n || s.Counts.ChainPayments != n {
			b.Fatalf("run %s: %s %s, counts %+v, %d discrepancies", s.GUID, s.Status, s.Reason, s.Counts, len(s.Discrepancies))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "accounts/s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/run")
}

// newBenchEnv opens n accounts on a memory-only network with raw batched transactions and books them.
func newBenchEnv(b *testing.B, n int) *chainEnv {
	b.Helper()
	start := time.Now()
	ln, err := localnet.Open(localnet.Config{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(ln.Handler())
	b.Cleanup(func() { srv.Close(); _ = ln.Close() })
	h, err := stellar.NewHorizon(stellar.Config{HorizonURL: srv.URL, Passphrase: ln.Passphrase(), RootSecret: ln.Root().Seed(), RequestTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	if err := h.OpenChannels(context.Background(), "100"); err != nil {
		b.Fatal(err)
	}
	e := &chainEnv{t: b, ln: ln, h: h, book: newBook()}
	store, err := openBenchStore(b)
	if err != nil {
		b.Fatal(err)
	}
	e.store = store
	e.issuer = e.account("100")
	if _, err := h.SetUpIssuer(context.Background(), e.issuer.Signatory()); err != nil {
		b.Fatal(err)
	}
	e.asset = stellar.Asset{Code: testAsset.StellarCode, Issuer: e.issuer.Address(), Decimals: testAsset.Decimals}

	hc := &horizonclient.Client{HorizonURL: srv.URL + "/"}
	root := ln.Root()
	issuerKP := keypair.MustParseFull(e.issuer.Secret())
	rootAcct, err := hc.AccountDetail(horizonclient.AccountRequest{AccountID: root.Address()})
	if err != nil {
		b.Fatal(err)
	}
	src := &txnbuild.SimpleAccount{AccountID: root.Address(), Sequence: rootAcct.Sequence}
	credit := txnbuild.CreditAsset{Code: e.asset.Code, Issuer: e.asset.Issuer}
	for done := 0; done < n; {
		batch := min(accountsPerTx, n-done)
		var ops []txnbuild.Operation
		signers := []*keypair.Full{root, issuerKP}
		type opened struct {
			address, guid string
			minor         int64
		}
		var accts []opened
		for i := range batch {
			kp := keypair.MustRandom()
			signers = append(signers, kp)
			guid := uuid.NewString()
			minor := int64(100 + done + i)
			accts = append(accts, opened{kp.Address(), guid, minor})
			ops = append(ops,
				&txnbuild.CreateAccount{Destination: kp.Address(), Amount: "2"},
				&txnbuild.ChangeTrust{Line: credit.MustToChangeTrustAsset(), Limit: "922337203685.4775807", SourceAccount: kp.Address()},
				&txnbuild.SetTrustLineFlags{Trustor: kp.Address(), Asset: credit, SetFlags: []txnbuild.TrustLineFlag{txnbuild.TrustLineAuthorized}, SourceAccount: e.issuer.Address()},
				&txnbuild.ManageData{Name: stellar.PaymentGUIDDataName, Value: []byte(guid), SourceAccount: e.issuer.Address()},
				&txnbuild.Payment{Destination: kp.Address(), Amount: stellar.FormatStroops(minor * 100_000), Asset: credit, SourceAccount: e.issuer.Address()},
			)
		}
		tx, err := txnbuild.NewTransaction(txnbuild.TransactionParams{SourceAccount: src, IncrementSequenceNum: true, Operations: ops,
			BaseFee: txnbuild.MinBaseFee, Preconditions: txnbuild.Preconditions{TimeBounds: txnbuild.NewInfiniteTimeout()}})
		if err != nil {
			b.Fatal(err)
		}
		if tx, err = tx.Sign(ln.Passphrase(), signers...); err != nil {
			b.Fatal(err)
		}
		res, err := hc.SubmitTransactionWithOptions(tx, horizonclient.SubmitTxOpts{SkipMemoRequiredCheck: true})
		if err != nil {
			b.Fatalf("submit accounts %d…: %v", done, err)
		}
		for _, a := range accts {
			e.book.open(a.address, cpA)
			e.book.settle(e.book.payment(a.guid, e.issuer.Address(), a.address, a.minor, res.Hash, e.issuer.Address()))
		}
		done += batch
	}
	b.Logf("set up %d accounts in %s", n, time.Since(start).Round(time.Millisecond))
	return e
}
