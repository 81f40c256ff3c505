package localnet

import (
	"encoding/hex"

	"github.com/stellar/go-stellar-sdk/network"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// maxEnvelopeBytes bounds the base64 envelope a client may post; 100 operations with 20 signatures fit in far
// less.
const maxEnvelopeBytes = 256 << 10

// decodedTx is a v1 transaction envelope decoded once, outside the ledger lock.
type decodedTx struct {
	b64       string
	env       xdr.TransactionEnvelope
	tx        *xdr.Transaction
	hash      [32]byte
	hashHex   string
	source    string
	sourceKey [32]byte
	maxFee    int64
	seq       int64
	ops       []decodedOp
	sigs      []xdr.DecoratedSignature
	// verified holds signature verifications done outside the ledger lock (see preverify); afterwards it is
	// only used under Network.mu.
	verified map[verifyKey]bool
}

type decodedOp struct {
	op        xdr.Operation
	source    string // the operation's own source, or the transaction's
	sourceKey [32]byte
}

// feeCharged is what the network takes: the base fee per operation, never more than the fee bid (stellar-core
// charges min(bid, baseFee × ops) outside surge pricing).
func (t *decodedTx) feeCharged() int64 {
	return min(t.maxFee, int64(baseFee*len(t.ops)))
}

// rejection is a transaction that was not applied: no fee was charged and no sequence number consumed.
type rejection struct {
	code xdr.TransactionResultCode
	ops  []xdr.OperationResult // set only for tx_failed
	fee  int64
	b64  string
}

func (r *rejection) result() xdr.TransactionResult { return txResult(r.fee, r.code, r.ops) }

func reject(code xdr.TransactionResultCode, t *decodedTx) *rejection {
	r := &rejection{code: code}
	if t != nil {
		r.fee, r.b64 = t.feeCharged(), t.b64
	}
	return r
}

// decodeTx decodes and hashes an envelope and resolves its accounts. It checks only what needs no ledger state.
func decodeTx(b64, passphrase string) (*decodedTx, *rejection) {
	malformed := &rejection{code: xdr.TransactionResultCodeTxMalformed, b64: b64}
	if len(b64) > maxEnvelopeBytes {
		return nil, malformed
	}
	t := &decodedTx{b64: b64}
	if err := xdr.SafeUnmarshalBase64(b64, &t.env); err != nil {
		return nil, malformed
	}
	switch t.env.Type {
	case xdr.EnvelopeTypeEnvelopeTypeTx:
	case xdr.EnvelopeTypeEnvelopeTypeTxFeeBump, xdr.EnvelopeTypeEnvelopeTypeTxV0:
		// Fee-bump and pre-protocol-13 envelopes are not implemented; say so rather than misapply them.
		return nil, &rejection{code: xdr.TransactionResultCodeTxNotSupported, b64: b64}
	default:
		return nil, malformed
	}
	v1, ok := t.env.GetV1()
	if !ok {
		return nil, malformed
	}
	t.tx, t.sigs = &v1.Tx, v1.Signatures
	if len(v1.Signatures) > 20 {
		return nil, malformed
	}
	h, err := network.HashTransactionInEnvelope(t.env, passphrase)
	if err != nil {
		return nil, malformed
	}
	t.hash, t.hashHex = h, hex.EncodeToString(h[:])
	t.maxFee, t.seq = int64(t.tx.Fee), int64(t.tx.SeqNum)
	if t.source, t.sourceKey, err = muxedKey(t.tx.SourceAccount); err != nil {
		return nil, malformed
	}
	t.ops = make([]decodedOp, len(t.tx.Operations))
	for i, op := range t.tx.Operations {
		d := decodedOp{op: op, source: t.source, sourceKey: t.sourceKey}
		if op.SourceAccount != nil {
			if d.source, d.sourceKey, err = muxedKey(*op.SourceAccount); err != nil {
				return nil, reject(xdr.TransactionResultCodeTxMalformed, t)
			}
		}
		t.ops[i] = d
	}
	if len(t.ops) == 0 {
		return nil, reject(xdr.TransactionResultCodeTxMissingOperation, t)
	}
	if t.tx.Ext.V != 0 {
		return nil, reject(xdr.TransactionResultCodeTxNotSupported, t) // Soroban resources
	}
	if !preconditionsSupported(t.tx.Cond) {
		return nil, reject(xdr.TransactionResultCodeTxNotSupported, t)
	}
	return t, nil
}

// preconditionsSupported accepts time and ledger bounds; the other v2 preconditions (minimum sequence number,
// age or gap, extra signers) are not implemented and must not be silently ignored.
func preconditionsSupported(c xdr.Preconditions) bool {
	switch c.Type {
	case xdr.PreconditionTypePrecondNone, xdr.PreconditionTypePrecondTime:
		return true
	case xdr.PreconditionTypePrecondV2:
		v2 := c.V2
		return v2 != nil && v2.MinSeqNum == nil && v2.MinSeqAge == 0 && v2.MinSeqLedgerGap == 0 &&
			len(v2.ExtraSigners) == 0
	}
	return false
}

func (t *decodedTx) timeBounds() *xdr.TimeBounds {
	switch t.tx.Cond.Type {
	case xdr.PreconditionTypePrecondTime:
		return t.tx.Cond.TimeBounds
	case xdr.PreconditionTypePrecondV2:
		if t.tx.Cond.V2 != nil {
			return t.tx.Cond.V2.TimeBounds
		}
	}
	return nil
}

func (t *decodedTx) ledgerBounds() *xdr.LedgerBounds {
	if t.tx.Cond.Type == xdr.PreconditionTypePrecondV2 && t.tx.Cond.V2 != nil {
		return t.tx.Cond.V2.LedgerBounds
	}
	return nil
}
