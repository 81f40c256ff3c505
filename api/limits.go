package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/limits"
	"github.com/kazna-ledger/kazna/domain/money"
)

// LimitService keeps a bank's limits on outgoing payments (guide §14, app.Limits).
type LimitService interface {
	SetOperation(ctx context.Context, cp uuid.UUID, t limits.Target, o limits.Operation, w app.Write) (app.Written, error)
	RemoveOperation(ctx context.Context, cp uuid.UUID, t limits.Target, w app.Write) (app.Written, error)
	SetWindow(ctx context.Context, cp uuid.UUID, t limits.Target, win limits.Window, w app.Write) (app.Written, error)
	RemoveWindow(ctx context.Context, cp uuid.UUID, t limits.Target, period string, days int, w app.Write) (app.Written, error)
	Rules(ctx context.Context, cp uuid.UUID) (limits.State, error)
	// Asset is the platform's asset and its issuer, to read and write amounts.
	Asset() (asset money.Asset, issuer string)
}

type limitHandlers struct{ svc LimitService }

// limitRoutes serve guide §14. The guide gives the individual endpoints: …/limits/customer/amount (the
// limits over a period, keyed by period in its GET answer) and …/limits/customer/payment (per operation,
// min and max in its GET answer) — the guide's headings name them the other way round; Kazna follows the
// answers' shapes. Standard (segment) and KYC-default limits use the same shapes under …/limits/segment/…
// and …/limits/kyc/… (INFERRED), and DELETE removes a limit (INFERRED).
func limitRoutes(d Deps) []Route {
	h := limitHandlers{svc: d.PaymentLimits}
	var routes []Route
	for _, s := range []struct {
		path  string
		scope limits.Scope
	}{{"customer", limits.Individual}, {"segment", limits.Standard}, {"kyc", limits.KYC}} {
		base := cp + "/limits/" + s.path
		routes = append(routes,
			Route{"GET", base + "/amount", PermLimitsRead, h.listWindows(s.scope)},
			Route{"POST", base + "/amount", PermLimitsWrite, h.setWindow(s.scope)},
			Route{"DELETE", base + "/amount", PermLimitsWrite, h.removeWindow(s.scope)},
			Route{"GET", base + "/payment", PermLimitsRead, h.listOperations(s.scope)},
			Route{"POST", base + "/payment", PermLimitsWrite, h.setOperation(s.scope)},
			Route{"DELETE", base + "/payment", PermLimitsWrite, h.removeOperation(s.scope)},
		)
	}
	return routes
}

// limitTargetBody names whom a limit applies to: customer_guid and account_type_guid (the account's GUID)
// for an individual limit, segment_name for a standard one, kyc_level for a KYC default.
type limitTargetBody struct {
	AccountTypeGUID string `json:"account_type_guid"`
	CustomerGUID    string `json:"customer_guid"`
	SegmentName     string `json:"segment_name"`
	KYCLevel        *int   `json:"kyc_level"`
	AssetCode       string `json:"asset_code"`
	AssetIssuer     string `json:"asset_issuer"`
}

func (b limitTargetBody) check(scope limits.Scope) error {
	var scoped error
	switch scope {
	case limits.Individual:
		scoped = firstError(requireString("customer_guid", b.CustomerGUID), optionalGUID("customer_guid", b.CustomerGUID),
			requireString("account_type_guid", b.AccountTypeGUID), optionalGUID("account_type_guid", b.AccountTypeGUID))
	case limits.Standard:
		scoped = firstError(requireString("segment_name", b.SegmentName), maxLen("segment_name", b.SegmentName, 4*limits.MaxSegmentRunes))
	case limits.KYC:
		if b.KYCLevel == nil {
			scoped = MissingField("kyc_level")
		}
	}
	return firstError(scoped, requireString("asset_code", b.AssetCode), maxLen("asset_code", b.AssetCode, maxAssetFieldBytes),
		maxLen("asset_issuer", b.AssetIssuer, maxAssetFieldBytes))
}

func (b limitTargetBody) target(scope limits.Scope) limits.Target {
	t := limits.Target{Scope: scope, AssetCode: b.AssetCode, AssetIssuer: b.AssetIssuer}
	switch scope {
	case limits.Individual:
		t.CustomerGUID, t.AccountTypeGUID = strings.ToLower(b.CustomerGUID), strings.ToLower(b.AccountTypeGUID)
	case limits.Standard:
		t.Segment = b.SegmentName
	case limits.KYC:
		t.KYCLevel = *b.KYCLevel
	}
	return t
}

// windowLimitBody is POST …/limits/*/amount: the sum of the payments in a trailing window stays below max
// (exclusive, guide §14); beyond the guide, days for a custom period and max_count bounds their number.
type windowLimitBody struct {
	limitTargetBody
	Max       amountJSON `json:"max"`
	MaxCount  int        `json:"max_count"`
	Period    string     `json:"period"`
	Days      int        `json:"days"`
	PeriodKey string     `json:"period_key"`
}

func (b windowLimitBody) Validate() error { return nil } // scope-dependent: checked by the handler

// operationLimitBody is POST …/limits/*/payment: a payment must be above min and below max (both exclusive).
type operationLimitBody struct {
	limitTargetBody
	Min amountJSON `json:"min"`
	Max amountJSON `json:"max"`
}

func (b operationLimitBody) Validate() error { return nil }

func (h limitHandlers) setWindow(scope limits.Scope) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req windowLimitBody
		bank, opts, err := bankWrite(r, &req)
		if err != nil {
			return err
		}
		if err := firstError(req.check(scope), requireString("period", req.Period), maxLen("period_key", req.PeriodKey, limits.MaxPeriodKeyBytes)); err != nil {
			return err
		}
		if h.svc == nil {
			return errServiceUnavailable
		}
		asset, _ := h.svc.Asset()
		maxAmount, err := bodyAmount("max", req.Max, asset)
		if err != nil {
			return err
		}
		win := limits.Window{Period: req.Period, Days: req.Days, MaxCount: req.MaxCount, PeriodKey: req.PeriodKey}
		if maxAmount != nil {
			win.Max = int64(*maxAmount)
		}
		if _, err := h.svc.SetWindow(r.Context(), bank, req.target(scope), win, opts); err != nil {
			return limitsError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (h limitHandlers) setOperation(scope limits.Scope) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req operationLimitBody
		bank, opts, err := bankWrite(r, &req)
		if err != nil {
			return err
		}
		if err := req.check(scope); err != nil {
			return err
		}
		if h.svc == nil {
			return errServiceUnavailable
		}
		asset, _ := h.svc.Asset()
		lo, err := bodyAmount("min", req.Min, asset)
		if err != nil {
			return err
		}
		hi, err := bodyAmount("max", req.Max, asset)
		if err != nil {
			return err
		}
		var o limits.Operation
		if lo != nil {
			o.Min = int64(*lo)
		}
		if hi != nil {
			o.Max = int64(*hi)
		}
		if _, err := h.svc.SetOperation(r.Context(), bank, req.target(scope), o, opts); err != nil {
			return limitsError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// queryTarget reads a limit's target from the query of a DELETE.
func queryTarget(q url.Values, scope limits.Scope) (limitTargetBody, error) {
	var b limitTargetBody
	for _, f := range []struct {
		name string
		to   *string
	}{{"customer_guid", &b.CustomerGUID}, {"account_type_guid", &b.AccountTypeGUID}, {"segment_name", &b.SegmentName},
		{"asset_code", &b.AssetCode}, {"asset_issuer", &b.AssetIssuer}} {
		v, _, err := single(q, f.name)
		if err != nil {
			return b, err
		}
		*f.to = v
	}
	if v, ok, err := single(q, "kyc_level"); err != nil {
		return b, err
	} else if ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return b, InvalidField("kyc_level", "must be a whole number")
		}
		b.KYCLevel = &n
	}
	return b, b.check(scope)
}

func (h limitHandlers) removeWindow(scope limits.Scope) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		bank, opts, q, err := h.removal(r)
		if err != nil {
			return err
		}
		b, err := queryTarget(q, scope)
		if err != nil {
			return err
		}
		period, _, err := single(q, "period")
		if err != nil {
			return err
		}
		if period == "" {
			return MissingField("period")
		}
		days := 0
		if v, ok, err := single(q, "days"); err != nil {
			return err
		} else if ok {
			if days, err = strconv.Atoi(v); err != nil {
				return InvalidField("days", "must be a whole number")
			}
		}
		if _, err := h.svc.RemoveWindow(r.Context(), bank, b.target(scope), period, days, opts); err != nil {
			return limitsError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (h limitHandlers) removeOperation(scope limits.Scope) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		bank, opts, q, err := h.removal(r)
		if err != nil {
			return err
		}
		b, err := queryTarget(q, scope)
		if err != nil {
			return err
		}
		if _, err := h.svc.RemoveOperation(r.Context(), bank, b.target(scope), opts); err != nil {
			return limitsError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// removal reads what every DELETE needs: no body, the bank, the Idempotency-Key and the query.
func (h limitHandlers) removal(r *http.Request) (uuid.UUID, app.Write, url.Values, error) {
	if err := emptyBody(r); err != nil {
		return uuid.Nil, app.Write{}, nil, err
	}
	bank, err := bankOf(r)
	if err != nil {
		return uuid.Nil, app.Write{}, nil, err
	}
	opts, err := writeOptions(r)
	if err != nil {
		return uuid.Nil, app.Write{}, nil, err
	}
	q, err := queryValues(r)
	if err != nil {
		return uuid.Nil, app.Write{}, nil, err
	}
	if h.svc == nil {
		return uuid.Nil, app.Write{}, nil, errServiceUnavailable
	}
	return bank, opts, q, nil
}

// limitColumn is one target's row of a GET answer (guide §14's "columns").
type limitColumn struct {
	AccountTypeGUID string                 `json:"account_type_guid,omitempty"`
	CustomerGUID    string                 `json:"customer_guid,omitempty"`
	SegmentName     string                 `json:"segment_name,omitempty"`
	KYCLevel        *int                   `json:"kyc_level,omitempty"`
	AssetCode       string                 `json:"asset_code"`
	AssetIssuer     string                 `json:"asset_issuer"`
	Period          map[string]periodLimit `json:"period,omitempty"`
	Min             *json.Number           `json:"min,omitempty"`
	Max             *json.Number           `json:"max,omitempty"`
	UpdatedAt       time.Time              `json:"updated_at"`
}

// periodLimit is one window of a column: keyed by its period, "custom_<days>" for a custom one.
type periodLimit struct {
	Max       *json.Number `json:"max,omitempty"`
	MaxCount  int          `json:"max_count,omitempty"`
	Days      int          `json:"days"`
	PeriodKey string       `json:"period_key"`
}

type limitColumns struct {
	Columns []limitColumn `json:"columns"`
}

func (h limitHandlers) listWindows(scope limits.Scope) func(http.ResponseWriter, *http.Request) error {
	return h.list(scope, func(c *limitColumn, r limits.Rules, asset money.Asset) bool {
		if len(r.Windows) == 0 {
			return false
		}
		c.Period = map[string]periodLimit{}
		for days, win := range r.Windows {
			key := win.Period
			if key == limits.Custom {
				key = "custom_" + strconv.Itoa(days)
			}
			p := periodLimit{MaxCount: win.MaxCount, Days: days, PeriodKey: win.PeriodKey}
			if win.Max > 0 {
				n := amountNumber(money.Amount(win.Max), asset)
				p.Max = &n
			}
			c.Period[key] = p
		}
		return true
	})
}

func (h limitHandlers) listOperations(scope limits.Scope) func(http.ResponseWriter, *http.Request) error {
	return h.list(scope, func(c *limitColumn, r limits.Rules, asset money.Asset) bool {
		if r.Operation == nil {
			return false
		}
		if r.Operation.Min > 0 {
			n := amountNumber(money.Amount(r.Operation.Min), asset)
			c.Min = &n
		}
		if r.Operation.Max > 0 {
			n := amountNumber(money.Amount(r.Operation.Max), asset)
			c.Max = &n
		}
		return true
	})
}

// list answers the rules of a scope (filtered by customer_guid, segment_name or kyc_level when given).
func (h limitHandlers) list(scope limits.Scope, fill func(*limitColumn, limits.Rules, money.Asset) bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		bank, err := bankOf(r)
		if err != nil {
			return err
		}
		q, err := queryValues(r)
		if err != nil {
			return err
		}
		customer, _, err := single(q, "customer_guid")
		if err != nil {
			return err
		}
		if err := optionalGUID("customer_guid", customer); err != nil {
			return err
		}
		segment, _, err := single(q, "segment_name")
		if err != nil {
			return err
		}
		kyc, hasKYC, err := single(q, "kyc_level")
		if err != nil {
			return err
		}
		if h.svc == nil {
			return errServiceUnavailable
		}
		rules, err := h.svc.Rules(r.Context(), bank)
		if err != nil {
			return limitsError(err)
		}
		asset, _ := h.svc.Asset()
		out := limitColumns{Columns: []limitColumn{}}
		for _, rule := range rules.List(scope, customer) {
			t := rule.Target
			if (segment != "" && t.Segment != segment) || (hasKYC && strconv.Itoa(t.KYCLevel) != kyc) {
				continue
			}
			c := limitColumn{AccountTypeGUID: t.AccountTypeGUID, CustomerGUID: t.CustomerGUID, SegmentName: t.Segment,
				AssetCode: t.AssetCode, AssetIssuer: t.AssetIssuer, UpdatedAt: rule.UpdatedAt.UTC()}
			if scope == limits.KYC {
				level := t.KYCLevel
				c.KYCLevel = &level
			}
			if fill(&c, rule, asset) {
				out.Columns = append(out.Columns, c)
			}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// limitsError maps the limits' refusals.
func limitsError(err error) error {
	var inv *limits.ErrInvalid
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: inv.Field, Message: inv.Field + ": " + inv.Reason, Err: err}
	case errors.Is(err, limits.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such limit is set", Err: err}
	case errors.Is(err, app.ErrLimitTarget):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "the customer or the account is not the bank's, or the account is not the customer's", Err: err}
	}
	return customersError(err)
}

// limitRefusal is the 422 of a confirmation a limit refuses: which limit, over which window, and what is
// still allowed (guide §14 semantics; the body's "limit" object is Kazna's).
func limitRefusal(le *account.LimitError, asset money.Asset) *Error {
	amt := func(v int64) string { return string(amountNumber(money.Amount(v), asset)) }
	d := map[string]any{"limit": le.Limit, "source": le.Source, "amount": json.Number(amt(le.Amount))}
	var msg string
	switch le.Limit {
	case "operation_min":
		d["min"], d["allowed_min"] = json.Number(amt(le.Bound)), json.Number(amt(le.Allowed))
		msg = fmt.Sprintf("the %s limit needs a payment above %s", le.Source, amt(le.Bound))
	case "operation_max":
		d["max"], d["allowed_max"] = json.Number(amt(le.Bound)), json.Number(amt(le.Allowed))
		msg = fmt.Sprintf("the %s limit needs a payment below %s; at most %s is allowed", le.Source, amt(le.Bound), amt(le.Allowed))
	case "window_count":
		d["period"], d["days"], d["max_count"], d["used_count"], d["allowed_count"] = le.Period, le.Days, le.Bound, le.Used, le.Allowed
		msg = fmt.Sprintf("the %s %s limit allows %d payments in %d days; %d made", le.Source, le.Period, le.Bound, le.Days, le.Used)
	default:
		d["period"], d["days"], d["max"], d["used"], d["allowed"] = le.Period, le.Days, json.Number(amt(le.Bound)), json.Number(amt(le.Used)), json.Number(amt(le.Allowed))
		msg = fmt.Sprintf("the %s %s limit keeps the payments of %d days below %s; %s used, at most %s more allowed",
			le.Source, le.Period, le.Days, amt(le.Bound), amt(le.Used), amt(le.Allowed))
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeLimitExceeded, Message: msg, Details: d, Err: le}
}
