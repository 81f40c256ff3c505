package localnet

import (
	"math"
	"sort"
	"time"

	"github.com/stellar/go-stellar-sdk/toid"
)

// Records are what a closed ledger leaves behind. They are stored as JSON in bbolt and kept in memory with
// per-account indexes, so that paging costs a binary search plus the page, never a scan of history.

type ledgerRecord struct {
	Seq          uint32    `json:"seq"`
	Hash         string    `json:"hash"`
	PrevHash     string    `json:"prev_hash,omitempty"`
	ClosedAt     time.Time `json:"closed_at"`
	SuccessfulTx int32     `json:"successful_tx"`
	FailedTx     int32     `json:"failed_tx"`
	OpCount      int32     `json:"op_count"`    // operations of successful transactions
	TxSetOpCount int32     `json:"tx_set_ops"`  // operations of all transactions
	TotalCoins   int64     `json:"total_coins"` // stroops
	FeePool      int64     `json:"fee_pool"`    // stroops
}

func (l *ledgerRecord) pagingToken() int64 { return toid.New(int32(l.Seq), 0, 0).ToInt64() }

type txRecord struct {
	ID           int64     `json:"id"` // toid(ledger, index, 0): the paging token
	Hash         string    `json:"hash"`
	Ledger       uint32    `json:"ledger"`
	ClosedAt     time.Time `json:"closed_at"`
	Source       string    `json:"source"`
	Seq          int64     `json:"seq"`
	MaxFee       int64     `json:"max_fee"`
	FeeCharged   int64     `json:"fee_charged"`
	OpCount      int32     `json:"op_count"`
	Successful   bool      `json:"successful"`
	Envelope     string    `json:"envelope_xdr"`
	Result       string    `json:"result_xdr"`
	MemoType     string    `json:"memo_type"`
	Memo         string    `json:"memo,omitempty"`
	MemoBytes    string    `json:"memo_bytes,omitempty"`
	Signatures   []string  `json:"signatures"`
	MinTime      *uint64   `json:"min_time,omitempty"`
	MaxTime      *uint64   `json:"max_time,omitempty"`
	Participants []string  `json:"participants"`
}

// opRecord is one operation. From, To, Amount and the asset are filled for payments and account creations,
// the operations that Horizon's /payments lists.
type opRecord struct {
	ID           int64     `json:"id"` // toid(ledger, tx index, op index)
	TxHash       string    `json:"tx_hash"`
	Type         int32     `json:"type"`
	Source       string    `json:"source"`
	Successful   bool      `json:"successful"`
	ClosedAt     time.Time `json:"closed_at"`
	From         string    `json:"from,omitempty"`
	To           string    `json:"to,omitempty"`
	Amount       int64     `json:"amount,omitempty"`
	AssetCode    string    `json:"asset_code,omitempty"`
	AssetIssuer  string    `json:"asset_issuer,omitempty"`
	Participants []string  `json:"participants"`
	Payment      bool      `json:"payment"`
}

type history struct {
	ledgers         []ledgerRecord // ledgers[i].Seq == i+1
	txs             map[int64]*txRecord
	txByHash        map[string]*txRecord
	txIDs           []int64 // ascending
	ops             map[int64]*opRecord
	paymentIDs      []int64 // ascending
	accountTxs      map[string][]int64
	accountPayments map[string][]int64
}

func newHistory() *history {
	return &history{
		txs: map[int64]*txRecord{}, txByHash: map[string]*txRecord{}, ops: map[int64]*opRecord{},
		accountTxs: map[string][]int64{}, accountPayments: map[string][]int64{},
	}
}

func (h *history) latest() *ledgerRecord { return &h.ledgers[len(h.ledgers)-1] }

func (h *history) ledger(seq uint32) *ledgerRecord {
	if seq == 0 || int(seq) > len(h.ledgers) {
		return nil
	}
	return &h.ledgers[seq-1]
}

// addTx indexes a transaction; records must arrive in ascending id order.
func (h *history) addTx(tx *txRecord) {
	h.txs[tx.ID] = tx
	h.txByHash[tx.Hash] = tx
	h.txIDs = append(h.txIDs, tx.ID)
	for _, p := range tx.Participants {
		h.accountTxs[p] = append(h.accountTxs[p], tx.ID)
	}
}

// addOp indexes an operation; records must arrive in ascending id order.
func (h *history) addOp(op *opRecord) {
	h.ops[op.ID] = op
	if !op.Payment {
		return
	}
	h.paymentIDs = append(h.paymentIDs, op.ID)
	for _, p := range op.Participants {
		h.accountPayments[p] = append(h.accountPayments[p], op.ID)
	}
}

// pageQuery is a parsed Horizon paging request.
type pageQuery struct {
	cursor        int64 // exclusive bound; 0 in ascending order and MaxInt64 in descending order mean "from the end"
	desc          bool
	limit         int
	includeFailed bool
}

// pageIDs selects up to q.limit ids after the cursor from an ascending slice, skipping those keep rejects. next
// is the cursor that continues after everything examined, so that skipped records are not examined again.
func pageIDs(ids []int64, q pageQuery, keep func(int64) bool) (sel []int64, next int64) {
	idx, last := pageIndexes(len(ids), func(i int) int64 { return ids[i] }, q, func(i int) bool { return keep(ids[i]) })
	sel = make([]int64, len(idx))
	for i, j := range idx {
		sel[i] = ids[j]
	}
	next = q.cursor
	if last >= 0 {
		next = ids[last]
	}
	return sel, next
}

// maxPageScan bounds how many records a page may skip (failed transactions when include_failed is false), so
// that no request turns into a scan of history.
const maxPageScan = 10_000

// pageIndexes pages over n records whose paging tokens, token(0) < token(1) < ..., ascend: it returns up to
// q.limit indexes strictly after the cursor in the requested order, skipping those keep (if not nil) rejects,
// and the index of the last record examined (-1 if none).
func pageIndexes(n int, token func(int) int64, q pageQuery, keep func(int) bool) (out []int, last int) {
	out, last = make([]int, 0, q.limit), -1
	step, i := 1, sort.Search(n, func(i int) bool { return token(i) > q.cursor })
	if q.desc {
		step, i = -1, sort.Search(n, func(i int) bool { return token(i) >= q.cursor })-1
	}
	for scanned := 0; i >= 0 && i < n && len(out) < q.limit && scanned < maxPageScan; i, scanned = i+step, scanned+1 {
		last = i
		if keep == nil || keep(i) {
			out = append(out, i)
		}
	}
	return out, last
}

// defaultCursor is where a page starts when the request names no cursor.
func defaultCursor(desc bool) int64 {
	if desc {
		return math.MaxInt64
	}
	return 0
}
