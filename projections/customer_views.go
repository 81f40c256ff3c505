package projections

import (
	"time"

	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/money"
)

// Customer is a bank's customer as the customers read model shows it (seed 002, GET …/customers).
type Customer struct {
	GUID             string
	CounterpartyGUID string
	ExternalID       string
	Profile          customer.Profile
	Disabled         bool
	// Accounts are the customer's account GUIDs, the first one opened at registration first.
	Accounts  []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CustomerOrder is the ordering of a customer list. Every order ends with the GUID, so that pages are stable.
type CustomerOrder string

// The orderings of GET …/customers (`ordering`); a leading "-" is descending. The seed names the parameter
// but not its values: these follow the fields a bank sorts a customer table by.
const (
	CustomersByCreated     CustomerOrder = "created_at"
	CustomersByCreatedDesc CustomerOrder = "-created_at"
	CustomersByUpdated     CustomerOrder = "updated_at"
	CustomersByUpdatedDesc CustomerOrder = "-updated_at"
	CustomersByLogin       CustomerOrder = "login"
	CustomersByLoginDesc   CustomerOrder = "-login"
	CustomersBySurname     CustomerOrder = "surname"
	CustomersBySurnameDesc CustomerOrder = "-surname"
)

// CustomerOrders lists every ordering, for validation and the OpenAPI enum.
var CustomerOrders = []CustomerOrder{CustomersByCreated, CustomersByCreatedDesc, CustomersByUpdated, CustomersByUpdatedDesc,
	CustomersByLogin, CustomersByLoginDesc, CustomersBySurname, CustomersBySurnameDesc}

// CustomerQuery filters and pages a counterparty's customers: every filter of seed 002. A nil or empty filter
// matches everything; values within one filter are alternatives (OR); filters combine with AND.
// CounterpartyGUID is required, so that a handler that forgets it cannot list another bank's customers.
type CustomerQuery struct {
	CounterpartyGUID string
	GUIDs            []string // wallet_user_guids
	Logins           []string // case-insensitive
	KYCLevels        []int
	// Disabled, when set, keeps only customers whose is_disabled equals it.
	Disabled            *bool
	MinBalanceAllowed   *money.Amount // inclusive, minor units
	MaxBalanceAllowed   *money.Amount // inclusive, minor units
	BalanceAssetCodes   []string
	BalanceAssetIssuers []string
	// BranchGUIDs keeps customers of these branches. BranchScope, when not empty, is the caller's own branch
	// (an employee of a branch sees only its customers, guide §16.1): it applies on top of every filter.
	BranchGUIDs   []string
	BranchScope   string
	Names         []string // case-insensitive, whole value
	PaternalNames []string
	PhoneNumbers  []string
	Segments      []string
	Statuses      []string
	Surnames      []string
	// Search matches, case-insensitively, a part of the name, surname, paternal name or login, or the whole
	// customer GUID or external ID.
	Search                 string
	MinCreated, MaxCreated time.Time // inclusive; zero means unbounded
	MinUpdated, MaxUpdated time.Time
	Order                  CustomerOrder // empty: CustomersByCreated
	Offset, Limit          int           // Limit 0: DefaultListLimit; at most MaxListLimit
}

// Account is a digital entity as the accounts read model shows it: a counterparty's emission or processing
// entity, or a customer's account (guide §8, seed 002).
type Account struct {
	GUID             string
	CounterpartyGUID string
	Kind             account.Kind
	Address          string // the Stellar account ID
	Owner            account.Owner
	AssetCode        string // the Stellar code of the asset it holds
	AssetIssuer      string
	Opened           bool // on chain with an authorized trustline; an account not opened yet is not listed
	Blocked          bool
	Segment          string
	// Balance is the ledger balance in minor units (credits minus debits); Reserved is what confirmed
	// payments hold until they settle. Available = Balance − Reserved.
	Balance  money.Amount
	Reserved money.Amount
	// CustomerLogin and CustomerExternalID are the owner's, for a customer account (joined, for search).
	CustomerLogin      string
	CustomerExternalID string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// AccountQuery filters and pages a counterparty's accounts (guide §8, GET …/accounts).
type AccountQuery struct {
	CounterpartyGUID string
	GUIDs            []string // wallet_account_guids
	CustomerGUIDs    []string // wallet_user_guids
	Kinds            []account.Kind
	IBAN             string // whole IBAN, electronic form
	BranchGUIDs      []string
	BranchScope      string // as CustomerQuery.BranchScope
	// Search matches the whole customer GUID, account GUID, IBAN, customer login or external ID (guide §8).
	Search        string
	Order         CreatedOrder
	Offset, Limit int
}
