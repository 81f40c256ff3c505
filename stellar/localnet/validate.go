package localnet

import (
	"math"

	"github.com/stellar/go-stellar-sdk/xdr"
)

// validateTx runs stellar-core's validity checks for a transaction that would be applied in ledger ledgerSeq at
// unix time now. seqBase is the sequence number the transaction must follow: the account's, or the last one
// queued for the next ledger. A nil result means the transaction may be applied.
func validateTx(accounts map[string]*account, t *decodedTx, ledgerSeq uint32, now int64, seqBase func(*account) int64) *rejection {
	if tb := t.timeBounds(); tb != nil {
		if tb.MinTime != 0 && now < int64(min(uint64(tb.MinTime), math.MaxInt64)) {
			return reject(xdr.TransactionResultCodeTxTooEarly, t)
		}
		if tb.MaxTime != 0 && now > int64(min(uint64(tb.MaxTime), math.MaxInt64)) {
			return reject(xdr.TransactionResultCodeTxTooLate, t)
		}
	}
	if lb := t.ledgerBounds(); lb != nil {
		if ledgerSeq < uint32(lb.MinLedger) {
			return reject(xdr.TransactionResultCodeTxTooEarly, t)
		}
		if lb.MaxLedger != 0 && ledgerSeq >= uint32(lb.MaxLedger) {
			return reject(xdr.TransactionResultCodeTxTooLate, t)
		}
	}
	if t.maxFee < int64(baseFee*len(t.ops)) {
		return reject(xdr.TransactionResultCodeTxInsufficientFee, t)
	}
	src := accounts[t.source]
	if src == nil {
		return reject(xdr.TransactionResultCodeTxNoAccount, t)
	}
	// A sequence number equal to this ledger's starting number is refused so that an account re-created in this
	// ledger cannot replay a transaction signed for its previous life.
	if base := seqBase(src); base == math.MaxInt64 || t.seq != base+1 || t.seq == int64(ledgerSeq)<<32 {
		return reject(xdr.TransactionResultCodeTxBadSeq, t)
	}
	sc := newSigChecker(t.hash, t.sigs, t.verified)
	if !sc.checkAccount(src, levelLow) {
		return reject(xdr.TransactionResultCodeTxBadAuth, t)
	}
	if src.available() < t.maxFee {
		return reject(xdr.TransactionResultCodeTxInsufficientBalance, t)
	}
	results := make([]xdr.OperationResult, len(t.ops))
	failed := false
	for i, op := range t.ops {
		results[i] = checkOpAuth(accounts, sc, op)
		if results[i].Code == xdr.OperationResultCodeOpInner {
			results[i] = checkOp(op)
		}
		failed = failed || !succeeded(results[i])
	}
	if failed {
		r := reject(xdr.TransactionResultCodeTxFailed, t)
		r.ops = results
		return r
	}
	if !sc.allUsed() {
		return reject(xdr.TransactionResultCodeTxBadAuthExtra, t)
	}
	return nil
}

// checkOpAuth returns an outer failure (op_bad_auth) or an OpInner placeholder when the operation's source signed
// with enough weight.
func checkOpAuth(accounts map[string]*account, sc *sigChecker, op decodedOp) xdr.OperationResult {
	ok := true
	if a := accounts[op.source]; a != nil {
		ok = sc.checkAccount(a, opLevel(op.op))
	} else {
		ok = sc.checkMissing(op.source, op.sourceKey)
	}
	if !ok {
		return outerResult(xdr.OperationResultCodeOpBadAuth)
	}
	return xdr.OperationResult{Code: xdr.OperationResultCodeOpInner}
}

// checkOp runs an operation's stateless checks (stellar-core's doCheckValid).
func checkOp(op decodedOp) xdr.OperationResult {
	b := op.op.Body
	switch b.Type {
	case xdr.OperationTypeCreateAccount:
		if o, ok := b.GetCreateAccountOp(); ok {
			return checkCreateAccount(op, o)
		}
	case xdr.OperationTypePayment:
		if o, ok := b.GetPaymentOp(); ok {
			return checkPayment(o)
		}
	case xdr.OperationTypeChangeTrust:
		if o, ok := b.GetChangeTrustOp(); ok {
			return checkChangeTrust(op, o)
		}
	case xdr.OperationTypeSetOptions:
		if o, ok := b.GetSetOptionsOp(); ok {
			return checkSetOptions(op, o)
		}
	case xdr.OperationTypeSetTrustLineFlags:
		if o, ok := b.GetSetTrustLineFlagsOp(); ok {
			return checkSetTrustLineFlags(op, o)
		}
	case xdr.OperationTypeClawback:
		if o, ok := b.GetClawbackOp(); ok {
			return checkClawback(op, o)
		}
	case xdr.OperationTypeManageData:
		if o, ok := b.GetManageDataOp(); ok {
			return checkManageData(o)
		}
	case xdr.OperationTypeBumpSequence:
		if o, ok := b.GetBumpSequenceOp(); ok {
			return checkBumpSequence(o)
		}
	}
	return outerResult(xdr.OperationResultCodeOpNotSupported)
}

// validString reports whether s is printable ASCII, as stellar-core requires of home domains and data names.
func validString(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
