package stellar

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	"github.com/stellar/go-stellar-sdk/keypair"
	hProtocol "github.com/stellar/go-stellar-sdk/protocols/horizon"
	"github.com/stellar/go-stellar-sdk/txnbuild"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// postKind is what one POST /transactions told us.
type postKind int

const (
	postApplied     postKind = iota // 200: in a closed ledger
	postRejected                    // 400 with result codes: not applied (tx_failed consumed the sequence number)
	postRateLimited                 // 429: not accepted; send the same envelope again later
	postUnknown                     // 5xx (504 above all), timeout, broken connection: may or may not apply
	postRefused                     // any other answer: not accepted, and sending it again will not help
)

type postResult struct {
	kind   postKind
	tx     hProtocol.Transaction
	txErr  *TxError
	err    error
	status int
}

// signedTx is one signed envelope.
type signedTx struct {
	b64   string
	hash  string
	seq   int64
	sends int // how often this very envelope was posted
}

// submitWith builds, signs and submits ops with ch as transaction source until the transaction is applied, is
// definitely rejected, or the attempts run out. The caller holds ch.
//
// Retries: 429, 5xx and timeouts resend the identical envelope (a resend cannot apply twice); tx_bad_seq
// reloads the sequence number and rebuilds; tx_too_late rebuilds with new time bounds; tx_insufficient_fee
// doubles the fee (up to MaxBaseFee) and rebuilds. Before any rebuild, and before giving up, envelopes whose
// outcome was unknown are looked up by hash, so one that was applied counts as success and is never sent in
// another form. Everything else is final.
func (h *Horizon) submitWith(ctx context.Context, ch *channel, ops []txnbuild.Operation, opSigners []Signer) (Receipt, error) {
	return h.submitCosigned(ctx, ch, ops, opSigners, nil)
}

// submitCosigned is submitWith with a remote party's signatures added to every envelope built (cosigned.go):
// cosign, when set, is called with each envelope once it carries the local signatures and returns it with
// the remote ones; an error from it ends the submission (nothing is sent in that form).
func (h *Horizon) submitCosigned(ctx context.Context, ch *channel, ops []txnbuild.Operation, opSigners []Signer,
	cosign func(context.Context, signedTx) (signedTx, error)) (Receipt, error) {
	signers := uniqueSigners(append([]Signer{ch.signer}, opSigners...))
	if len(signers) > MaxSignaturesPerTx {
		return Receipt{}, invalid("signers", "%d signatures exceed the %d a transaction can carry", len(signers), MaxSignaturesPerTx)
	}
	if len(ops) == 0 || len(ops) > MaxOpsPerTx {
		return Receipt{}, invalid("operations", "%d operations; a transaction holds 1 to %d", len(ops), MaxOpsPerTx)
	}
	fee := h.cfg.BaseFee
	var (
		unknown  []string // hashes sent whose outcome we do not know
		lastErr  error
		rebuild  = true
		tx       signedTx
		attempts int
	)
	for attempts < h.cfg.MaxAttempts {
		if err := ctx.Err(); err != nil {
			lastErr = err // never start a send the caller no longer waits for
			break
		}
		if rebuild {
			if !ch.loaded {
				if err := h.loadSequence(ctx, ch); err != nil {
					lastErr = err
					if errors.Is(err, ErrNotFound) {
						break
					}
					attempts++
					if h.sleep(ctx, attempts) != nil {
						break
					}
					continue
				}
			}
			var err error
			tx, err = h.sign(ctx, ch, ops, signers, fee)
			if err == nil && cosign != nil {
				tx, err = cosign(ctx, tx)
			}
			if err != nil {
				lastErr = err
				break
			}
			rebuild = false
		}
		attempts++
		if tx.sends > 0 {
			h.stats.resubmissions.Add(1)
		}
		tx.sends++
		res := h.post(ctx, tx.b64)
		if res.kind != postApplied {
			h.cfg.Logger.Debug("stellar: submission not applied", "hash", tx.hash, "channel", ch.address,
				"attempt", attempts, "status", res.status, "result", res.txErr, "err", res.err)
		}
		switch res.kind {
		case postApplied:
			ch.seq = tx.seq
			h.stats.applied.Add(1)
			return Receipt{Hash: res.tx.Hash, Ledger: res.tx.Ledger}, nil
		case postRateLimited:
			lastErr = fmt.Errorf("%w (HTTP 429)", ErrRateLimited)
		case postUnknown:
			unknown = appendNew(unknown, tx.hash)
			lastErr = res.err
		case postRefused:
			lastErr = res.err
			return h.finish(ctx, ch, unknown, lastErr)
		case postRejected:
			res.txErr.Hash = tx.hash
			lastErr = res.txErr
			switch res.txErr.TxCode {
			case "tx_bad_seq":
				h.stats.badSeq.Add(1)
				if r, ok, err := h.anyApplied(ctx, unknown); ok {
					ch.loaded = false
					return r, err
				}
				ch.loaded, rebuild = false, true
			case "tx_too_late":
				h.stats.tooLate.Add(1)
				if r, ok, err := h.anyApplied(ctx, unknown); ok {
					ch.loaded = false
					return r, err
				}
				rebuild = true
			case "tx_insufficient_fee":
				if fee >= h.cfg.MaxBaseFee {
					return h.finish(ctx, ch, unknown, res.txErr)
				}
				h.stats.feeBumps.Add(1)
				fee = min(2*fee, h.cfg.MaxBaseFee)
				rebuild = true
			default:
				if res.txErr.TxCode == "tx_failed" {
					h.settleFailedSequence(ctx, ch, tx)
				}
				return h.finish(ctx, ch, unknown, res.txErr)
			}
			if rebuild {
				continue // rebuilding is not a resend of the same envelope: no wait needed
			}
		}
		if h.sleep(ctx, attempts) != nil {
			break
		}
	}
	return h.finish(ctx, ch, unknown, lastErr)
}

// finish ends an attempt that did not apply: if any envelope's outcome is unknown, look it up once more;
// applied means success, otherwise the outcome stays unknown.
func (h *Horizon) finish(ctx context.Context, ch *channel, unknown []string, lastErr error) (Receipt, error) {
	if lastErr == nil {
		lastErr = errors.New("stellar: no attempt made")
	}
	if len(unknown) == 0 {
		if errors.Is(lastErr, context.Canceled) || errors.Is(lastErr, context.DeadlineExceeded) {
			return Receipt{}, fmt.Errorf("stellar: not submitted: %w", lastErr)
		}
		return Receipt{}, lastErr
	}
	lookupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.RequestTimeout)
	defer cancel()
	if r, ok, err := h.anyApplied(lookupCtx, unknown); ok {
		ch.loaded = false
		return r, err
	}
	// An unknown envelope may still apply until its time bounds pass: reload the sequence next time.
	ch.loaded = false
	h.stats.unknown.Add(1)
	return Receipt{}, &UnknownOutcomeError{Hashes: unknown, Err: lastErr}
}

// settleFailedSequence keeps the channel's sequence number right after tx_failed. A transaction whose
// operation failed while being applied is in the ledger and consumed its sequence number; one refused while
// being validated (op_bad_auth, for example) is not and did not. Horizon answers both with the same codes, so
// look the hash up; if that fails, reload the sequence number before the next use.
func (h *Horizon) settleFailedSequence(ctx context.Context, ch *channel, tx signedTx) {
	_, found, err := h.lookup(ctx, tx.hash)
	switch {
	case err != nil:
		ch.loaded = false
	case found:
		ch.seq = tx.seq
	}
}

// anyApplied looks up hashes; ok is true when one of them is in the ledger, with its receipt, or with its
// TxError if it was applied as failed.
func (h *Horizon) anyApplied(ctx context.Context, hashes []string) (Receipt, bool, error) {
	for _, hash := range hashes {
		tx, found, err := h.lookup(ctx, hash)
		if err != nil || !found {
			continue
		}
		if !tx.Successful {
			return Receipt{}, true, &TxError{TxCode: "tx_failed", Hash: hash}
		}
		h.stats.applied.Add(1)
		return Receipt{Hash: tx.Hash, Ledger: tx.Ledger}, true, nil
	}
	return Receipt{}, false, nil
}

// lookup reads a transaction by hash.
func (h *Horizon) lookup(ctx context.Context, hash string) (hProtocol.Transaction, bool, error) {
	c, _ := h.client(ctx)
	tx, err := c.TransactionDetail(hash)
	if err == nil {
		return tx, true, nil
	}
	if herr := horizonclient.GetError(err); herr != nil && herr.Response != nil && herr.Response.StatusCode == http.StatusNotFound {
		return tx, false, nil
	}
	return tx, false, fmt.Errorf("stellar: look up transaction %s: %w", hash, err)
}

// sign builds the transaction on the channel's next sequence number and collects every signature.
func (h *Horizon) sign(ctx context.Context, ch *channel, ops []txnbuild.Operation, signers []Signer, fee int64) (signedTx, error) {
	acct := txnbuild.SimpleAccount{AccountID: ch.address, Sequence: ch.seq}
	maxTime := h.cfg.Now().Add(h.cfg.TxTimeout).Unix()
	tx, err := txnbuild.NewTransaction(txnbuild.TransactionParams{
		SourceAccount:        &acct,
		IncrementSequenceNum: true,
		Operations:           ops,
		BaseFee:              fee,
		Preconditions:        txnbuild.Preconditions{TimeBounds: txnbuild.NewTimebounds(0, maxTime)},
	})
	if err != nil {
		return signedTx{}, invalid("transaction", "%v", err)
	}
	hash, err := tx.Hash(h.cfg.Passphrase)
	if err != nil {
		return signedTx{}, fmt.Errorf("stellar: hash transaction: %w", err)
	}
	req := SignRequest{Hash: hash, Passphrase: h.cfg.Passphrase}
	sigs := make([]xdr.DecoratedSignature, 0, len(signers))
	for _, s := range signers {
		if local, ok := s.(*KeySigner); ok {
			sig, err := local.Sign(ctx, req)
			if err != nil {
				return signedTx{}, err
			}
			sigs = append(sigs, xdr.DecoratedSignature{Hint: xdr.SignatureHint(local.kp.Hint()), Signature: sig})
			continue
		}
		// A remote signer (the bank's /sign) sees the envelope, and its answer is verified before use.
		kp, err := keypair.ParseAddress(s.Address())
		if err != nil {
			return signedTx{}, invalid("signer", "%q is not a valid address", s.Address())
		}
		if req.EnvelopeXDR == "" {
			if req.EnvelopeXDR, err = tx.Base64(); err != nil {
				return signedTx{}, fmt.Errorf("stellar: encode transaction: %w", err)
			}
		}
		sig, err := s.Sign(ctx, req)
		if err != nil {
			return signedTx{}, fmt.Errorf("stellar: signature of %s: %w", s.Address(), err)
		}
		if err := kp.Verify(hash[:], sig); err != nil {
			return signedTx{}, fmt.Errorf("stellar: signer %s returned an invalid signature", s.Address())
		}
		sigs = append(sigs, xdr.DecoratedSignature{Hint: xdr.SignatureHint(kp.Hint()), Signature: sig})
	}
	if tx, err = tx.AddSignatureDecorated(sigs...); err != nil {
		return signedTx{}, fmt.Errorf("stellar: attach signatures: %w", err)
	}
	b64, err := tx.Base64()
	if err != nil {
		return signedTx{}, fmt.Errorf("stellar: encode transaction: %w", err)
	}
	return signedTx{b64: b64, hash: fmt.Sprintf("%x", hash), seq: tx.SequenceNumber()}, nil
}

// post sends one envelope and classifies the answer.
func (h *Horizon) post(ctx context.Context, b64 string) postResult {
	h.stats.submissions.Add(1)
	c, t := h.client(ctx)
	tx, err := c.SubmitTransactionXDR(b64)
	if err == nil {
		return postResult{kind: postApplied, tx: tx}
	}
	status := int(t.status.Load())
	if herr := horizonclient.GetError(err); herr != nil && herr.Response != nil {
		status = herr.Response.StatusCode
		if status == http.StatusBadRequest {
			if rc, rcErr := herr.ResultCodes(); rcErr == nil && rc.TransactionCode != "" {
				code := rc.TransactionCode
				if code == "tx_fee_bump_inner_failed" && rc.InnerTransactionCode != "" {
					code = rc.InnerTransactionCode
				}
				return postResult{kind: postRejected, status: status,
					txErr: &TxError{TxCode: code, OpCodes: append([]string(nil), rc.OperationCodes...)}}
			}
			return postResult{kind: postRefused, status: status, err: fmt.Errorf(
				"stellar: horizon refused the transaction: %s: %s", herr.Problem.Title, herr.Problem.Detail)}
		}
	}
	switch {
	case status == http.StatusTooManyRequests:
		return postResult{kind: postRateLimited, status: status, err: err}
	case status >= 500 || status == 0 || (status >= 200 && status < 300):
		// 504 (and other 5xx), no answer at all, or an answer we could not read: the transaction may have
		// reached the network.
		return postResult{kind: postUnknown, status: status, err: fmt.Errorf("stellar: submit (HTTP %d): %w", status, err)}
	default:
		return postResult{kind: postRefused, status: status, err: fmt.Errorf("stellar: submit (HTTP %d): %w", status, err)}
	}
}

// sleep waits before retry number attempt (exponential backoff, bounded), or returns early with ctx's error.
func (h *Horizon) sleep(ctx context.Context, attempt int) error {
	d := h.cfg.RetryBackoff
	for i := 1; i < attempt && d < h.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, h.cfg.MaxRetryBackoff)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func uniqueSigners(signers []Signer) []Signer {
	out := signers[:0:0]
	seen := make(map[string]bool, len(signers))
	for _, s := range signers {
		if a := s.Address(); !seen[a] {
			seen[a] = true
			out = append(out, s)
		}
	}
	return out
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
