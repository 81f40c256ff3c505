package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/bankauth"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/iban"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar"
)

var (
	// ErrIBANTaken is an IBAN another account already has: IBANs are unique across the platform.
	ErrIBANTaken = errors.New("app: IBAN already belongs to another account")
	// ErrNoBankAuthorization is a counterparty with no authorization service (auth_url) to ask about a
	// customer: Kazna cannot protect a customer's key without the bank's secret.
	ErrNoBankAuthorization = errors.New("app: the counterparty has no bank authorization service (auth_url)")
	// ErrCustomerKeyMismatch is a bank secret that does not open the customer's sealed seed: the bank's
	// authorization service answered another key than at sign-up.
	ErrCustomerKeyMismatch = errors.New("app: the bank's key for this customer does not open the customer's sealed key")
	// ErrBranchEmission is an emission entity asked for a branch (guide §8: branch accounts are processing only).
	ErrBranchEmission = errors.New("app: for branch accounts only the processing kind is possible")
	// ErrAccountNotOpened is a change to an account whose opening has not finished.
	ErrAccountNotOpened = errors.New("app: the account is not open yet")
)

// CustomerInput is the body of POST …/customers (seed 002): the customer, the asset of the first account,
// and the first account's IBAN (optional: IBANs are the bank's to give; Kazna issues none).
type CustomerInput struct {
	AssetCode   string // the platform's asset by either code (UAH or eUAH)
	AssetIssuer string // the platform's issuer
	IBAN        string
	Profile     customer.Profile // BalanceAllowed in minor units; BranchGUID as given
	Disabled    bool
}

// CustomerPatch is the body of PUT …/customers/{guid}: nil fields stay as they are. Branch is nil to keep
// the branch, points to "" to take the customer out of any branch, or to a branch GUID.
type CustomerPatch struct {
	Name, Surname, PaternalName, Phone, Segment, Status *string
	BalanceAssetCode, BalanceAssetIssuer                *string
	KYCLevel                                            *int
	BalanceAllowed                                      *money.Amount
	Branch                                              *string
	Disabled                                            *bool
}

// OpenedCustomer answers a registration: the customer, its first account as the read model shows it, and
// the log position of the last write (for read-your-writes).
type OpenedCustomer struct {
	CustomerGUID string
	Account      projections.Account
	Position     eventstore.Position
}

// EntityInput is the body of POST …/accounts (guide §8): an additional processing or emission entity of the
// counterparty, optionally of a branch (processing only).
type EntityInput struct {
	Kind           account.Kind
	IBAN           string
	KeyKeeperLogin string
	BranchGUID     string
}

// CustomerVault seals seeds: a customer's under the bank's secret for that customer and the platform's key,
// a bank entity's under the platform's key (custody.Vault).
type CustomerVault interface {
	Sealer
	SealCustomerSeed(owner string, customerSecret, seed []byte) ([]byte, error)
	OpenCustomerSeed(owner string, customerSecret, sealed []byte) ([]byte, error)
}

// CustomerNetwork is what customers' accounts need of the Stellar network (stellar.Horizon).
type CustomerNetwork interface {
	EntityNetwork
	BlockTrustline(ctx context.Context, issuer stellar.Signatory, holder string, asset stellar.Asset) (stellar.Receipt, error)
}

// BankAuthorizer asks a bank's authorization service about its customers (bankauth.Client, guide §4).
type BankAuthorizer interface {
	UserAuth(ctx context.Context, baseURL, sub, login string, flow auth.Flow) (bankauth.User, error)
	Key(ctx context.Context, baseURL, sub, externalID string, flow auth.Flow) (string, error)
}

// CustomerViews is the customers-and-accounts read model (projections.Customers).
type CustomerViews interface {
	Customer(ctx context.Context, cp, guid string) (projections.Customer, bool)
	ListCustomers(ctx context.Context, q projections.CustomerQuery) ([]projections.Customer, int, error)
	Account(ctx context.Context, cp, guid string) (projections.Account, bool)
	CustomerAccounts(ctx context.Context, cp, customerGUID string) ([]projections.Account, bool)
	ListAccounts(ctx context.Context, q projections.AccountQuery) ([]projections.Account, int, error)
	Segments(ctx context.Context, cp string, names []string) map[string][]projections.Account
}

// CustomerDeps is what the customer services need.
type CustomerDeps struct {
	Store          command.Store
	Vault          CustomerVault
	Network        CustomerNetwork
	Platform       *Platform
	Counterparties interface {
		Counterparty(ctx context.Context, guid string) (projections.Counterparty, bool)
	}
	BankAuth BankAuthorizer
	Views    CustomerViews
	// Multisig gives customer accounts of a bank that chose multisignature their cosigners; nil opens every
	// account with its own key only.
	Multisig *Multisig
	// WaitFor blocks until the read models reach a write's position (projections.Runner.WaitFor).
	WaitFor func(ctx context.Context, pos eventstore.Position) error
	Logger  *slog.Logger
	Now     func() time.Time
}

// Customers runs the use cases of guide §7–§8 and seed 002: customers with their accounts, a bank's
// additional entities, segments, and blocking.
type Customers struct {
	d      CustomerDeps
	opener entityOpener
}

// NewCustomers checks deps and fills defaults.
func NewCustomers(d CustomerDeps) (*Customers, error) {
	if d.Store == nil || d.Vault == nil || d.Network == nil || d.Platform == nil || d.Counterparties == nil || d.BankAuth == nil || d.Views == nil {
		return nil, fmt.Errorf("%w: store, vault, network, platform, counterparties, bank authorization and views are required", ErrNotReady)
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	d.Logger = d.Logger.With("component", "customers")
	c := &Customers{d: d}
	c.opener = entityOpener{store: d.Store, network: d.Network, platform: d.Platform, log: d.Logger, now: c.now}
	return c, nil
}

func (c *Customers) now() time.Time { return c.d.Now().UTC() }

// Asset is the platform's asset and its issuer.
func (c *Customers) Asset() (money.Asset, string) {
	return c.d.Platform.Asset(), c.d.Platform.IssuerAddress()
}

// checkAsset accepts the platform's asset by either of its codes, and its issuer; required says whether
// both must be given.
func (c *Customers) checkAsset(codeField, code, issuerField, issuer string, required bool) error {
	asset, platformIssuer := c.Asset()
	if required && strings.TrimSpace(code) == "" {
		return &customer.ErrInvalid{Field: codeField, Reason: "required"}
	}
	if required && strings.TrimSpace(issuer) == "" {
		return &customer.ErrInvalid{Field: issuerField, Reason: "required"}
	}
	if code != "" && !asset.Names(code) {
		return fmt.Errorf("%w: %s %.20q is not %s", ErrUnknownAsset, codeField, code, asset.StellarCode)
	}
	if issuer != "" && issuer != platformIssuer {
		return fmt.Errorf("%w: %s is not the platform's issuer", ErrUnknownAsset, issuerField)
	}
	return nil
}

// bank is the counterparty with the base URL of its authorization service.
func (c *Customers) bank(ctx context.Context, cp uuid.UUID) (projections.Counterparty, string, error) {
	bank, ok := c.d.Counterparties.Counterparty(ctx, cp.String())
	if !ok {
		return bank, "", counterparty.ErrNotFound
	}
	base := bank.AuthURL
	if base == "" && strings.HasSuffix(bank.UserAuthURL, counterparty.UserAuthPath) {
		base = strings.TrimSuffix(bank.UserAuthURL, counterparty.UserAuthPath)
	}
	if base == "" {
		return bank, "", ErrNoBankAuthorization
	}
	return bank, base, nil
}

// subject is who acts, as the bank's authorization service is told (the JWT's sub).
func subject(w Write) string {
	if w.Metadata.Actor != "" {
		return w.Metadata.Actor
	}
	return "kazna"
}

func parseIBAN(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	v, err := iban.Parse(strings.TrimSpace(s))
	if err != nil {
		var e *iban.Error
		if errors.As(err, &e) {
			return "", &customer.ErrInvalid{Field: "iban", Reason: e.Reason}
		}
		return "", &customer.ErrInvalid{Field: "iban", Reason: err.Error()}
	}
	return v.String(), nil
}

func ibanStream(v string) string { return uniqueness.Stream("iban-", v) }

// RegisterCustomer creates a customer and its first account (seed 002): it asks the bank's authorization
// service first (flow sign-up; a refusal or a silent bank writes nothing), claims the login and the IBAN,
// opens the account on chain with its seed sealed under the bank's secret for the customer, and registers
// the customer last, so that a registered customer always has an open account. A retry with the same
// Idempotency-Key resumes where a failure stopped.
func (c *Customers) RegisterCustomer(ctx context.Context, cp uuid.UUID, in CustomerInput, w Write) (OpenedCustomer, error) {
	if err := c.checkAsset("asset_code", in.AssetCode, "asset_issuer", in.AssetIssuer, true); err != nil {
		return OpenedCustomer{}, err
	}
	profile, err := in.Profile.Normalise()
	if err != nil {
		return OpenedCustomer{}, err
	}
	if err := c.checkAsset("balance_asset_code", profile.BalanceAssetCode, "balance_asset_issuer", profile.BalanceAssetIssuer, false); err != nil {
		return OpenedCustomer{}, err
	}
	asset, issuer := c.Asset()
	if profile.BalanceAssetCode == "" {
		profile.BalanceAssetCode = asset.Code
	}
	if profile.BalanceAssetIssuer == "" {
		profile.BalanceAssetIssuer = issuer
	}
	accountIBAN, err := parseIBAN(in.IBAN)
	if err != nil {
		return OpenedCustomer{}, err
	}
	_, base, err := c.bank(ctx, cp)
	if err != nil {
		return OpenedCustomer{}, err
	}
	if err := c.checkBranch(ctx, cp, profile.BranchGUID); err != nil {
		return OpenedCustomer{}, err
	}
	user, err := c.d.BankAuth.UserAuth(ctx, base, subject(w), profile.Login, auth.FlowSignUp)
	if err != nil {
		return OpenedCustomer{}, fmt.Errorf("app: sign-up of %q: %w", profile.Login, err)
	}
	externalID, err := customer.CheckExternalID(user.ExternalID)
	if err != nil {
		return OpenedCustomer{}, fmt.Errorf("%w: external_id: %v", bankauth.ErrBadAnswer, err)
	}
	if profile.Name == "" {
		profile.Name = strings.TrimSpace(user.FirstName)
	}
	if profile.Surname == "" {
		profile.Surname = strings.TrimSpace(user.LastName)
	}
	if profile, err = profile.Normalise(); err != nil { // the bank's names are held to the same rules
		return OpenedCustomer{}, err
	}

	custID := newGUID(w, "customer/"+cp.String())
	accID := newGUID(w, "customer-account/"+cp.String())
	now := c.now()
	login := customer.LoginStream(cp, profile.Login)
	if err := c.claim(ctx, login, custID.String(), profile.Login, now, customer.ErrLoginTaken); err != nil {
		return OpenedCustomer{}, err
	}
	if accountIBAN != "" {
		if err := c.claim(ctx, ibanStream(accountIBAN), accID.String(), accountIBAN, now, ErrIBANTaken); err != nil {
			c.releaseUnkeyed(ctx, w, login, custID.String())
			return OpenedCustomer{}, err
		}
	}
	undo := func() {
		c.releaseUnkeyed(ctx, w, login, custID.String())
		if accountIBAN != "" {
			c.releaseUnkeyed(ctx, w, ibanStream(accountIBAN), accID.String())
		}
	}
	owner := account.Owner{CustomerGUID: custID.String(), BranchGUID: profile.BranchGUID, IBAN: accountIBAN}
	if _, err := c.openCustomerAccount(ctx, envelope(w, "account", in), cp, accID, owner, user.Key); err != nil {
		undo()
		return OpenedCustomer{}, err
	}
	reg := customer.Register{GUID: custID, CounterpartyGUID: cp, ExternalID: externalID, Profile: profile,
		Disabled: in.Disabled, FirstAccount: accID, At: now}
	res, err := command.Handle(ctx, c.d.Store, customer.Stream(custID), customer.Decider, customer.Events, any(reg), envelope(w, "customer", in))
	if err != nil {
		// The account is open and its claims kept with it: a retry with the key finishes the registration.
		return OpenedCustomer{}, fmt.Errorf("app: register customer %s: %w", custID, err)
	}
	pos := res.Position
	if pos == (eventstore.Position{}) {
		if pos, err = lastPosition(ctx, c.d.Store, customer.Stream(custID)); err != nil {
			return OpenedCustomer{}, err
		}
	}
	if err := c.wait(ctx, pos); err != nil {
		return OpenedCustomer{}, err
	}
	view, _ := c.d.Views.Account(ctx, cp.String(), accID.String())
	c.d.Logger.InfoContext(ctx, "customer registered", "counterparty", cp.String(), "customer", custID.String(), "account", accID.String())
	return OpenedCustomer{CustomerGUID: custID.String(), Account: view, Position: pos}, nil
}

// openCustomerAccount opens a customer's account, its seed sealed under the bank's secret for the customer.
func (c *Customers) openCustomerAccount(ctx context.Context, env command.Envelope, cp, id uuid.UUID, owner account.Owner, secret string) (account.State, error) {
	key := []byte(secret)
	spec := entitySpec{ID: id, Counterparty: cp, Kind: account.KindCustomer, Owner: owner,
		Seal: func(o string, seed []byte) ([]byte, error) { return c.d.Vault.SealCustomerSeed(o, key, seed) },
		Open: func(o string, sealed []byte) ([]byte, error) {
			seed, err := c.d.Vault.OpenCustomerSeed(o, key, sealed)
			if err != nil {
				return nil, errors.Join(ErrCustomerKeyMismatch, err)
			}
			return seed, nil
		}}
	if c.d.Multisig != nil {
		if err := c.d.Multisig.checkReady(ctx, cp); err != nil {
			return account.State{}, err
		}
		spec.Cosign = func(ctx context.Context, s account.State, holder *stellar.KeySigner) error {
			return c.d.Multisig.setUpAccount(ctx, cp, s, holder)
		}
	}
	return c.opener.open(ctx, env, spec)
}

// UpdateCustomer changes a customer's profile (the login cannot change) and enables or disables it. A
// disabled customer cannot send (payments check it) but keeps its accounts; blocking an account is
// BlockAccount.
func (c *Customers) UpdateCustomer(ctx context.Context, cp, guid uuid.UUID, patch CustomerPatch, w Write) (Written, error) {
	s, err := c.customer(ctx, cp, guid)
	if err != nil {
		return Written{}, err
	}
	p := s.Profile
	for _, f := range []struct {
		from *string
		to   *string
	}{{patch.Name, &p.Name}, {patch.Surname, &p.Surname}, {patch.PaternalName, &p.PaternalName}, {patch.Phone, &p.Phone},
		{patch.Segment, &p.Segment}, {patch.Status, &p.Status}, {patch.BalanceAssetCode, &p.BalanceAssetCode},
		{patch.BalanceAssetIssuer, &p.BalanceAssetIssuer}, {patch.Branch, &p.BranchGUID}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	if patch.KYCLevel != nil {
		p.KYCLevel = *patch.KYCLevel
	}
	if patch.BalanceAllowed != nil {
		p.BalanceAllowed = *patch.BalanceAllowed
	}
	if p, err = p.Normalise(); err != nil {
		return Written{}, err
	}
	if err := c.checkAsset("balance_asset_code", p.BalanceAssetCode, "balance_asset_issuer", p.BalanceAssetIssuer, false); err != nil {
		return Written{}, err
	}
	if p.BranchGUID != s.Profile.BranchGUID {
		if err := c.checkBranch(ctx, cp, p.BranchGUID); err != nil {
			return Written{}, err
		}
	}
	stream := customer.Stream(guid)
	var pos eventstore.Position
	res, err := command.Handle(ctx, c.d.Store, stream, customer.Decider, customer.Events, any(customer.Update{Profile: p, At: c.now()}), envelope(w, "update", patch))
	if err != nil {
		return Written{}, err
	}
	pos = later(pos, res.Position)
	if patch.Disabled != nil {
		var cmd any = customer.Enable{At: c.now()}
		if *patch.Disabled {
			cmd = customer.Disable{At: c.now()}
		}
		res, err := command.Handle(ctx, c.d.Store, stream, customer.Decider, customer.Events, cmd, envelope(w, "disabled", patch))
		if err != nil {
			return Written{GUID: guid.String(), Position: pos}, err
		}
		pos = later(pos, res.Position)
	}
	return Written{GUID: guid.String(), Position: pos}, c.wait(ctx, pos)
}

// OpenCustomerAccount opens one more account of an enabled customer, asking the bank for the customer's
// secret (GET /key by external_id) to seal its seed.
func (c *Customers) OpenCustomerAccount(ctx context.Context, cp, customerGUID uuid.UUID, ibanText string, w Write) (Written, error) {
	accountIBAN, err := parseIBAN(ibanText)
	if err != nil {
		return Written{}, err
	}
	s, err := c.customer(ctx, cp, customerGUID)
	if err != nil {
		return Written{}, err
	}
	if s.Disabled {
		return Written{}, customer.ErrDisabled
	}
	accID := newGUID(w, "customer-account/"+customerGUID.String())
	now := c.now()
	// Decide the listing first: a customer who may hold no more accounts must not get one on chain.
	if _, err := customer.Decide(s, customer.AddAccount{AccountGUID: accID, At: now}); err != nil {
		return Written{}, err
	}
	_, base, err := c.bank(ctx, cp)
	if err != nil {
		return Written{}, err
	}
	secret, err := c.d.BankAuth.Key(ctx, base, subject(w), s.ExternalID, auth.FlowSignUp)
	if err != nil {
		return Written{}, fmt.Errorf("app: the key of customer %s: %w", customerGUID, err)
	}
	if accountIBAN != "" {
		if err := c.claim(ctx, ibanStream(accountIBAN), accID.String(), accountIBAN, now, ErrIBANTaken); err != nil {
			return Written{}, err
		}
	}
	owner := account.Owner{CustomerGUID: customerGUID.String(), BranchGUID: s.Profile.BranchGUID, IBAN: accountIBAN}
	if _, err := c.openCustomerAccount(ctx, envelope(w, "account", ibanText), cp, accID, owner, secret); err != nil {
		if accountIBAN != "" {
			c.releaseUnkeyed(ctx, w, ibanStream(accountIBAN), accID.String())
		}
		return Written{}, err
	}
	res, err := command.Handle(ctx, c.d.Store, customer.Stream(customerGUID), customer.Decider, customer.Events,
		any(customer.AddAccount{AccountGUID: accID, At: now}), envelope(w, "add-account", ibanText))
	if err != nil {
		return Written{}, err
	}
	pos := res.Position
	if pos == (eventstore.Position{}) {
		if pos, err = lastPosition(ctx, c.d.Store, customer.Stream(customerGUID)); err != nil {
			return Written{}, err
		}
	}
	c.d.Logger.InfoContext(ctx, "customer account opened", "counterparty", cp.String(), "customer", customerGUID.String(), "account", accID.String())
	return Written{GUID: accID.String(), Position: pos}, c.wait(ctx, pos)
}

// OpenEntity opens an additional processing or emission entity of the bank (guide §8), optionally of one of
// its branches (processing only). Its seed is sealed by the platform like the bank's first entities. A key
// keeper, when named, is confirmed with the bank's authorization service first (flow sign-up-processing or
// sign-up-emission): a refusal writes nothing.
func (c *Customers) OpenEntity(ctx context.Context, cp uuid.UUID, in EntityInput, w Write) (Written, error) {
	if in.Kind != account.KindProcessing && in.Kind != account.KindEmission {
		return Written{}, &customer.ErrInvalid{Field: "account_kind", Reason: "must be processing or emission"}
	}
	branchGUID, err := parseOptionalGUID("branch_guid", in.BranchGUID)
	if err != nil {
		return Written{}, err
	}
	if branchGUID != uuid.Nil && in.Kind != account.KindProcessing {
		return Written{}, ErrBranchEmission
	}
	accountIBAN, err := parseIBAN(in.IBAN)
	if err != nil {
		return Written{}, err
	}
	keeper := strings.TrimSpace(in.KeyKeeperLogin)
	if len(keeper) > account.MaxKeyKeeperBytes {
		return Written{}, &customer.ErrInvalid{Field: "key_keeper_login", Reason: fmt.Sprintf("at most %d bytes", account.MaxKeyKeeperBytes)}
	}
	_, base, err := c.bank(ctx, cp)
	if keeper != "" && err != nil {
		return Written{}, err
	}
	if _, ok := c.d.Counterparties.Counterparty(ctx, cp.String()); !ok {
		return Written{}, counterparty.ErrNotFound
	}
	owner := account.Owner{IBAN: accountIBAN, KeyKeeperLogin: keeper}
	if branchGUID != uuid.Nil {
		owner.BranchGUID = branchGUID.String()
		if err := c.checkBranch(ctx, cp, owner.BranchGUID); err != nil {
			return Written{}, err
		}
	}
	if keeper != "" {
		flow := auth.FlowSignUpProcessing
		if in.Kind == account.KindEmission {
			flow = auth.FlowSignUpEmission
		}
		if _, err := c.d.BankAuth.UserAuth(ctx, base, subject(w), keeper, flow); err != nil {
			return Written{}, fmt.Errorf("app: key keeper %q: %w", keeper, err)
		}
	}
	accID := newGUID(w, "entity/"+cp.String())
	if accountIBAN != "" {
		if err := c.claim(ctx, ibanStream(accountIBAN), accID.String(), accountIBAN, c.now(), ErrIBANTaken); err != nil {
			return Written{}, err
		}
	}
	env := envelope(w, "entity", in)
	spec := entitySpec{ID: accID, Counterparty: cp, Kind: in.Kind, Owner: owner, Seal: c.d.Vault.SealPlatformKey, Open: c.d.Vault.OpenPlatformKey}
	if _, err := c.opener.open(ctx, env, spec); err != nil {
		if accountIBAN != "" {
			c.releaseUnkeyed(ctx, w, ibanStream(accountIBAN), accID.String())
		}
		return Written{}, err
	}
	pos, err := lastPosition(ctx, c.d.Store, account.Stream(accID))
	if err != nil {
		return Written{}, err
	}
	return Written{GUID: accID.String(), Position: pos}, c.wait(ctx, pos)
}

// BlockAccount stops an account from sending and receiving: it deauthorizes the trustline on chain first,
// then records the block, so a recorded block is always a block on chain too (a failure between the two
// leaves the chain stricter than the ledger, and a retry records it).
func (c *Customers) BlockAccount(ctx context.Context, cp, accountGUID uuid.UUID, reason string, w Write) (Written, error) {
	return c.setBlocked(ctx, cp, accountGUID, true, reason, w)
}

// UnblockAccount reverses BlockAccount: it authorizes the trustline again, then records the unblock.
func (c *Customers) UnblockAccount(ctx context.Context, cp, accountGUID uuid.UUID, w Write) (Written, error) {
	return c.setBlocked(ctx, cp, accountGUID, false, "", w)
}

func (c *Customers) setBlocked(ctx context.Context, cp, accountGUID uuid.UUID, block bool, reason string, w Write) (Written, error) {
	s, err := c.account(ctx, cp, accountGUID)
	if err != nil {
		return Written{}, err
	}
	var cmd any = account.Unblock{At: c.now()}
	if block {
		cmd = account.Block{Reason: reason, At: c.now()}
	}
	// Decide first on the current state: a bad reason is refused before the chain changes.
	evs, err := account.Decide(s, cmd)
	if err != nil {
		return Written{}, err
	}
	asset, issuer, err := c.opener.issuer()
	if err != nil {
		return Written{}, err
	}
	onChain, err := c.d.Network.Account(ctx, s.Address)
	if err != nil {
		return Written{}, fmt.Errorf("app: read account %s on chain: %w", s.Address, err)
	}
	line, _ := onChain.Trustline(asset)
	switch {
	case block && line.Authorized:
		if _, err := c.d.Network.BlockTrustline(ctx, issuer, s.Address, asset); err != nil {
			return Written{}, fmt.Errorf("app: deauthorize the trustline of %s: %w", s.Address, err)
		}
	case !block && !line.Authorized:
		if _, err := c.d.Network.AuthorizeTrustline(ctx, issuer, s.Address, asset); err != nil {
			return Written{}, fmt.Errorf("app: authorize the trustline of %s: %w", s.Address, err)
		}
	}
	if len(evs) == 0 {
		return Written{GUID: accountGUID.String()}, nil
	}
	res, err := command.Handle(ctx, c.d.Store, account.Stream(accountGUID), account.Decider, account.Events, cmd, envelope(w, "block", reason))
	if err != nil {
		return Written{}, err
	}
	c.d.Logger.InfoContext(ctx, "account blocked state changed", "account", accountGUID.String(), "blocked", block, "reason", reason)
	return Written{GUID: accountGUID.String(), Position: res.Position}, c.wait(ctx, res.Position)
}

// SetSegment puts an account into a segment (guide §7.2 PATCH …/segments).
func (c *Customers) SetSegment(ctx context.Context, cp, accountGUID uuid.UUID, segment string, w Write) (Written, error) {
	if _, err := c.account(ctx, cp, accountGUID); err != nil {
		return Written{}, err
	}
	res, err := command.Handle(ctx, c.d.Store, account.Stream(accountGUID), account.Decider, account.Events,
		any(account.SetSegment{Segment: segment, At: c.now()}), envelope(w, "segment", segment))
	if err != nil {
		return Written{}, err
	}
	return Written{GUID: accountGUID.String(), Position: res.Position}, c.wait(ctx, res.Position)
}

// Reads: the read model answers, held to the counterparty.

func (c *Customers) Customer(ctx context.Context, cp, guid string) (projections.Customer, bool) {
	return c.d.Views.Customer(ctx, cp, guid)
}

func (c *Customers) ListCustomers(ctx context.Context, q projections.CustomerQuery) ([]projections.Customer, int, error) {
	return c.d.Views.ListCustomers(ctx, q)
}

func (c *Customers) Account(ctx context.Context, cp, guid string) (projections.Account, bool) {
	return c.d.Views.Account(ctx, cp, guid)
}

func (c *Customers) CustomerAccounts(ctx context.Context, cp, customerGUID string) ([]projections.Account, bool) {
	return c.d.Views.CustomerAccounts(ctx, cp, customerGUID)
}

func (c *Customers) ListAccounts(ctx context.Context, q projections.AccountQuery) ([]projections.Account, int, error) {
	return c.d.Views.ListAccounts(ctx, q)
}

func (c *Customers) Segments(ctx context.Context, cp string, names []string) map[string][]projections.Account {
	return c.d.Views.Segments(ctx, cp, names)
}

// customer is the customer's state from its stream (the authority, not a read model that may lag).
func (c *Customers) customer(ctx context.Context, cp, guid uuid.UUID) (customer.State, error) {
	s, err := peek(ctx, c.d.Store, customer.Stream(guid), customer.Decider, customer.Events)
	if err != nil {
		return s, err
	}
	if !s.Exists || !strings.EqualFold(s.CounterpartyGUID, cp.String()) {
		return s, customer.ErrNotFound
	}
	return s, nil
}

// account is an open account of the counterparty, from its stream.
func (c *Customers) account(ctx context.Context, cp, guid uuid.UUID) (account.State, error) {
	s, err := peek(ctx, c.d.Store, account.Stream(guid), account.Decider, account.Events)
	if err != nil {
		return s, err
	}
	if !s.Generated() || !strings.EqualFold(s.CounterpartyGUID, cp.String()) {
		return s, account.ErrNotFound
	}
	if !s.Opened {
		return s, ErrAccountNotOpened
	}
	return s, nil
}

func (c *Customers) checkBranch(ctx context.Context, cp uuid.UUID, branchGUID string) error {
	if branchGUID == "" {
		return nil
	}
	g, err := uuid.Parse(branchGUID)
	if err != nil {
		return &customer.ErrInvalid{Field: "branch_guid", Reason: "is not a GUID"}
	}
	return checkBranch(ctx, c.d.Store, cp, g)
}

// claim reserves a unique value (a login, an IBAN) for owner; taken becomes the caller's own error.
func (c *Customers) claim(ctx context.Context, stream, owner, value string, at time.Time, taken error) error {
	return claimUnique(ctx, c.d.Store, stream, owner, value, at, taken)
}

// releaseUnkeyed frees a claim after a failed request that has no Idempotency-Key: nobody can resume it, so
// its claims must not block the next attempt. A keyed request keeps them for its retry.
func (c *Customers) releaseUnkeyed(ctx context.Context, w Write, stream, owner string) {
	if w.IdempotencyKey == "" {
		releaseClaim(ctx, c.d.Store, c.d.Logger, stream, owner, c.now())
	}
}

func (c *Customers) wait(ctx context.Context, pos eventstore.Position) error {
	if c.d.WaitFor == nil || pos == (eventstore.Position{}) {
		return nil
	}
	return c.d.WaitFor(ctx, pos)
}
