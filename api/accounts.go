package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/text"
	"github.com/kazna-ledger/kazna/projections"
)

// Digital entities (guide §8, §16.4, §16.6), their blocking, and segments (§7.2). The routes are in
// customerHandlers.routes.

// entityCreateRequest is guide §8's POST …/accounts body.
type entityCreateRequest struct {
	AccountKind    string `json:"account_kind"`
	IBAN           string `json:"iban"`
	KeyKeeperLogin string `json:"key_keeper_login"`
	BranchGUID     string `json:"branch_guid"`
}

func (q entityCreateRequest) Validate() error {
	kind := account.Kind(q.AccountKind)
	var kindErr error
	switch {
	case q.AccountKind == "":
		kindErr = MissingField("account_kind")
	case kind != account.KindProcessing && kind != account.KindEmission:
		kindErr = InvalidField("account_kind", "must be processing or emission (a customer's account is opened under …/customers)")
	}
	return firstError(kindErr, maxLen("iban", q.IBAN, maxIBANInputBytes),
		maxLen("key_keeper_login", q.KeyKeeperLogin, account.MaxKeyKeeperBytes), optionalGUID("branch_guid", q.BranchGUID))
}

// entityCreateResponse is guide §8's answer to POST …/accounts (schema GUIDResponse).
type entityCreateResponse struct {
	GUID string `json:"guid"`
}

func (h customerHandlers) openEntity(w http.ResponseWriter, r *http.Request) error {
	var req entityCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	ibanText, err := checkIBAN("iban", req.IBAN)
	if err != nil {
		return err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	kind := account.Kind(req.AccountKind)
	branch := strings.ToLower(req.BranchGUID)
	// An employee confined to a branch opens entities only for that branch, and an emission entity belongs to
	// the whole bank.
	if own, all := requestScope(r); !all {
		switch {
		case kind == account.KindEmission:
			return Forbidden("an employee of a branch cannot open an emission entity: it belongs to the whole bank")
		case branch != "" && branch != own:
			return Forbidden("you may open entities only for your own branch")
		}
		branch = own
	}
	if kind == account.KindEmission && branch != "" {
		e := Unprocessable("for branch accounts only processing type is possible")
		e.Field = "account_kind"
		return e
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	res, err := h.svc.OpenEntity(r.Context(), bank, app.EntityInput{Kind: kind, IBAN: ibanText,
		KeyKeeperLogin: strings.TrimSpace(req.KeyKeeperLogin), BranchGUID: branch}, opts)
	if err != nil {
		return customersError(err)
	}
	readYourWrite(r, h.wait, res.Position)
	writeJSON(w, http.StatusOK, entityCreateResponse{GUID: res.GUID})
	return nil
}

// entityView is a digital entity as guide §8 lists it (schema Entity). Blocked, segment, branch_guid and
// the balances are Kazna's additions: balance is booked (settled) money, reserved_balance what confirmed
// payments hold until they settle, available_balance = balance − reserved_balance (what a payment may spend).
type entityView struct {
	AccountKind          string      `json:"account_kind"`
	CounterpartyGUID     string      `json:"counterparty_guid"`
	CreatedAt            string      `json:"created_at"`
	IBAN                 string      `json:"iban"`
	StellarAddress       string      `json:"stellar_address"`
	UpdatedAt            string      `json:"updated_at"`
	WalletAccountGUID    string      `json:"wallet_account_guid"`
	WalletUserExternalID string      `json:"wallet_user_external_id"`
	WalletUserGUID       string      `json:"wallet_user_guid"`
	Blocked              bool        `json:"blocked"`
	Segment              string      `json:"segment"`
	BranchGUID           string      `json:"branch_guid"`
	Balance              json.Number `json:"balance"`
	ReservedBalance      json.Number `json:"reserved_balance"`
	AvailableBalance     json.Number `json:"available_balance"`
}

func viewEntity(a projections.Account, asset money.Asset) entityView {
	return entityView{AccountKind: string(a.Kind), CounterpartyGUID: a.CounterpartyGUID, CreatedAt: apiTime(a.CreatedAt),
		IBAN: a.Owner.IBAN, StellarAddress: a.Address, UpdatedAt: apiTime(a.UpdatedAt), WalletAccountGUID: a.GUID,
		WalletUserExternalID: a.CustomerExternalID, WalletUserGUID: a.Owner.CustomerGUID, Blocked: a.Blocked,
		Segment: a.Segment, BranchGUID: a.Owner.BranchGUID, Balance: amountNumber(a.Balance, asset),
		ReservedBalance: amountNumber(a.Reserved, asset), AvailableBalance: amountNumber(a.Balance-a.Reserved, asset)}
}

// entityListResponse is one element of guide §8's answer, which is an array of one such object:
// [{"accounts": […], "total": n}] (schema EntityListResponse). Kazna keeps the array for wire compatibility.
type entityListResponse struct {
	Accounts []entityView `json:"accounts"`
	Total    int          `json:"total"`
}

// accountQuery reads guide §8's filters of GET …/accounts (and of the branch list, §16.4).
func accountQuery(r *http.Request, bank string) (projections.AccountQuery, error) {
	query := projections.AccountQuery{CounterpartyGUID: bank}
	q, err := queryValues(r)
	if err != nil {
		return query, err
	}
	if query.GUIDs, err = guidListParam(q, "wallet_account_guids"); err != nil {
		return query, err
	}
	if query.CustomerGUIDs, err = guidListParam(q, "wallet_user_guids"); err != nil {
		return query, err
	}
	if query.BranchGUIDs, err = guidListParam(q, "branch_guids"); err != nil {
		return query, err
	}
	kinds, err := listParam(q, "account_kinds")
	if err != nil {
		return query, err
	}
	for i, k := range kinds {
		if !account.Kind(k).Valid() {
			return query, InvalidField("account_kinds", "item "+strconv.Itoa(i+1)+" must be customer, processing or emission")
		}
		query.Kinds = append(query.Kinds, account.Kind(k))
	}
	s, _, err := single(q, "iban")
	if err != nil {
		return query, err
	}
	if query.IBAN, err = checkIBAN("iban", s); err != nil {
		return query, err
	}
	if query.Search, _, err = single(q, "search_string"); err != nil {
		return query, err
	}
	page, err := createdOrder(r)
	if err != nil {
		return query, err
	}
	query.Order, query.Offset, query.Limit = page.Order, page.Offset, page.Limit
	query.BranchScope, _ = requestScope(r)
	return query, nil
}

func (h customerHandlers) writeAccounts(w http.ResponseWriter, r *http.Request, query projections.AccountQuery) error {
	list, total, err := h.svc.ListAccounts(r.Context(), query)
	if err != nil {
		return customersError(err)
	}
	asset, _ := h.svc.Asset()
	resp := entityListResponse{Accounts: make([]entityView, 0, len(list)), Total: total}
	for _, a := range list {
		resp.Accounts = append(resp.Accounts, viewEntity(a, asset))
	}
	writeJSON(w, http.StatusOK, []entityListResponse{resp})
	return nil
}

func (h customerHandlers) listAccounts(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	query, err := accountQuery(r, bank.String())
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	return h.writeAccounts(w, r, query)
}

// listBranchAccounts is guide §16.4's "Get branch accounts list": the list of GET …/accounts within one
// branch. Another branch than the caller's own, or one the bank does not have, is 404.
func (h customerHandlers) listBranchAccounts(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	branch, err := pathGUID(r, "branch_guid")
	if err != nil {
		return err
	}
	query, err := accountQuery(r, bank.String())
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	if own, all := requestScope(r); !all && own != branch {
		return branchNotFound(nil)
	}
	if h.branches != nil {
		if _, ok := h.branches.Branch(r.Context(), bank.String(), branch); !ok {
			return branchNotFound(nil)
		}
	}
	query.BranchGUIDs = []string{branch}
	return h.writeAccounts(w, r, query)
}

// maxReasonBytes bounds a block's reason before the domain counts its characters.
const maxReasonBytes = 4 * account.MaxReasonRunes

type blockRequest struct {
	Reason string `json:"reason"`
}

func (q blockRequest) Validate() error {
	if _, err := text.Clean(q.Reason, text.Rule{MaxRunes: account.MaxReasonRunes, Required: true}); err != nil {
		if strings.TrimSpace(q.Reason) == "" {
			return MissingField("reason")
		}
		return InvalidField("reason", err.Error())
	}
	return maxLen("reason", q.Reason, maxReasonBytes)
}

// block stops an account from sending: Kazna deauthorizes its trustline on Stellar and records the block.
func (h customerHandlers) block(w http.ResponseWriter, r *http.Request) error {
	var req blockRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	return h.changeAccount(w, r, func(a accountTarget) (app.Written, error) {
		return h.svc.BlockAccount(r.Context(), a.bank, a.guid, strings.TrimSpace(req.Reason), a.opts)
	})
}

// unblock reverses block. Its body is optional: nothing or {}.
func (h customerHandlers) unblock(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength != 0 {
		var req struct{}
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	return h.changeAccount(w, r, func(a accountTarget) (app.Written, error) {
		return h.svc.UnblockAccount(r.Context(), a.bank, a.guid, a.opts)
	})
}

type accountTarget struct {
	bank, guid uuid.UUID
	opts       app.Write
}

// changeAccount runs a write on the account of the path that the caller may see, and answers {}.
func (h customerHandlers) changeAccount(w http.ResponseWriter, r *http.Request, write func(accountTarget) (app.Written, error)) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := pathGUID(r, "account_guid")
	if err != nil {
		return err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	if _, err := h.visibleAccount(r, bank.String(), guid); err != nil {
		return err
	}
	id, err := guidValue("account_guid", guid)
	if err != nil {
		return err
	}
	res, err := write(accountTarget{bank: bank, guid: id, opts: opts})
	if err != nil {
		return customersError(err)
	}
	readYourWrite(r, h.wait, res.Position)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// segmentAccountView is one account type of a segment (guide §7.2): account_type_guid is the account's GUID
// and asset_code its Stellar code (the guide's mapping).
type segmentAccountView struct {
	AccountTypeGUID  string `json:"account_type_guid"`
	AssetCode        string `json:"asset_code"`
	AssetIssuer      string `json:"asset_issuer"`
	CounterpartyGUID string `json:"counterparty_guid"`
	Kind             string `json:"kind"`
	SegmentName      string `json:"segment_name"`
}

type counterpartyRef struct {
	GUID string `json:"guid"`
	Name string `json:"name"`
}

// segmentsResponse is one element of guide §7.2's answer, an array with the caller's bank (schema Segments).
type segmentsResponse struct {
	Counterparty counterpartyRef                 `json:"counterparty"`
	Segments     map[string][]segmentAccountView `json:"segments"`
}

func (h customerHandlers) segments(w http.ResponseWriter, r *http.Request) error {
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	q, err := queryValues(r)
	if err != nil {
		return err
	}
	names, err := listParam(q, "segment_names")
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	resp := segmentsResponse{Counterparty: counterpartyRef{GUID: bank.String()}, Segments: map[string][]segmentAccountView{}}
	if h.banks != nil {
		if c, ok := h.banks.Counterparty(r.Context(), bank.String()); ok {
			resp.Counterparty.Name = c.Name
		}
	}
	own, all := requestScope(r)
	for name, accounts := range h.svc.Segments(r.Context(), bank.String(), names) {
		var views []segmentAccountView
		for _, a := range accounts {
			if !all && !strings.EqualFold(h.accountBranch(r.Context(), bank.String(), a), own) {
				continue // another branch's account does not exist for this caller
			}
			views = append(views, segmentAccountView{AccountTypeGUID: a.GUID, AssetCode: a.AssetCode, AssetIssuer: a.AssetIssuer,
				CounterpartyGUID: a.CounterpartyGUID, Kind: string(a.Kind), SegmentName: name})
		}
		if len(views) > 0 {
			slices.SortFunc(views, func(a, b segmentAccountView) int { return strings.Compare(a.AccountTypeGUID, b.AccountTypeGUID) })
			resp.Segments[name] = views
		}
	}
	writeJSON(w, http.StatusOK, []segmentsResponse{resp})
	return nil
}

// segmentRequest is guide §7.2's PATCH …/segments body: put the account in the segment; "" takes it out.
type segmentRequest struct {
	AccountTypeGUID string  `json:"account_type_guid"`
	SegmentName     *string `json:"segment_name"`
}

func (q segmentRequest) Validate() error {
	var nameErr error
	if q.SegmentName == nil {
		nameErr = MissingField("segment_name")
	} else if _, err := text.Clean(*q.SegmentName, text.Rule{MaxRunes: account.MaxSegmentRunes}); err != nil {
		nameErr = InvalidField("segment_name", err.Error())
	}
	return firstError(requireString("account_type_guid", q.AccountTypeGUID), optionalGUID("account_type_guid", q.AccountTypeGUID), nameErr)
}

func (h customerHandlers) setSegment(w http.ResponseWriter, r *http.Request) error {
	var req segmentRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	bank, err := bankOf(r)
	if err != nil {
		return err
	}
	guid, err := guidValue("account_type_guid", req.AccountTypeGUID)
	if err != nil {
		return err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	if h.svc == nil {
		return errServiceUnavailable
	}
	if _, err := h.visibleAccount(r, bank.String(), guid.String()); err != nil {
		return err
	}
	res, err := h.svc.SetSegment(r.Context(), bank, guid, strings.TrimSpace(*req.SegmentName), opts)
	if err != nil {
		return customersError(err)
	}
	readYourWrite(r, h.wait, res.Position)
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
