package stellar

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	hProtocol "github.com/stellar/go-stellar-sdk/protocols/horizon"
	"github.com/stellar/go-stellar-sdk/toid"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// Bulk reads for reconciliation: every holder of an asset a page at a time, and every payment of a time
// window, without a request per account.

// Holder is an account with a trustline to an asset, and its balance of it.
type Holder struct {
	Address string
	Balance Balance
}

// HolderPage is one page of an asset's holders in account-ID order.
type HolderPage struct {
	Holders []Holder
	Next    string // cursor of the next page (the last holder's address, or the given cursor if empty)
}

// AssetHolders lists the accounts holding a trustline to asset after cursor (an account ID; "" from the
// start), at most limit of them (capped at 200): Horizon's GET /accounts?asset=CODE:ISSUER.
func (h *Horizon) AssetHolders(ctx context.Context, asset Asset, cursor string, limit int) (HolderPage, error) {
	if err := asset.Validate(); err != nil {
		return HolderPage{}, err
	}
	if cursor != "" {
		if err := checkAddress("cursor", cursor); err != nil {
			return HolderPage{}, err
		}
	}
	if limit <= 0 || limit > maxPageSize {
		limit = maxPageSize
	}
	c, _ := h.client(ctx)
	page, err := c.Accounts(horizonclient.AccountsRequest{Asset: asset.String(), Cursor: cursor, Limit: uint(limit),
		Order: horizonclient.OrderAsc})
	if err != nil {
		return HolderPage{}, fmt.Errorf("stellar: holders of %s after %q: %w", asset.Code, cursor, err)
	}
	out := HolderPage{Next: cursor, Holders: make([]Holder, 0, len(page.Embedded.Records))}
	for _, a := range page.Embedded.Records {
		holder := Holder{Address: a.AccountID}
		found := false
		for _, b := range a.Balances {
			if b.Type == "native" || b.Code != asset.Code || b.Issuer != asset.Issuer {
				continue
			}
			if holder.Balance, err = balanceOf(b); err != nil {
				return HolderPage{}, fmt.Errorf("stellar: holder %s: %w", a.AccountID, err)
			}
			found = true
		}
		if !found {
			return HolderPage{}, fmt.Errorf("stellar: holder %s listed for %s has no trustline to it", a.AccountID, asset.Code)
		}
		out.Holders = append(out.Holders, holder)
		out.Next = a.AccountID
	}
	return out, nil
}

// maxWindowTransactions bounds what PaymentsBetween reads, so that a window with no end in sight (a clock
// gone wrong) cannot turn into a read of the whole history.
const maxWindowTransactions = 50_000_000

// PaymentsBetween calls fn with every payment and clawback of asset in the successful transactions of the
// ledgers closed in [from, to), oldest first, each with the payment_guid of the manageData operation right
// before it, if any. Unlike FindPayment it keeps operations that carry no GUID: reconciliation must see
// what the ledger did not send. It finds the first ledger of the window by bisection over the ledgers, then
// pages through the transactions (200 per request).
func (h *Horizon) PaymentsBetween(ctx context.Context, asset Asset, from, to time.Time, fn func(PaymentRecord) error) error {
	if err := asset.Validate(); err != nil {
		return err
	}
	if !from.Before(to) {
		return invalid("window", "from %s is not before to %s", from, to)
	}
	first, ok, err := h.firstLedgerAt(ctx, from)
	if err != nil || !ok {
		return err
	}
	cursor := fmt.Sprint(toid.New(int32(first), 0, 0).ToInt64())
	for read := 0; read < maxWindowTransactions; {
		c, _ := h.client(ctx)
		page, err := c.Transactions(horizonclient.TransactionRequest{Cursor: cursor, Limit: maxPageSize, Order: horizonclient.OrderAsc})
		if err != nil {
			return fmt.Errorf("stellar: transactions after %s: %w", cursor, err)
		}
		recs := page.Embedded.Records
		for _, tx := range recs {
			read++
			if !tx.LedgerCloseTime.Before(to) {
				return nil
			}
			if !tx.Successful {
				continue
			}
			ops, err := decodeAssetOps(tx, asset)
			if err != nil {
				return fmt.Errorf("stellar: %w", err)
			}
			for _, op := range ops {
				if err := fn(op); err != nil {
					return err
				}
			}
		}
		if len(recs) < maxPageSize {
			return nil
		}
		cursor = recs[len(recs)-1].PT
	}
	return fmt.Errorf("stellar: more than %d transactions after %s", maxWindowTransactions, from)
}

// firstLedgerAt finds the first ledger closed at or after t; ok is false when none is (t is in the future).
func (h *Horizon) firstLedgerAt(ctx context.Context, t time.Time) (uint32, bool, error) {
	c, _ := h.client(ctx)
	latest, err := c.Ledgers(horizonclient.LedgerRequest{Order: horizonclient.OrderDesc, Limit: 1})
	if err != nil {
		return 0, false, fmt.Errorf("stellar: latest ledger: %w", err)
	}
	if len(latest.Embedded.Records) == 0 || latest.Embedded.Records[0].ClosedAt.Before(t) {
		return 0, false, nil
	}
	top := latest.Embedded.Records[0].Sequence
	var searchErr error
	// Ledger close times ascend with their sequence numbers; the oldest ledgers may be pruned (404), which
	// counts as "before t".
	i := sort.Search(int(top), func(i int) bool {
		if searchErr != nil {
			return true
		}
		c, _ := h.client(ctx)
		l, err := c.LedgerDetail(uint32(i + 1))
		if err != nil {
			if notFound(err) {
				return false
			}
			searchErr = err
			return true
		}
		return !l.ClosedAt.Before(t)
	})
	if searchErr != nil {
		return 0, false, fmt.Errorf("stellar: find the ledger closed at %s: %w", t, searchErr)
	}
	return uint32(i + 1), true, nil
}

// decodeAssetOps returns the payments and clawbacks of asset in a transaction, each with the GUID of the
// manageData operation right before it, if any.
func decodeAssetOps(tx hProtocol.Transaction, asset Asset) ([]PaymentRecord, error) {
	raw, err := base64.StdEncoding.DecodeString(tx.EnvelopeXdr)
	if err != nil {
		return nil, fmt.Errorf("transaction %s: envelope: %w", tx.Hash, err)
	}
	var env xdr.TransactionEnvelope
	if err := xdr.SafeUnmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("transaction %s: envelope: %w", tx.Hash, err)
	}
	txID, err := strconv.ParseInt(tx.PT, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("transaction %s: paging token %q: %w", tx.Hash, tx.PT, err)
	}
	var out []PaymentRecord
	guid := ""
	for i, op := range env.Operations() {
		source := tx.Account
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
		// An operation's ID is its transaction's paging token plus its index from 1 (the low bits of a TOID).
		rec := PaymentRecord{ID: strconv.FormatInt(txID+int64(i+1), 10),
			TxHash: tx.Hash, Successful: tx.Successful, ClosedAt: tx.LedgerCloseTime, GUID: guid}
		var a xdr.Asset
		switch op.Body.Type {
		case xdr.OperationTypePayment:
			p, _ := op.Body.GetPaymentOp()
			to, err := accountOf(p.Destination)
			if err != nil {
				return nil, fmt.Errorf("transaction %s: %w", tx.Hash, err)
			}
			rec.Kind, rec.From, rec.To, rec.Stroops, a = "payment", source, to, int64(p.Amount), p.Asset
		case xdr.OperationTypeClawback:
			cb, _ := op.Body.GetClawbackOp()
			from, err := accountOf(cb.From)
			if err != nil {
				return nil, fmt.Errorf("transaction %s: %w", tx.Hash, err)
			}
			rec.Kind, rec.From, rec.To, rec.Stroops, a = "clawback", from, source, int64(cb.Amount), cb.Asset
		default:
			guid = ""
			continue
		}
		guid = ""
		if a.IsNative() || a.GetCode() != asset.Code || a.GetIssuer() != asset.Issuer {
			continue
		}
		rec.Code, rec.Issuer = asset.Code, asset.Issuer
		out = append(out, rec)
	}
	return out, nil
}
