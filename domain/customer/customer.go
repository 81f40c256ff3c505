package customer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/text"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
)

// Bounds of a profile. The bank's authorization service allows external IDs of up to 500 symbols (guide §4).
const (
	MaxLoginBytes      = 256
	MaxExternalIDRunes = 500
	MaxNameRunes       = 200
	MaxPhoneBytes      = 32
	MaxSegmentRunes    = 100
	MaxStatusRunes     = 50
	MaxKYCLevel        = 100
	// MaxAccounts bounds one customer's accounts: the customer stream lists them, and a wallet is a handful
	// of accounts, not a ledger of its own.
	MaxAccounts = 100
	// DefaultStatus is the status of a customer whose bank gave none (the seed's example value).
	DefaultStatus = "active"
)

// Stream is the stream of the customer with this GUID.
func Stream(guid uuid.UUID) string { return "customer-" + guid.String() }

// LoginStream is the reservation stream of a customer login within a counterparty (see package uniqueness).
// Employees' logins are a separate namespace: a bank's employee may also be its customer.
func LoginStream(counterpartyGUID uuid.UUID, login string) string {
	return uniqueness.Stream("customer-login-"+counterpartyGUID.String()+"-", login)
}

// Profile is what the bank may change about its customer.
type Profile struct {
	// Login is how the bank and its authorization service name the customer (phone, e-mail or other);
	// stored as given, compared case-insensitively for uniqueness.
	Login        string `json:"login"`
	Name         string `json:"name,omitempty"`
	Surname      string `json:"surname,omitempty"`
	PaternalName string `json:"paternal_name,omitempty"`
	Phone        string `json:"phone_number,omitempty"`
	KYCLevel     int    `json:"kyc_level"`
	Segment      string `json:"segment,omitempty"`
	Status       string `json:"status"`
	// BranchGUID is empty for a customer of the whole counterparty (guide §16.1).
	BranchGUID string `json:"branch_guid,omitempty"`
	// BalanceAllowed caps the balance the customer may hold, in minor units of BalanceAssetCode; zero means
	// no cap (the seed's default is 0, and a cap of nothing would refuse every payment to the customer).
	BalanceAllowed     money.Amount `json:"balance_allowed"`
	BalanceAssetCode   string       `json:"balance_asset_code,omitempty"`
	BalanceAssetIssuer string       `json:"balance_asset_issuer,omitempty"`
}

// State is a customer as decisions need it.
type State struct {
	Exists           bool
	GUID             string
	CounterpartyGUID string
	ExternalID       string
	Profile          Profile
	Disabled         bool
	Accounts         []string // account GUIDs, the first one opened at registration
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// HasAccount reports whether the account is one of the customer's.
func (s State) HasAccount(guid string) bool { return slices.Contains(s.Accounts, guid) }

// Commands.
type (
	// Register records a customer whose first account is already open. ExternalID is what the bank's
	// authorization service answered at sign-up (required: it is how the bank names the customer to Kazna
	// from then on).
	Register struct {
		GUID             uuid.UUID `json:"guid"`
		CounterpartyGUID uuid.UUID `json:"counterparty_guid"`
		ExternalID       string    `json:"external_id"`
		Profile          Profile   `json:"profile"`
		Disabled         bool      `json:"is_disabled"`
		FirstAccount     uuid.UUID `json:"first_account_guid"`
		At               time.Time `json:"at"`
	}
	// Update replaces the profile. The login cannot change: the bank's authorization service and the
	// customer's sealed key are bound to it.
	Update struct {
		Profile Profile   `json:"profile"`
		At      time.Time `json:"at"`
	}
	Disable struct {
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	Enable struct {
		At time.Time `json:"at"`
	}
	// AddAccount records one more open account of the customer.
	AddAccount struct {
		AccountGUID uuid.UUID `json:"account_guid"`
		At          time.Time `json:"at"`
	}
)

// Event is an event of a customer stream; every type name starts with "Customer".
type Event interface{ isCustomerEvent() }

type (
	CustomerRegistered struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		ExternalID       string    `json:"external_id"`
		Profile          Profile   `json:"profile"`
		Disabled         bool      `json:"is_disabled"`
		AccountGUID      string    `json:"account_guid"`
		At               time.Time `json:"at"`
	}
	// CustomerUpdated carries the whole new profile, so that a reader needs no earlier event to show it.
	CustomerUpdated struct {
		GUID    string    `json:"guid"`
		Profile Profile   `json:"profile"`
		At      time.Time `json:"at"`
	}
	CustomerDisabled struct {
		GUID   string    `json:"guid"`
		Reason string    `json:"reason,omitempty"`
		At     time.Time `json:"at"`
	}
	CustomerEnabled struct {
		GUID string    `json:"guid"`
		At   time.Time `json:"at"`
	}
	CustomerAccountAdded struct {
		GUID        string    `json:"guid"`
		AccountGUID string    `json:"account_guid"`
		At          time.Time `json:"at"`
	}
)

func (CustomerRegistered) isCustomerEvent()   {}
func (CustomerUpdated) isCustomerEvent()      {}
func (CustomerDisabled) isCustomerEvent()     {}
func (CustomerEnabled) isCustomerEvent()      {}
func (CustomerAccountAdded) isCustomerEvent() {}

// Evolve folds one event.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case CustomerRegistered:
		s = State{Exists: true, GUID: e.GUID, CounterpartyGUID: e.CounterpartyGUID, ExternalID: e.ExternalID,
			Profile: e.Profile, Disabled: e.Disabled, Accounts: []string{e.AccountGUID}, CreatedAt: e.At, UpdatedAt: e.At}
	case CustomerUpdated:
		s.Profile, s.UpdatedAt = e.Profile, e.At
	case CustomerDisabled:
		s.Disabled, s.UpdatedAt = true, e.At
	case CustomerEnabled:
		s.Disabled, s.UpdatedAt = false, e.At
	case CustomerAccountAdded:
		s.Accounts = append(slices.Clip(s.Accounts), e.AccountGUID)
		s.UpdatedAt = e.At
	}
	return s
}

// Decide decides a command.
func Decide(s State, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case Register:
		return decideRegister(s, c)
	case Update:
		if !s.Exists {
			return nil, ErrNotFound
		}
		p, err := c.Profile.Normalise()
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(p.Login, s.Profile.Login) {
			return nil, invalid("login", "cannot change: the bank's authorization service and the customer's key are bound to it")
		}
		// Kept as signed up, not as given: the bank's authorization service knows the customer by that
		// spelling, and a change of case alone is no change.
		p.Login = s.Profile.Login
		if p == s.Profile {
			return nil, nil
		}
		return []Event{CustomerUpdated{GUID: s.GUID, Profile: p, At: c.At}}, nil
	case Disable:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if s.Disabled {
			return nil, nil
		}
		reason, err := text.Clean(c.Reason, text.Rule{MaxRunes: 500})
		if err != nil {
			return nil, invalid("reason", err.Error())
		}
		return []Event{CustomerDisabled{GUID: s.GUID, Reason: reason, At: c.At}}, nil
	case Enable:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if !s.Disabled {
			return nil, nil
		}
		return []Event{CustomerEnabled{GUID: s.GUID, At: c.At}}, nil
	case AddAccount:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if c.AccountGUID == uuid.Nil {
			return nil, invalid("account_guid", "required (a non-zero GUID)")
		}
		if s.HasAccount(c.AccountGUID.String()) {
			return nil, nil
		}
		if s.Disabled {
			return nil, ErrDisabled
		}
		if len(s.Accounts) >= MaxAccounts {
			return nil, fmt.Errorf("%w: at most %d", ErrTooManyAccounts, MaxAccounts)
		}
		return []Event{CustomerAccountAdded{GUID: s.GUID, AccountGUID: c.AccountGUID.String(), At: c.At}}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func decideRegister(s State, c Register) ([]Event, error) {
	if c.GUID == uuid.Nil {
		return nil, invalid("guid", "required (a non-zero GUID)")
	}
	if c.CounterpartyGUID == uuid.Nil {
		return nil, invalid("counterparty_guid", "required (a non-zero GUID)")
	}
	if c.FirstAccount == uuid.Nil {
		return nil, invalid("first_account_guid", "required (a non-zero GUID)")
	}
	p, err := c.Profile.Normalise()
	if err != nil {
		return nil, err
	}
	ext, err := CheckExternalID(c.ExternalID)
	if err != nil {
		return nil, err
	}
	if s.Exists {
		// A retry of the same registration (same owner, login and first account) decides nothing.
		if s.CounterpartyGUID == c.CounterpartyGUID.String() && strings.EqualFold(s.Profile.Login, p.Login) &&
			len(s.Accounts) > 0 && s.Accounts[0] == c.FirstAccount.String() {
			return nil, nil
		}
		return nil, ErrAlreadyExists
	}
	return []Event{CustomerRegistered{GUID: c.GUID.String(), CounterpartyGUID: c.CounterpartyGUID.String(), ExternalID: ext,
		Profile: p, Disabled: c.Disabled, AccountGUID: c.FirstAccount.String(), At: c.At}}, nil
}

// CheckExternalID checks the identity the bank's authorization service gave: 1 to 500 printable symbols.
func CheckExternalID(s string) (string, error) {
	clean, err := text.Clean(s, text.Rule{MaxRunes: MaxExternalIDRunes, Required: true})
	if err != nil {
		return "", invalid("external_id", err.Error())
	}
	return clean, nil
}

// Normalise checks a profile and fills its defaults: the status "active", and the login from the phone
// number when the bank gave none (the bank's authorization service is asked about the customer by login,
// so a customer must have one).
func (p Profile) Normalise() (Profile, error) {
	var err error
	out := Profile{KYCLevel: p.KYCLevel, BalanceAllowed: p.BalanceAllowed}
	if out.Phone, err = checkPhone(p.Phone); err != nil {
		return out, err
	}
	login := strings.TrimSpace(p.Login)
	if login == "" {
		login = out.Phone
	}
	if login == "" || len(login) > MaxLoginBytes || !utf8.ValidString(login) ||
		strings.ContainsFunc(login, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return out, invalid("login", fmt.Sprintf("required (or a phone_number): 1 to %d bytes with no spaces", MaxLoginBytes))
	}
	out.Login = login
	for _, f := range []struct {
		field string
		in    string
		max   int
		out   *string
	}{
		{"name", p.Name, MaxNameRunes, &out.Name},
		{"surname", p.Surname, MaxNameRunes, &out.Surname},
		{"paternal_name", p.PaternalName, MaxNameRunes, &out.PaternalName},
		{"segment", p.Segment, MaxSegmentRunes, &out.Segment},
		{"status", p.Status, MaxStatusRunes, &out.Status},
	} {
		if *f.out, err = text.Clean(f.in, text.Rule{MaxRunes: f.max}); err != nil {
			return out, invalid(f.field, err.Error())
		}
	}
	if out.Status == "" {
		out.Status = DefaultStatus
	}
	if p.KYCLevel < 0 || p.KYCLevel > MaxKYCLevel {
		return out, invalid("kyc_level", fmt.Sprintf("must be 0 to %d", MaxKYCLevel))
	}
	if p.BalanceAllowed < 0 {
		return out, invalid("balance_allowed", "must not be negative")
	}
	if p.BranchGUID != "" {
		g, err := uuid.Parse(p.BranchGUID)
		if err != nil || g == uuid.Nil {
			return out, invalid("branch_guid", "is not a GUID")
		}
		out.BranchGUID = g.String()
	}
	out.BalanceAssetCode = strings.TrimSpace(p.BalanceAssetCode)
	out.BalanceAssetIssuer = strings.TrimSpace(p.BalanceAssetIssuer)
	if len(out.BalanceAssetCode) > 12 {
		return out, invalid("balance_asset_code", "at most 12 characters")
	}
	if len(out.BalanceAssetIssuer) > 56 {
		return out, invalid("balance_asset_issuer", "is not a Stellar account ID")
	}
	return out, nil
}

// checkPhone is text.Phone, refused under this package's field name.
func checkPhone(s string) (string, error) {
	out, err := text.Phone(s, MaxPhoneBytes)
	if err != nil {
		return "", invalid("phone_number", err.Error())
	}
	return out, nil
}

// Decider is the customer aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of customer streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks every type round-trips.
	_ = errors.Join(
		command.Register[Event, CustomerRegistered](r, "CustomerRegistered"),
		command.Register[Event, CustomerUpdated](r, "CustomerUpdated"),
		command.Register[Event, CustomerDisabled](r, "CustomerDisabled"),
		command.Register[Event, CustomerEnabled](r, "CustomerEnabled"),
		command.Register[Event, CustomerAccountAdded](r, "CustomerAccountAdded"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Customer"}
