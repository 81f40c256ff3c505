package stellar

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"

	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	hProtocol "github.com/stellar/go-stellar-sdk/protocols/horizon"
	"github.com/stellar/go-stellar-sdk/protocols/horizon/operations"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// maxPageSize is Horizon's largest page.
const maxPageSize = 200

// Account reads an account's balances, signers, thresholds and flags.
func (h *Horizon) Account(ctx context.Context, address string) (AccountState, error) {
	if err := checkAddress("account", address); err != nil {
		return AccountState{}, err
	}
	c, _ := h.client(ctx)
	a, err := c.AccountDetail(horizonclient.AccountRequest{AccountID: address})
	if err != nil {
		if notFound(err) {
			return AccountState{}, fmt.Errorf("stellar: account %s: %w", address, ErrNotFound)
		}
		return AccountState{}, fmt.Errorf("stellar: read account %s: %w", address, err)
	}
	st := AccountState{
		Address:  a.AccountID,
		Sequence: a.Sequence,
		Thresholds: Thresholds{
			Low: a.Thresholds.LowThreshold, Medium: a.Thresholds.MedThreshold, High: a.Thresholds.HighThreshold,
		},
		Flags: AccountFlags{
			AuthRequired: a.Flags.AuthRequired, AuthRevocable: a.Flags.AuthRevocable,
			AuthImmutable: a.Flags.AuthImmutable, AuthClawbackEnabled: a.Flags.AuthClawbackEnabled,
		},
	}
	for _, s := range a.Signers {
		if s.Weight < 0 || s.Weight > 255 {
			return AccountState{}, fmt.Errorf("stellar: account %s: signer weight %d out of range", address, s.Weight)
		}
		st.Signers = append(st.Signers, SignerWeight{Address: s.Key, Weight: uint8(s.Weight)})
	}
	for _, b := range a.Balances {
		bal, err := balanceOf(b)
		if err != nil {
			return AccountState{}, fmt.Errorf("stellar: account %s: %w", address, err)
		}
		st.Balances = append(st.Balances, bal)
	}
	return st, nil
}

func balanceOf(b hProtocol.Balance) (Balance, error) {
	stroops, err := ParseStroops(b.Balance)
	if err != nil {
		return Balance{}, fmt.Errorf("balance %q: %w", b.Balance, err)
	}
	out := Balance{Native: b.Type == "native", Code: b.Code, Issuer: b.Issuer, Stroops: stroops}
	if b.Limit != "" {
		if out.LimitStroops, err = ParseStroops(b.Limit); err != nil {
			return Balance{}, fmt.Errorf("limit %q: %w", b.Limit, err)
		}
	}
	out.Authorized = out.Native || (b.IsAuthorized != nil && *b.IsAuthorized)
	out.ClawbackEnabled = b.IsClawbackEnabled != nil && *b.IsClawbackEnabled
	return out, nil
}

// FindPayment finds the payment (or clawback) that carries guid in its manageData operation among account's
// successful transactions, newest first. It reads at most Config.FindScanLimit transactions; beyond that, or
// if there is no such payment, it returns ErrNotFound.
func (h *Horizon) FindPayment(ctx context.Context, account, guid string) (PaymentRecord, error) {
	if err := checkAddress("account", account); err != nil {
		return PaymentRecord{}, err
	}
	if guid == "" {
		return PaymentRecord{}, invalid("guid", "empty")
	}
	if err := checkGUID(guid); err != nil {
		return PaymentRecord{}, err
	}
	cursor, scanned := "", 0
	for scanned < h.cfg.FindScanLimit {
		c, _ := h.client(ctx)
		page, err := c.Transactions(horizonclient.TransactionRequest{
			ForAccount: account, Order: horizonclient.OrderDesc, Cursor: cursor, Limit: maxPageSize,
		})
		if err != nil {
			if notFound(err) {
				return PaymentRecord{}, fmt.Errorf("stellar: payment %s: account %s: %w", guid, account, ErrNotFound)
			}
			return PaymentRecord{}, fmt.Errorf("stellar: payment %s: list transactions of %s: %w", guid, account, err)
		}
		recs := page.Embedded.Records
		for _, tx := range recs {
			scanned++
			if !tx.Successful {
				continue
			}
			ops, err := decodePayments(tx)
			if err != nil {
				return PaymentRecord{}, fmt.Errorf("stellar: payment %s: %w", guid, err)
			}
			for _, op := range ops {
				if op.GUID == guid {
					return op, nil
				}
			}
		}
		if len(recs) == 0 || len(recs) < maxPageSize {
			break
		}
		cursor = recs[len(recs)-1].PT
	}
	return PaymentRecord{}, fmt.Errorf("stellar: payment %s among %d transactions of %s: %w", guid, scanned, account, ErrNotFound)
}

// decodePayments returns the payments and clawbacks of a transaction with the GUID of the manageData
// operation right before each, if any.
func decodePayments(tx hProtocol.Transaction) ([]PaymentRecord, error) {
	raw, err := base64.StdEncoding.DecodeString(tx.EnvelopeXdr)
	if err != nil {
		return nil, fmt.Errorf("transaction %s: envelope: %w", tx.Hash, err)
	}
	if !bytes.Contains(raw, []byte(PaymentGUIDDataName)) {
		return nil, nil // cheap filter: no GUID in this transaction
	}
	var env xdr.TransactionEnvelope
	if err := xdr.SafeUnmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("transaction %s: envelope: %w", tx.Hash, err)
	}
	txSource := tx.Account
	var out []PaymentRecord
	guid := ""
	for _, op := range env.Operations() {
		source := txSource
		if op.SourceAccount != nil {
			if source, err = accountOf(*op.SourceAccount); err != nil {
				return nil, fmt.Errorf("transaction %s: %w", tx.Hash, err)
			}
		}
		if md, ok := op.Body.GetManageDataOp(); ok {
			guid = ""
			if string(md.DataName) == PaymentGUIDDataName && md.DataValue != nil {
				guid = string(*md.DataValue)
			}
			continue
		}
		rec := PaymentRecord{TxHash: tx.Hash, Successful: tx.Successful, ClosedAt: tx.LedgerCloseTime, GUID: guid}
		var asset xdr.Asset
		switch {
		case op.Body.Type == xdr.OperationTypePayment:
			p, _ := op.Body.GetPaymentOp()
			to, err := accountOf(p.Destination)
			if err != nil {
				return nil, fmt.Errorf("transaction %s: %w", tx.Hash, err)
			}
			rec.Kind, rec.From, rec.To, rec.Stroops, asset = "payment", source, to, int64(p.Amount), p.Asset
		case op.Body.Type == xdr.OperationTypeClawback:
			cb, _ := op.Body.GetClawbackOp()
			from, err := accountOf(cb.From)
			if err != nil {
				return nil, fmt.Errorf("transaction %s: %w", tx.Hash, err)
			}
			rec.Kind, rec.From, rec.To, rec.Stroops, asset = "clawback", from, source, int64(cb.Amount), cb.Asset
		default:
			guid = ""
			continue
		}
		rec.Native = asset.IsNative()
		if !rec.Native {
			rec.Code, rec.Issuer = asset.GetCode(), asset.GetIssuer()
		}
		out = append(out, rec)
		guid = ""
	}
	return out, nil
}

// Payments lists account's payments (and account fundings) after cursor, oldest first, with their GUIDs.
// limit is capped at 200. Clawbacks are not payments in Horizon's sense; find them with FindPayment.
func (h *Horizon) Payments(ctx context.Context, account, cursor string, limit int) (PaymentPage, error) {
	if err := checkAddress("account", account); err != nil {
		return PaymentPage{}, err
	}
	if limit <= 0 || limit > maxPageSize {
		limit = maxPageSize
	}
	c, _ := h.client(ctx)
	page, err := c.Payments(horizonclient.OperationRequest{
		ForAccount: account, Cursor: cursor, Limit: uint(limit), Order: horizonclient.OrderAsc,
	})
	if err != nil {
		if notFound(err) {
			return PaymentPage{}, fmt.Errorf("stellar: payments of %s: %w", account, ErrNotFound)
		}
		return PaymentPage{}, fmt.Errorf("stellar: payments of %s: %w", account, err)
	}
	out := PaymentPage{Next: cursor}
	for _, r := range page.Embedded.Records {
		var rec PaymentRecord
		switch op := r.(type) {
		case operations.Payment:
			rec = PaymentRecord{Kind: "payment", From: op.From, To: op.To, Native: op.Asset.Type == "native",
				Code: op.Asset.Code, Issuer: op.Asset.Issuer}
			if rec.Stroops, err = ParseStroops(op.Amount); err != nil {
				return PaymentPage{}, fmt.Errorf("stellar: payment %s: %w", op.ID, err)
			}
			fillBase(&rec, op.Base)
		case operations.CreateAccount:
			rec = PaymentRecord{Kind: "create_account", From: op.Funder, To: op.Account, Native: true}
			if rec.Stroops, err = ParseStroops(op.StartingBalance); err != nil {
				return PaymentPage{}, fmt.Errorf("stellar: account funding %s: %w", op.ID, err)
			}
			fillBase(&rec, op.Base)
		default:
			if b, ok := operationBase(r); ok {
				out.Next = b.PT
			}
			continue
		}
		out.Records = append(out.Records, rec)
		out.Next = rec.Cursor
	}
	if err := h.attachGUIDs(ctx, out.Records); err != nil {
		return PaymentPage{}, err
	}
	return out, nil
}

func fillBase(rec *PaymentRecord, b operations.Base) {
	rec.ID, rec.Cursor, rec.TxHash, rec.Successful, rec.ClosedAt = b.ID, b.PT, b.TransactionHash, b.TransactionSuccessful, b.LedgerCloseTime
}

func operationBase(op operations.Operation) (operations.Base, bool) {
	switch o := op.(type) {
	case operations.PathPayment:
		return o.Base, true
	case operations.PathPaymentStrictSend:
		return o.Base, true
	case operations.AccountMerge:
		return o.Base, true
	}
	return operations.Base{}, false
}

// attachGUIDs reads each distinct transaction of records once and copies the GUID of the matching payment:
// the n-th record of a transaction with a given (from, to, asset, amount) matches the n-th such operation.
func (h *Horizon) attachGUIDs(ctx context.Context, records []PaymentRecord) error {
	type key struct {
		from, to, code, issuer string
		stroops                int64
	}
	decoded := map[string][]PaymentRecord{}
	used := map[string]map[int]bool{}
	for i := range records {
		r := &records[i]
		if r.Kind != "payment" || r.TxHash == "" {
			continue
		}
		ops, ok := decoded[r.TxHash]
		if !ok {
			tx, found, err := h.lookup(ctx, r.TxHash)
			if err != nil {
				return err
			}
			if found {
				if ops, err = decodePayments(tx); err != nil {
					return fmt.Errorf("stellar: %w", err)
				}
			}
			decoded[r.TxHash], used[r.TxHash] = ops, map[int]bool{}
		}
		want := key{r.From, r.To, r.Code, r.Issuer, r.Stroops}
		for j, op := range ops {
			if op.Kind == "payment" && !used[r.TxHash][j] && (key{op.From, op.To, op.Code, op.Issuer, op.Stroops}) == want {
				used[r.TxHash][j] = true
				r.GUID = op.GUID
				break
			}
		}
	}
	return nil
}

func accountOf(m xdr.MuxedAccount) (string, error) {
	aid := m.ToAccountId()
	return aid.GetAddress()
}

func notFound(err error) bool {
	herr := horizonclient.GetError(err)
	return herr != nil && herr.Response != nil && herr.Response.StatusCode == http.StatusNotFound
}
