package stellar

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/stellar/go-stellar-sdk/txnbuild"
)

// BatcherConfig configures a Batcher.
type BatcherConfig struct {
	// MaxOps bounds the operations of one transaction, 2…100; default 100. A payment with a GUID takes two
	// (its manageData, then the payment), so the default packs 50 payments; one without a GUID takes one.
	MaxOps int
	// QueueLength bounds the payments waiting for a channel; Pay blocks (until its context ends) when full.
	// Default 10,000.
	QueueLength int
}

// maxSplitDepth bounds how often a failed batch is split: 2^7 > 100 operations, so a single bad payment is
// always isolated.
const maxSplitDepth = 7

// Batcher packs payments from many concurrent callers into as few transactions as it can, and runs one
// transaction per channel account at a time, so several are in flight at once. A transaction takes payments
// that are queued when a channel is free, up to MaxOps operations and 20 signatures (the channel's plus every
// distinct payer's signers), preferring payers already in it (see pick); nothing waits for a batch to fill, so
// a lone payment goes out at once.
//
// Stellar applies a transaction all or nothing. When a batch fails with tx_failed, the payments whose
// operations failed get their own TxError (with their own operation codes) and the others are submitted again
// without them; when the failing operations cannot be told apart (or the failure is tx_bad_auth, i.e. one
// payer's signatures are short), the batch is split in halves, recursively, so one bad payment never fails the
// good ones. Every other outcome (applied, unknown, rejected for a reason common to the batch) is given to
// every payment in the batch.
type Batcher struct {
	h      *Horizon
	maxOps int
	queue  chan *queuedPayment

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool

	dispatched chan struct{}
	inflight   sync.WaitGroup

	transactions, payments, splits atomic.Int64
}

type queuedPayment struct {
	ctx     context.Context
	p       Payment
	ops     []txnbuild.Operation
	signers []Signer
	result  chan payResult
}

type payResult struct {
	r   Receipt
	err error
}

// NewBatcher starts a batcher that submits through h's channel pool. Close it to drain and stop.
func (h *Horizon) NewBatcher(cfg BatcherConfig) (*Batcher, error) {
	if cfg.MaxOps == 0 {
		cfg.MaxOps = MaxOpsPerTx
	}
	if cfg.MaxOps < 2 || cfg.MaxOps > MaxOpsPerTx {
		return nil, fmt.Errorf("stellar: batcher max operations %d outside 2…%d", cfg.MaxOps, MaxOpsPerTx)
	}
	if cfg.QueueLength == 0 {
		cfg.QueueLength = 10_000
	}
	if cfg.QueueLength < 1 || cfg.QueueLength > 1_000_000 {
		return nil, fmt.Errorf("stellar: batcher queue length %d outside 1…1,000,000", cfg.QueueLength)
	}
	b := &Batcher{h: h, maxOps: cfg.MaxOps, queue: make(chan *queuedPayment, cfg.QueueLength),
		dispatched: make(chan struct{})}
	go b.run()
	return b, nil
}

// Pay queues p and waits for its own outcome. Bad input is refused before queueing. If ctx ends while the
// payment is in flight, the error is an UnknownOutcomeError: look the payment up by its GUID.
func (b *Batcher) Pay(ctx context.Context, p Payment) (Receipt, error) {
	ops, err := paymentOps(p)
	if err != nil {
		return Receipt{}, fmt.Errorf("payment %s: %w", p.GUID, err)
	}
	q := &queuedPayment{ctx: ctx, p: p, ops: ops, signers: uniqueSigners(p.From.Signers), result: make(chan payResult, 1)}
	// A caller that has already gone must get a definite "not queued": with a free queue slot, the select below
	// could pick the queue anyway (select chooses at random among ready cases), and the payment could be sent.
	if err := ctx.Err(); err != nil {
		return Receipt{}, fmt.Errorf("stellar: payment %s not queued: %w", p.GUID, err)
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return Receipt{}, ErrClosed
	}
	select {
	case b.queue <- q:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return Receipt{}, fmt.Errorf("stellar: payment %s not queued: %w", p.GUID, ctx.Err())
	}
	select {
	case res := <-q.result:
		return res.r, res.err
	case <-ctx.Done():
		return Receipt{}, &UnknownOutcomeError{Err: fmt.Errorf("payment %s: stopped waiting: %w", p.GUID, ctx.Err())}
	}
}

// Close stops accepting payments, settles those already queued, and waits for every transaction in flight.
func (b *Batcher) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.queue)
	b.mu.Unlock()
	<-b.dispatched
	b.inflight.Wait()
	return nil
}

// BatchStats counts what a Batcher did.
type BatchStats struct {
	Transactions int64 // transactions submitted (splits and resubmissions of the rest included)
	Payments     int64 // payments handed a result
	Splits       int64 // failed batches split or resubmitted without their failing payments
}

// Stats returns a snapshot of the counters.
func (b *Batcher) Stats() BatchStats {
	return BatchStats{Transactions: b.transactions.Load(), Payments: b.payments.Load(), Splits: b.splits.Load()}
}

func (b *Batcher) run() {
	defer close(b.dispatched)
	// pending holds payments taken off the queue and not yet in a transaction, oldest first. It is bounded:
	// the dispatcher only drains the queue while pending is below pendingLimit.
	pendingLimit := min(cap(b.queue), 4*b.h.channels.size()*b.maxOps)
	var pending []*queuedPayment
	open := true
	for {
		if len(pending) == 0 {
			if !open {
				return
			}
			q, ok := <-b.queue
			if !ok {
				return
			}
			pending = append(pending, q)
		}
		// Waiting for a free channel is what lets the queue fill up: the busier the network, the fuller
		// the batches.
		ch, _ := b.h.channels.acquire(context.Background())
		pending, open = b.drain(pending, pendingLimit, open)
		var batch []*queuedPayment
		batch, pending = b.pick(pending, ch.address)
		if len(batch) == 0 {
			b.h.channels.release(ch)
			continue
		}
		b.inflight.Add(1)
		go func() {
			defer b.inflight.Done()
			defer b.h.channels.release(ch)
			b.settle(ch, batch, 0)
		}()
	}
}

// drain moves queued payments into pending without blocking, up to limit, dropping those whose caller has
// gone. It reports whether the queue is still open.
func (b *Batcher) drain(pending []*queuedPayment, limit int, open bool) ([]*queuedPayment, bool) {
	kept := pending[:0]
	for _, q := range pending {
		if !b.abandoned(q) {
			kept = append(kept, q)
		}
	}
	pending = kept
	for open && len(pending) < limit {
		select {
		case q, ok := <-b.queue:
			if !ok {
				return pending, false
			}
			if !b.abandoned(q) {
				pending = append(pending, q)
			}
		default:
			return pending, open
		}
	}
	return pending, open
}

// pick chooses the next transaction's payments from pending. The oldest payment always goes in, so nothing
// waits forever. The rest are chosen to need as few signatures as possible: first every payment whose
// signers already sign the transaction, then the next payer in arrival order, and so on, until MaxOps
// operations or 20 signatures. Each distinct payer adds its signatures (and their verification cost); a
// processing account paying fifty customers needs two signatures, fifty different payers would need
// fifty-one, more than a transaction may carry. The chosen payments keep their arrival order.
func (b *Batcher) pick(pending []*queuedPayment, channel string) (batch, rest []*queuedPayment) {
	signers := map[string]bool{channel: true}
	taken := make([]bool, len(pending))
	ops := 0
	take := func(i int) {
		taken[i] = true
		ops += len(pending[i].ops)
		for _, s := range pending[i].signers {
			signers[s.Address()] = true
		}
	}
	for range len(pending) {
		// Payments that need no new signature.
		for i, q := range pending {
			if !taken[i] && ops+len(q.ops) <= b.maxOps && newSigners(q, signers) == 0 {
				take(i)
			}
		}
		// Open the next payer, oldest first.
		opened := false
		for i, q := range pending {
			if !taken[i] && ops+len(q.ops) <= b.maxOps && len(signers)+newSigners(q, signers) <= MaxSignaturesPerTx {
				take(i)
				opened = true
				break
			}
		}
		if !opened {
			break
		}
	}
	if len(pending) > 0 && !taken[0] {
		// The oldest payment alone exceeds the limits (more than 19 signers of its own): send it alone, so
		// the submitter refuses only it, with a clear error.
		return pending[:1], pending[1:]
	}
	for i, q := range pending {
		if taken[i] {
			batch = append(batch, q)
		} else {
			rest = append(rest, q)
		}
	}
	return batch, rest
}

func newSigners(q *queuedPayment, signers map[string]bool) int {
	n := 0
	for _, s := range q.signers {
		if !signers[s.Address()] {
			n++
		}
	}
	return n
}

// abandoned answers a payment whose caller has already gone, without submitting it.
func (b *Batcher) abandoned(q *queuedPayment) bool {
	if err := q.ctx.Err(); err != nil {
		b.deliver(q, Receipt{}, fmt.Errorf("stellar: payment %s not submitted: %w", q.p.GUID, err))
		return true
	}
	return false
}

func (b *Batcher) deliver(q *queuedPayment, r Receipt, err error) {
	b.payments.Add(1)
	q.result <- payResult{r: r, err: err}
}

// settle submits batch on ch and hands every payment its outcome, isolating failing payments (see Batcher).
func (b *Batcher) settle(ch *channel, batch []*queuedPayment, depth int) {
	var ops []txnbuild.Operation
	var signers []Signer
	for _, q := range batch {
		ops = append(ops, q.ops...)
		signers = append(signers, q.signers...)
	}
	b.transactions.Add(1)
	// Submission is bounded by MaxAttempts and RequestTimeout; it does not follow any one caller's context,
	// because the transaction carries other callers' payments too.
	r, err := b.h.submitWith(context.Background(), ch, ops, signers)
	if err == nil {
		for _, q := range batch {
			b.deliver(q, r, nil)
		}
		return
	}
	var txErr *TxError
	if len(batch) > 1 && depth < maxSplitDepth && errors.As(err, &txErr) {
		switch txErr.TxCode {
		case "tx_failed":
			failed, rest := blame(batch, txErr)
			if len(failed) > 0 && len(rest) > 0 {
				b.splits.Add(1)
				for _, f := range failed {
					b.deliver(f.q, Receipt{}, &TxError{TxCode: txErr.TxCode, OpCodes: f.codes, Hash: txErr.Hash})
				}
				b.settle(ch, rest, depth+1)
				return
			}
			b.splitInHalves(ch, batch, depth)
			return
		case "tx_bad_auth", "tx_bad_auth_extra":
			b.splitInHalves(ch, batch, depth)
			return
		}
	}
	for _, q := range batch {
		b.deliver(q, Receipt{}, err)
	}
}

func (b *Batcher) splitInHalves(ch *channel, batch []*queuedPayment, depth int) {
	b.splits.Add(1)
	mid := len(batch) / 2
	b.settle(ch, batch[:mid], depth+1)
	b.settle(ch, batch[mid:], depth+1)
}

type blamed struct {
	q     *queuedPayment
	codes []string
}

// blame splits a batch by the operation codes of a tx_failed result: a payment is to blame if any of its
// operations has a code other than op_success. Missing codes blame no one.
func blame(batch []*queuedPayment, txErr *TxError) (failed []blamed, rest []*queuedPayment) {
	i := 0
	for _, q := range batch {
		n := len(q.ops)
		var codes []string
		if i < len(txErr.OpCodes) {
			codes = txErr.OpCodes[i:min(i+n, len(txErr.OpCodes))]
		}
		i += n
		bad := false
		for _, c := range codes {
			if c != "op_success" {
				bad = true
			}
		}
		if bad {
			failed = append(failed, blamed{q: q, codes: append([]string(nil), codes...)})
		} else {
			rest = append(rest, q)
		}
	}
	return failed, rest
}
