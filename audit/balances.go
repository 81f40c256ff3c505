package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/platform"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
)

var (
	// ErrAccountNotFound is an account whose stream holds no event.
	ErrAccountNotFound = errors.New("audit: account not found")
	// ErrNotYetOpened is a balance asked for a time before the account's first event.
	ErrNotYetOpened = errors.New("audit: the account had no history yet at that time")
)

// AccountBalance is an account's money as its own stream says at a point in time. Available = Balance −
// Reserved.
type AccountBalance struct {
	GUID             string
	CounterpartyGUID string
	Kind             account.Kind
	At               time.Time // the time asked for; zero for "now"
	Balance          money.Amount
	Reserved         money.Amount
	// Revision and Position are those of the last event folded, and Time its metadata time.
	Revision uint64
	Position eventstore.Position
	Time     time.Time
}

// Available is what the account could spend at that time.
func (b AccountBalance) Available() money.Amount { return b.Balance - b.Reserved }

// balancePage bounds one read of an account stream while folding it.
const balancePage = 1000

// BalanceAt folds the account's own stream, every event whose metadata time is at or before at (the whole
// stream for a zero at), the way Replay cuts the log, so that the two agree. ErrAccountNotFound is an
// account without events; ErrNotYetOpened one whose first event is after at.
func BalanceAt(ctx context.Context, store LogReader, guid uuid.UUID, at time.Time) (AccountBalance, error) {
	stream := account.Stream(guid)
	cut := Until(at)
	var st account.State
	out := AccountBalance{GUID: guid.String(), At: at}
	folded := false
	for from := uint64(0); ; {
		events, err := store.ReadStream(ctx, stream, eventstore.Forwards, from, balancePage)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return out, fmt.Errorf("%w: %s", ErrAccountNotFound, guid)
		}
		if err != nil {
			return out, fmt.Errorf("audit: read %s: %w", stream, err)
		}
		for i := range events {
			e := &events[i]
			if !cut.Includes(e) {
				continue
			}
			ev, err := account.Events.Decode(e.Type, e.Data)
			if err != nil {
				return out, fmt.Errorf("audit: %s revision %d: %w", stream, e.Revision, err)
			}
			st = account.Evolve(st, ev)
			folded = true
			out.Revision, out.Position, out.Time = e.Revision, e.Position, e.Metadata.Time
		}
		if len(events) < balancePage {
			break
		}
		from = events[len(events)-1].Revision + 1
	}
	if !folded {
		return out, fmt.Errorf("%w: %s at %s", ErrNotYetOpened, guid, at.UTC().Format(time.RFC3339Nano))
	}
	out.CounterpartyGUID, out.Kind = st.CounterpartyGUID, st.Kind
	out.Balance, out.Reserved = money.Amount(st.Funds.Balance), money.Amount(st.Funds.Reserved)
	return out, nil
}

// PlatformAsset reads the platform's e-money asset from its stream, to write amounts in its decimals.
func PlatformAsset(ctx context.Context, store LogReader) (money.Asset, error) {
	events, err := store.ReadStream(ctx, platform.Stream, eventstore.Forwards, 0, balancePage)
	if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
		return money.Asset{}, fmt.Errorf("audit: read the platform stream: %w", err)
	}
	for _, e := range events {
		if e.Type != "AssetDefined" {
			continue
		}
		var a platform.AssetDefined
		if err := json.Unmarshal(e.Data, &a); err != nil {
			return money.Asset{}, fmt.Errorf("audit: the platform's AssetDefined: %w", err)
		}
		return money.Asset{Code: a.Code, StellarCode: a.StellarCode, Decimals: a.Decimals}, nil
	}
	return money.Asset{}, errors.New("audit: the log defines no asset (the platform never started)")
}

// BankLister and AccountLister are the read models Balances lists from.
type (
	BankLister interface {
		List(ctx context.Context, q projections.CounterpartyQuery) ([]projections.Counterparty, int, error)
	}
	AccountLister interface {
		ListAccounts(ctx context.Context, q projections.AccountQuery) ([]projections.Account, int, error)
	}
)

// Balance is one account's line of a balance sheet.
type Balance struct {
	CounterpartyGUID string
	AccountGUID      string
	Kind             account.Kind
	CustomerGUID     string
	Blocked          bool
	Balance          money.Amount
	Reserved         money.Amount
}

// Balances lists every opened account of every counterparty as the read models hold them, banks and their
// accounts each in creation order.
func Balances(ctx context.Context, banks BankLister, accounts AccountLister) ([]Balance, error) {
	var out []Balance
	const page = projections.MaxListLimit
	for offset := 0; ; offset += page {
		cps, total, err := banks.List(ctx, projections.CounterpartyQuery{ListPage: projections.ListPage{Offset: offset, Limit: page}})
		if err != nil {
			return nil, fmt.Errorf("audit: list counterparties: %w", err)
		}
		for _, cp := range cps {
			for aoff := 0; ; aoff += page {
				list, atotal, err := accounts.ListAccounts(ctx, projections.AccountQuery{CounterpartyGUID: cp.GUID, Offset: aoff, Limit: page})
				if err != nil {
					return nil, fmt.Errorf("audit: list the accounts of %s: %w", cp.GUID, err)
				}
				for _, a := range list {
					out = append(out, Balance{CounterpartyGUID: a.CounterpartyGUID, AccountGUID: a.GUID, Kind: a.Kind,
						CustomerGUID: a.Owner.CustomerGUID, Blocked: a.Blocked, Balance: a.Balance, Reserved: a.Reserved})
				}
				if len(list) == 0 || aoff+len(list) >= atotal {
					break
				}
			}
		}
		if len(cps) == 0 || offset+len(cps) >= total {
			break
		}
	}
	return out, nil
}

// Sheet is the balances of a replay: where history was cut, what the last event kept was, and each account.
type Sheet struct {
	Cut      Cut
	Last     eventstore.Position
	LastTime time.Time
	Events   uint64
	Asset    money.Asset
	Accounts []Balance
}

// Formats of Sheet.Write.
const (
	FormatText = "text"
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// sheetJSON is the JSON form of a sheet; amounts are decimal strings in the asset's units, never floats.
type sheetJSON struct {
	AsOf         string        `json:"as_of"`
	LastPosition string        `json:"last_position"`
	LastTime     string        `json:"last_event_time,omitempty"`
	Events       uint64        `json:"events"`
	Asset        string        `json:"asset"`
	Accounts     []balanceJSON `json:"accounts"`
}

type balanceJSON struct {
	CounterpartyGUID string `json:"counterparty_guid"`
	AccountGUID      string `json:"wallet_account_guid"`
	Kind             string `json:"account_kind"`
	CustomerGUID     string `json:"wallet_user_guid"`
	Blocked          bool   `json:"blocked"`
	Balance          string `json:"balance"`
	Reserved         string `json:"reserved_balance"`
	Available        string `json:"available_balance"`
}

// Write writes the sheet as a text table, JSON or CSV.
func (s Sheet) Write(w io.Writer, format string) error {
	amt := func(a money.Amount) string { return a.Format(s.Asset) }
	lastTime := ""
	if !s.LastTime.IsZero() {
		lastTime = s.LastTime.UTC().Format(time.RFC3339Nano)
	}
	switch format {
	case FormatJSON:
		doc := sheetJSON{AsOf: s.Cut.String(), LastPosition: s.Last.String(), LastTime: lastTime, Events: s.Events,
			Asset: s.Asset.Code, Accounts: make([]balanceJSON, 0, len(s.Accounts))}
		for _, b := range s.Accounts {
			doc.Accounts = append(doc.Accounts, balanceJSON{CounterpartyGUID: b.CounterpartyGUID, AccountGUID: b.AccountGUID,
				Kind: string(b.Kind), CustomerGUID: b.CustomerGUID, Blocked: b.Blocked, Balance: amt(b.Balance),
				Reserved: amt(b.Reserved), Available: amt(b.Balance - b.Reserved)})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	case FormatCSV:
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"counterparty_guid", "wallet_account_guid", "account_kind", "wallet_user_guid", "blocked",
			"balance", "reserved_balance", "available_balance"})
		for _, b := range s.Accounts {
			_ = cw.Write([]string{b.CounterpartyGUID, b.AccountGUID, string(b.Kind), b.CustomerGUID, strconv.FormatBool(b.Blocked),
				amt(b.Balance), amt(b.Reserved), amt(b.Balance - b.Reserved)})
		}
		cw.Flush()
		return cw.Error()
	case FormatText, "":
		fmt.Fprintf(w, "Balances as of %s: %d events, the last at position %s", s.Cut, s.Events, s.Last)
		if lastTime != "" {
			fmt.Fprintf(w, " (%s)", lastTime)
		}
		fmt.Fprintf(w, "; amounts in %s\n\n", s.Asset.Code)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "counterparty\taccount\tkind\tcustomer\tbalance\treserved\tavailable\t")
		var total, reserved money.Amount
		for _, b := range s.Accounts {
			kind := string(b.Kind)
			if b.Blocked {
				kind += " (blocked)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", b.CounterpartyGUID, b.AccountGUID, kind, b.CustomerGUID,
				amt(b.Balance), amt(b.Reserved), amt(b.Balance-b.Reserved))
			total += b.Balance
			reserved += b.Reserved
		}
		fmt.Fprintf(tw, "total (%d accounts)\t\t\t\t%s\t%s\t%s\t\n", len(s.Accounts), amt(total), amt(reserved), amt(total-reserved))
		return tw.Flush()
	}
	return fmt.Errorf("audit: unknown format %q (want text, json or csv)", format)
}
