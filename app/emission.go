package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/emission"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// Emission: issuing and burning e-money (guide §9). A bank asks (POST …/emission/issue or …/burn); the
// request is decided on the bank's emission stream, which holds the reserve rule and the one-open-request
// rule. The bank's auto_issue / auto_burn flag confirms its requests at once (in the same append); otherwise
// the platform administrator confirms or cancels. A confirmed request is carried on chain by one payment,
// issuer → emission entity for an issue and back for a burn: Kazna pays straight from the issuer, so the
// guide's "issuer payment" and "emission payment" of the history are that one payment. A payment refused for
// good (a burn the emission entity cannot cover) fails the request, and its amount leaves the totals.

var (
	// ErrCounterpartyDisabled is a request of a disabled counterparty.
	ErrCounterpartyDisabled = errors.New("app: the counterparty is disabled")
	// ErrNoEmissionAccount is a counterparty without an emission entity to issue to.
	ErrNoEmissionAccount = errors.New("app: the counterparty has no emission entity")
	// ErrEmissionPaymentRefused is an emission payment that can never be made. An EmissionPayments
	// implementation wraps it (or returns account.ErrInsufficientFunds, account.ErrBlocked or a payment
	// domain refusal) so that the request is failed; any other error is taken as passing.
	ErrEmissionPaymentRefused = errors.New("app: the emission payment was refused")
	// ErrEmissionPaymentNotStarted is a confirmed request whose payment did not start for a passing reason
	// (the ledger or network busy). The request stays CONFIRMED; confirming it again (or retrying the
	// auto-confirmed request with its Idempotency-Key) starts the same payment.
	ErrEmissionPaymentNotStarted = errors.New("app: the emission is confirmed but its payment did not start")
)

// EmissionRefusedError is a confirmed request whose payment was refused for good: the request is FAILED.
// It matches ErrEmissionPaymentRefused.
type EmissionRefusedError struct {
	GUID   string
	Reason string
	Err    error
}

func (e *EmissionRefusedError) Error() string {
	return fmt.Sprintf("app: emission %s failed: %s: %v", e.GUID, e.Reason, e.Err)
}
func (e *EmissionRefusedError) Is(target error) bool { return target == ErrEmissionPaymentRefused }
func (e *EmissionRefusedError) Unwrap() error        { return e.Err }

// EmissionPayments starts the payment that carries an emission on chain (Payments).
type EmissionPayments interface {
	// StartEmissionPayment creates and confirms the payment of an issue (issuer → emission account) or a burn
	// (emission account → issuer; the amount is reserved on the emission account first). Idempotent by Payment.
	StartEmissionPayment(ctx context.Context, p EmissionPayment, w Write) error
}

// EmissionPaymentViews finds the payment that carries an emission in the payments read model
// (projections.Payments): its Stellar transaction hash ("" until it is settled) and its status.
type EmissionPaymentViews interface {
	Payment(guid string) (projections.Payment, bool)
}

// The payments service starts emission payments, the settlement worker reports their failures here, and the
// payments read model tells their hashes.
var (
	_ EmissionPayments     = (*Payments)(nil)
	_ EmissionOutcomes     = (*Emission)(nil)
	_ EmissionPaymentViews = (*projections.Payments)(nil)
)

// EmissionViews is the emission read model (projections.Emission).
type EmissionViews interface {
	Request(ctx context.Context, guid string) (projections.EmissionRequest, bool)
	Balance(ctx context.Context, counterparty string) (projections.EmissionBalance, bool)
	List(ctx context.Context, q projections.EmissionQuery) ([]projections.EmissionRequest, int, error)
}

// EmissionDeps is what the emission service needs.
type EmissionDeps struct {
	Store command.Store
	// Platform names the asset and its issuer (*Platform).
	Platform interface {
		Asset() money.Asset
		IssuerAddress() string
	}
	// Counterparties gives each bank's emission entity and auto_issue / auto_burn flags.
	Counterparties interface {
		Counterparty(ctx context.Context, guid string) (projections.Counterparty, bool)
	}
	Views    EmissionViews
	Payments EmissionPayments
	// PaymentViews fills the payment hashes of the history; nil leaves them "" (and hash filters match
	// nothing).
	PaymentViews EmissionPaymentViews
	Logger       *slog.Logger
	Now          func() time.Time
}

// Emission runs the use cases of guide §9: requests, the platform's confirmation or cancellation, the
// failure of a payment, and the history.
type Emission struct {
	d EmissionDeps
}

// NewEmission checks deps and fills defaults.
func NewEmission(d EmissionDeps) (*Emission, error) {
	if d.Store == nil || d.Platform == nil || d.Counterparties == nil || d.Views == nil || d.Payments == nil {
		return nil, fmt.Errorf("%w: store, platform, counterparties, views and payments are required", ErrNotReady)
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	d.Logger = d.Logger.With("component", "emission")
	return &Emission{d: d}, nil
}

func (s *Emission) now() time.Time { return s.d.Now().UTC() }

// Asset is the platform's asset and its issuer.
func (s *Emission) Asset() (money.Asset, string) {
	return s.d.Platform.Asset(), s.d.Platform.IssuerAddress()
}

// EmissionInput is the body of POST …/emission/issue or …/burn, amounts in minor units. Reserve is the
// bank's reserve balance now (nil: the last one reported stands).
type EmissionInput struct {
	Direction   emission.Direction `json:"direction"`
	Amount      money.Amount       `json:"amount"`
	Reserve     *money.Amount      `json:"reserve_balance,omitempty"`
	AssetCode   string             `json:"asset_code"`
	AssetIssuer string             `json:"asset_issuer"`
}

// EmissionResult is a request after a write: its status, the payment that carries it once confirmed, and the
// log position to read it back at.
type EmissionResult struct {
	GUID        string
	Status      emission.Status
	PaymentGUID string
	Position    eventstore.Position
}

// EmissionRecord is one row of the history: the request, its counterparty's balance, and its payment's hash
// and status as the payments read model knows them ("" before confirmation or settlement).
type EmissionRecord struct {
	projections.EmissionRequest
	Balance       projections.EmissionBalance
	PaymentHash   string
	PaymentStatus string
}

// Request records a bank's request to issue or burn. With the bank's auto flag for the direction the
// request is confirmed in the same append and its payment started; otherwise it waits, open, for the
// platform. The reserve rule and the one-open-request rule are the aggregate's. A retry with the same
// Idempotency-Key names the same request and resumes a payment that did not start.
func (s *Emission) Request(ctx context.Context, cp uuid.UUID, in EmissionInput, w Write) (EmissionResult, error) {
	if !in.Direction.Valid() {
		return EmissionResult{}, &emission.ErrInvalid{Field: "direction", Reason: "must be issue or burn"}
	}
	asset, issuer := s.Asset()
	if err := s.checkAsset(in.AssetCode, in.AssetIssuer); err != nil {
		return EmissionResult{}, err
	}
	bank, ok := s.d.Counterparties.Counterparty(ctx, cp.String())
	if !ok {
		return EmissionResult{}, counterparty.ErrNotFound
	}
	if bank.Disabled {
		return EmissionResult{}, ErrCounterpartyDisabled
	}
	emAccount, err := uuid.Parse(bank.EmissionAccountGUID)
	if err != nil || emAccount == uuid.Nil {
		return EmissionResult{}, ErrNoEmissionAccount
	}
	auto := bank.AutoIssue
	if in.Direction == emission.Burn {
		auto = bank.AutoBurn
	}
	guid := newGUID(w, "emission/"+cp.String())
	now := s.now()
	cmd := emission.Request{GUID: guid, CounterpartyGUID: cp, Direction: in.Direction, Amount: int64(in.Amount),
		EmissionAccountGUID: emAccount, AssetCode: asset.StellarCode, AssetIssuer: issuer, AutoConfirm: auto, By: subject(w), At: now}
	if in.Reserve != nil {
		r := int64(*in.Reserve)
		cmd.Reserve = &r
	}
	res, err := command.Handle(ctx, s.d.Store, emission.Stream(cp), emission.Decider, emission.Events, any(cmd),
		s.envelope(w, cp, "request", in, now))
	if err != nil {
		return EmissionResult{}, err
	}
	out, err := s.settle(ctx, cp, guid, res.Position, w)
	if err == nil {
		s.d.Logger.InfoContext(ctx, "emission requested", "counterparty", cp.String(), "emission", guid.String(),
			"direction", string(in.Direction), "amount_minor", int64(in.Amount), "status", string(out.Status))
	}
	return out, err
}

// Confirm is the platform's approval of an open request: it counts in the totals from now on, and its
// payment starts. Confirming a confirmed request again starts its payment if it did not start (idempotent).
func (s *Emission) Confirm(ctx context.Context, guid uuid.UUID, w Write) (EmissionResult, error) {
	cp, err := s.counterpartyOf(ctx, guid)
	if err != nil {
		return EmissionResult{}, err
	}
	now := s.now()
	res, err := command.Handle(ctx, s.d.Store, emission.Stream(cp), emission.Decider, emission.Events,
		any(emission.Confirm{GUID: guid, By: subject(w), At: now}), s.envelope(w, cp, "confirm", guid.String(), now))
	if err != nil {
		return EmissionResult{}, err
	}
	out, err := s.settle(ctx, cp, guid, res.Position, w)
	if err == nil {
		s.d.Logger.InfoContext(ctx, "emission confirmed", "counterparty", cp.String(), "emission", guid.String(), "by", subject(w))
	}
	return out, err
}

// Cancel withdraws an open request (the platform's refusal); cancelling it again changes nothing.
func (s *Emission) Cancel(ctx context.Context, guid uuid.UUID, w Write) (EmissionResult, error) {
	cp, err := s.counterpartyOf(ctx, guid)
	if err != nil {
		return EmissionResult{}, err
	}
	now := s.now()
	res, err := command.Handle(ctx, s.d.Store, emission.Stream(cp), emission.Decider, emission.Events,
		any(emission.Cancel{GUID: guid, By: subject(w), At: now}), s.envelope(w, cp, "cancel", guid.String(), now))
	if err != nil {
		return EmissionResult{}, err
	}
	st, pos, err := s.record(ctx, cp, guid, res.Position)
	if err != nil {
		return EmissionResult{}, err
	}
	s.d.Logger.InfoContext(ctx, "emission cancelled", "counterparty", cp.String(), "emission", guid.String(), "by", subject(w))
	return EmissionResult{GUID: guid.String(), Status: st.Status, PaymentGUID: st.PaymentGUID, Position: pos}, nil
}

// Fail records that the payment of a confirmed request failed: the request is FAILED and its amount leaves
// the totals. Failing it again changes nothing.
func (s *Emission) Fail(ctx context.Context, cp, guid uuid.UUID, reason string, w Write) (Written, error) {
	now := s.now()
	reason = reasonText(reason)
	res, err := command.Handle(ctx, s.d.Store, emission.Stream(cp), emission.Decider, emission.Events,
		any(emission.Fail{GUID: guid, Reason: reason, At: now}), s.envelope(w, cp, "fail", reason, now))
	if err != nil {
		return Written{}, err
	}
	if len(res.Events) > 0 && !res.Replayed {
		s.d.Logger.WarnContext(ctx, "emission failed", "counterparty", cp.String(), "emission", guid.String(), "reason", reason)
	}
	return Written{GUID: guid.String(), Position: res.Position}, nil
}

// EmissionPaymentFailed fails the request whose payment the network refused (the settlement worker's
// EmissionOutcomes).
func (s *Emission) EmissionPaymentFailed(ctx context.Context, cp, guid uuid.UUID, reason string) error {
	_, err := s.Fail(ctx, cp, guid, reason, Write{Metadata: eventstore.Metadata{Actor: "kazna"}})
	return err
}

// List returns a page of the requests that match q (a bank's history when q names one counterparty; the
// platform's list otherwise), with their balances and payment hashes. An asset_code filter may name the
// asset by either of its codes.
func (s *Emission) List(ctx context.Context, q projections.EmissionQuery) ([]EmissionRecord, int, error) {
	asset := s.d.Platform.Asset()
	if len(q.AssetCodes) > 0 {
		codes := make([]string, len(q.AssetCodes))
		for i, c := range q.AssetCodes {
			codes[i] = c
			if asset.Names(c) {
				codes[i] = asset.StellarCode
			}
		}
		q.AssetCodes = codes
	}
	if q.PaymentHash == nil && s.d.PaymentViews != nil {
		q.PaymentHash = func(guid string) string {
			p, _ := s.d.PaymentViews.Payment(guid)
			return p.Hash
		}
	}
	rows, total, err := s.d.Views.List(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]EmissionRecord, 0, len(rows))
	balances := map[string]projections.EmissionBalance{}
	for _, r := range rows {
		b, ok := balances[r.CounterpartyGUID]
		if !ok {
			b, _ = s.d.Views.Balance(ctx, r.CounterpartyGUID)
			balances[r.CounterpartyGUID] = b
		}
		rec := EmissionRecord{EmissionRequest: r, Balance: b}
		if r.PaymentGUID != "" && s.d.PaymentViews != nil {
			if p, ok := s.d.PaymentViews.Payment(r.PaymentGUID); ok {
				rec.PaymentHash, rec.PaymentStatus = p.Hash, string(p.Status)
			}
		}
		out = append(out, rec)
	}
	return out, total, nil
}

// checkAsset accepts the platform's asset by either of its codes, and its issuer; both are required.
func (s *Emission) checkAsset(code, issuer string) error {
	asset, platformIssuer := s.Asset()
	switch {
	case strings.TrimSpace(code) == "":
		return &emission.ErrInvalid{Field: "asset_code", Reason: "required"}
	case strings.TrimSpace(issuer) == "":
		return &emission.ErrInvalid{Field: "asset_issuer", Reason: "required"}
	case !asset.Names(code):
		return fmt.Errorf("%w: asset_code %.20q is not %s", ErrUnknownAsset, code, asset.StellarCode)
	case issuer != platformIssuer:
		return fmt.Errorf("%w: asset_issuer is not the platform's issuer", ErrUnknownAsset)
	}
	return nil
}

// counterpartyOf finds the bank of a request by the read model; the bank's stream is the authority on it.
func (s *Emission) counterpartyOf(ctx context.Context, guid uuid.UUID) (uuid.UUID, error) {
	r, ok := s.d.Views.Request(ctx, guid.String())
	if !ok {
		return uuid.Nil, emission.ErrNotFound
	}
	cp, err := uuid.Parse(r.CounterpartyGUID)
	if err != nil {
		return uuid.Nil, emission.ErrNotFound
	}
	return cp, nil
}

// envelope is envelope() with the bank the request concerns and the command's time in the metadata, so
// that the bank's audit trail shows the platform's confirmations of its requests too.
func (s *Emission) envelope(w Write, cp uuid.UUID, step string, request any, at time.Time) command.Envelope {
	w.Metadata.Counterparty, w.Metadata.Time = cp.String(), at
	return envelope(w, step, request)
}

// record is the request as its stream holds it now, and the log position to read it back at (pos, or the
// stream's last event when the write was a no-op).
func (s *Emission) record(ctx context.Context, cp, guid uuid.UUID, pos eventstore.Position) (emission.Record, eventstore.Position, error) {
	st, err := peek(ctx, s.d.Store, emission.Stream(cp), emission.Decider, emission.Events)
	if err != nil {
		return emission.Record{}, pos, err
	}
	r, ok := st.Requests[guid.String()]
	if !ok {
		return r, pos, emission.ErrNotFound
	}
	if pos == (eventstore.Position{}) {
		if pos, err = lastPosition(ctx, s.d.Store, emission.Stream(cp)); err != nil {
			return r, pos, err
		}
	}
	return r, pos, nil
}

// settle starts the payment of a confirmed request (again, if a retry: the payment is idempotent) and
// fails the request if the payment is refused for good.
func (s *Emission) settle(ctx context.Context, cp, guid uuid.UUID, pos eventstore.Position, w Write) (EmissionResult, error) {
	r, pos, err := s.record(ctx, cp, guid, pos)
	if err != nil {
		return EmissionResult{}, err
	}
	out := EmissionResult{GUID: guid.String(), Status: r.Status, PaymentGUID: r.PaymentGUID, Position: pos}
	switch r.Status {
	case emission.StatusFailed: // a replayed request or confirmation answers as it did the first time
		return out, &EmissionRefusedError{GUID: guid.String(), Reason: r.Reason, Err: ErrEmissionPaymentRefused}
	case emission.StatusConfirmed:
	default:
		return out, nil
	}
	emAccount, err := uuid.Parse(r.Requested.EmissionAccountGUID)
	if err != nil {
		return out, fmt.Errorf("app: emission %s names account %q: %w", guid, r.Requested.EmissionAccountGUID, err)
	}
	p := EmissionPayment{Payment: emission.PaymentGUID(guid), Emission: guid, CounterpartyGUID: cp, Burn: r.Requested.Direction == emission.Burn,
		EmissionAccount: emAccount, Amount: r.Requested.Amount}
	pw := w
	pw.Metadata.Counterparty = cp.String()
	err = s.d.Payments.StartEmissionPayment(ctx, p, pw)
	if err == nil {
		return out, nil
	}
	if !refusedForGood(err) {
		s.d.Logger.WarnContext(ctx, "emission payment did not start", "emission", guid.String(), "payment", p.Payment.String(), "err", err)
		return out, fmt.Errorf("%w: %s: %w", ErrEmissionPaymentNotStarted, guid, err)
	}
	reason := refusalReason(err)
	written, ferr := s.Fail(ctx, cp, guid, reason, w)
	if ferr != nil {
		// The refusal stands but is not recorded: a retry of the confirmation meets it again and records it.
		return out, fmt.Errorf("app: record the failure of emission %s (%s): %w", guid, reason, ferr)
	}
	s.d.Logger.WarnContext(ctx, "emission payment refused", "emission", guid.String(), "payment", p.Payment.String(), "err", err)
	out.Status, out.Position = emission.StatusFailed, later(pos, written.Position)
	return out, &EmissionRefusedError{GUID: guid.String(), Reason: reason, Err: err}
}

// refusedForGood tells a payment that can never be made from one that may start on a retry.
func refusedForGood(err error) bool {
	var inv *payment.ErrInvalid
	var route *payment.RouteError
	return errors.Is(err, ErrEmissionPaymentRefused) || errors.Is(err, account.ErrInsufficientFunds) ||
		errors.Is(err, account.ErrBlocked) || errors.Is(err, payment.ErrAlreadyExists) ||
		errors.As(err, &inv) || errors.As(err, &route)
}

// refusalReason is the failure reason recorded on the request, in the platform administrator's words.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, account.ErrInsufficientFunds):
		return "insufficient funds on the emission entity"
	case errors.Is(err, account.ErrBlocked):
		return "the emission entity is blocked"
	}
	return "the payment was refused"
}

// reasonText makes a reason from another component (the network's result codes) fit the domain's rule:
// printable, one line, at most emission.MaxReasonRunes characters.
func reasonText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > emission.MaxReasonRunes {
		s = strings.TrimSpace(string(r[:emission.MaxReasonRunes]))
	}
	if s == "" {
		s = "the payment failed"
	}
	return s
}
