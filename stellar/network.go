package stellar

import (
	"context"
	"time"

	"github.com/stellar/go-stellar-sdk/strkey"
)

// Network is what Kazna needs from a Stellar network. Every method that changes state validates its input
// before sending anything, and returns a Receipt once the transaction is in a closed ledger. An error is final
// (nothing applied) unless OutcomeUnknown(err) is true.
type Network interface {
	// CreateAccount opens and funds a new account from the platform's root account.
	CreateAccount(ctx context.Context, a AccountOpening) (Receipt, error)
	// SetUpIssuer sets AUTH_REQUIRED | AUTH_REVOCABLE | AUTH_CLAWBACK_ENABLED on an asset's issuer.
	SetUpIssuer(ctx context.Context, issuer Signatory) (Receipt, error)
	// OpenTrustline opens the holder's trustline to an asset and, if the issuer is given, authorizes it in
	// the same transaction.
	OpenTrustline(ctx context.Context, t Trustline) (Receipt, error)
	// AuthorizeTrustline lets the holder send and receive the asset again (or for the first time).
	AuthorizeTrustline(ctx context.Context, issuer Signatory, holder string, asset Asset) (Receipt, error)
	// BlockTrustline deauthorizes the holder's trustline: payments to and from it are refused.
	BlockTrustline(ctx context.Context, issuer Signatory, holder string, asset Asset) (Receipt, error)
	// Pay settles one payment in its own transaction.
	Pay(ctx context.Context, p Payment) (Receipt, error)
	// PayAll settles up to MaxPaymentsPerTx payments in one transaction: all of them or none.
	PayAll(ctx context.Context, ps []Payment) (Receipt, error)
	// Clawback takes an amount of the asset back from a holder to the issuer (where it is burned).
	Clawback(ctx context.Context, c Clawback) (Receipt, error)
	// SetSigners adds, changes or removes signers and thresholds of an account (multisignature).
	SetSigners(ctx context.Context, s SignerSetup) (Receipt, error)
	// Account reads an account's balances, signers, thresholds and flags.
	Account(ctx context.Context, address string) (AccountState, error)
	// FindPayment finds the payment carrying guid among the account's transactions (newest first, bounded).
	FindPayment(ctx context.Context, account, guid string) (PaymentRecord, error)
	// Payments lists the account's payments after cursor, oldest first, at most limit of them.
	Payments(ctx context.Context, account, cursor string, limit int) (PaymentPage, error)
}

// PaymentGUIDDataName is the manageData name that carries a payment's GUID on chain, in the operation right
// before the payment it belongs to.
const PaymentGUIDDataName = "payment_guid"

// Stellar protocol limits.
const (
	MaxOpsPerTx        = 100 // operations in one transaction
	MaxSignaturesPerTx = 20  // signatures in one transaction envelope
	maxDataValueBytes  = 64  // manageData value
	MaxPaymentsPerTx   = MaxOpsPerTx / 2
)

// Asset is a credit asset on Stellar and the number of decimals Kazna keeps for it (2 for eUAH).
type Asset struct {
	Code     string // 1–12 letters or digits
	Issuer   string // the issuer's account (G…)
	Decimals int32  // minor-unit decimals inside Kazna, 0–7
}

// Validate checks the code, the issuer's address and the decimals.
func (a Asset) Validate() error {
	if len(a.Code) < 1 || len(a.Code) > 12 {
		return invalid("asset.code", "%q must be 1 to 12 letters or digits", a.Code)
	}
	for i := 0; i < len(a.Code); i++ {
		c := a.Code[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return invalid("asset.code", "%q must be 1 to 12 letters or digits", a.Code)
		}
	}
	if err := checkAddress("asset.issuer", a.Issuer); err != nil {
		return err
	}
	if a.Decimals < 0 || a.Decimals > StellarDecimals {
		return invalid("asset.decimals", "%d is outside 0…7", a.Decimals)
	}
	return nil
}

// String is "CODE:ISSUER".
func (a Asset) String() string { return a.Code + ":" + a.Issuer }

// Signatory is an account and the signers that authorize its operations; together their weights must reach
// the account's threshold (one key for a plain account, three for a 3-of-3 customer account).
type Signatory struct {
	Account string
	Signers []Signer
}

// AccountOpening asks for a new account funded from the root account.
type AccountOpening struct {
	Account         string // the new account's address (G…)
	StartingBalance string // lumens, up to 7 decimals, e.g. "5"; must cover the reserves the account will need
}

// Trustline asks for a holder's trustline to an asset.
type Trustline struct {
	Holder     Signatory
	Asset      Asset
	LimitMinor int64     // 0 means the maximum
	Issuer     Signatory // if set, the trustline is authorized in the same transaction
}

// Payment moves AmountMinor of Asset from From to To. GUID is Kazna's payment id; when set it is written in a
// manageData operation ("payment_guid") right before the payment, so the chain can be matched to the ledger.
type Payment struct {
	GUID        string
	From        Signatory
	To          string
	Asset       Asset
	AmountMinor int64
}

// Clawback takes AmountMinor of Asset back from From to the issuer.
type Clawback struct {
	GUID        string
	Issuer      Signatory
	From        string
	Asset       Asset
	AmountMinor int64
}

// SignerWeight is a signer of an account and its weight; weight 0 removes the signer.
type SignerWeight struct {
	Address string
	Weight  uint8
}

// Thresholds are the weights an account's operations need: low (trustline flags), medium (payments), high
// (signer changes).
type Thresholds struct {
	Low, Medium, High uint8
}

// SignerSetup changes an account's signers; nil fields are left as they are.
type SignerSetup struct {
	Account      Signatory
	MasterWeight *uint8
	Signers      []SignerWeight
	Thresholds   *Thresholds
}

// Receipt is a transaction applied in a closed ledger.
type Receipt struct {
	Hash   string
	Ledger int32
}

// AccountFlags are the issuer flags of an account.
type AccountFlags struct {
	AuthRequired, AuthRevocable, AuthImmutable, AuthClawbackEnabled bool
}

// Balance is one balance of an account: lumens (Native) or a trustline to a credit asset.
type Balance struct {
	Native          bool
	Code, Issuer    string
	Stroops         int64
	LimitStroops    int64
	Authorized      bool
	ClawbackEnabled bool
}

// Minor converts the balance to minor units of an asset with the given decimals, exactly.
func (b Balance) Minor(decimals int32) (int64, error) { return StroopsToMinor(b.Stroops, decimals) }

// AccountState is an account as the network sees it now.
type AccountState struct {
	Address    string
	Sequence   int64
	Balances   []Balance
	Signers    []SignerWeight // includes the master key
	Thresholds Thresholds
	Flags      AccountFlags
}

// Trustline returns the account's balance of asset, if it has a trustline to it.
func (s AccountState) Trustline(asset Asset) (Balance, bool) {
	for _, b := range s.Balances {
		if !b.Native && b.Code == asset.Code && b.Issuer == asset.Issuer {
			return b, true
		}
	}
	return Balance{}, false
}

// BalanceMinor returns the account's balance of asset in minor units; ErrNotFound if it has no trustline.
func (s AccountState) BalanceMinor(asset Asset) (int64, error) {
	b, ok := s.Trustline(asset)
	if !ok {
		return 0, ErrNotFound
	}
	return b.Minor(asset.Decimals)
}

// PaymentRecord is a payment (or an account funding) as recorded on chain.
type PaymentRecord struct {
	ID         string
	Cursor     string // paging token: pass it to Payments to continue after this record
	Kind       string // "payment" or "create_account"
	TxHash     string
	Successful bool
	From, To   string
	Native     bool
	Code       string
	Issuer     string
	Stroops    int64
	GUID       string // from the manageData operation before it, if any
	ClosedAt   time.Time
}

// Minor converts the amount to minor units of an asset with the given decimals, exactly.
func (r PaymentRecord) Minor(decimals int32) (int64, error) {
	return StroopsToMinor(r.Stroops, decimals)
}

// PaymentPage is one page of an account's payments, oldest first.
type PaymentPage struct {
	Records []PaymentRecord
	Next    string // cursor for the next page (the last record's cursor, or the given one if the page is empty)
}

func checkAddress(field, address string) error {
	if !strkey.IsValidEd25519PublicKey(address) {
		return invalid(field, "%q is not a valid Stellar account address", address)
	}
	return nil
}
