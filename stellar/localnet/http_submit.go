package localnet

import (
	"errors"
	"net/http"

	"github.com/stellar/go-stellar-sdk/xdr"
)

// postTransaction is Horizon's synchronous submission: it answers once the transaction's ledger has closed, with
// the transaction resource, or with a 400 transaction_failed problem carrying result_codes and result_xdr.
func (n *Network) postTransaction(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxEnvelopeBytes+4<<10)
	if err := r.ParseForm(); err != nil {
		badRequest(w, "tx", "the request body could not be read as a form: "+err.Error())
		return
	}
	b64 := r.PostForm.Get("tx")
	if b64 == "" {
		badRequest(w, "tx", "tx: a base64-encoded transaction envelope is required")
		return
	}
	out := n.submit(r.Context(), b64)
	switch {
	case errors.Is(out.err, errTimeout):
		writeProblem(w, http.StatusGatewayTimeout, "timeout", "Timeout",
			"Your transaction was queued but its ledger has not closed yet; resubmit the same envelope to learn its result.", nil)
	case errors.Is(out.err, errQueueFull), errors.Is(out.err, errClosed):
		writeProblem(w, http.StatusServiceUnavailable, "service_unavailable", "Service Unavailable", out.err.Error(), nil)
	case out.err != nil:
		n.log.Error("localnet: submission failed", "err", out.err)
		writeProblem(w, http.StatusInternalServerError, "server_error", "Internal Server Error", out.err.Error(), nil)
	case out.rej != nil:
		n.writeRejection(w, out.rej)
	case !out.rec.Successful:
		n.writeFailedTx(w, out.rec)
	default:
		writeJSON(w, renderTx(out.rec, baseURL(r)))
	}
}

// writeRejection answers for a transaction that did not get into a ledger.
func (n *Network) writeRejection(w http.ResponseWriter, rej *rejection) {
	res := rej.result()
	resB64, err := xdr.MarshalBase64(res)
	if err != nil {
		n.log.Error("localnet: encode result", "err", err)
	}
	kind, title := "transaction_failed", "Transaction Failed"
	if rej.code == xdr.TransactionResultCodeTxMalformed {
		kind, title = "transaction_malformed", "Transaction Malformed"
	}
	writeProblem(w, http.StatusBadRequest, kind, title,
		"The transaction failed when submitted to the network. The `extras.result_codes` field on this "+
			"response contains further details.",
		map[string]any{"envelope_xdr": rej.b64, "result_xdr": resB64, "result_codes": codesOf(res)})
}

// writeFailedTx answers for a transaction that is in a ledger but whose operations failed: its fee was charged.
func (n *Network) writeFailedTx(w http.ResponseWriter, rec *txRecord) {
	var res xdr.TransactionResult
	if err := xdr.SafeUnmarshalBase64(rec.Result, &res); err != nil {
		n.log.Error("localnet: stored result does not decode", "hash", rec.Hash, "err", err)
		writeProblem(w, http.StatusInternalServerError, "server_error", "Internal Server Error", "stored result is corrupt", nil)
		return
	}
	writeProblem(w, http.StatusBadRequest, "transaction_failed", "Transaction Failed",
		"The transaction failed when submitted to the network. The `extras.result_codes` field on this "+
			"response contains further details.",
		map[string]any{"envelope_xdr": rec.Envelope, "result_xdr": rec.Result, "result_codes": codesOf(res),
			"hash": rec.Hash, "ledger": rec.Ledger})
}
