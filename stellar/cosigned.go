package stellar

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/stellar/go-stellar-sdk/keypair"
	"github.com/stellar/go-stellar-sdk/txnbuild"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// Cosigner adds a remote party's signatures to a whole envelope: a bank's POST {callback_url}/sign (guide §11).
// It is called with an envelope that carries every local signature already (the channel's, the customer's and
// the platform's), and its answer is checked with CheckCosigned before anything of it is used.
type Cosigner interface {
	Cosign(ctx context.Context, req CosignRequest) (CosignAnswer, error)
}

// CosignRequest is what a cosigner is asked: the guide's {"address": [...], "transaction_xdr"} plus the hash
// the signatures must sign.
type CosignRequest struct {
	Addresses   []string // the signer addresses asked for
	EnvelopeXDR string   // the transaction envelope, base64
	Hash        [32]byte // the transaction's hash under Passphrase
	Passphrase  string
}

// CosignAnswer is a cosigner's answer: the addresses that signed and the envelope with their signatures.
type CosignAnswer struct {
	Addresses   []string
	EnvelopeXDR string
}

// CosignError is an answer that does not carry what was asked. WrongKey is true when the envelope is the
// right transaction but lacks a valid signature of a requested key (or claims a key that was not asked for);
// false when the answer is not usable at all (a field missing, not an envelope, another transaction).
type CosignError struct {
	WrongKey bool
	Reason   string
}

func (e *CosignError) Error() string { return "stellar: cosigner's answer: " + e.Reason }

// CheckCosigned checks a cosigner's answer to req: both fields present, the same transaction (equal hash),
// every address it names among the requested ones, and for each of them a signature whose hint is the key's
// and that verifies against the transaction's hash. It returns those signatures, in the order of
// req.Addresses, and the addresses they belong to. Signatures of other keys in the answer are ignored: only
// the checked ones are ever attached to what is submitted.
func CheckCosigned(req CosignRequest, ans CosignAnswer) ([]xdr.DecoratedSignature, []string, error) {
	if ans.EnvelopeXDR == "" || len(ans.Addresses) == 0 {
		return nil, nil, &CosignError{Reason: "both address and transaction_xdr are required"}
	}
	gt, err := txnbuild.TransactionFromXDR(ans.EnvelopeXDR)
	if err != nil {
		return nil, nil, &CosignError{Reason: "transaction_xdr is not a transaction envelope"}
	}
	tx, ok := gt.Transaction()
	if !ok {
		return nil, nil, &CosignError{Reason: "transaction_xdr is a fee bump, not the transaction sent"}
	}
	hash, err := tx.Hash(req.Passphrase)
	if err != nil || hash != req.Hash {
		return nil, nil, &CosignError{Reason: "transaction_xdr is another transaction than the one sent (its hash differs)"}
	}
	for _, a := range ans.Addresses {
		if !slices.Contains(req.Addresses, a) {
			return nil, nil, &CosignError{WrongKey: true, Reason: fmt.Sprintf("it names %.60q, which was not asked for", a)}
		}
	}
	var sigs []xdr.DecoratedSignature
	var signed []string
	for _, a := range req.Addresses {
		kp, err := keypair.ParseAddress(a)
		if err != nil {
			return nil, nil, invalid("address", "%q is not a valid address", a)
		}
		hint := xdr.SignatureHint(kp.Hint())
		for _, s := range tx.Signatures() {
			if s.Hint == hint && kp.Verify(hash[:], s.Signature) == nil {
				sigs = append(sigs, s)
				signed = append(signed, a)
				break
			}
		}
	}
	for _, a := range ans.Addresses {
		if !slices.Contains(signed, a) {
			return nil, nil, &CosignError{WrongKey: true, Reason: "no valid signature of " + a + " in the envelope"}
		}
	}
	if len(sigs) == 0 {
		return nil, nil, &CosignError{WrongKey: true, Reason: "no valid signature of a requested key in the envelope"}
	}
	return sigs, signed, nil
}

// PayCosigned settles one payment in its own transaction — never batched with others, so that the cosigner
// sees and signs only this payment — signed by a channel, by p.From's signers, and by cosigner with the
// addresses asked for. Each envelope built (a rebuild after tx_bad_seq or tx_too_late included) goes to the
// cosigner before it is submitted; an error of the cosigner, or an answer CheckCosigned refuses, ends the
// call with nothing sent in that form.
func (h *Horizon) PayCosigned(ctx context.Context, p Payment, addresses []string, cosigner Cosigner) (Receipt, error) {
	if cosigner == nil {
		return Receipt{}, invalid("cosigner", "required")
	}
	if len(addresses) == 0 || len(addresses)+len(p.From.Signers)+1 > MaxSignaturesPerTx {
		return Receipt{}, invalid("addresses", "1 to %d cosigner addresses", MaxSignaturesPerTx-len(p.From.Signers)-1)
	}
	for _, a := range addresses {
		if err := checkAddress("addresses", a); err != nil {
			return Receipt{}, err
		}
	}
	ops, err := paymentOps(p)
	if err != nil {
		return Receipt{}, err
	}
	ch, err := h.channels.acquire(ctx)
	if err != nil {
		return Receipt{}, err
	}
	defer h.channels.release(ch)
	cosign := func(ctx context.Context, tx signedTx) (signedTx, error) {
		var req CosignRequest
		raw, err := hex.DecodeString(tx.hash)
		if err != nil || len(raw) != len(req.Hash) {
			return tx, fmt.Errorf("stellar: transaction hash %q", tx.hash)
		}
		req = CosignRequest{Addresses: slices.Clone(addresses), EnvelopeXDR: tx.b64, Hash: [32]byte(raw), Passphrase: h.cfg.Passphrase}
		ans, err := cosigner.Cosign(ctx, req)
		if err != nil {
			return tx, err
		}
		sigs, _, err := CheckCosigned(req, ans)
		if err != nil {
			return tx, err
		}
		gt, err := txnbuild.TransactionFromXDR(tx.b64)
		if err != nil {
			return tx, fmt.Errorf("stellar: decode own envelope: %w", err)
		}
		own, _ := gt.Transaction()
		// One of the cosigner's signatures completes the thresholds (each of its keys weighs 1): a second
		// would be a signature the network does not need, which it refuses (tx_bad_auth_extra).
		if own, err = own.AddSignatureDecorated(sigs[:1]...); err != nil {
			return tx, fmt.Errorf("stellar: attach the cosigner's signatures: %w", err)
		}
		if tx.b64, err = own.Base64(); err != nil {
			return tx, fmt.Errorf("stellar: encode transaction: %w", err)
		}
		return tx, nil
	}
	return h.submitCosigned(ctx, ch, ops, p.From.Signers, cosign)
}

// SignEnvelope adds signer's signature to a base64 envelope for the network with passphrase: what a bank's
// /sign does with its key (the reference signer of the demo bank uses it). It also returns the transaction's
// payment_guid, if a manageData operation carries one, so the signer can look the payment up first.
func SignEnvelope(envelopeXDR, passphrase string, signers ...*KeySigner) (signed, paymentGUID string, err error) {
	gt, err := txnbuild.TransactionFromXDR(envelopeXDR)
	if err != nil {
		return "", "", invalid("transaction_xdr", "not a transaction envelope")
	}
	tx, ok := gt.Transaction()
	if !ok {
		return "", "", invalid("transaction_xdr", "a fee bump envelope")
	}
	for _, op := range tx.Operations() {
		if md, ok := op.(*txnbuild.ManageData); ok && md.Name == PaymentGUIDDataName {
			paymentGUID = string(md.Value)
		}
	}
	hash, err := tx.Hash(passphrase)
	if err != nil {
		return "", "", invalid("transaction_xdr", "cannot hash: %v", err)
	}
	for _, s := range signers {
		sig, err := s.kp.Sign(hash[:])
		if err != nil {
			return "", "", fmt.Errorf("stellar: sign with %s: %w", s.Address(), err)
		}
		if tx, err = tx.AddSignatureDecorated(xdr.DecoratedSignature{Hint: xdr.SignatureHint(s.kp.Hint()), Signature: sig}); err != nil {
			return "", "", fmt.Errorf("stellar: attach signature: %w", err)
		}
	}
	if signed, err = tx.Base64(); err != nil {
		return "", "", fmt.Errorf("stellar: encode transaction: %w", err)
	}
	return signed, paymentGUID, nil
}
