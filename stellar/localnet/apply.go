package localnet

import (
	"encoding/base64"
	"strconv"
	"time"

	"github.com/stellar/go-stellar-sdk/toid"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// applier applies one transaction's operations to a copy-on-write view of the ledger.
type applier struct {
	view      *view
	ledger    uint32
	closeUnix int64
}

func (x *applier) apply(op decodedOp) xdr.OperationResult {
	src := x.view.get(op.source)
	if src == nil {
		return outerResult(xdr.OperationResultCodeOpNoAccount)
	}
	b := op.op.Body
	switch b.Type {
	case xdr.OperationTypeCreateAccount:
		if o, ok := b.GetCreateAccountOp(); ok {
			return x.createAccount(src, o)
		}
	case xdr.OperationTypePayment:
		if o, ok := b.GetPaymentOp(); ok {
			return x.payment(src, o)
		}
	case xdr.OperationTypeChangeTrust:
		if o, ok := b.GetChangeTrustOp(); ok {
			return x.changeTrust(src, o)
		}
	case xdr.OperationTypeSetOptions:
		if o, ok := b.GetSetOptionsOp(); ok {
			return x.setOptions(src, o)
		}
	case xdr.OperationTypeSetTrustLineFlags:
		if o, ok := b.GetSetTrustLineFlagsOp(); ok {
			return x.setTrustLineFlags(src, o)
		}
	case xdr.OperationTypeClawback:
		if o, ok := b.GetClawbackOp(); ok {
			return x.clawback(src, o)
		}
	case xdr.OperationTypeManageData:
		if o, ok := b.GetManageDataOp(); ok {
			return x.manageData(src, o)
		}
	case xdr.OperationTypeBumpSequence:
		if o, ok := b.GetBumpSequenceOp(); ok {
			return x.bumpSequence(src, o)
		}
	}
	return outerResult(xdr.OperationResultCodeOpNotSupported)
}

// execute applies a validated transaction as the txIndex-th (1-based) of ledger ledgerSeq. The fee and the
// sequence number are taken first and kept even if an operation fails; the operations are applied all or none.
// touched is told of every account that changed.
func execute(accounts map[string]*account, t *decodedTx, ledgerSeq uint32, closedAt time.Time, txIndex int,
	touched func(id string)) (*txRecord, []*opRecord, error) {
	closeUnix := closedAt.Unix()
	src := accounts[t.source]
	fee := t.feeCharged()
	src.balance -= fee
	src.seq, src.seqLedger, src.seqTime, src.lastModified = t.seq, ledgerSeq, closeUnix, ledgerSeq
	touched(src.id)

	x := &applier{view: newView(accounts), ledger: ledgerSeq, closeUnix: closeUnix}
	results := make([]xdr.OperationResult, len(t.ops))
	ok := true
	for i, op := range t.ops {
		// Like stellar-core, every operation runs and reports its result even after one has failed.
		results[i] = x.apply(op)
		ok = ok && succeeded(results[i])
	}
	code := xdr.TransactionResultCodeTxFailed
	if ok {
		code = xdr.TransactionResultCodeTxSuccess
		err := x.view.commit(func(id string) {
			accounts[id].lastModified = ledgerSeq
			touched(id)
		})
		if err != nil {
			return nil, nil, err
		}
	}
	resultB64, err := xdr.MarshalBase64(txResult(fee, code, results))
	if err != nil {
		return nil, nil, err
	}
	txID := toid.New(int32(ledgerSeq), int32(txIndex), 0).ToInt64()
	rec := &txRecord{
		ID: txID, Hash: t.hashHex, Ledger: ledgerSeq, ClosedAt: closedAt,
		Source: t.source, Seq: t.seq, MaxFee: t.maxFee, FeeCharged: fee, OpCount: int32(len(t.ops)),
		Successful: ok, Envelope: t.b64, Result: resultB64,
	}
	setMemo(rec, t.tx.Memo)
	for _, s := range t.sigs {
		rec.Signatures = append(rec.Signatures, base64.StdEncoding.EncodeToString(s.Signature))
	}
	if tb := t.timeBounds(); tb != nil {
		minT, maxT := uint64(tb.MinTime), uint64(tb.MaxTime)
		rec.MinTime, rec.MaxTime = &minT, &maxT
	}
	ops := make([]*opRecord, len(t.ops))
	seen := map[string]bool{t.source: true}
	rec.Participants = []string{t.source}
	for i, op := range t.ops {
		ops[i] = opRecordOf(op, toid.New(int32(ledgerSeq), int32(txIndex), int32(i+1)).ToInt64(), rec)
		for _, p := range ops[i].Participants {
			if !seen[p] {
				seen[p] = true
				rec.Participants = append(rec.Participants, p)
			}
		}
	}
	return rec, ops, nil
}

func setMemo(rec *txRecord, m xdr.Memo) {
	rec.MemoType = "none"
	switch m.Type {
	case xdr.MemoTypeMemoText:
		if m.Text != nil {
			rec.MemoType, rec.Memo = "text", *m.Text
			rec.MemoBytes = base64.StdEncoding.EncodeToString([]byte(*m.Text))
		}
	case xdr.MemoTypeMemoId:
		if m.Id != nil {
			rec.MemoType, rec.Memo = "id", strconv.FormatUint(uint64(*m.Id), 10)
		}
	case xdr.MemoTypeMemoHash:
		if m.Hash != nil {
			rec.MemoType, rec.Memo = "hash", base64.StdEncoding.EncodeToString(m.Hash[:])
		}
	case xdr.MemoTypeMemoReturn:
		if m.RetHash != nil {
			rec.MemoType, rec.Memo = "return", base64.StdEncoding.EncodeToString(m.RetHash[:])
		}
	}
}

// opRecordOf describes an operation for history; which accounts it involves decides whose lists it appears in.
func opRecordOf(op decodedOp, id int64, tx *txRecord) *opRecord {
	r := &opRecord{ID: id, TxHash: tx.Hash, Type: int32(op.op.Body.Type), Source: op.source,
		Successful: tx.Successful, ClosedAt: tx.ClosedAt, Participants: []string{op.source}}
	other := ""
	b := op.op.Body
	switch b.Type {
	case xdr.OperationTypeCreateAccount:
		if o, ok := b.GetCreateAccountOp(); ok {
			other, _, _ = accountIDKey(o.Destination)
			r.Payment, r.From, r.To, r.Amount = true, op.source, other, int64(o.StartingBalance)
		}
	case xdr.OperationTypePayment:
		if o, ok := b.GetPaymentOp(); ok {
			other, _, _ = muxedKey(o.Destination)
			asset, _ := assetFromXDR(o.Asset)
			r.Payment, r.From, r.To, r.Amount = true, op.source, other, int64(o.Amount)
			r.AssetCode, r.AssetIssuer = asset.Code, asset.Issuer
		}
	case xdr.OperationTypeSetTrustLineFlags:
		if o, ok := b.GetSetTrustLineFlagsOp(); ok {
			other, _, _ = accountIDKey(o.Trustor)
		}
	case xdr.OperationTypeClawback:
		if o, ok := b.GetClawbackOp(); ok {
			other, _, _ = muxedKey(o.From)
		}
	}
	if other != "" && other != op.source {
		r.Participants = append(r.Participants, other)
	}
	return r
}
