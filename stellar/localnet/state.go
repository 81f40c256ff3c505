package localnet

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/stellar/go-stellar-sdk/strkey"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// Amounts are int64 stroops (1 XLM = 10^7 stroops), as in Stellar itself.
const (
	stroopsPerLumen     = 10_000_000
	baseFee             = 100       // stroops per operation: the network's fixed base fee, no surge pricing
	baseReserve         = 5_000_000 // stroops per reserve unit (0.5 XLM)
	rootStartingBalance = 100_000_000_000 * stroopsPerLumen
	maxSigners          = 20   // Stellar's limit on extra signers per account
	maxSubentries       = 1000 // Stellar's ACCOUNT_SUBENTRY_LIMIT
)

const (
	accountFlagsMask = uint32(xdr.AccountFlagsAuthRequiredFlag | xdr.AccountFlagsAuthRevocableFlag |
		xdr.AccountFlagsAuthImmutableFlag | xdr.AccountFlagsAuthClawbackEnabledFlag)
	accountAuthRequired  = uint32(xdr.AccountFlagsAuthRequiredFlag)
	accountAuthRevocable = uint32(xdr.AccountFlagsAuthRevocableFlag)
	accountAuthImmutable = uint32(xdr.AccountFlagsAuthImmutableFlag)
	accountAuthClawback  = uint32(xdr.AccountFlagsAuthClawbackEnabledFlag)

	trustAuthorized = uint32(xdr.TrustLineFlagsAuthorizedFlag)
	trustMaintain   = uint32(xdr.TrustLineFlagsAuthorizedToMaintainLiabilitiesFlag)
	trustClawback   = uint32(xdr.TrustLineFlagsTrustlineClawbackEnabledFlag)
	trustFlagsMask  = trustAuthorized | trustMaintain | trustClawback
)

// assetKey names a credit asset; the zero value is the native asset (XLM).
type assetKey struct {
	Code   string
	Issuer string
}

func (k assetKey) native() bool { return k.Code == "" }

// assetType is Horizon's asset_type string.
func (k assetKey) assetType() string {
	switch {
	case k.native():
		return "native"
	case len(k.Code) <= 4:
		return "credit_alphanum4"
	default:
		return "credit_alphanum12"
	}
}

// assetFromXDR validates an asset as stellar-core does (alphanumeric code, padding only at the end, length
// matching its type) and returns its key; ok is false for a malformed asset.
func assetFromXDR(a xdr.Asset) (k assetKey, ok bool) {
	switch a.Type {
	case xdr.AssetTypeAssetTypeNative:
		return assetKey{}, true
	case xdr.AssetTypeAssetTypeCreditAlphanum4:
		if a.AlphaNum4 == nil {
			return k, false
		}
		return creditAsset(a.AlphaNum4.AssetCode[:], 1, 4, a.AlphaNum4.Issuer)
	case xdr.AssetTypeAssetTypeCreditAlphanum12:
		if a.AlphaNum12 == nil {
			return k, false
		}
		return creditAsset(a.AlphaNum12.AssetCode[:], 5, 12, a.AlphaNum12.Issuer)
	}
	return k, false
}

func creditAsset(raw []byte, minLen, maxLen int, issuer xdr.AccountId) (assetKey, bool) {
	code := string(bytes.TrimRight(raw, "\x00"))
	if len(code) < minLen || len(code) > maxLen {
		return assetKey{}, false
	}
	for _, c := range []byte(code) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return assetKey{}, false
		}
	}
	iss, _, err := accountIDKey(issuer)
	if err != nil {
		return assetKey{}, false
	}
	return assetKey{Code: code, Issuer: iss}, true
}

type trustline struct {
	balance      int64
	limit        int64
	flags        uint32 // trust* flags
	lastModified uint32
}

func (t *trustline) authorized() bool { return t.flags&trustAuthorized != 0 }

type signer struct {
	address string
	key     [32]byte
	weight  uint8
}

// account is the ledger entry of one account together with its subentries (trustlines, signers, data).
type account struct {
	id            string
	key           [32]byte // raw ed25519 public key, kept to check signatures without decoding id
	balance       int64
	seq           int64
	seqLedger     uint32
	seqTime       int64 // unix seconds of the ledger that last set seq
	flags         uint32
	masterWeight  uint8
	thresholds    [3]uint8 // low, medium, high
	signers       []signer // sorted by address; never the master key
	lines         map[assetKey]*trustline
	data          map[string][]byte
	homeDomain    string
	inflationDest string
	lastModified  uint32
}

func newAccount(id string, key [32]byte, balance int64, ledger uint32, closeUnix int64) *account {
	return &account{
		id: id, key: key, balance: balance,
		// Stellar starts a new account's sequence at ledger<<32 so that a deleted and re-created account can
		// never replay its old transactions.
		seq: int64(ledger) << 32, seqLedger: ledger, seqTime: closeUnix,
		masterWeight: 1,
		lines:        map[assetKey]*trustline{}, data: map[string][]byte{},
		lastModified: ledger,
	}
}

func (a *account) clone() *account {
	c := *a
	c.signers = append([]signer(nil), a.signers...)
	c.lines = make(map[assetKey]*trustline, len(a.lines))
	for k, v := range a.lines {
		t := *v
		c.lines[k] = &t
	}
	c.data = make(map[string][]byte, len(a.data))
	for k, v := range a.data {
		c.data[k] = v // values are never mutated in place, only replaced
	}
	return &c
}

func (a *account) subentries() int { return len(a.signers) + len(a.lines) + len(a.data) }

// minBalance is the reserve the account must keep with extra more subentries: (2 + subentries) × 0.5 XLM.
func (a *account) minBalance(extra int) int64 {
	return int64(2+a.subentries()+extra) * baseReserve
}

// available is the XLM the account can spend without going below its reserve.
func (a *account) available() int64 { return a.balance - a.minBalance(0) }

func (a *account) signerIndex(address string) (int, bool) {
	i := sort.Search(len(a.signers), func(i int) bool { return a.signers[i].address >= address })
	return i, i < len(a.signers) && a.signers[i].address == address
}

// accountIDKey returns the G-address and raw key of an account id.
func accountIDKey(aid xdr.AccountId) (string, [32]byte, error) {
	ed, ok := aid.GetEd25519()
	if !ok {
		return "", [32]byte{}, errors.New("account id is not an ed25519 key")
	}
	return encodeKey([32]byte(ed))
}

// muxedKey returns the underlying G-address of a plain or muxed account: balances belong to the account, so
// the muxed id only matters for display.
func muxedKey(m xdr.MuxedAccount) (string, [32]byte, error) {
	switch m.Type {
	case xdr.CryptoKeyTypeKeyTypeEd25519:
		if ed, ok := m.GetEd25519(); ok {
			return encodeKey([32]byte(ed))
		}
	case xdr.CryptoKeyTypeKeyTypeMuxedEd25519:
		if med, ok := m.GetMed25519(); ok {
			return encodeKey([32]byte(med.Ed25519))
		}
	}
	return "", [32]byte{}, fmt.Errorf("unsupported muxed account type %d", m.Type)
}

func encodeKey(raw [32]byte) (string, [32]byte, error) {
	s, err := strkey.Encode(strkey.VersionByteAccountID, raw[:])
	return s, raw, err
}

// parseAddress decodes a G-address.
func parseAddress(s string) ([32]byte, error) {
	var k [32]byte
	raw, err := strkey.Decode(strkey.VersionByteAccountID, s)
	if err != nil {
		return k, err
	}
	if len(raw) != len(k) {
		return k, errors.New("account id has the wrong length")
	}
	copy(k[:], raw)
	return k, nil
}

// view is a copy-on-write overlay over the committed accounts, so that a transaction whose operations fail
// leaves no trace but its fee and sequence number.
type view struct {
	base map[string]*account
	work map[string]*account
}

func newView(base map[string]*account) *view {
	return &view{base: base, work: map[string]*account{}}
}

// get returns a private, mutable copy of the account, or nil when it does not exist.
func (v *view) get(id string) *account {
	if a, ok := v.work[id]; ok {
		return a
	}
	a, ok := v.base[id]
	if !ok {
		return nil
	}
	c := a.clone()
	v.work[id] = c
	return c
}

// peek returns the account for reading only; callers must not modify it.
func (v *view) peek(id string) *account {
	if a, ok := v.work[id]; ok {
		return a
	}
	return v.base[id]
}

func (v *view) create(a *account) { v.work[a.id] = a }

// commit publishes the overlay and reports which accounts it touched. It refuses, changing nothing, an overlay
// that breaks an account invariant: that would be a bug in an operation, and must not reach the ledger.
func (v *view) commit(touched func(id string)) error {
	for _, a := range v.work {
		if err := a.checkInvariants(); err != nil {
			return err
		}
	}
	for id, a := range v.work {
		v.base[id] = a
		touched(id)
	}
	return nil
}

// checkInvariants states what no operation may break: balances are never negative, a trustline never holds more
// than its limit, and the subentry and signer limits hold.
func (a *account) checkInvariants() error {
	switch {
	case a.balance < 0:
		return fmt.Errorf("localnet: invariant broken: account %s balance %d", a.id, a.balance)
	case len(a.signers) > maxSigners, a.subentries() > maxSubentries:
		return fmt.Errorf("localnet: invariant broken: account %s has %d signers, %d subentries", a.id, len(a.signers), a.subentries())
	}
	for k, t := range a.lines {
		if t.balance < 0 || t.balance > t.limit {
			return fmt.Errorf("localnet: invariant broken: %s holds %d %s, limit %d", a.id, t.balance, k.Code, t.limit)
		}
	}
	return nil
}
