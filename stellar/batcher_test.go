package stellar

import (
	"context"
	"testing"
)

func queued(t *testing.T, from *KeySigner, extra ...Signer) *queuedPayment {
	t.Helper()
	to := mustRandom(t)
	p := Payment{GUID: newGUID(), From: Signatory{Account: from.Address(), Signers: append([]Signer{from}, extra...)}, To: to.Address(),
		Asset: Asset{Code: "eUAH", Issuer: to.Address(), Decimals: 2}, AmountMinor: 1}
	ops, err := paymentOps(p)
	if err != nil {
		t.Fatal(err)
	}
	return &queuedPayment{ctx: context.Background(), p: p, ops: ops, signers: uniqueSigners(p.From.Signers)}
}

func TestPickPrefersFewSigners(t *testing.T) {
	b := &Batcher{maxOps: MaxOpsPerTx}
	channel := mustRandom(t).Address()
	var payers []*KeySigner
	for range 25 {
		payers = append(payers, mustRandom(t))
	}
	// Interleaved arrivals: payer 0, 1, …, 24, then each payer again, then payer 0 a few more times.
	var pending []*queuedPayment
	for range 2 {
		for _, p := range payers {
			pending = append(pending, queued(t, p))
		}
	}
	for range 5 {
		pending = append(pending, queued(t, payers[0]))
	}
	batch, rest := b.pick(pending, channel)
	if batch[0] != pending[0] {
		t.Fatal("the oldest payment is not in the batch")
	}
	signers := map[string]bool{channel: true}
	ops := 0
	for _, q := range batch {
		ops += len(q.ops)
		for _, s := range q.signers {
			signers[s.Address()] = true
		}
	}
	if len(signers) > MaxSignaturesPerTx || ops > MaxOpsPerTx {
		t.Fatalf("batch has %d signatures, %d operations", len(signers), ops)
	}
	// Payer 0's seven payments travel together, and the batch stops at the signature cap: 19 payers with all
	// their payments (7 + 18 × 2 = 43 payments, 86 operations).
	n0 := 0
	for _, q := range batch {
		if q.p.From.Account == payers[0].Address() {
			n0++
		}
	}
	if n0 != 7 || len(signers) != MaxSignaturesPerTx || ops != 86 {
		t.Fatalf("payer 0 has %d payments in the batch (want 7); %d operations", n0, ops)
	}
	if len(batch)+len(rest) != len(pending) {
		t.Fatal("payments lost")
	}
	// Arrival order is kept inside the batch.
	idx := map[*queuedPayment]int{}
	for i, q := range pending {
		idx[q] = i
	}
	for i := 1; i < len(batch); i++ {
		if idx[batch[i]] < idx[batch[i-1]] {
			t.Fatal("batch not in arrival order")
		}
	}

	// A payment with 20 signers of its own cannot share a transaction: it goes alone.
	var many []Signer
	for range 19 {
		many = append(many, mustRandom(t))
	}
	big := queued(t, payers[1], many...)
	batch, rest = b.pick([]*queuedPayment{big, queued(t, payers[2])}, channel)
	if len(batch) != 1 || batch[0] != big || len(rest) != 1 {
		t.Fatalf("oversized payment: batch %d rest %d", len(batch), len(rest))
	}
}
