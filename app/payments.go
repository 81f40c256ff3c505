package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

// Errors of the payment use cases (besides the domain's).
var (
	// ErrAccountUnknown is a sender or receiver that names no open account.
	ErrAccountUnknown = errors.New("app: no such open account")
	// ErrCategoryUnknown is a category_guid that names no category, or a deleted one.
	ErrCategoryUnknown = errors.New("app: no such payment category")
	// ErrPaymentHidden is a payment of another bank (answered as not found).
	ErrPaymentHidden = payment.ErrNotFound
	// ErrSenderDisabled is a payment from a disabled customer's account.
	ErrSenderDisabled = errors.New("app: the sender's customer is disabled")
	// ErrEmissionPayment is a bank's confirmation or cancellation of the platform's own issue or burn payment:
	// only its emission request moves it.
	ErrEmissionPayment = errors.New("app: an issue or burn payment is moved by its emission request, not by a bank")
	// ErrWrongBranch is a branch request about an account outside that branch.
	ErrWrongBranch = errors.New("app: the sender's account is not in this branch")
)

// UnknownAccountError is a side of a payment that names no open account. It is an ErrAccountUnknown.
type UnknownAccountError struct {
	Field string // sender or receiver
	GUID  string
	IBAN  string
}

func (e *UnknownAccountError) Error() string {
	if e.IBAN != "" {
		return fmt.Sprintf("no open account has the %s IBAN %s", e.Field, e.IBAN)
	}
	return fmt.Sprintf("the %s account %s does not exist or is not open", e.Field, e.GUID)
}

func (e *UnknownAccountError) Unwrap() error { return ErrAccountUnknown }

// PaymentInput is the body of POST …/payments (guide §10), amounts already in minor units. Each side is
// named by its account GUID or its IBAN.
type PaymentInput struct {
	SenderID, SenderIBAN     string
	ReceiverID, ReceiverIBAN string
	Amount                   int64
	AssetCode, AssetIssuer   string
	CategoryGUID             string
	Purpose                  string
	TargetBalance            *int64
	BranchGUID               string // the branch route (§16.5): the sender must be the branch's
}

// CategoryNames tells a payment's category name from its GUID (the dictionary of guide §13).
type CategoryNames interface {
	// CategoryName returns the category's name (its code) if the category exists and is not deleted.
	CategoryName(guid string) (string, bool)
}

// CustomerStatus tells whether a customer may send (projections.Customers).
type CustomerStatus interface {
	CustomerDisabled(ctx context.Context, cp, guid string) (disabled, ok bool)
}

// AccountBook decides the commands of account streams; one per process, shared by the payment use cases and
// the settlement worker, so that their writes to a hot account are decided one after another (NewAccountBook).
type AccountBook = command.Cache[account.State, any, account.Event]

// accountBookSize bounds the account states a process keeps in memory.
const accountBookSize = 200_000

// NewAccountBook returns the process's account book over store.
func NewAccountBook(store command.Store) (*AccountBook, error) {
	book, err := command.NewCache(store, account.Decider, account.Events, accountBookSize)
	if err != nil {
		return nil, err
	}
	book.KeepSnapshots(withoutFunds)
	return book, nil
}

// withoutFunds copies an account's state without its funds maps, which belong to the book.
func withoutFunds(s account.State) account.State {
	s.Funds.Reservations, s.Funds.Booked, s.Funds.Outgoing = nil, nil, nil
	return s
}

// PaymentBook decides the commands of payment streams, keeping the payments in flight in memory (shared by the
// payment use cases and the settlement worker, like AccountBook).
type PaymentBook = command.Cache[payment.State, any, payment.Event]

// paymentBookSize bounds the payment states a process keeps: those being confirmed and settled.
const paymentBookSize = 100_000

// NewPaymentBook returns the process's payment book over store.
func NewPaymentBook(store command.Store) (*PaymentBook, error) {
	return command.NewCache(store, payment.Decider, payment.Events, paymentBookSize)
}

// accountView reads an account's state, without its funds maps (which belong to the book).
func accountView(ctx context.Context, book *AccountBook, id uuid.UUID) (account.State, error) {
	var out account.State
	err := book.View(ctx, account.Stream(id), func(s account.State) { out = withoutFunds(s) })
	return out, err
}

// accountFacts reads the facts of an open, unblocked account that a draft or a confirmation checks (owner,
// bank, kind, address) from the book's recent snapshot when it has one, without queueing behind the
// account's bookings; anything else (unknown, not open, blocked, not seen lately) is read as accountView
// reads it. A block made by another node in the last factsMaxAge may be missed by these checks; the
// reservation decides on the sender's current state, and the chain refuses a payment to a deauthorized
// trustline, so a missed block costs a failed payment, never money.
func accountFacts(ctx context.Context, book *AccountBook, id uuid.UUID) (account.State, error) {
	if s, ok := book.Recent(account.Stream(id), factsMaxAge); ok && s.Opened && !s.Blocked {
		return s, nil
	}
	return accountView(ctx, book, id)
}

// factsMaxAge is how old a snapshot accountFacts takes may be.
const factsMaxAge = 5 * time.Second

// PaymentViews is the payments read model (projections.Payments).
type PaymentViews interface {
	Payment(guid string) (projections.Payment, bool)
	List(q projections.PaymentQuery) ([]projections.Payment, int, error)
}

// SpendingRules are the limits a confirmation checks (Limits): the sender's limits go with the reservation,
// so that they are checked atomically with the funds; the receiver's balance cap is checked before it.
type SpendingRules interface {
	SpendLimits(ctx context.Context, sender payment.Party, segment string) (*account.SpendLimits, error)
	CheckBalanceAllowed(ctx context.Context, receiver payment.Party, amount int64) error
}

// PaymentDeps is what the payment use cases need.
type PaymentDeps struct {
	Store      command.Store
	Accounts   *AccountBook // default: a book of its own
	Book       *PaymentBook // default: a book of its own
	Platform   *Platform
	Categories CategoryNames  // optional: without it, category_guid must be empty
	Customers  CustomerStatus // optional: without it, a disabled customer is not refused here
	Views      PaymentViews   // optional: without it, PaymentView and ListPayments find nothing
	Rules      SpendingRules  // optional: without it, no limit and no balance cap is checked
	WaitFor    func(ctx context.Context, pos eventstore.Position) error
	Logger     *slog.Logger
	Now        func() time.Time
}

// Payments runs the transfers of guide §10: drafts, confirmation (funds reserved on the sender's account
// stream), cancellation. Settlement on Stellar is the Settlement worker's.
type Payments struct {
	d PaymentDeps
}

// NewPayments checks deps and fills defaults.
func NewPayments(d PaymentDeps) (*Payments, error) {
	if d.Store == nil || d.Platform == nil {
		return nil, errors.New("app: payments need a store and the platform")
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
	if d.Book == nil {
		book, err := NewPaymentBook(d.Store)
		if err != nil {
			return nil, err
		}
		d.Book = book
	}
	return &Payments{d: d}, nil
}

func (p *Payments) now() time.Time { return p.d.Now().UTC() }

// CreatePayment records a draft (status CREATED). Nothing is reserved yet.
func (p *Payments) CreatePayment(ctx context.Context, cp uuid.UUID, in PaymentInput, w Write) (Written, error) {
	asset, issuer := p.d.Platform.Asset(), p.d.Platform.IssuerAddress()
	if !asset.Names(in.AssetCode) {
		return Written{}, &payment.ErrInvalid{Field: "asset_code", Reason: "is not the platform's asset " + asset.Code}
	}
	if in.AssetIssuer != issuer {
		return Written{}, &payment.ErrInvalid{Field: "asset_issuer", Reason: "is not the platform's issuer " + issuer}
	}
	sender, err := p.party(ctx, "sender", in.SenderID, in.SenderIBAN)
	if err != nil {
		return Written{}, err
	}
	receiver, err := p.party(ctx, "receiver", in.ReceiverID, in.ReceiverIBAN)
	if err != nil {
		return Written{}, err
	}
	if in.BranchGUID != "" && sender.BranchGUID != in.BranchGUID {
		return Written{}, ErrWrongBranch
	}
	var category string
	if in.CategoryGUID != "" {
		name, ok := "", false
		if p.d.Categories != nil {
			name, ok = p.d.Categories.CategoryName(in.CategoryGUID)
		}
		if !ok {
			return Written{}, ErrCategoryUnknown
		}
		category = name
	}
	if err := p.checkSender(ctx, sender); err != nil {
		return Written{}, err
	}
	id := newGUID(w, "payment/"+cp.String())
	cmd := payment.Create{GUID: id, CounterpartyGUID: cp, BranchGUID: in.BranchGUID, Sender: sender, Receiver: receiver,
		Amount: in.Amount, AssetCode: asset.StellarCode, AssetIssuer: issuer, CategoryGUID: in.CategoryGUID, Category: category,
		Purpose: in.Purpose, TargetBalance: in.TargetBalance, CreatedBy: w.Metadata.Actor, At: p.now()}
	res, err := p.d.Book.Handle(ctx, payment.Stream(id), any(cmd), envelope(w, "create", in))
	if err != nil {
		return Written{}, err
	}
	p.d.Logger.InfoContext(ctx, "payment created", "payment", id.String(), "counterparty", cp.String(),
		"sender", sender.AccountGUID, "receiver", receiver.AccountGUID, "amount_minor", in.Amount)
	return Written{GUID: id.String(), Position: res.Position}, p.wait(ctx, res.Position)
}

// ConfirmedPayment answers a confirmation.
type ConfirmedPayment struct {
	GUID     string
	Status   payment.Status
	Position eventstore.Position
}

// ConfirmPayment confirms a draft of the bank: it checks the route's bank (guide §10 bank_guid), reserves the
// amount on the sender's account stream (expected revision: two concurrent spends cannot both pass), then
// marks the payment PENDING for the settlement worker. The reservation is the point of no return: if the
// process stops right after it, the worker finds the reservation and finishes the confirmation. A repeated
// confirmation answers the payment's current status and writes nothing.
func (p *Payments) ConfirmPayment(ctx context.Context, cp, id uuid.UUID, bankGUID, branch string, w Write) (ConfirmedPayment, error) {
	s, err := p.visiblePayment(ctx, cp, id)
	if err != nil {
		return ConfirmedPayment{}, err
	}
	if branch != "" && s.Created.BranchGUID != branch && s.Created.Sender.BranchGUID != branch {
		return ConfirmedPayment{}, ErrWrongBranch
	}
	if !strings.EqualFold(s.Created.CounterpartyGUID, cp.String()) {
		return ConfirmedPayment{}, ErrPaymentHidden // only the bank that created a payment confirms it
	}
	if s.Created.Emission != "" {
		return ConfirmedPayment{}, ErrEmissionPayment
	}
	now := p.now()
	confirm := payment.Confirm{BankGUID: strings.ToLower(bankGUID), By: w.Metadata.Actor, At: now}
	// Decide first, on the state as read: a cancelled draft or a wrong bank_guid reserves nothing.
	evs, err := payment.Decide(s, confirm)
	if err != nil {
		return ConfirmedPayment{}, err
	}
	if len(evs) == 0 {
		return ConfirmedPayment{GUID: id.String(), Status: s.Status}, nil
	}
	if err := p.checkSender(ctx, s.Created.Sender); err != nil {
		return ConfirmedPayment{}, err
	}
	if err := p.checkReceiver(ctx, s.Created.Receiver); err != nil {
		return ConfirmedPayment{}, err
	}
	if p.d.Rules != nil {
		if err := p.d.Rules.CheckBalanceAllowed(ctx, s.Created.Receiver, s.Created.Amount); err != nil {
			return ConfirmedPayment{}, err
		}
	}
	pos, limits, err := p.reserve(ctx, s.Created, confirm.BankGUID, w)
	if err != nil {
		return ConfirmedPayment{}, err
	}
	confirm.Limits = limits // the payment's history names the limits its reservation passed
	res, err := p.d.Book.Handle(ctx, payment.Stream(id), any(confirm), envelope(w, "confirm", bankGUID))
	if err != nil {
		return ConfirmedPayment{}, err
	}
	pos = later(pos, res.Position)
	status := payment.StatusPending
	if len(res.Events) == 0 { // a race with the worker or another confirmation: report what is recorded
		if st, err := p.payment(ctx, id); err == nil {
			status = st.Status
		}
	}
	return ConfirmedPayment{GUID: id.String(), Status: status, Position: pos}, p.wait(ctx, pos)
}

// reserve holds the payment's amount on the sender's account (nothing for the issuer, whose supply is the
// chain's to bound), checking the sender's limits in the same decision; it returns the limits it checked.
func (p *Payments) reserve(ctx context.Context, c payment.PaymentCreated, bankGUID string, w Write) (eventstore.Position, *account.SpendLimits, error) {
	if c.Sender.Kind == payment.KindRoot {
		return eventstore.Position{}, nil, nil
	}
	sender, err := uuid.Parse(c.Sender.AccountGUID)
	if err != nil {
		return eventstore.Position{}, nil, fmt.Errorf("app: payment %s names sender %q: %w", c.GUID, c.Sender.AccountGUID, err)
	}
	pid := uuid.MustParse(c.GUID)
	var spend *account.SpendLimits
	if p.d.Rules != nil {
		facts, err := accountFacts(ctx, p.d.Accounts, sender)
		if err != nil {
			return eventstore.Position{}, nil, err
		}
		if spend, err = p.d.Rules.SpendLimits(ctx, c.Sender, facts.Segment); err != nil {
			return eventstore.Position{}, nil, err
		}
	}
	res, err := p.d.Accounts.Handle(ctx, account.Stream(sender),
		any(account.Reserve{Payment: pid, Amount: c.Amount, TargetBalance: c.TargetBalance, BankGUID: bankGUID, Limits: spend, At: p.now()}),
		command.Envelope{Metadata: w.Metadata, MaxAttempts: reserveAttempts})
	return res.Position, spend.Recorded(), err
}

// reserveAttempts bounds the decisions of a reservation on a hot account: each lost race is another node's
// spender that got in first, so the next decision sees the new available balance (this process's own
// spenders are decided one after another by the account book and do not race).
const reserveAttempts = command.MaxAttemptsLimit

// CancelPayment withdraws a draft of the bank (status CANCELLED).
func (p *Payments) CancelPayment(ctx context.Context, cp, id uuid.UUID, w Write) (Written, error) {
	s, err := p.visiblePayment(ctx, cp, id)
	if err != nil {
		return Written{}, err
	}
	if !strings.EqualFold(s.Created.CounterpartyGUID, cp.String()) {
		return Written{}, ErrPaymentHidden
	}
	if s.Created.Emission != "" {
		return Written{}, ErrEmissionPayment
	}
	res, err := p.d.Book.Handle(ctx, payment.Stream(id),
		any(payment.Cancel{By: w.Metadata.Actor, At: p.now()}), envelope(w, "cancel", id.String()))
	if err != nil {
		return Written{}, err
	}
	return Written{GUID: id.String(), Position: res.Position}, p.wait(ctx, res.Position)
}

// StartEmissionPayment creates and confirms the payment that carries an emission on chain: issuer →
// emission account for an issue, emission account → issuer for a burn (whose amount is reserved first).
// The payment GUID is derived from the emission request, so a retry starts the same payment.
func (p *Payments) StartEmissionPayment(ctx context.Context, e EmissionPayment, w Write) error {
	em, err := p.party(ctx, "emission_account", e.EmissionAccount.String(), "")
	if err != nil {
		return err
	}
	if em.Kind != payment.KindEmission || em.CounterpartyGUID != e.CounterpartyGUID.String() {
		return fmt.Errorf("%w: %s is not the counterparty's emission account", ErrAccountUnknown, e.EmissionAccount)
	}
	asset, issuer := p.d.Platform.Asset(), p.d.Platform.IssuerAddress()
	root := payment.Party{Kind: payment.KindRoot, Address: issuer}
	from, to := root, em
	if e.Burn {
		from, to = em, root
	}
	cmd := payment.Create{GUID: e.Payment, CounterpartyGUID: e.CounterpartyGUID, Sender: from, Receiver: to, Amount: e.Amount,
		AssetCode: asset.StellarCode, AssetIssuer: issuer, Emission: e.Emission.String(), CreatedBy: w.Metadata.Actor, At: p.now()}
	env := command.Envelope{Metadata: w.Metadata}
	if _, err := p.d.Book.Handle(ctx, payment.Stream(e.Payment), any(cmd), env); err != nil {
		return err
	}
	s, err := p.payment(ctx, e.Payment)
	if err != nil {
		return err
	}
	switch s.Status {
	case payment.StatusCancelled, payment.StatusFailed:
		return fmt.Errorf("%w: its payment %s is %s", ErrEmissionPaymentRefused, e.Payment, s.Status)
	case payment.StatusPending, payment.StatusConfirmed:
		return nil // started already: a retry
	}
	if _, _, err := p.reserve(ctx, s.Created, "", w); err != nil {
		if errors.Is(err, account.ErrInsufficientFunds) || errors.Is(err, account.ErrBlocked) {
			// A refused burn leaves no draft behind that a later confirmation could push through.
			if _, cerr := p.d.Book.Handle(ctx, payment.Stream(e.Payment), any(payment.Cancel{By: w.Metadata.Actor, At: p.now()}), env); cerr != nil {
				p.d.Logger.ErrorContext(ctx, "could not cancel a refused emission payment", "payment", e.Payment.String(), "err", cerr)
			}
		}
		return err
	}
	_, err = p.d.Book.Handle(ctx, payment.Stream(e.Payment),
		any(payment.Confirm{By: w.Metadata.Actor, At: p.now()}), env)
	return err
}

// EmissionPayment is the payment of an issue or a burn (see StartEmissionPayment).
type EmissionPayment struct {
	Payment          uuid.UUID
	Emission         uuid.UUID
	CounterpartyGUID uuid.UUID
	Burn             bool
	EmissionAccount  uuid.UUID
	Amount           int64
}

// Asset is the platform's asset and its issuer: the only one payments move.
func (p *Payments) Asset() (money.Asset, string) {
	return p.d.Platform.Asset(), p.d.Platform.IssuerAddress()
}

// PaymentView reads a payment from its own stream (through the payment book), so it shows a write the moment
// it is acknowledged: reading one payment needs no wait for the read models. Lists come from the read model.
func (p *Payments) PaymentView(ctx context.Context, guid string) (projections.Payment, bool) {
	id, err := uuid.Parse(guid)
	if err != nil {
		return projections.Payment{}, false
	}
	s, err := p.payment(ctx, id)
	if err != nil {
		return projections.Payment{}, false
	}
	return paymentView(s), true
}

// paymentView is a payment's state as the read model shows it.
func paymentView(s payment.State) projections.Payment {
	c := s.Created
	v := projections.Payment{GUID: c.GUID, CounterpartyGUID: c.CounterpartyGUID, BranchGUID: c.BranchGUID, Sender: c.Sender,
		Receiver: c.Receiver, Amount: c.Amount, AssetCode: c.AssetCode, AssetIssuer: c.AssetIssuer, CategoryGUID: c.CategoryGUID,
		Category: c.Category, Purpose: c.Purpose, TargetBalance: c.TargetBalance, Status: s.Status, BankGUID: s.BankGUID,
		Hash: s.Hash, Ledger: s.Ledger, Reason: s.Reason, Emission: c.Emission, CreatedBy: c.CreatedBy, CreatedAt: c.At,
		UpdatedAt: s.UpdatedAt}
	if s.Status == payment.StatusCancelled {
		v.DeletedAt = s.UpdatedAt
	}
	return v
}

// ListPayments lists payments from the read model.
func (p *Payments) ListPayments(q projections.PaymentQuery) ([]projections.Payment, int, error) {
	if p.d.Views == nil {
		return nil, 0, nil
	}
	return p.d.Views.List(q)
}

// Payment returns a payment as recorded, if the bank is its sender's or its receiver's.
func (p *Payments) Payment(ctx context.Context, cp, id uuid.UUID) (payment.State, error) {
	return p.visiblePayment(ctx, cp, id)
}

func (p *Payments) visiblePayment(ctx context.Context, cp, id uuid.UUID) (payment.State, error) {
	s, err := p.payment(ctx, id)
	if err != nil {
		return s, err
	}
	c := cp.String()
	if !strings.EqualFold(s.Created.Sender.CounterpartyGUID, c) && !strings.EqualFold(s.Created.Receiver.CounterpartyGUID, c) &&
		!strings.EqualFold(s.Created.CounterpartyGUID, c) {
		return payment.State{}, ErrPaymentHidden
	}
	return s, nil
}

func (p *Payments) payment(ctx context.Context, id uuid.UUID) (payment.State, error) {
	var s payment.State
	err := p.d.Book.View(ctx, payment.Stream(id), func(st payment.State) { s = st })
	if err != nil {
		return s, err
	}
	if !s.Exists() {
		return s, payment.ErrNotFound
	}
	return s, nil
}

// party resolves one side of a payment from its account GUID or IBAN, from the account's stream.
func (p *Payments) party(ctx context.Context, field, id, ibanText string) (payment.Party, error) {
	id, ibanText = strings.TrimSpace(id), strings.TrimSpace(ibanText)
	if id == "" && ibanText == "" {
		return payment.Party{}, &payment.ErrInvalid{Field: field + "_id", Reason: "give " + field + "_id or " + field + "_iban"}
	}
	var guid uuid.UUID
	if id != "" {
		g, err := uuid.Parse(id)
		if err != nil || g == uuid.Nil {
			return payment.Party{}, &payment.ErrInvalid{Field: field + "_id", Reason: "is not a GUID"}
		}
		guid = g
	}
	if ibanText != "" {
		v, err := parseIBAN(ibanText)
		if err != nil {
			return payment.Party{}, &payment.ErrInvalid{Field: field + "_iban", Reason: err.Error()}
		}
		owner, err := claimOwner(ctx, p.d.Store, ibanStream(v))
		if err != nil {
			return payment.Party{}, err
		}
		g, err := uuid.Parse(owner)
		if err != nil {
			return payment.Party{}, &UnknownAccountError{Field: field, IBAN: v}
		}
		if guid != uuid.Nil && g != guid {
			return payment.Party{}, &payment.ErrInvalid{Field: field + "_iban", Reason: "names another account than " + field + "_id"}
		}
		guid = g
	}
	s, err := accountFacts(ctx, p.d.Accounts, guid)
	if err != nil {
		return payment.Party{}, err
	}
	if !s.Opened {
		return payment.Party{}, &UnknownAccountError{Field: field, GUID: guid.String()}
	}
	return payment.Party{AccountGUID: s.GUID, Kind: payment.Kind(s.Kind), CounterpartyGUID: s.CounterpartyGUID, Address: s.Address,
		IBAN: s.Owner.IBAN, BranchGUID: s.Owner.BranchGUID, CustomerGUID: s.Owner.CustomerGUID}, nil
}

// claimOwner reads who holds a unique value (an IBAN): the empty string if nobody does.
func claimOwner(ctx context.Context, store command.Store, stream string) (string, error) {
	s, err := peek(ctx, store, stream, uniqueness.Decider, uniqueness.Events)
	if err != nil {
		return "", err
	}
	return s.Owner, nil
}

// checkSender refuses a disabled customer's payment (a ledger flag: the customer cannot send).
func (p *Payments) checkSender(ctx context.Context, from payment.Party) error {
	if from.CustomerGUID == "" || p.d.Customers == nil {
		return nil
	}
	if disabled, ok := p.d.Customers.CustomerDisabled(ctx, from.CounterpartyGUID, from.CustomerGUID); ok && disabled {
		return ErrSenderDisabled
	}
	return nil
}

// checkReceiver refuses a payment to a blocked account before anything is reserved: its trustline is
// deauthorized, so the chain would refuse it anyway.
func (p *Payments) checkReceiver(ctx context.Context, to payment.Party) error {
	if to.Kind == payment.KindRoot {
		return nil
	}
	s, err := accountFacts(ctx, p.d.Accounts, uuid.MustParse(to.AccountGUID))
	if err != nil {
		return err
	}
	if s.Blocked {
		return fmt.Errorf("receiver: %w", account.ErrBlocked)
	}
	return nil
}

func (p *Payments) wait(ctx context.Context, pos eventstore.Position) error {
	if p.d.WaitFor == nil || pos == (eventstore.Position{}) {
		return nil
	}
	return p.d.WaitFor(ctx, pos)
}
