package localnet

import (
	"github.com/stellar/go-stellar-sdk/xdr"
)

// Operation results are built as XDR first; Horizon's result code strings are derived from that XDR, so the
// result_codes and result_xdr of a response can never disagree.

func outerResult(c xdr.OperationResultCode) xdr.OperationResult {
	return xdr.OperationResult{Code: c}
}

func innerResult(tr xdr.OperationResultTr) xdr.OperationResult {
	return xdr.OperationResult{Code: xdr.OperationResultCodeOpInner, Tr: &tr}
}

func createAccountResult(c xdr.CreateAccountResultCode) xdr.OperationResult {
	return innerResult(xdr.OperationResultTr{Type: xdr.OperationTypeCreateAccount,
		CreateAccountResult: &xdr.CreateAccountResult{Code: c}})
}

func paymentResult(c xdr.PaymentResultCode) xdr.OperationResult {
	return innerResult(xdr.OperationResultTr{Type: xdr.OperationTypePayment, PaymentResult: &xdr.PaymentResult{Code: c}})
}

func changeTrustResult(c xdr.ChangeTrustResultCode) xdr.OperationResult {
	return innerResult(xdr.OperationResultTr{Type: xdr.OperationTypeChangeTrust,
		ChangeTrustResult: &xdr.ChangeTrustResult{Code: c}})
}

func setOptionsResult(c xdr.SetOptionsResultCode) xdr.OperationResult {
	return innerResult(xdr.OperationResultTr{Type: xdr.OperationTypeSetOptions,
		SetOptionsResult: &xdr.SetOptionsResult{Code: c}})
}

func setTrustLineFlagsResult(c xdr.SetTrustLineFlagsResultCode) xdr.OperationResult {
	return innerResult(xdr.OperationResultTr{Type: xdr.OperationTypeSetTrustLineFlags,
		SetTrustLineFlagsResult: &xdr.SetTrustLineFlagsResult{Code: c}})
}

func clawbackResult(c xdr.ClawbackResultCode) xdr.OperationResult {
	return innerResult(xdr.OperationResultTr{Type: xdr.OperationTypeClawback, ClawbackResult: &xdr.ClawbackResult{Code: c}})
}

func manageDataResult(c xdr.ManageDataResultCode) xdr.OperationResult {
	return innerResult(xdr.OperationResultTr{Type: xdr.OperationTypeManageData,
		ManageDataResult: &xdr.ManageDataResult{Code: c}})
}

func bumpSequenceResult(c xdr.BumpSequenceResultCode) xdr.OperationResult {
	return innerResult(xdr.OperationResultTr{Type: xdr.OperationTypeBumpSequence,
		BumpSeqResult: &xdr.BumpSequenceResult{Code: c}})
}

// successResult is the result an operation of type t shows when it is valid or applied.
func successResult(t xdr.OperationType) xdr.OperationResult {
	switch t {
	case xdr.OperationTypeCreateAccount:
		return createAccountResult(xdr.CreateAccountResultCodeCreateAccountSuccess)
	case xdr.OperationTypePayment:
		return paymentResult(xdr.PaymentResultCodePaymentSuccess)
	case xdr.OperationTypeChangeTrust:
		return changeTrustResult(xdr.ChangeTrustResultCodeChangeTrustSuccess)
	case xdr.OperationTypeSetOptions:
		return setOptionsResult(xdr.SetOptionsResultCodeSetOptionsSuccess)
	case xdr.OperationTypeSetTrustLineFlags:
		return setTrustLineFlagsResult(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsSuccess)
	case xdr.OperationTypeClawback:
		return clawbackResult(xdr.ClawbackResultCodeClawbackSuccess)
	case xdr.OperationTypeManageData:
		return manageDataResult(xdr.ManageDataResultCodeManageDataSuccess)
	case xdr.OperationTypeBumpSequence:
		return bumpSequenceResult(xdr.BumpSequenceResultCodeBumpSequenceSuccess)
	}
	return outerResult(xdr.OperationResultCodeOpNotSupported)
}

// innerCode returns the operation-specific result code; ok is false for outer failures (bad auth, no
// account, not supported) and unknown types.
func innerCode(r xdr.OperationResult) (code int32, ok bool) {
	if r.Code != xdr.OperationResultCodeOpInner || r.Tr == nil {
		return 0, false
	}
	tr := r.Tr
	switch {
	case tr.Type == xdr.OperationTypeCreateAccount && tr.CreateAccountResult != nil:
		return int32(tr.CreateAccountResult.Code), true
	case tr.Type == xdr.OperationTypePayment && tr.PaymentResult != nil:
		return int32(tr.PaymentResult.Code), true
	case tr.Type == xdr.OperationTypeChangeTrust && tr.ChangeTrustResult != nil:
		return int32(tr.ChangeTrustResult.Code), true
	case tr.Type == xdr.OperationTypeSetOptions && tr.SetOptionsResult != nil:
		return int32(tr.SetOptionsResult.Code), true
	case tr.Type == xdr.OperationTypeSetTrustLineFlags && tr.SetTrustLineFlagsResult != nil:
		return int32(tr.SetTrustLineFlagsResult.Code), true
	case tr.Type == xdr.OperationTypeClawback && tr.ClawbackResult != nil:
		return int32(tr.ClawbackResult.Code), true
	case tr.Type == xdr.OperationTypeManageData && tr.ManageDataResult != nil:
		return int32(tr.ManageDataResult.Code), true
	case tr.Type == xdr.OperationTypeBumpSequence && tr.BumpSeqResult != nil:
		return int32(tr.BumpSeqResult.Code), true
	}
	return 0, false
}

// succeeded reports whether an operation result is a success (every success code is 0).
func succeeded(r xdr.OperationResult) bool {
	c, ok := innerCode(r)
	return ok && c == 0
}

var txCodes = map[xdr.TransactionResultCode]string{
	xdr.TransactionResultCodeTxSuccess:             "tx_success",
	xdr.TransactionResultCodeTxFailed:              "tx_failed",
	xdr.TransactionResultCodeTxTooEarly:            "tx_too_early",
	xdr.TransactionResultCodeTxTooLate:             "tx_too_late",
	xdr.TransactionResultCodeTxMissingOperation:    "tx_missing_operation",
	xdr.TransactionResultCodeTxBadSeq:              "tx_bad_seq",
	xdr.TransactionResultCodeTxBadAuth:             "tx_bad_auth",
	xdr.TransactionResultCodeTxInsufficientBalance: "tx_insufficient_balance",
	xdr.TransactionResultCodeTxNoAccount:           "tx_no_source_account",
	xdr.TransactionResultCodeTxInsufficientFee:     "tx_insufficient_fee",
	xdr.TransactionResultCodeTxBadAuthExtra:        "tx_bad_auth_extra",
	xdr.TransactionResultCodeTxInternalError:       "tx_internal_error",
	xdr.TransactionResultCodeTxNotSupported:        "tx_not_supported",
	xdr.TransactionResultCodeTxMalformed:           "tx_malformed",
}

var outerOpCodes = map[xdr.OperationResultCode]string{
	xdr.OperationResultCodeOpBadAuth:           "op_bad_auth",
	xdr.OperationResultCodeOpNoAccount:         "op_no_source_account",
	xdr.OperationResultCodeOpNotSupported:      "op_not_supported",
	xdr.OperationResultCodeOpTooManySubentries: "op_too_many_subentries",
}

// innerOpCodes holds Horizon's strings for the operations this network applies; every success code is 0.
var innerOpCodes = map[xdr.OperationType]map[int32]string{
	xdr.OperationTypeCreateAccount: {
		int32(xdr.CreateAccountResultCodeCreateAccountMalformed):    "op_malformed",
		int32(xdr.CreateAccountResultCodeCreateAccountUnderfunded):  "op_underfunded",
		int32(xdr.CreateAccountResultCodeCreateAccountLowReserve):   "op_low_reserve",
		int32(xdr.CreateAccountResultCodeCreateAccountAlreadyExist): "op_already_exists",
	},
	xdr.OperationTypePayment: {
		int32(xdr.PaymentResultCodePaymentMalformed):        "op_malformed",
		int32(xdr.PaymentResultCodePaymentUnderfunded):      "op_underfunded",
		int32(xdr.PaymentResultCodePaymentSrcNoTrust):       "op_src_no_trust",
		int32(xdr.PaymentResultCodePaymentSrcNotAuthorized): "op_src_not_authorized",
		int32(xdr.PaymentResultCodePaymentNoDestination):    "op_no_destination",
		int32(xdr.PaymentResultCodePaymentNoTrust):          "op_no_trust",
		int32(xdr.PaymentResultCodePaymentNotAuthorized):    "op_not_authorized",
		int32(xdr.PaymentResultCodePaymentLineFull):         "op_line_full",
		int32(xdr.PaymentResultCodePaymentNoIssuer):         "op_no_issuer",
	},
	xdr.OperationTypeChangeTrust: {
		int32(xdr.ChangeTrustResultCodeChangeTrustMalformed):        "op_malformed",
		int32(xdr.ChangeTrustResultCodeChangeTrustNoIssuer):         "op_no_issuer",
		int32(xdr.ChangeTrustResultCodeChangeTrustInvalidLimit):     "op_invalid_limit",
		int32(xdr.ChangeTrustResultCodeChangeTrustLowReserve):       "op_low_reserve",
		int32(xdr.ChangeTrustResultCodeChangeTrustSelfNotAllowed):   "op_self_not_allowed",
		int32(xdr.ChangeTrustResultCodeChangeTrustTrustLineMissing): "op_trust_line_missing",
		int32(xdr.ChangeTrustResultCodeChangeTrustCannotDelete):     "op_cannot_delete",
	},
	xdr.OperationTypeSetOptions: {
		int32(xdr.SetOptionsResultCodeSetOptionsLowReserve):            "op_low_reserve",
		int32(xdr.SetOptionsResultCodeSetOptionsTooManySigners):        "op_too_many_signers",
		int32(xdr.SetOptionsResultCodeSetOptionsBadFlags):              "op_bad_flags",
		int32(xdr.SetOptionsResultCodeSetOptionsInvalidInflation):      "op_invalid_inflation",
		int32(xdr.SetOptionsResultCodeSetOptionsCantChange):            "op_cant_change",
		int32(xdr.SetOptionsResultCodeSetOptionsUnknownFlag):           "op_unknown_flag",
		int32(xdr.SetOptionsResultCodeSetOptionsThresholdOutOfRange):   "op_threshold_out_of_range",
		int32(xdr.SetOptionsResultCodeSetOptionsBadSigner):             "op_bad_signer",
		int32(xdr.SetOptionsResultCodeSetOptionsInvalidHomeDomain):     "op_invalid_home_domain",
		int32(xdr.SetOptionsResultCodeSetOptionsAuthRevocableRequired): "op_auth_revocable_required",
	},
	xdr.OperationTypeSetTrustLineFlags: {
		int32(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsMalformed):    "op_malformed",
		int32(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsNoTrustLine):  "op_no_trust_line",
		int32(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsCantRevoke):   "op_cant_revoke",
		int32(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsInvalidState): "op_invalid_state",
		int32(xdr.SetTrustLineFlagsResultCodeSetTrustLineFlagsLowReserve):   "op_low_reserve",
	},
	xdr.OperationTypeClawback: {
		int32(xdr.ClawbackResultCodeClawbackMalformed):          "op_malformed",
		int32(xdr.ClawbackResultCodeClawbackNotClawbackEnabled): "op_not_clawback_enabled",
		int32(xdr.ClawbackResultCodeClawbackNoTrust):            "op_no_trust",
		int32(xdr.ClawbackResultCodeClawbackUnderfunded):        "op_underfunded",
	},
	xdr.OperationTypeManageData: {
		int32(xdr.ManageDataResultCodeManageDataNotSupportedYet): "op_not_supported_yet",
		int32(xdr.ManageDataResultCodeManageDataNameNotFound):    "op_data_name_not_found",
		int32(xdr.ManageDataResultCodeManageDataLowReserve):      "op_low_reserve",
		int32(xdr.ManageDataResultCodeManageDataInvalidName):     "op_data_invalid_name",
	},
	xdr.OperationTypeBumpSequence: {
		int32(xdr.BumpSequenceResultCodeBumpSequenceBadSeq): "op_bad_seq",
	},
}

// opCodeString is Horizon's result code string for one operation result.
func opCodeString(r xdr.OperationResult) string {
	if r.Code != xdr.OperationResultCodeOpInner {
		if s, ok := outerOpCodes[r.Code]; ok {
			return s
		}
		return "op_unknown"
	}
	c, ok := innerCode(r)
	if !ok {
		return "op_unknown"
	}
	if c == 0 {
		return "op_success"
	}
	if s, ok := innerOpCodes[r.Tr.Type][c]; ok {
		return s
	}
	return "op_unknown"
}

func txCodeString(c xdr.TransactionResultCode) string {
	if s, ok := txCodes[c]; ok {
		return s
	}
	return "tx_unknown"
}

// txResult assembles the XDR TransactionResult; ops is only encoded for tx_success and tx_failed, the two codes
// whose XDR arm carries operation results.
func txResult(feeCharged int64, code xdr.TransactionResultCode, ops []xdr.OperationResult) xdr.TransactionResult {
	r := xdr.TransactionResult{FeeCharged: xdr.Int64(feeCharged), Result: xdr.TransactionResultResult{Code: code}}
	if code == xdr.TransactionResultCodeTxSuccess || code == xdr.TransactionResultCodeTxFailed {
		if ops == nil {
			ops = []xdr.OperationResult{}
		}
		r.Result.Results = &ops
	}
	return r
}

// resultCodes is the result_codes object of a Horizon problem or of a stored transaction.
type resultCodes struct {
	Transaction string   `json:"transaction"`
	Operations  []string `json:"operations,omitempty"`
}

func codesOf(r xdr.TransactionResult) resultCodes {
	rc := resultCodes{Transaction: txCodeString(r.Result.Code)}
	if r.Result.Results != nil {
		for _, op := range *r.Result.Results {
			rc.Operations = append(rc.Operations, opCodeString(op))
		}
	}
	return rc
}
