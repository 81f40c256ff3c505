package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/limits"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/projections"
)

// ErrBalanceAllowed is a payment that would take the receiving customer's balance above its balance_allowed.
var ErrBalanceAllowed = errors.New("app: the payment would take the receiver's balance above its balance_allowed")

// ErrLimitTarget is an individual limit naming a customer or an account the bank does not have (or an account
// that is not the customer's).
var ErrLimitTarget = errors.New("app: the limit names an unknown customer or account")

// CustomerProfiles reads customers and their accounts (projections.Customers).
type CustomerProfiles interface {
	Customer(ctx context.Context, counterpartyGUID, guid string) (projections.Customer, bool)
	Account(ctx context.Context, counterpartyGUID, guid string) (projections.Account, bool)
}

// LimitsDeps is what the limits need.
type LimitsDeps struct {
	Store     command.Store
	Platform  *Platform
	Customers CustomerProfiles
	Accounts  *AccountBook // for the receivers' balances; default: a book of its own
	Logger    *slog.Logger
	Now       func() time.Time
}

// Limits keeps each bank's limits on outgoing payments (guide §14) and resolves those of a payment at its
// confirmation. The check itself is the reservation's (domain/account), atomic with the funds.
type Limits struct {
	d    LimitsDeps
	book *command.Cache[limits.State, any, limits.Event]
}

// limitsBookSize bounds the banks whose rules a process keeps in memory.
const limitsBookSize = 10_000

// NewLimits checks deps and fills defaults.
func NewLimits(d LimitsDeps) (*Limits, error) {
	if d.Store == nil || d.Platform == nil || d.Customers == nil {
		return nil, errors.New("app: limits need a store, the platform and the customers")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Accounts == nil {
		book, err := NewAccountBook(d.Store)
		if err != nil {
			return nil, err
		}
		d.Accounts = book
	}
	book, err := command.NewCache(d.Store, limits.Decider, limits.Events, limitsBookSize)
	if err != nil {
		return nil, err
	}
	return &Limits{d: d, book: book}, nil
}

// Asset is the platform's asset and its issuer, to read and write amounts.
func (l *Limits) Asset() (money.Asset, string) {
	return l.d.Platform.Asset(), l.d.Platform.IssuerAddress()
}

// asset checks that code and issuer name the platform's asset (code may be its API or its Stellar code;
// an empty issuer is the platform's) and returns them as the rules key them: the Stellar code and issuer.
func (l *Limits) asset(code, issuer string) (string, string, error) {
	a, iss := l.d.Platform.Asset(), l.d.Platform.IssuerAddress()
	if !a.Names(strings.TrimSpace(code)) {
		return "", "", &limits.ErrInvalid{Field: "asset_code", Reason: "is not the platform's asset " + a.Code}
	}
	if issuer = strings.TrimSpace(issuer); issuer != "" && issuer != iss {
		return "", "", &limits.ErrInvalid{Field: "asset_issuer", Reason: "is not the platform's issuer " + iss}
	}
	return a.StellarCode, iss, nil
}

// target checks a rule's target against the bank: its asset, and for an individual rule that the customer
// is the bank's and the account is the customer's.
func (l *Limits) target(ctx context.Context, cp uuid.UUID, t limits.Target) (limits.Target, error) {
	code, issuer, err := l.asset(t.AssetCode, t.AssetIssuer)
	if err != nil {
		return t, err
	}
	t.AssetCode, t.AssetIssuer = code, issuer
	if t.Scope == limits.Individual {
		c, ok := l.d.Customers.Customer(ctx, cp.String(), strings.TrimSpace(t.CustomerGUID))
		if !ok {
			return t, fmt.Errorf("%w: customer %s", ErrLimitTarget, t.CustomerGUID)
		}
		if !slices.ContainsFunc(c.Accounts, func(a string) bool { return strings.EqualFold(a, strings.TrimSpace(t.AccountTypeGUID)) }) {
			return t, fmt.Errorf("%w: account %s is not customer %s's", ErrLimitTarget, t.AccountTypeGUID, t.CustomerGUID)
		}
	}
	return t, nil
}

// change decides one rule change on the bank's limits stream.
func (l *Limits) change(ctx context.Context, cp uuid.UUID, cmd any, w Write, request any) (Written, error) {
	res, err := l.book.Handle(ctx, limits.Stream(cp), cmd, envelope(w, "limit", request))
	if err != nil {
		return Written{}, err
	}
	if len(res.Events) > 0 {
		l.d.Logger.Info("limit changed", "counterparty", cp.String(), "change", fmt.Sprintf("%T", res.Events[0]), "actor", w.Metadata.Actor)
	}
	return Written{Position: res.Position}, nil
}

// SetOperation sets the exclusive per-payment bounds of a target (minor units; zero is no bound).
func (l *Limits) SetOperation(ctx context.Context, cp uuid.UUID, t limits.Target, o limits.Operation, w Write) (Written, error) {
	t, err := l.target(ctx, cp, t)
	if err != nil {
		return Written{}, err
	}
	return l.change(ctx, cp, limits.SetOperation{Target: t, Operation: o, At: l.d.Now().UTC()}, w, []any{t, o})
}

// RemoveOperation removes a target's per-payment bounds.
func (l *Limits) RemoveOperation(ctx context.Context, cp uuid.UUID, t limits.Target, w Write) (Written, error) {
	code, issuer, err := l.asset(t.AssetCode, t.AssetIssuer)
	if err != nil {
		return Written{}, err
	}
	t.AssetCode, t.AssetIssuer = code, issuer
	return l.change(ctx, cp, limits.RemoveOperation{Target: t, At: l.d.Now().UTC()}, w, t)
}

// SetWindow sets a target's limit over a trailing window.
func (l *Limits) SetWindow(ctx context.Context, cp uuid.UUID, t limits.Target, win limits.Window, w Write) (Written, error) {
	t, err := l.target(ctx, cp, t)
	if err != nil {
		return Written{}, err
	}
	return l.change(ctx, cp, limits.SetWindow{Target: t, Window: win, At: l.d.Now().UTC()}, w, []any{t, win})
}

// RemoveWindow removes a target's limit over one window.
func (l *Limits) RemoveWindow(ctx context.Context, cp uuid.UUID, t limits.Target, period string, days int, w Write) (Written, error) {
	code, issuer, err := l.asset(t.AssetCode, t.AssetIssuer)
	if err != nil {
		return Written{}, err
	}
	t.AssetCode, t.AssetIssuer = code, issuer
	return l.change(ctx, cp, limits.RemoveWindow{Target: t, Period: period, Days: days, At: l.d.Now().UTC()}, w, []any{t, period, days})
}

// Rules returns the bank's rules as recorded now. The state is shared and must not be changed.
func (l *Limits) Rules(ctx context.Context, cp uuid.UUID) (limits.State, error) {
	var s limits.State
	err := l.book.View(ctx, limits.Stream(cp), func(st limits.State) { s = st }) // copy on write: safe to keep
	return s, err
}

// SpendLimits resolves the limits of a payment from sender (an account of a customer; nil for any other
// sender, to which no limit applies). segment is the account's own segment; the customer's profile segment
// stands in when the account has none.
func (l *Limits) SpendLimits(ctx context.Context, sender payment.Party, segment string) (*account.SpendLimits, error) {
	if sender.Kind != payment.KindCustomer || sender.CustomerGUID == "" {
		return nil, nil
	}
	cp, err := uuid.Parse(sender.CounterpartyGUID)
	if err != nil {
		return nil, fmt.Errorf("app: limits: sender's bank %q: %w", sender.CounterpartyGUID, err)
	}
	rules, err := l.Rules(ctx, cp)
	if err != nil {
		return nil, err
	}
	if len(rules.Rules) == 0 {
		return nil, nil
	}
	c, _ := l.d.Customers.Customer(ctx, sender.CounterpartyGUID, sender.CustomerGUID)
	if segment == "" {
		segment = c.Profile.Segment
	}
	a := l.d.Platform.Asset()
	eff := rules.For(limits.Account{CustomerGUID: strings.ToLower(sender.CustomerGUID), AccountGUID: strings.ToLower(sender.AccountGUID),
		Segment: segment, KYCLevel: c.Profile.KYCLevel, AssetCode: a.StellarCode, AssetIssuer: l.d.Platform.IssuerAddress()})
	return spendLimits(eff), nil
}

// spendLimits is the account's form of the effective rules.
func spendLimits(e limits.Effective) *account.SpendLimits {
	if e.None() {
		return nil
	}
	out := &account.SpendLimits{}
	if o := e.Operation; o != nil {
		out.Min, out.Max, out.OperationSource = o.Bound.Min, o.Bound.Max, string(o.Source)
	}
	for _, w := range e.Windows {
		out.Windows = append(out.Windows, account.SpendWindow{Period: w.Bound.Period, Days: w.Bound.Days, Max: w.Bound.Max,
			MaxCount: w.Bound.MaxCount, Source: string(w.Source)})
	}
	return out
}

// CheckBalanceAllowed refuses a payment that would take a receiving customer's balance above the customer's
// balance_allowed (zero: no cap). It is checked at the confirmation against the receiver's booked balance;
// payments to the receiver confirmed but not yet settled are not counted, so two concurrent payments may
// together pass the cap by at most the later one's amount (the receiver's stream is not written at
// confirmation, to keep a confirmation one write).
func (l *Limits) CheckBalanceAllowed(ctx context.Context, receiver payment.Party, amount int64) error {
	if receiver.Kind != payment.KindCustomer || receiver.CustomerGUID == "" {
		return nil
	}
	c, ok := l.d.Customers.Customer(ctx, receiver.CounterpartyGUID, receiver.CustomerGUID)
	if !ok || c.Profile.BalanceAllowed <= 0 {
		return nil
	}
	id, err := uuid.Parse(receiver.AccountGUID)
	if err != nil {
		return fmt.Errorf("app: receiver account %q: %w", receiver.AccountGUID, err)
	}
	s, err := accountFacts(ctx, l.d.Accounts, id)
	if err != nil {
		return err
	}
	if capped := int64(c.Profile.BalanceAllowed); s.Funds.Balance+amount > capped {
		return &BalanceAllowedError{Cap: capped, Balance: s.Funds.Balance, Amount: amount}
	}
	return nil
}

// BalanceAllowedError says by how much a payment misses the receiver's cap.
type BalanceAllowedError struct{ Cap, Balance, Amount int64 }

func (e *BalanceAllowedError) Error() string {
	return fmt.Sprintf("%v: balance %d + amount %d > balance_allowed %d", ErrBalanceAllowed, e.Balance, e.Amount, e.Cap)
}

func (e *BalanceAllowedError) Unwrap() error { return ErrBalanceAllowed }
