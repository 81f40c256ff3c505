package localnet

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// closeLedgerLocked applies the queued transactions in arrival order and closes the next ledger. Each queued
// transaction is validated again, against the state its predecessors left, exactly as if it had just arrived.
// n.mu must be held.
func (n *Network) closeLedgerLocked(now time.Time) uint32 {
	seq := n.hist.latest().Seq + 1
	closedAt := now.UTC().Truncate(time.Second)
	queue := n.queue
	n.queue, n.queued, n.queuedSeq = nil, map[string]*pendingTx{}, map[string]int64{}
	var txs []*txRecord
	var ops []*opRecord
	for _, p := range queue {
		if rej := n.validateLocked(p.tx, seq, now, false); rej != nil {
			p.out = outcome{rej: rej}
			continue
		}
		rec, recOps, err := execute(n.accounts, p.tx, seq, closedAt, len(txs)+1, n.touch)
		if err != nil {
			n.fail(err)
			p.out = outcome{err: err}
			continue
		}
		txs, ops = append(txs, rec), append(ops, recOps...)
		p.out = outcome{rec: rec}
	}
	if err := n.sealLedgerLocked(seq, closedAt, txs, ops); err != nil {
		for _, p := range queue {
			if p.out.rec != nil {
				p.out = outcome{err: err}
			}
		}
	}
	for _, p := range queue {
		close(p.done)
	}
	return seq
}

// sealLedgerLocked records ledger seq with its transactions and persists it together with every account changed
// since the previous ledger, in one database transaction.
func (n *Network) sealLedgerLocked(seq uint32, closedAt time.Time, txs []*txRecord, ops []*opRecord) error {
	prev := n.hist.latest()
	l := ledgerRecord{Seq: seq, PrevHash: prev.Hash, ClosedAt: closedAt, TotalCoins: prev.TotalCoins, FeePool: prev.FeePool}
	for _, tx := range txs {
		if tx.Successful {
			l.SuccessfulTx++
			l.OpCount += tx.OpCount
		} else {
			l.FailedTx++
		}
		l.TxSetOpCount += tx.OpCount
		l.FeePool += tx.FeeCharged
	}
	l.Hash = ledgerHash(&l, prev.Hash, txs)
	changed := make([]*account, 0, len(n.dirty))
	for id := range n.dirty {
		if a := n.accounts[id]; a != nil {
			changed = append(changed, a)
		}
	}
	var err error
	if n.store != nil {
		if err = n.store.commit(&l, changed, txs, ops, nil); err != nil {
			n.fail(err)
		}
	}
	// Memory moves on even if the write failed, so that it stays self-consistent; fail has made the network
	// refuse further work.
	n.hist.ledgers = append(n.hist.ledgers, l)
	for _, tx := range txs {
		n.hist.addTx(tx)
	}
	for _, op := range ops {
		n.hist.addOp(op)
	}
	clear(n.dirty)
	n.log.Debug("ledger closed", "seq", seq, "txs", len(txs), "ops", len(ops), "accounts", len(changed))
	return err
}

func (n *Network) touch(id string) { n.dirty[id] = struct{}{} }

func (n *Network) fail(err error) {
	if n.broken == nil {
		n.broken = err
		n.log.Error("localnet: ledger state could not be kept; refusing further transactions", "err", err)
	}
}

// ledgerHash chains ledgers together: it covers the previous hash, the header fields and the transaction hashes.
func ledgerHash(l *ledgerRecord, prevHash string, txs []*txRecord) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(l.Seq))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(l.ClosedAt.Unix()))
	h.Write(b[:])
	for _, tx := range txs {
		h.Write([]byte(tx.Hash))
		h.Write([]byte(tx.Result))
	}
	return hex.EncodeToString(h.Sum(nil))
}
