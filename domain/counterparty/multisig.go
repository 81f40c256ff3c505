package counterparty

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
)

// Multisignature (guide §11). A counterparty that chooses multisignature (Profile.Multisig) gives the platform
// the public halves of its signer keys ("generates 2 key pairs and gives DCM the public halves"). Each
// customer account opened while the choice is on gets those keys, the platform's co-signing key and the
// customer's own key as signers, with thresholds that need all three parties; it is recorded on the account's
// cosigning stream (CosignedAccountStream), which settlement reads to know that a payment needs the bank's
// /sign. The choice applies to accounts opened after it: an account's signers are set once, at opening, and
// turning the flag off or changing the keys later does not change accounts already opened (their on-chain
// signers stay as recorded).

// MaxSignerKeys bounds a counterparty's signer keys. The guide's counterparty has 2; a few more allow a
// rotation. The thresholds (CosignerWeights) stay sound for any count up to this bound.
const MaxSignerKeys = 4

// SetSignerKeys replaces the counterparty's signer public keys (G… addresses). An empty list removes them.
type SetSignerKeys struct {
	Addresses []string  `json:"addresses"`
	At        time.Time `json:"at"`
}

// CounterpartySignerKeysSet records the counterparty's signer public keys.
type CounterpartySignerKeysSet struct {
	GUID      string    `json:"guid"`
	Addresses []string  `json:"addresses"`
	At        time.Time `json:"at"`
}

func (CounterpartySignerKeysSet) isCounterpartyEvent() {}

func decideSignerKeys(s State, c SetSignerKeys) ([]Event, error) {
	if !s.Exists {
		return nil, ErrNotFound
	}
	if len(c.Addresses) > MaxSignerKeys {
		return nil, invalid("addresses", fmt.Sprintf("at most %d signer keys", MaxSignerKeys))
	}
	seen := map[string]bool{}
	for _, a := range c.Addresses {
		if err := checkAccountID("addresses", a); err != nil {
			return nil, err
		}
		if seen[a] {
			return nil, invalid("addresses", a+" is given twice")
		}
		seen[a] = true
	}
	if slices.Equal(c.Addresses, s.SignerKeys) {
		return nil, nil
	}
	return []Event{CounterpartySignerKeysSet{GUID: s.GUID, Addresses: slices.Clone(c.Addresses), At: c.At}}, nil
}

// CosignerWeights are the weights and thresholds of a customer account with bankKeys signer keys of its bank:
// each bank key weighs 1, the customer's key and the platform's key weigh bankKeys each, and payments
// (medium) and signer changes (high) need 2·bankKeys+1. So a payment needs the customer, the platform and at
// least one bank key: without the customer or the platform the others reach at most 2·bankKeys, and the
// customer and the platform together reach only 2·bankKeys. The low threshold stays 1: the operations it
// guards (bumping the sequence number, for example) move no money, and the issuer authorizes trustlines from
// its own account, as for every other account.
func CosignerWeights(bankKeys int) (Weights, error) {
	if bankKeys < 1 || bankKeys > MaxSignerKeys {
		return Weights{}, invalid("addresses", fmt.Sprintf("1 to %d signer keys", MaxSignerKeys))
	}
	n := uint8(bankKeys)
	return Weights{Customer: n, Platform: n, BankKey: 1, Low: 1, Medium: 2*n + 1, High: 2*n + 1}, nil
}

// Weights are a cosigned account's signer weights and thresholds.
type Weights struct {
	Customer uint8 `json:"customer"`
	Platform uint8 `json:"platform"`
	BankKey  uint8 `json:"bank_key"`
	Low      uint8 `json:"low"`
	Medium   uint8 `json:"medium"`
	High     uint8 `json:"high"`
}

// CosignedAccountStream is the stream that records a customer account's multisignature set-up. An account
// without it needs only its own key.
func CosignedAccountStream(account uuid.UUID) string { return "cosigned-account-" + account.String() }

// RecordCosigning records that an account's signers were set on chain.
type RecordCosigning struct {
	AccountGUID      uuid.UUID `json:"account_guid"`
	CounterpartyGUID uuid.UUID `json:"counterparty_guid"`
	Address          string    `json:"address"`
	BankSigners      []string  `json:"bank_signers"`
	PlatformSigner   string    `json:"platform_signer"`
	Weights          Weights   `json:"weights"`
	At               time.Time `json:"at"`
}

// CosignedAccountSetUp is an account whose payments need its bank's, the platform's and the customer's
// signatures.
type CosignedAccountSetUp struct {
	AccountGUID      string    `json:"account_guid"`
	CounterpartyGUID string    `json:"counterparty_guid"`
	Address          string    `json:"address"`
	BankSigners      []string  `json:"bank_signers"`
	PlatformSigner   string    `json:"platform_signer"`
	Weights          Weights   `json:"weights"`
	At               time.Time `json:"at"`
}

// CosignedAccountEvent is an event of a cosigning stream.
type CosignedAccountEvent interface{ isCosignedAccountEvent() }

func (CosignedAccountSetUp) isCosignedAccountEvent() {}

// CosignedAccount is the state of a cosigning stream.
type CosignedAccount struct {
	CosignedAccountSetUp
	Exists bool
}

func evolveCosigned(s CosignedAccount, e CosignedAccountEvent) CosignedAccount {
	if e, ok := e.(CosignedAccountSetUp); ok {
		return CosignedAccount{CosignedAccountSetUp: e, Exists: true}
	}
	return s
}

func decideCosigned(s CosignedAccount, cmd any) ([]CosignedAccountEvent, error) {
	c, ok := cmd.(RecordCosigning)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
	}
	if err := checkGUID("account_guid", c.AccountGUID); err != nil {
		return nil, err
	}
	if err := checkGUID("counterparty_guid", c.CounterpartyGUID); err != nil {
		return nil, err
	}
	for _, a := range append([]string{c.Address, c.PlatformSigner}, c.BankSigners...) {
		if err := checkAccountID("address", a); err != nil {
			return nil, err
		}
	}
	w, err := CosignerWeights(len(c.BankSigners))
	if err != nil {
		return nil, err
	}
	if c.Weights != w {
		return nil, invalid("weights", "not the weights of CosignerWeights")
	}
	ev := CosignedAccountSetUp{AccountGUID: c.AccountGUID.String(), CounterpartyGUID: c.CounterpartyGUID.String(), Address: c.Address,
		BankSigners: slices.Clone(c.BankSigners), PlatformSigner: c.PlatformSigner, Weights: c.Weights, At: c.At}
	if s.Exists {
		if s.Address == ev.Address && s.PlatformSigner == ev.PlatformSigner && slices.Equal(s.BankSigners, ev.BankSigners) {
			return nil, nil // a retry
		}
		return nil, fmt.Errorf("%w: the account's signers are set already", ErrAlreadyExists)
	}
	return []CosignedAccountEvent{ev}, nil
}

// CosignedDecider is the decider of cosigning streams.
var CosignedDecider = command.Decider[CosignedAccount, any, CosignedAccountEvent]{Evolve: evolveCosigned, Decide: decideCosigned}

// CosignedEvents is the codec of cosigning streams.
var CosignedEvents = func() *command.Registry[CosignedAccountEvent] {
	r := command.NewRegistry[CosignedAccountEvent]()
	_ = command.Register[CosignedAccountEvent, CosignedAccountSetUp](r, "CosignedAccountSetUp") // a fixed name: cannot fail
	return r
}()
