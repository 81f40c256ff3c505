package localnet

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	hProtocol "github.com/stellar/go-stellar-sdk/protocols/horizon"
	"github.com/stellar/go-stellar-sdk/txnbuild"
)

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	n, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	h := &harness{t: t, n: n, hc: &horizonclient.Client{HorizonURL: srv.URL + "/", HTTP: srv.Client()}}
	kps := randomKeys(t, 3)
	issuer, holder, cosigner := kps[0], kps[1], kps[2]
	h.fund("100", issuer, holder)
	usd := txnbuild.CreditAsset{Code: "USD", Issuer: issuer.Address()}
	line, _ := usd.ToChangeTrustAsset()
	h.mustSubmit(issuer.Address(), []txnbuild.Operation{&txnbuild.SetOptions{
		SetFlags:   []txnbuild.AccountFlag{txnbuild.AuthRequired, txnbuild.AuthRevocable, txnbuild.AuthClawbackEnabled},
		HomeDomain: txnbuild.NewHomeDomain("kazna.example")}}, issuer)
	h.mustSubmit(holder.Address(), []txnbuild.Operation{
		&txnbuild.ChangeTrust{Line: line, Limit: "500"},
		&txnbuild.ManageData{Name: "note", Value: []byte{0, 1, 2}},
		&txnbuild.SetOptions{Signer: &txnbuild.Signer{Address: cosigner.Address(), Weight: 2}, LowThreshold: txnbuild.NewThreshold(1)},
	}, holder)
	h.mustSubmit(issuer.Address(), []txnbuild.Operation{
		&txnbuild.SetTrustLineFlags{Trustor: holder.Address(), Asset: usd, SetFlags: []txnbuild.TrustLineFlag{txnbuild.TrustLineAuthorized}},
		&txnbuild.Payment{Destination: holder.Address(), Amount: "123.4567891", Asset: usd},
	}, issuer)
	last := h.mustSubmit(holder.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: issuer.Address(), Amount: "3", Asset: usd}}, cosigner)

	want := map[string]hProtocol.Account{}
	for _, id := range []string{n.Root().Address(), issuer.Address(), holder.Address()} {
		want[id] = h.account(id)
	}
	wantPayments, err := h.hc.Payments(horizonclient.OperationRequest{ForAccount: holder.Address(), Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	rootSeed, ledgerBefore := n.Root().Seed(), n.hist.latest().Seq
	srv.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := newHarness(t, Config{Dir: dir})
	if h2.n.Root().Seed() != rootSeed {
		t.Fatal("the root seed changed across a restart")
	}
	for id, w := range want {
		got := h2.account(id)
		// Links carry the test server's address, which differs between the two servers.
		got.Links, w.Links = want[id].Links, want[id].Links
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("account %s after restart:\n got %+v\nwant %+v", id, got, w)
		}
	}
	tx, err := h2.hc.TransactionDetail(last.Hash)
	if err != nil || tx.Ledger != last.Ledger || tx.ResultXdr != last.ResultXdr {
		t.Fatalf("history after restart: %v %+v", err, tx)
	}
	gotPayments, err := h2.hc.Payments(horizonclient.OperationRequest{ForAccount: holder.Address(), Limit: 200})
	if err != nil || len(gotPayments.Embedded.Records) != len(wantPayments.Embedded.Records) || len(gotPayments.Embedded.Records) != 3 {
		t.Fatalf("payments after restart: %v, %d vs %d", err, len(gotPayments.Embedded.Records), len(wantPayments.Embedded.Records))
	}
	// The network carries on where it stopped: new ledgers, and the restored signer still signs.
	next := h2.mustSubmit(holder.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: issuer.Address(), Amount: "1", Asset: usd}}, cosigner)
	if uint32(next.Ledger) != ledgerBefore+1 {
		t.Fatalf("ledger after restart %d, want %d", next.Ledger, ledgerBefore+1)
	}
	if got := balance(t, h2.account(holder.Address()), "USD", issuer.Address()); got != 1194567891 {
		t.Fatalf("holder USD %d", got)
	}
}

func TestReopenWithOtherPassphraseFails(t *testing.T) {
	dir := t.TempDir()
	n, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir, Passphrase: "Some Other Network"}); err == nil {
		t.Fatal("reopening with another passphrase succeeded")
	}
	n, err = Open(Config{Dir: dir})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	// A second Open of a directory in use fails instead of hanging or sharing the file.
	if _, err := Open(Config{Dir: dir}); err == nil {
		t.Fatal("a second Open of the same directory succeeded")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}
