package localnet

import (
	"context"
	"time"
)

// pendingTx is a transaction waiting for a timed ledger; out is written before done is closed.
type pendingTx struct {
	tx      *decodedTx
	done    chan struct{}
	out     outcome
	waiters int // submissions waiting for this transaction, counting resubmissions; guarded by Network.mu
}

// outcome of a submission: rec for a transaction in a ledger (successful or failed, fee charged), rej for one
// refused before any ledger (nothing charged), err when the network could not answer.
type outcome struct {
	rec *txRecord
	rej *rejection
	err error
}

// submit decodes, checks and applies a base64 envelope and returns once its ledger has closed. A transaction
// already in a ledger is answered from history, so resubmitting after a timeout is safe.
func (n *Network) submit(ctx context.Context, b64 string) outcome {
	t, rej := decodeTx(b64, n.passphrase)
	if rej != nil {
		return outcome{rej: rej}
	}
	t.preverify()
	if n.interval == 0 {
		return n.submitNow(t)
	}
	p, out := n.enqueue(t)
	if p == nil {
		return out
	}
	wait := time.NewTimer(max(30*time.Second, 3*n.interval))
	defer wait.Stop()
	select {
	case <-p.done:
		return p.out
	case <-ctx.Done():
		return outcome{err: errTimeout}
	case <-wait.C:
		return outcome{err: errTimeout}
	}
}

// submitNow applies t in a ledger of its own (CloseInterval == 0).
func (n *Network) submitNow(t *decodedTx) outcome {
	n.mu.Lock()
	defer n.mu.Unlock()
	if out, done := n.knownLocked(t); done {
		return out
	}
	now := time.Now()
	seq := n.hist.latest().Seq + 1
	if rej := n.validateLocked(t, seq, now, false); rej != nil {
		return outcome{rej: rej}
	}
	closedAt := now.UTC().Truncate(time.Second)
	rec, ops, err := execute(n.accounts, t, seq, closedAt, 1, n.touch)
	if err != nil {
		n.fail(err)
		return outcome{err: err}
	}
	if err := n.sealLedgerLocked(seq, closedAt, []*txRecord{rec}, ops); err != nil {
		return outcome{err: err}
	}
	return outcome{rec: rec}
}

// enqueue checks t against the committed state and the queue and, if it may go into the next ledger, queues
// it. It returns the entry to wait for, or the final outcome.
func (n *Network) enqueue(t *decodedTx) (*pendingTx, outcome) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if out, done := n.knownLocked(t); done {
		return nil, out
	}
	if p := n.queued[t.hashHex]; p != nil {
		p.waiters++
		return p, outcome{}
	}
	if rej := n.validateLocked(t, n.hist.latest().Seq+1, time.Now(), true); rej != nil {
		return nil, outcome{rej: rej}
	}
	if len(n.queue) >= maxQueuedTxs {
		return nil, outcome{err: errQueueFull}
	}
	p := &pendingTx{tx: t, done: make(chan struct{}), waiters: 1}
	n.queue = append(n.queue, p)
	n.queued[t.hashHex] = p
	n.queuedSeq[t.source] = t.seq
	return p, outcome{}
}

// knownLocked answers for a closed network and for a transaction already in history.
func (n *Network) knownLocked(t *decodedTx) (outcome, bool) {
	switch {
	case n.closed:
		return outcome{err: errClosed}, true
	case n.broken != nil:
		return outcome{err: n.broken}, true
	}
	if rec := n.hist.txByHash[t.hashHex]; rec != nil {
		return outcome{rec: rec}, true
	}
	return outcome{}, false
}

// validateLocked validates t for ledger seq; withQueue makes it follow the source's last queued sequence number
// so that consecutive transactions from one account can wait for the same ledger.
func (n *Network) validateLocked(t *decodedTx, seq uint32, now time.Time, withQueue bool) *rejection {
	return validateTx(n.accounts, t, seq, now.Unix(), func(a *account) int64 {
		if q, ok := n.queuedSeq[a.id]; ok && withQueue {
			return q
		}
		return a.seq
	})
}
