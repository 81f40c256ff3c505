package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/kazna-ledger/kazna/audit"
)

// balanceAtHandlers answer an account's balance at a point in time, folded from the account's own stream
// (the ledger's record), not read from the read models. accounts finds the account the caller may see.
type balanceAtHandlers struct {
	svc      AuditService
	accounts customerHandlers
}

// balanceAtResponse is an account's balance as of a time (Kazna's endpoint; the guide has none). as_of is
// the time asked for, or the time of the answer without ?at=; the last_event_* fields name the last event
// folded, so that an auditor can find it in the history.
type balanceAtResponse struct {
	WalletAccountGUID string      `json:"wallet_account_guid"`
	CounterpartyGUID  string      `json:"counterparty_guid"`
	AccountKind       string      `json:"account_kind"`
	AsOf              string      `json:"as_of"`
	AssetCode         string      `json:"asset_code"`
	Balance           json.Number `json:"balance"`
	ReservedBalance   json.Number `json:"reserved_balance"`
	AvailableBalance  json.Number `json:"available_balance"`
	LastEventRevision uint64      `json:"last_event_revision"`
	LastEventPosition string      `json:"last_event_position"`
	LastEventTime     string      `json:"last_event_time"`
}

func (h balanceAtHandlers) balance(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "account_guid")
	if err != nil {
		return err
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	at, hasAt, err := timeParam(q, "at")
	if err != nil {
		return err
	}
	if h.svc == nil || h.accounts.svc == nil {
		return errServiceUnavailable
	}
	// The read model says whether the caller may see the account at all (its bank, its branch); the
	// balance itself comes from the account's stream.
	if _, err := h.accounts.visibleAccount(r, bank.String(), guid); err != nil {
		return err
	}
	id, err := guidValue("account_guid", guid)
	if err != nil {
		return err
	}
	asOf := time.Now().UTC()
	var cut time.Time
	if hasAt {
		asOf, cut = at.UTC(), at
	}
	b, err := h.svc.AccountBalance(r.Context(), id, cut)
	switch {
	case errors.Is(err, audit.ErrNotYetOpened):
		e := NotFound("account at " + apiTime(asOf) + " (it had no history yet)")
		e.Field = "at"
		return e
	case errors.Is(err, audit.ErrAccountNotFound):
		return NotFound("account")
	case err != nil:
		return err
	}
	if !strings.EqualFold(b.CounterpartyGUID, bank.String()) {
		return NotFound("account") // the read model and the stream disagree: answer nothing rather than another bank's money
	}
	asset, _ := h.accounts.svc.Asset()
	writeJSON(w, http.StatusOK, balanceAtResponse{WalletAccountGUID: b.GUID, CounterpartyGUID: b.CounterpartyGUID,
		AccountKind: string(b.Kind), AsOf: apiTime(asOf), AssetCode: asset.Code, Balance: amountNumber(b.Balance, asset),
		ReservedBalance: amountNumber(b.Reserved, asset), AvailableBalance: amountNumber(b.Available(), asset),
		LastEventRevision: b.Revision, LastEventPosition: b.Position.String(), LastEventTime: apiTime(b.Time)})
	return nil
}
