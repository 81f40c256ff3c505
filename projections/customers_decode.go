package projections

import (
	"fmt"
	"time"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/money"
)

// The decoders of the customers read model read an event's JSON with jsonIn into the domain's event type,
// taking the strings of values already in the symbol table instead of allocating them, and leave out what
// the read model never shows (an account's sealed seed is checked as base64, not kept). When jsonIn
// gives up they decode with the domain codec instead, which decides. Only Apply's goroutine calls them.

// The JSON member names of each event, for telling an unknown member from a field name in another case; a
// test checks them against the domain types' tags, so that a field added there is not silently dropped here.
var (
	profileFields      = []string{"login", "name", "surname", "paternal_name", "phone_number", "kyc_level", "segment", "status", "branch_guid", "balance_allowed", "balance_asset_code", "balance_asset_issuer"}
	registeredFields   = []string{"guid", "counterparty_guid", "external_id", "profile", "is_disabled", "account_guid", "at"}
	updatedFields      = []string{"guid", "profile", "at"}
	disabledFields     = []string{"guid", "reason", "at"}
	enabledFields      = []string{"guid", "at"}
	accountAddedFields = []string{"guid", "account_guid", "at"}
	ownerFields        = []string{"customer_guid", "branch_guid", "iban", "key_keeper_login"}
	keyGeneratedFields = []string{"guid", "kind", "counterparty_guid", "address", "sealed_seed", "owner", "at"}
	openedFields       = []string{"guid", "kind", "counterparty_guid", "address", "asset_code", "asset_issuer", "owner", "at"}
	blockedFields      = []string{"guid", "reason", "at"}
	unblockedFields    = []string{"guid", "at"}
	segmentSetFields   = []string{"guid", "segment", "at"}
)

// slowDecode decodes with the domain codec, then lets fix drop what the read model does not keep.
func slowDecode[E, T any](codec command.Codec[E], eventType string, data []byte, fix func(*T)) (T, error) {
	var zero T
	v, err := codec.Decode(eventType, data)
	if err != nil {
		return zero, err
	}
	e, ok := any(v).(T)
	if !ok {
		return zero, fmt.Errorf("projections: customers: %s decodes to %T, want %T", eventType, v, zero)
	}
	if fix != nil {
		fix(&e)
	}
	return e, nil
}

func (p *Customers) readProfile(pr *customer.Profile) {
	r := &p.in
	r.object(func(k []byte) {
		switch string(k) {
		case "login":
			if b, ok := r.str(); ok {
				pr.Login = string(b)
			}
		case "phone_number":
			if b, ok := r.str(); ok {
				pr.Phone = string(b)
			}
		case "name":
			if b, ok := r.str(); ok {
				pr.Name = p.syms.text(b)
			}
		case "surname":
			if b, ok := r.str(); ok {
				pr.Surname = p.syms.text(b)
			}
		case "paternal_name":
			if b, ok := r.str(); ok {
				pr.PaternalName = p.syms.text(b)
			}
		case "segment":
			if b, ok := r.str(); ok {
				pr.Segment = p.syms.text(b)
			}
		case "status":
			if b, ok := r.str(); ok {
				pr.Status = p.syms.text(b)
			}
		case "branch_guid":
			if b, ok := r.str(); ok {
				pr.BranchGUID = p.syms.text(b)
			}
		case "balance_asset_code":
			if b, ok := r.str(); ok {
				pr.BalanceAssetCode = p.syms.text(b)
			}
		case "balance_asset_issuer":
			if b, ok := r.str(); ok {
				pr.BalanceAssetIssuer = p.syms.text(b)
			}
		case "kyc_level":
			if v, ok := r.integer(); ok {
				pr.KYCLevel = int(v)
			}
		case "balance_allowed":
			if v, ok := r.integer(); ok {
				pr.BalanceAllowed = money.Amount(v)
			}
		default:
			r.unknown(k, profileFields...)
		}
	})
}

func (p *Customers) decodeCustomerRegistered(data []byte) (customer.CustomerRegistered, error) {
	var e customer.CustomerRegistered
	r := &p.in
	r.reset(data)
	r.object(func(k []byte) {
		switch string(k) {
		case "guid":
			if b, ok := r.str(); ok {
				e.GUID = string(b)
			}
		case "counterparty_guid":
			if b, ok := r.str(); ok {
				e.CounterpartyGUID = p.syms.text(b)
			}
		case "external_id":
			if b, ok := r.str(); ok {
				e.ExternalID = string(b)
			}
		case "profile":
			p.readProfile(&e.Profile)
		case "is_disabled":
			if v, ok := r.boolean(); ok {
				e.Disabled = v
			}
		case "account_guid":
			if b, ok := r.str(); ok {
				e.AccountGUID = string(b)
			}
		case "at":
			r.time(&e.At)
		default:
			r.unknown(k, registeredFields...)
		}
	})
	r.end()
	if !r.slow {
		return e, nil
	}
	return slowDecode[customer.Event, customer.CustomerRegistered](customer.Events, typeCustomerRegistered, data, nil)
}

func (p *Customers) decodeCustomerUpdated(data []byte) (customer.CustomerUpdated, error) {
	var e customer.CustomerUpdated
	r := &p.in
	r.reset(data)
	r.object(func(k []byte) {
		switch string(k) {
		case "guid":
			if b, ok := r.str(); ok {
				e.GUID = string(b)
			}
		case "profile":
			p.readProfile(&e.Profile)
		case "at":
			r.time(&e.At)
		default:
			r.unknown(k, updatedFields...)
		}
	})
	r.end()
	if !r.slow {
		return e, nil
	}
	return slowDecode[customer.Event, customer.CustomerUpdated](customer.Events, typeCustomerUpdated, data, nil)
}

func (p *Customers) decodeCustomerAccountAdded(data []byte) (customer.CustomerAccountAdded, error) {
	var e customer.CustomerAccountAdded
	r := &p.in
	r.reset(data)
	r.object(func(k []byte) {
		switch string(k) {
		case "guid":
			if b, ok := r.str(); ok {
				e.GUID = string(b)
			}
		case "account_guid":
			if b, ok := r.str(); ok {
				e.AccountGUID = string(b)
			}
		case "at":
			r.time(&e.At)
		default:
			r.unknown(k, accountAddedFields...)
		}
	})
	r.end()
	if !r.slow {
		return e, nil
	}
	return slowDecode[customer.Event, customer.CustomerAccountAdded](customer.Events, typeCustomerAccountAdded, data, nil)
}

// decodeGUIDAt reads the events that carry only a GUID, a time and perhaps a reason the read model does not
// show: CustomerDisabled, CustomerEnabled, AccountBlocked, AccountUnblocked.
func (p *Customers) decodeGUIDAt(eventType string, data []byte) (guid string, at time.Time, err error) {
	fields := enabledFields
	switch eventType {
	case typeCustomerDisabled:
		fields = disabledFields
	case typeAccountBlocked:
		fields = blockedFields
	case typeAccountUnblocked:
		fields = unblockedFields
	}
	hasReason := eventType == typeCustomerDisabled || eventType == typeAccountBlocked
	r := &p.in
	r.reset(data)
	r.object(func(k []byte) {
		switch {
		case string(k) == "guid":
			if b, ok := r.str(); ok {
				guid = string(b)
			}
		case string(k) == "at":
			r.time(&at)
		case hasReason && string(k) == "reason":
			r.checkStr()
		default:
			r.unknown(k, fields...)
		}
	})
	r.end()
	if !r.slow {
		return guid, at, nil
	}
	var e any
	switch eventType {
	case typeCustomerDisabled, typeCustomerEnabled:
		e, err = customer.Events.Decode(eventType, data)
	default:
		e, err = account.Events.Decode(eventType, data)
	}
	if err != nil {
		return "", time.Time{}, err
	}
	switch e := e.(type) {
	case customer.CustomerDisabled:
		return e.GUID, e.At, nil
	case customer.CustomerEnabled:
		return e.GUID, e.At, nil
	case account.AccountBlocked:
		return e.GUID, e.At, nil
	case account.AccountUnblocked:
		return e.GUID, e.At, nil
	}
	return "", time.Time{}, fmt.Errorf("projections: customers: %s decodes to %T", eventType, e)
}

func (p *Customers) readOwner(o *account.Owner) {
	r := &p.in
	r.object(func(k []byte) {
		switch string(k) {
		case "customer_guid":
			if b, ok := r.str(); ok {
				o.CustomerGUID = string(b)
			}
		case "branch_guid":
			if b, ok := r.str(); ok {
				o.BranchGUID = p.syms.text(b)
			}
		case "iban":
			if b, ok := r.str(); ok {
				o.IBAN = string(b)
			}
		case "key_keeper_login":
			if b, ok := r.str(); ok {
				o.KeyKeeperLogin = p.syms.text(b)
			}
		default:
			r.unknown(k, ownerFields...)
		}
	})
}

func (p *Customers) decodeAccountKeyGenerated(data []byte) (account.AccountKeyGenerated, error) {
	var e account.AccountKeyGenerated
	r := &p.in
	r.reset(data)
	r.object(func(k []byte) {
		switch string(k) {
		case "guid":
			if b, ok := r.str(); ok {
				e.GUID = string(b)
			}
		case "kind":
			if b, ok := r.str(); ok {
				e.Kind = account.Kind(p.syms.text(b))
			}
		case "counterparty_guid":
			if b, ok := r.str(); ok {
				e.CounterpartyGUID = p.syms.text(b)
			}
		case "address":
			if b, ok := r.str(); ok {
				e.Address = string(b)
			}
		case "sealed_seed":
			r.bytesB64()
		case "owner":
			p.readOwner(&e.Owner)
		case "at":
			r.time(&e.At)
		default:
			r.unknown(k, keyGeneratedFields...)
		}
	})
	r.end()
	if !r.slow {
		return e, nil
	}
	return slowDecode(account.Events, typeAccountKeyGenerated, data, func(e *account.AccountKeyGenerated) { e.SealedSeed = nil })
}

// decodeAccountOpened keeps what the key event did not already say: the asset and the time. The rest is
// checked, as encoding/json would.
func (p *Customers) decodeAccountOpened(data []byte) (account.AccountOpened, error) {
	var e account.AccountOpened
	r := &p.in
	r.reset(data)
	r.object(func(k []byte) {
		switch string(k) {
		case "guid":
			if b, ok := r.str(); ok {
				e.GUID = string(b)
			}
		case "asset_code":
			if b, ok := r.str(); ok {
				e.AssetCode = p.syms.text(b)
			}
		case "asset_issuer":
			if b, ok := r.str(); ok {
				e.AssetIssuer = p.syms.text(b)
			}
		case "kind", "counterparty_guid", "address":
			r.checkStr()
		case "owner":
			r.object(func(k []byte) {
				switch string(k) {
				case "customer_guid", "branch_guid", "iban", "key_keeper_login":
					r.checkStr()
				default:
					r.unknown(k, ownerFields...)
				}
			})
		case "at":
			r.time(&e.At)
		default:
			r.unknown(k, openedFields...)
		}
	})
	r.end()
	if !r.slow {
		return account.AccountOpened{GUID: e.GUID, AssetCode: e.AssetCode, AssetIssuer: e.AssetIssuer, At: e.At}, nil
	}
	return slowDecode(account.Events, typeAccountOpened, data, func(e *account.AccountOpened) {
		*e = account.AccountOpened{GUID: e.GUID, AssetCode: e.AssetCode, AssetIssuer: e.AssetIssuer, At: e.At}
	})
}

func (p *Customers) decodeAccountSegmentSet(data []byte) (account.AccountSegmentSet, error) {
	var e account.AccountSegmentSet
	r := &p.in
	r.reset(data)
	r.object(func(k []byte) {
		switch string(k) {
		case "guid":
			if b, ok := r.str(); ok {
				e.GUID = string(b)
			}
		case "segment":
			if b, ok := r.str(); ok {
				e.Segment = p.syms.text(b)
			}
		case "at":
			r.time(&e.At)
		default:
			r.unknown(k, segmentSetFields...)
		}
	})
	r.end()
	if !r.slow {
		return e, nil
	}
	return slowDecode[account.Event, account.AccountSegmentSet](account.Events, typeAccountSegmentSet, data, nil)
}

// The JSON member names of the funds events and of the limits a reservation carries.
var (
	reservedFields    = []string{"guid", "payment", "amount", "bank_guid", "limits", "at"}
	releasedFields    = []string{"guid", "payment", "amount", "reason", "at"}
	movedFields       = []string{"guid", "payment", "amount", "at"} // AccountDebited, AccountCredited
	spendLimitsFields = []string{"min", "max", "operation_source", "windows"}
	spendWindowFields = []string{"period", "days", "max", "max_count", "source"}
)

// decodeFunds reads a funds event of an account (reservation, release, debit, credit): which account, how
// much, when. A rebuild reads one to three of them per payment, so they take the fast reader: through
// encoding/json they were most of the model's time. The members the model does not keep (the payment, the
// bank, the limits passed, the reason) are checked as encoding/json would, so that an event the codec refuses
// is refused here too.
func (p *Customers) decodeFunds(eventType string, data []byte) (guid string, amount int64, at time.Time, err error) {
	fields := movedFields
	switch eventType {
	case typeReserved:
		fields = reservedFields
	case typeReleased:
		fields = releasedFields
	case typeCredited, typeDebited:
	default:
		return "", 0, time.Time{}, fmt.Errorf("projections: customers: %s is not a funds event", eventType)
	}
	r := &p.in
	r.reset(data)
	r.object(func(k []byte) {
		switch {
		case string(k) == "guid":
			if b, ok := r.str(); ok {
				guid = string(b)
			}
		case string(k) == "amount":
			if v, ok := r.integer(); ok {
				amount = v
			}
		case string(k) == "at":
			r.time(&at)
		case string(k) == "payment":
			r.checkStr()
		case eventType == typeReserved && string(k) == "bank_guid", eventType == typeReleased && string(k) == "reason":
			r.checkStr()
		case eventType == typeReserved && string(k) == "limits":
			r.checkSpendLimits()
		default:
			r.unknown(k, fields...)
		}
	})
	r.end()
	if !r.slow {
		return guid, amount, at, nil
	}
	e, err := account.Events.Decode(eventType, data)
	if err != nil {
		return "", 0, time.Time{}, fmt.Errorf("projections: customers: %s: %w", eventType, err)
	}
	switch e := e.(type) {
	case account.AccountCredited:
		return e.GUID, e.Amount, e.At, nil
	case account.AccountDebited:
		return e.GUID, e.Amount, e.At, nil
	case account.AccountFundsReserved:
		return e.GUID, e.Amount, e.At, nil
	case account.AccountFundsReleased:
		return e.GUID, e.Amount, e.At, nil
	}
	return "", 0, time.Time{}, fmt.Errorf("projections: customers: %s is not a funds event", eventType)
}

// checkSpendLimits checks an account.SpendLimits (or null) without keeping it.
func (r *jsonIn) checkSpendLimits() {
	r.object(func(k []byte) {
		switch string(k) {
		case "min", "max":
			r.integer()
		case "operation_source":
			r.checkStr()
		case "windows":
			r.arrayOf(func() {
				r.object(func(k []byte) {
					switch string(k) {
					case "days", "max_count":
						r.checkInt()
					case "max":
						r.integer()
					case "period", "source":
						r.checkStr()
					default:
						r.unknown(k, spendWindowFields...)
					}
				})
			})
		default:
			r.unknown(k, spendLimitsFields...)
		}
	})
}
