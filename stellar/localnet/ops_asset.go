package localnet

import (
	"math"

	"github.com/stellar/go-stellar-sdk/xdr"
)

// Each operation has a stateless check (stellar-core's doCheckValid) and an apply step. An apply step only
// mutates state once every condition has passed, so a failed operation leaves its transaction's overlay as the
// previous operations left it.

func checkPayment(o xdr.PaymentOp) xdr.OperationResult {
	if _, ok := assetFromXDR(o.Asset); !ok || o.Amount <= 0 {
		return paymentResult(xdr.PaymentResultCodePaymentMalformed)
	}
	return paymentResult(xdr.PaymentResultCodePaymentSuccess)
}

// payment moves an asset; the issuer mints when it pays and burns when it is paid. As in stellar-core the
// destination is checked before the source.
func (x *applier) payment(src *account, o xdr.PaymentOp) xdr.OperationResult {
	asset, ok := assetFromXDR(o.Asset)
	destID, _, err := muxedKey(o.Destination)
	if !ok || err != nil {
		return paymentResult(xdr.PaymentResultCodePaymentMalformed)
	}
	amt := int64(o.Amount)
	if asset.native() && destID == src.id {
		return paymentResult(xdr.PaymentResultCodePaymentSuccess) // stellar-core treats it as a no-op
	}
	dest := x.view.get(destID)
	if dest == nil {
		return paymentResult(xdr.PaymentResultCodePaymentNoDestination)
	}
	if asset.native() {
		if dest.balance > math.MaxInt64-amt {
			return paymentResult(xdr.PaymentResultCodePaymentLineFull)
		}
		if src.available() < amt {
			return paymentResult(xdr.PaymentResultCodePaymentUnderfunded)
		}
		src.balance -= amt
		dest.balance += amt
		return paymentResult(xdr.PaymentResultCodePaymentSuccess)
	}
	var dl, sl *trustline
	if dest.id != asset.Issuer {
		dl = dest.lines[asset]
		switch {
		case dl == nil:
			return paymentResult(xdr.PaymentResultCodePaymentNoTrust)
		case !dl.authorized():
			return paymentResult(xdr.PaymentResultCodePaymentNotAuthorized)
		case amt > dl.limit-dl.balance:
			return paymentResult(xdr.PaymentResultCodePaymentLineFull)
		}
	}
	if src.id != asset.Issuer {
		sl = src.lines[asset]
		switch {
		case sl == nil:
			return paymentResult(xdr.PaymentResultCodePaymentSrcNoTrust)
		case !sl.authorized():
			return paymentResult(xdr.PaymentResultCodePaymentSrcNotAuthorized)
		case sl.balance < amt:
			return paymentResult(xdr.PaymentResultCodePaymentUnderfunded)
		}
	}
	if sl != nil {
		sl.balance -= amt
		sl.lastModified = x.ledger
	}
	if dl != nil {
		dl.balance += amt
		dl.lastModified = x.ledger
	}
	return paymentResult(xdr.PaymentResultCodePaymentSuccess)
}

func changeTrustAsset(o xdr.ChangeTrustOp) (assetKey, bool) {
	switch o.Line.Type {
	case xdr.AssetTypeAssetTypeCreditAlphanum4, xdr.AssetTypeAssetTypeCreditAlphanum12:
		return assetFromXDR(xdr.Asset{Type: o.Line.Type, AlphaNum4: o.Line.AlphaNum4, AlphaNum12: o.Line.AlphaNum12})
	}
	return assetKey{}, false
}

func checkChangeTrust(op decodedOp, o xdr.ChangeTrustOp) xdr.OperationResult {
	if o.Line.Type == xdr.AssetTypeAssetTypePoolShare {
		return outerResult(xdr.OperationResultCodeOpNotSupported) // liquidity pools are not implemented
	}
	asset, ok := changeTrustAsset(o)
	if !ok || o.Limit < 0 || asset.Issuer == op.source {
		return changeTrustResult(xdr.ChangeTrustResultCodeChangeTrustMalformed)
	}
	return changeTrustResult(xdr.ChangeTrustResultCodeChangeTrustSuccess)
}

// changeTrust creates, re-limits or (limit 0) removes a trustline. A new trustline is authorized unless the
// issuer requires authorization, and may be clawed back iff the issuer allowed clawback when it was created.
func (x *applier) changeTrust(src *account, o xdr.ChangeTrustOp) xdr.OperationResult {
	asset, ok := changeTrustAsset(o)
	if !ok {
		return changeTrustResult(xdr.ChangeTrustResultCodeChangeTrustMalformed)
	}
	limit := int64(o.Limit)
	if tl := src.lines[asset]; tl != nil {
		switch {
		case limit == 0 && tl.balance != 0, limit != 0 && limit < tl.balance:
			return changeTrustResult(xdr.ChangeTrustResultCodeChangeTrustInvalidLimit)
		case limit == 0:
			delete(src.lines, asset)
		default:
			tl.limit, tl.lastModified = limit, x.ledger
		}
		return changeTrustResult(xdr.ChangeTrustResultCodeChangeTrustSuccess)
	}
	if limit == 0 {
		return changeTrustResult(xdr.ChangeTrustResultCodeChangeTrustInvalidLimit)
	}
	issuer := x.view.peek(asset.Issuer)
	if issuer == nil {
		return changeTrustResult(xdr.ChangeTrustResultCodeChangeTrustNoIssuer)
	}
	if src.subentries() >= maxSubentries {
		return outerResult(xdr.OperationResultCodeOpTooManySubentries)
	}
	if src.balance < src.minBalance(1) {
		return changeTrustResult(xdr.ChangeTrustResultCodeChangeTrustLowReserve)
	}
	tl := &trustline{limit: limit, lastModified: x.ledger}
	if issuer.flags&accountAuthRequired == 0 {
		tl.flags |= trustAuthorized
	}
	if issuer.flags&accountAuthClawback != 0 {
		tl.flags |= trustClawback
	}
	src.lines[asset] = tl
	return changeTrustResult(xdr.ChangeTrustResultCodeChangeTrustSuccess)
}

func checkSetTrustLineFlags(op decodedOp, o xdr.SetTrustLineFlagsOp) xdr.OperationResult {
	malformed := setTrustLineFlagsResult(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsMalformed)
	asset, ok := assetFromXDR(o.Asset)
	trustor, _, err := accountIDKey(o.Trustor)
	set, clr := uint32(o.SetFlags), uint32(o.ClearFlags)
	switch {
	case !ok || asset.native() || asset.Issuer != op.source || err != nil || trustor == op.source:
		return malformed
	case set&clr != 0, (set|clr)&^trustFlagsMask != 0:
		return malformed
	case set&trustClawback != 0: // clawback can only ever be cleared on a trustline
		return malformed
	case set&trustAuthorized != 0 && set&trustMaintain != 0:
		return malformed
	}
	return setTrustLineFlagsResult(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsSuccess)
}

// setTrustLineFlags lets an issuer authorize, partly or fully deauthorize, or drop clawback on a trustline.
// Lowering authorization is a revocation and needs AUTH_REVOCABLE on the issuer.
func (x *applier) setTrustLineFlags(src *account, o xdr.SetTrustLineFlagsOp) xdr.OperationResult {
	asset, ok := assetFromXDR(o.Asset)
	trustorID, _, err := accountIDKey(o.Trustor)
	if !ok || err != nil {
		return setTrustLineFlagsResult(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsMalformed)
	}
	if t := x.view.peek(trustorID); t == nil || t.lines[asset] == nil {
		return setTrustLineFlagsResult(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsNoTrustLine)
	}
	tl := x.view.get(trustorID).lines[asset]
	old := tl.flags
	nf := old&^uint32(o.ClearFlags) | uint32(o.SetFlags)
	if nf&trustAuthorized != 0 && nf&trustMaintain != 0 {
		return setTrustLineFlagsResult(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsInvalidState)
	}
	const anyAuth = trustAuthorized | trustMaintain
	revoking := old&trustAuthorized != 0 && nf&trustAuthorized == 0 || old&anyAuth != 0 && nf&anyAuth == 0
	if revoking && src.flags&accountAuthRevocable == 0 {
		return setTrustLineFlagsResult(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsCantRevoke)
	}
	tl.flags, tl.lastModified = nf, x.ledger
	return setTrustLineFlagsResult(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsSuccess)
}

func checkClawback(op decodedOp, o xdr.ClawbackOp) xdr.OperationResult {
	asset, ok := assetFromXDR(o.Asset)
	from, _, err := muxedKey(o.From)
	if !ok || asset.native() || asset.Issuer != op.source || err != nil || from == op.source || o.Amount <= 0 {
		return clawbackResult(xdr.ClawbackResultCodeClawbackMalformed)
	}
	return clawbackResult(xdr.ClawbackResultCodeClawbackSuccess)
}

// clawback burns an amount from a holder's trustline; the trustline must carry the clawback flag, which it got
// from the issuer when it was created.
func (x *applier) clawback(_ *account, o xdr.ClawbackOp) xdr.OperationResult {
	asset, ok := assetFromXDR(o.Asset)
	fromID, _, err := muxedKey(o.From)
	if !ok || err != nil {
		return clawbackResult(xdr.ClawbackResultCodeClawbackMalformed)
	}
	from := x.view.peek(fromID)
	if from == nil || from.lines[asset] == nil {
		return clawbackResult(xdr.ClawbackResultCodeClawbackNoTrust)
	}
	tl := from.lines[asset]
	amt := int64(o.Amount)
	if tl.flags&trustClawback == 0 {
		return clawbackResult(xdr.ClawbackResultCodeClawbackNotClawbackEnabled)
	}
	if tl.balance < amt {
		return clawbackResult(xdr.ClawbackResultCodeClawbackUnderfunded)
	}
	tl = x.view.get(fromID).lines[asset]
	tl.balance -= amt
	tl.lastModified = x.ledger
	return clawbackResult(xdr.ClawbackResultCodeClawbackSuccess)
}
