package localnet

import (
	"slices"
	"strconv"
	"testing"

	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	"github.com/stellar/go-stellar-sdk/protocols/horizon/operations"
	"github.com/stellar/go-stellar-sdk/txnbuild"
)

func opIDs(t *testing.T, page operations.OperationsPage) []int64 {
	t.Helper()
	var ids []int64
	for _, r := range page.Embedded.Records {
		id, err := strconv.ParseInt(r.PagingToken(), 10, 64)
		if err != nil {
			t.Fatalf("paging token %q: %v", r.PagingToken(), err)
		}
		ids = append(ids, id)
	}
	return ids
}

func ascending(ids []int64) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			return false
		}
	}
	return true
}

func TestPaymentsPaging(t *testing.T) {
	h := newHarness(t, Config{})
	kps := randomKeys(t, 2)
	a, b := kps[0], kps[1]
	h.fund("100", a, b)
	for i := 1; i <= 12; i++ {
		h.mustSubmit(a.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: b.Address(),
			Amount: strconv.Itoa(i), Asset: txnbuild.NativeAsset{}}}, a)
	}
	// A failed payment is in history but not listed unless asked for.
	_, err := h.submit(a.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: b.Address(), Amount: "1000", Asset: txnbuild.NativeAsset{}}}, a)
	expectCodes(t, err, "tx_failed", "op_underfunded")

	page, err := h.hc.Payments(horizonclient.OperationRequest{ForAccount: a.Address(), Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	first := opIDs(t, page)
	if len(first) != 5 || !ascending(first) {
		t.Fatalf("first page ids %v", first)
	}
	ca, ok := page.Embedded.Records[0].(operations.CreateAccount)
	if !ok || ca.Funder != h.n.Root().Address() || ca.Account != a.Address() || ca.StartingBalance != "100.0000000" ||
		ca.TransactionHash == "" || ca.Type != "create_account" || !ca.TransactionSuccessful {
		t.Fatalf("first record %#v", page.Embedded.Records[0])
	}
	p, ok := page.Embedded.Records[1].(operations.Payment)
	if !ok || p.From != a.Address() || p.To != b.Address() || p.Amount != "1.0000000" || p.Asset.Type != "native" ||
		p.ID != p.PT || p.TransactionHash == "" || p.Base.Type != "payment" {
		t.Fatalf("second record %#v", page.Embedded.Records[1])
	}
	var all []int64
	all = append(all, first...)
	for range 5 {
		if page, err = h.hc.NextPaymentsPage(page); err != nil {
			t.Fatal(err)
		}
		if len(page.Embedded.Records) == 0 {
			break
		}
		all = append(all, opIDs(t, page)...)
	}
	if len(all) != 13 || !ascending(all) {
		t.Fatalf("walked %d payments %v, want 13 ascending", len(all), all)
	}

	desc, err := h.hc.Payments(horizonclient.OperationRequest{ForAccount: b.Address(), Order: horizonclient.OrderDesc, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := opIDs(t, desc); len(got) != 3 || got[0] != all[12] || got[1] != all[11] || got[2] != all[10] {
		t.Fatalf("desc page %v, want the last three of %v", got, all)
	}
	if last, _ := desc.Embedded.Records[0].(operations.Payment); last.Amount != "12.0000000" {
		t.Fatalf("latest payment %+v", last)
	}
	prev, err := h.hc.PrevPaymentsPage(desc)
	if err != nil || len(prev.Embedded.Records) != 0 {
		t.Fatalf("prev of the newest page: %v %d records", err, len(prev.Embedded.Records))
	}

	cursor := strconv.FormatInt(all[2], 10)
	after, err := h.hc.Payments(horizonclient.OperationRequest{ForAccount: a.Address(), Cursor: cursor, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := opIDs(t, after); len(got) != 2 || got[0] != all[3] || got[1] != all[4] {
		t.Fatalf("after cursor %s: %v", cursor, got)
	}
	withFailed, err := h.hc.Payments(horizonclient.OperationRequest{ForAccount: a.Address(), Order: horizonclient.OrderDesc,
		Limit: 1, IncludeFailed: true})
	if err != nil || len(withFailed.Embedded.Records) != 1 {
		t.Fatalf("include_failed: %v", err)
	}
	if p, _ := withFailed.Embedded.Records[0].(operations.Payment); p.TransactionSuccessful || p.Amount != "1000.0000000" {
		t.Fatalf("include_failed newest %+v", p)
	}
	// Operation ids are toids: ledger << 32 | tx index << 12 | op index.
	op, err := h.hc.OperationDetail(cursor)
	if err != nil || op.PagingToken() != cursor {
		t.Fatalf("OperationDetail(%s): %v", cursor, err)
	}
	if all[0]&0xfff != 1 || all[0]>>32 < 2 {
		t.Fatalf("operation id %d is not a toid", all[0])
	}
}

func TestTransactionsAndLedgersPaging(t *testing.T) {
	h := newHarness(t, Config{})
	kps := randomKeys(t, 2)
	a, b := kps[0], kps[1]
	h.fund("100", a, b)
	var hashes []string
	for range 6 {
		tx := h.mustSubmit(a.Address(), []txnbuild.Operation{&txnbuild.Payment{Destination: b.Address(), Amount: "1", Asset: txnbuild.NativeAsset{}}}, a)
		hashes = append(hashes, tx.Hash)
	}
	page, err := h.hc.Transactions(horizonclient.TransactionRequest{ForAccount: a.Address(), Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(page.Embedded.Records); n != 4 || page.Embedded.Records[1].Hash != hashes[0] {
		t.Fatalf("first page: %d records", n)
	}
	next, err := h.hc.NextTransactionsPage(page)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(next.Embedded.Records); n != 3 || next.Embedded.Records[2].Hash != hashes[5] {
		t.Fatalf("second page: %d records", n)
	}
	for _, tx := range next.Embedded.Records {
		if tx.PT == "" || tx.EnvelopeXdr == "" || tx.ResultXdr == "" || tx.Account != a.Address() || !tx.Successful {
			t.Fatalf("record %+v", tx)
		}
	}
	desc, err := h.hc.Transactions(horizonclient.TransactionRequest{ForAccount: b.Address(), Order: horizonclient.OrderDesc, Limit: 2})
	if err != nil || len(desc.Embedded.Records) != 2 || desc.Embedded.Records[0].Hash != hashes[5] {
		t.Fatalf("desc: %v %+v", err, desc.Embedded.Records)
	}
	all, err := h.hc.Transactions(horizonclient.TransactionRequest{Limit: 200})
	if err != nil || len(all.Embedded.Records) != 7 {
		t.Fatalf("all transactions: %v, %d", err, len(all.Embedded.Records))
	}

	ledgers, err := h.hc.Ledgers(horizonclient.LedgerRequest{Order: horizonclient.OrderDesc, Limit: 3})
	if err != nil || len(ledgers.Embedded.Records) != 3 {
		t.Fatalf("ledgers: %v", err)
	}
	top := ledgers.Embedded.Records[0]
	root, err := h.hc.Root()
	if err != nil {
		t.Fatal(err)
	}
	if top.Sequence != root.HorizonSequence || root.CoreSequence != top.Sequence || root.NetworkPassphrase != h.n.Passphrase() ||
		top.SuccessfulTransactionCount != 1 || top.OperationCount != 1 || top.PrevHash != ledgers.Embedded.Records[1].Hash {
		t.Fatalf("latest ledger %+v, root %+v", top, root)
	}
	older, err := h.hc.NextLedgersPage(ledgers)
	if err != nil || len(older.Embedded.Records) != 3 || older.Embedded.Records[0].Sequence != top.Sequence-3 {
		t.Fatalf("older ledgers: %v %+v", err, older.Embedded.Records)
	}
	fs, err := h.hc.FeeStats()
	if err != nil || fs.LastLedgerBaseFee != 100 || fs.FeeCharged.P50 != 100 || fs.LastLedger != uint32(top.Sequence) {
		t.Fatalf("fee stats: %v %+v", err, fs)
	}
}

func TestPageIDs(t *testing.T) {
	ids := []int64{10, 20, 30, 40, 50}
	all := func(int64) bool { return true }
	cases := []struct {
		q        pageQuery
		keep     func(int64) bool
		want     []int64
		wantNext int64
	}{
		{pageQuery{cursor: 0, limit: 2}, all, []int64{10, 20}, 20},
		{pageQuery{cursor: 20, limit: 2}, all, []int64{30, 40}, 40},
		{pageQuery{cursor: 25, limit: 10}, all, []int64{30, 40, 50}, 50},
		{pageQuery{cursor: 50, limit: 10}, all, []int64{}, 50},
		{pageQuery{cursor: defaultCursor(true), desc: true, limit: 2}, all, []int64{50, 40}, 40},
		{pageQuery{cursor: 40, desc: true, limit: 10}, all, []int64{30, 20, 10}, 10},
		{pageQuery{cursor: 10, desc: true, limit: 10}, all, []int64{}, 10},
		// Skipped records still move the next cursor, so a client walking pages never stalls.
		{pageQuery{cursor: 0, limit: 2}, func(id int64) bool { return id != 20 && id != 30 }, []int64{10, 40}, 40},
		{pageQuery{cursor: 0, limit: 2}, func(int64) bool { return false }, []int64{}, 50},
	}
	for i, c := range cases {
		got, next := pageIDs(ids, c.q, c.keep)
		if !slices.Equal(got, c.want) || next != c.wantNext {
			t.Errorf("case %d: got %v next %d, want %v next %d", i, got, next, c.want, c.wantNext)
		}
	}
}
