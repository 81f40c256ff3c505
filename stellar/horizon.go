package stellar

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/stellar/go-stellar-sdk/txnbuild"
)

// Horizon is the Network adapter for a Horizon server (testnet, a private network, the public network, or
// the embedded localnet). It is safe for concurrent use.
type Horizon struct {
	cfg           Config
	root          *KeySigner
	rootChannel   *channel
	rootMu        sync.Mutex // serialises use of rootChannel when it is not in the pool
	rootIsChannel bool
	channels      *channelPool
	stats         counters
}

var _ Network = (*Horizon)(nil)

// NewHorizon checks cfg and returns an adapter. It does not contact the network.
func NewHorizon(cfg Config) (*Horizon, error) {
	cfg.setDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	root, err := NewKeySigner(cfg.RootSecret)
	if err != nil {
		return nil, fmt.Errorf("stellar: root secret: %w", err)
	}
	h := &Horizon{cfg: cfg, root: root}
	h.rootChannel = &channel{signer: root, address: root.Address()}
	channels := cfg.Channels
	if len(channels) == 0 {
		channels, h.rootIsChannel = []Signer{root}, true
	}
	h.channels = newChannelPool(channels)
	if h.rootIsChannel {
		h.rootChannel = nil // the pool's channel is the only user of the root's sequence number
	}
	return h, nil
}

// Root returns the root account's address.
func (h *Horizon) Root() string { return h.root.Address() }

// Passphrase returns the network passphrase.
func (h *Horizon) Passphrase() string { return h.cfg.Passphrase }

// Channels returns how many transactions can be in flight at once.
func (h *Horizon) Channels() int { return h.channels.size() }

// Stats counts what the submitter did since the adapter was made.
type Stats struct {
	Submissions   int64 // HTTP POSTs of a transaction, resubmissions included
	Applied       int64 // transactions applied
	Resubmissions int64 // identical envelopes sent again after a 429, a 5xx or a timeout
	BadSequence   int64 // tx_bad_seq answers
	FeeBumps      int64 // rebuilds after tx_insufficient_fee
	TooLate       int64 // rebuilds after tx_too_late
	Unknown       int64 // transactions that ended with an unknown outcome
	SequenceLoads int64 // sequence numbers read from Horizon
}

type counters struct {
	submissions, applied, resubmissions, badSeq, feeBumps, tooLate, unknown, sequenceLoads atomic.Int64
}

// Stats returns a snapshot of the counters.
func (h *Horizon) Stats() Stats {
	c := &h.stats
	return Stats{
		Submissions: c.submissions.Load(), Applied: c.applied.Load(), Resubmissions: c.resubmissions.Load(),
		BadSequence: c.badSeq.Load(), FeeBumps: c.feeBumps.Load(), TooLate: c.tooLate.Load(),
		Unknown: c.unknown.Load(), SequenceLoads: c.sequenceLoads.Load(),
	}
}

// submit sends ops from a free channel, signed by the channel and signers.
func (h *Horizon) submit(ctx context.Context, ops []txnbuild.Operation, signers []Signer) (Receipt, error) {
	ch, err := h.channels.acquire(ctx)
	if err != nil {
		return Receipt{}, err
	}
	defer h.channels.release(ch)
	return h.submitWith(ctx, ch, ops, signers)
}

// CreateAccount opens a.Account funded with a.StartingBalance lumens from the root account.
func (h *Horizon) CreateAccount(ctx context.Context, a AccountOpening) (Receipt, error) {
	if err := checkAddress("account", a.Account); err != nil {
		return Receipt{}, err
	}
	stroops, err := ParseStroops(a.StartingBalance)
	if err != nil {
		return Receipt{}, err
	}
	if stroops <= 0 {
		return Receipt{}, invalid("starting balance", "%q must be positive", a.StartingBalance)
	}
	op := &txnbuild.CreateAccount{Destination: a.Account, Amount: FormatStroops(stroops), SourceAccount: h.root.Address()}
	return h.submit(ctx, []txnbuild.Operation{op}, []Signer{h.root})
}

// SetUpIssuer sets AUTH_REQUIRED | AUTH_REVOCABLE | AUTH_CLAWBACK_ENABLED on the issuer account.
func (h *Horizon) SetUpIssuer(ctx context.Context, issuer Signatory) (Receipt, error) {
	if err := checkSignatory("issuer", issuer); err != nil {
		return Receipt{}, err
	}
	op := &txnbuild.SetOptions{
		SetFlags:      []txnbuild.AccountFlag{txnbuild.AuthRequired, txnbuild.AuthRevocable, txnbuild.AuthClawbackEnabled},
		SourceAccount: issuer.Account,
	}
	return h.submit(ctx, []txnbuild.Operation{op}, issuer.Signers)
}

// OpenTrustline opens t.Holder's trustline and, when t.Issuer is set, authorizes it in the same transaction.
func (h *Horizon) OpenTrustline(ctx context.Context, t Trustline) (Receipt, error) {
	if err := checkSignatory("holder", t.Holder); err != nil {
		return Receipt{}, err
	}
	if err := t.Asset.Validate(); err != nil {
		return Receipt{}, err
	}
	if t.Holder.Account == t.Asset.Issuer {
		return Receipt{}, invalid("holder", "the issuer cannot hold a trustline to its own asset")
	}
	limit := ""
	if t.LimitMinor < 0 {
		return Receipt{}, invalid("limit", "%d is negative", t.LimitMinor)
	}
	if t.LimitMinor > 0 {
		var err error
		if limit, err = MinorToAmount(t.LimitMinor, t.Asset.Decimals); err != nil {
			return Receipt{}, err
		}
	}
	line, err := creditAsset(t.Asset).ToChangeTrustAsset()
	if err != nil {
		return Receipt{}, invalid("asset", "%v", err)
	}
	ops := []txnbuild.Operation{&txnbuild.ChangeTrust{Line: line, Limit: limit, SourceAccount: t.Holder.Account}}
	signers := t.Holder.Signers
	if t.Issuer.Account != "" {
		if err := checkSignatory("issuer", t.Issuer); err != nil {
			return Receipt{}, err
		}
		if t.Issuer.Account != t.Asset.Issuer {
			return Receipt{}, invalid("issuer", "%s does not issue %s", t.Issuer.Account, t.Asset)
		}
		ops = append(ops, trustlineFlags(t.Issuer.Account, t.Holder.Account, t.Asset, true))
		signers = append(append([]Signer{}, signers...), t.Issuer.Signers...)
	}
	return h.submit(ctx, ops, signers)
}

// AuthorizeTrustline authorizes holder's trustline to asset.
func (h *Horizon) AuthorizeTrustline(ctx context.Context, issuer Signatory, holder string, asset Asset) (Receipt, error) {
	return h.setTrustline(ctx, issuer, holder, asset, true)
}

// BlockTrustline deauthorizes holder's trustline to asset; the balance stays but cannot move.
func (h *Horizon) BlockTrustline(ctx context.Context, issuer Signatory, holder string, asset Asset) (Receipt, error) {
	return h.setTrustline(ctx, issuer, holder, asset, false)
}

func (h *Horizon) setTrustline(ctx context.Context, issuer Signatory, holder string, asset Asset, authorized bool) (Receipt, error) {
	if err := checkSignatory("issuer", issuer); err != nil {
		return Receipt{}, err
	}
	if err := checkAddress("holder", holder); err != nil {
		return Receipt{}, err
	}
	if err := asset.Validate(); err != nil {
		return Receipt{}, err
	}
	if issuer.Account != asset.Issuer {
		return Receipt{}, invalid("issuer", "%s does not issue %s", issuer.Account, asset)
	}
	op := trustlineFlags(issuer.Account, holder, asset, authorized)
	return h.submit(ctx, []txnbuild.Operation{op}, issuer.Signers)
}

func trustlineFlags(issuer, holder string, asset Asset, authorized bool) *txnbuild.SetTrustLineFlags {
	op := &txnbuild.SetTrustLineFlags{Trustor: holder, Asset: creditAsset(asset), SourceAccount: issuer}
	if authorized {
		op.SetFlags = []txnbuild.TrustLineFlag{txnbuild.TrustLineAuthorized}
	} else {
		op.ClearFlags = []txnbuild.TrustLineFlag{txnbuild.TrustLineAuthorized}
	}
	return op
}

// Pay settles one payment in its own transaction.
func (h *Horizon) Pay(ctx context.Context, p Payment) (Receipt, error) {
	return h.PayAll(ctx, []Payment{p})
}

// PayAll settles payments atomically in one transaction (all or none), each preceded by its GUID.
func (h *Horizon) PayAll(ctx context.Context, ps []Payment) (Receipt, error) {
	if len(ps) == 0 {
		return Receipt{}, invalid("payments", "none given")
	}
	var ops []txnbuild.Operation
	var signers []Signer
	for i, p := range ps {
		pops, err := paymentOps(p)
		if err != nil {
			return Receipt{}, fmt.Errorf("payment %d (%s): %w", i, p.GUID, err)
		}
		ops = append(ops, pops...)
		signers = append(signers, p.From.Signers...)
	}
	if len(ops) > MaxOpsPerTx {
		return Receipt{}, invalid("payments", "%d operations exceed the %d a transaction can hold", len(ops), MaxOpsPerTx)
	}
	return h.submit(ctx, ops, signers)
}

// Clawback takes c.AmountMinor back from c.From to the issuer.
func (h *Horizon) Clawback(ctx context.Context, c Clawback) (Receipt, error) {
	if err := checkSignatory("issuer", c.Issuer); err != nil {
		return Receipt{}, err
	}
	if err := checkAddress("from", c.From); err != nil {
		return Receipt{}, err
	}
	if err := c.Asset.Validate(); err != nil {
		return Receipt{}, err
	}
	if c.Issuer.Account != c.Asset.Issuer {
		return Receipt{}, invalid("issuer", "%s does not issue %s", c.Issuer.Account, c.Asset)
	}
	amount, err := positiveAmount(c.AmountMinor, c.Asset.Decimals)
	if err != nil {
		return Receipt{}, err
	}
	var ops []txnbuild.Operation
	if c.GUID != "" {
		if err := checkGUID(c.GUID); err != nil {
			return Receipt{}, err
		}
		ops = append(ops, guidOp(c.GUID))
	}
	ops = append(ops, &txnbuild.Clawback{From: c.From, Amount: amount, Asset: creditAsset(c.Asset), SourceAccount: c.Issuer.Account})
	return h.submit(ctx, ops, c.Issuer.Signers)
}

// SetSigners changes the signers, master weight and thresholds of s.Account. The current signers must reach
// the account's high threshold.
func (h *Horizon) SetSigners(ctx context.Context, s SignerSetup) (Receipt, error) {
	if err := checkSignatory("account", s.Account); err != nil {
		return Receipt{}, err
	}
	if len(s.Signers) > 20 {
		return Receipt{}, invalid("signers", "%d signers; an account can have at most 20", len(s.Signers))
	}
	var ops []txnbuild.Operation
	for _, sw := range s.Signers {
		if err := checkAddress("signer", sw.Address); err != nil {
			return Receipt{}, err
		}
		if sw.Address == s.Account.Account {
			return Receipt{}, invalid("signer", "use MasterWeight to change the account's own key")
		}
		ops = append(ops, &txnbuild.SetOptions{
			Signer:        &txnbuild.Signer{Address: sw.Address, Weight: txnbuild.Threshold(sw.Weight)},
			SourceAccount: s.Account.Account,
		})
	}
	if s.MasterWeight != nil || s.Thresholds != nil {
		op := &txnbuild.SetOptions{SourceAccount: s.Account.Account}
		if s.MasterWeight != nil {
			op.MasterWeight = txnbuild.NewThreshold(txnbuild.Threshold(*s.MasterWeight))
		}
		if t := s.Thresholds; t != nil {
			op.LowThreshold = txnbuild.NewThreshold(txnbuild.Threshold(t.Low))
			op.MediumThreshold = txnbuild.NewThreshold(txnbuild.Threshold(t.Medium))
			op.HighThreshold = txnbuild.NewThreshold(txnbuild.Threshold(t.High))
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		return Receipt{}, invalid("signer setup", "nothing to change")
	}
	return h.submit(ctx, ops, s.Account.Signers)
}

// paymentOps validates p and returns its operations: the manageData carrying its GUID (if any), then the
// payment. The manageData's source is the transaction source (the channel), so customer accounts need no
// extra reserve and no extra signature for it.
func paymentOps(p Payment) ([]txnbuild.Operation, error) {
	if err := checkSignatory("from", p.From); err != nil {
		return nil, err
	}
	if err := checkAddress("to", p.To); err != nil {
		return nil, err
	}
	if p.To == p.From.Account {
		return nil, invalid("to", "a payment to the paying account itself")
	}
	if err := p.Asset.Validate(); err != nil {
		return nil, err
	}
	amount, err := positiveAmount(p.AmountMinor, p.Asset.Decimals)
	if err != nil {
		return nil, err
	}
	pay := &txnbuild.Payment{Destination: p.To, Amount: amount, Asset: creditAsset(p.Asset), SourceAccount: p.From.Account}
	if p.GUID == "" {
		return []txnbuild.Operation{pay}, nil
	}
	if err := checkGUID(p.GUID); err != nil {
		return nil, err
	}
	return []txnbuild.Operation{guidOp(p.GUID), pay}, nil
}

func guidOp(guid string) *txnbuild.ManageData {
	return &txnbuild.ManageData{Name: PaymentGUIDDataName, Value: []byte(guid)}
}

func checkGUID(guid string) error {
	if len(guid) > maxDataValueBytes {
		return invalid("guid", "%d bytes; at most %d fit in a manageData value", len(guid), maxDataValueBytes)
	}
	for i := 0; i < len(guid); i++ {
		if guid[i] < 0x21 || guid[i] > 0x7e {
			return invalid("guid", "must be printable ASCII without spaces")
		}
	}
	return nil
}

func positiveAmount(minor int64, decimals int32) (string, error) {
	if minor <= 0 {
		return "", invalid("amount", "%d minor units; an amount must be positive", minor)
	}
	return MinorToAmount(minor, decimals)
}

func checkSignatory(field string, s Signatory) error {
	if err := checkAddress(field, s.Account); err != nil {
		return err
	}
	if len(s.Signers) == 0 {
		return invalid(field, "no signer for %s", s.Account)
	}
	if len(s.Signers) > MaxSignaturesPerTx {
		return invalid(field, "%d signers exceed the %d signatures a transaction can carry", len(s.Signers), MaxSignaturesPerTx)
	}
	for _, sg := range s.Signers {
		if sg == nil {
			return invalid(field, "nil signer for %s", s.Account)
		}
		if err := checkAddress(field+".signer", sg.Address()); err != nil {
			return err
		}
	}
	return nil
}

func creditAsset(a Asset) txnbuild.CreditAsset {
	return txnbuild.CreditAsset{Code: a.Code, Issuer: a.Issuer}
}
