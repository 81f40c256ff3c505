package localnet

import (
	"sync"
	"testing"
	"time"

	hProtocol "github.com/stellar/go-stellar-sdk/protocols/horizon"
	"github.com/stellar/go-stellar-sdk/txnbuild"
)

func waitQueued(t *testing.T, n *Network, want int) {
	t.Helper()
	waitFor(t, n, "the queue to hold transactions", func() bool { return len(n.queue) == want })
}

// waitFor polls cond under the network's lock.
func waitFor(t *testing.T, n *Network, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n.mu.RLock()
		ok := cond()
		n.mu.RUnlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

type submitted struct {
	tx  hProtocol.Transaction
	err error
}

func TestTimerModeQueuesConsecutiveSequenceNumbers(t *testing.T) {
	// An hour-long interval makes CloseLedger the only thing that closes ledgers, so the test is deterministic.
	h := newHarness(t, Config{Dir: t.TempDir(), CloseInterval: time.Hour})
	root := h.n.Root()
	dest := randomKeys(t, 1)[0]
	acct := h.account(root.Address())
	tx1 := h.buildAt(&acct, []txnbuild.Operation{&txnbuild.CreateAccount{Destination: dest.Address(), Amount: "10"}}, root)
	tx2 := h.buildAt(&acct, []txnbuild.Operation{&txnbuild.Payment{Destination: dest.Address(), Amount: "5", Asset: txnbuild.NativeAsset{}}}, root)
	// acct now holds tx2's sequence number; skipping one leaves a gap.
	tooFar := h.buildAt(&hProtocol.Account{AccountID: root.Address(), Sequence: acct.Sequence + 1}, []txnbuild.Operation{&txnbuild.BumpSequence{BumpTo: 0}}, root)

	results := make([]submitted, 3)
	var wg sync.WaitGroup
	submit := func(i int, tx *txnbuild.Transaction) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].tx, results[i].err = h.hc.SubmitTransactionWithOptions(tx, horizonclientSkipMemo)
		}()
	}
	submit(0, tx1)
	waitQueued(t, h.n, 1)
	submit(1, tx2)
	waitQueued(t, h.n, 2)
	// A resubmission of a queued transaction waits for the same ledger rather than queueing twice.
	submit(2, tx1)
	hash, err := tx1.HashHex(h.n.Passphrase())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, h.n, "the resubmission to wait", func() bool {
		p := h.n.queued[hash]
		return p != nil && p.waiters == 2
	})
	waitQueued(t, h.n, 2)
	// A sequence number beyond the queued ones is refused at once, without waiting for the ledger.
	_, err = h.hc.SubmitTransactionWithOptions(tooFar, horizonclientSkipMemo)
	expectCodes(t, err, "tx_bad_seq")
	closed := h.n.CloseLedger()
	wg.Wait()
	seq := int32(closed)
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("submission %d: %v %v", i, r.err, resultCodesOf(r.err))
		}
		if r.tx.Ledger != seq {
			t.Fatalf("submission %d closed in ledger %d, want %d", i, r.tx.Ledger, seq)
		}
	}
	if results[2].tx.Hash != results[0].tx.Hash {
		t.Fatal("resubmission returned another transaction")
	}
	if got := balance(t, h.account(dest.Address()), "", ""); got != 15*stroopsPerLumen {
		t.Fatalf("destination has %d, want 15 XLM", got)
	}
}

func TestTimerClosesLedgers(t *testing.T) {
	h := newHarness(t, Config{CloseInterval: 20 * time.Millisecond})
	start := h.latestLedger()
	dest := randomKeys(t, 1)[0]
	tx := h.mustSubmit(h.n.Root().Address(), []txnbuild.Operation{&txnbuild.CreateAccount{Destination: dest.Address(), Amount: "10"}}, h.n.Root())
	if uint32(tx.Ledger) <= start {
		t.Fatalf("transaction in ledger %d, not after %d", tx.Ledger, start)
	}
	time.Sleep(100 * time.Millisecond)
	if got := h.latestLedger(); got <= uint32(tx.Ledger) {
		t.Fatalf("the timer closed no ledger after %d", got)
	}
}

func TestCloseLedgerAdvancesAnEmptyLedger(t *testing.T) {
	h := newHarness(t, Config{})
	before := h.latestLedger()
	if got := h.n.CloseLedger(); got != before+1 {
		t.Fatalf("CloseLedger returned %d, want %d", got, before+1)
	}
	root, err := h.hc.Root()
	if err != nil || uint32(root.HorizonSequence) != before+1 {
		t.Fatalf("root after CloseLedger: %v %+v", err, root)
	}
}

func TestConcurrentSubmitters(t *testing.T) {
	const submitters, paymentsEach = 50, 4
	h := newHarness(t, Config{Dir: t.TempDir()})
	kps := randomKeys(t, submitters+1)
	sink := kps[submitters]
	h.fund("100", kps...)
	var wg sync.WaitGroup
	errs := make(chan error, submitters*paymentsEach)
	for i := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kp := kps[i]
			acct := h.account(kp.Address())
			for range paymentsEach {
				tx := h.buildAt(&acct, []txnbuild.Operation{&txnbuild.Payment{Destination: sink.Address(), Amount: "1", Asset: txnbuild.NativeAsset{}}}, kp)
				if _, err := h.hc.SubmitTransaction(tx); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("submission: %v %v", err, resultCodesOf(err))
	}
	if got, want := balance(t, h.account(sink.Address()), "", ""), int64(100+submitters*paymentsEach)*stroopsPerLumen; got != want {
		t.Fatalf("sink has %d, want %d", got, want)
	}
	for _, kp := range kps[:submitters] {
		if got, want := balance(t, h.account(kp.Address()), "", ""), int64(100-paymentsEach)*stroopsPerLumen-paymentsEach*baseFee; got != want {
			t.Fatalf("%s has %d, want %d", kp.Address(), got, want)
		}
	}
}
