package localnet

import (
	"encoding/base64"
	"sort"
	"strconv"

	"github.com/stellar/go-stellar-sdk/amount"
	hProtocol "github.com/stellar/go-stellar-sdk/protocols/horizon"
	"github.com/stellar/go-stellar-sdk/protocols/horizon/base"
	"github.com/stellar/go-stellar-sdk/protocols/horizon/operations"
	"github.com/stellar/go-stellar-sdk/support/render/hal"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// Responses are built from the SDK's own Horizon types so that horizonclient decodes them exactly as it decodes
// Horizon's.

const (
	protocolVersion = 23
	horizonVersion  = "kazna-localnet"
	coreVersion     = "kazna-localnet (a development network, not stellar-core)"
	maxTxSetSize    = maxQueuedTxs
	zeroAmount      = "0.0000000"
	// emptyChangesXDR is an empty LedgerEntryChanges: this network does not produce transaction meta.
	emptyChangesXDR = "AAAAAA=="
)

func link(href string) hal.Link { return hal.Link{Href: href} }

func templated(href string) hal.Link { return hal.Link{Href: href, Templated: true} }

func (n *Network) renderAccountLocked(a *account, baseURL string) hProtocol.Account {
	self := baseURL + "/accounts/" + a.id
	out := hProtocol.Account{
		ID: a.id, AccountID: a.id, Sequence: a.seq, SequenceLedger: a.seqLedger,
		SequenceTime:  strconv.FormatInt(a.seqTime, 10),
		SubentryCount: int32(a.subentries()), InflationDestination: a.inflationDest, HomeDomain: a.homeDomain,
		LastModifiedLedger: a.lastModified,
		Thresholds: hProtocol.AccountThresholds{
			LowThreshold: a.thresholds[levelLow], MedThreshold: a.thresholds[levelMedium],
			HighThreshold: a.thresholds[levelHigh],
		},
		Flags: hProtocol.AccountFlags{
			AuthRequired:        a.flags&accountAuthRequired != 0,
			AuthRevocable:       a.flags&accountAuthRevocable != 0,
			AuthImmutable:       a.flags&accountAuthImmutable != 0,
			AuthClawbackEnabled: a.flags&accountAuthClawback != 0,
		},
		Data: make(map[string]string, len(a.data)),
		PT:   a.id,
	}
	if l := n.hist.ledger(a.lastModified); l != nil {
		t := l.ClosedAt
		out.LastModifiedTime = &t
	}
	out.Links.Self = link(self)
	out.Links.Transactions = templated(self + "/transactions{?cursor,limit,order}")
	out.Links.Operations = templated(self + "/operations{?cursor,limit,order}")
	out.Links.Payments = templated(self + "/payments{?cursor,limit,order}")
	out.Links.Effects = templated(self + "/effects{?cursor,limit,order}")
	out.Links.Offers = templated(self + "/offers{?cursor,limit,order}")
	out.Links.Trades = templated(self + "/trades{?cursor,limit,order}")
	out.Links.Data = templated(self + "/data/{key}")

	keys := make([]assetKey, 0, len(a.lines))
	for k := range a.lines {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Code != keys[j].Code {
			return keys[i].Code < keys[j].Code
		}
		return keys[i].Issuer < keys[j].Issuer
	})
	for _, k := range keys {
		tl := a.lines[k]
		authorized := tl.flags&trustAuthorized != 0
		maintain := tl.flags&trustMaintain != 0
		clawback := tl.flags&trustClawback != 0
		out.Balances = append(out.Balances, hProtocol.Balance{
			Balance: amount.StringFromInt64(tl.balance), Limit: amount.StringFromInt64(tl.limit),
			BuyingLiabilities: zeroAmount, SellingLiabilities: zeroAmount, LastModifiedLedger: tl.lastModified,
			IsAuthorized: &authorized, IsAuthorizedToMaintainLiabilities: &maintain, IsClawbackEnabled: &clawback,
			Asset: base.Asset{Type: k.assetType(), Code: k.Code, Issuer: k.Issuer},
		})
	}
	out.Balances = append(out.Balances, hProtocol.Balance{
		Balance: amount.StringFromInt64(a.balance), BuyingLiabilities: zeroAmount, SellingLiabilities: zeroAmount,
		Asset: base.Asset{Type: "native"},
	})
	for _, s := range a.signers {
		out.Signers = append(out.Signers, hProtocol.Signer{Key: s.address, Weight: int32(s.weight), Type: "ed25519_public_key"})
	}
	out.Signers = append(out.Signers, hProtocol.Signer{Key: a.id, Weight: int32(a.masterWeight), Type: "ed25519_public_key"})
	for k, v := range a.data {
		out.Data[k] = base64.StdEncoding.EncodeToString(v)
	}
	return out
}

func renderTx(t *txRecord, baseURL string) hProtocol.Transaction {
	self := baseURL + "/transactions/" + t.Hash
	out := hProtocol.Transaction{
		ID: t.Hash, PT: strconv.FormatInt(t.ID, 10), Successful: t.Successful, Hash: t.Hash,
		Ledger: int32(t.Ledger), LedgerCloseTime: t.ClosedAt, Account: t.Source, AccountSequence: t.Seq,
		FeeAccount: t.Source, FeeCharged: t.FeeCharged, MaxFee: t.MaxFee, OperationCount: t.OpCount,
		EnvelopeXdr: t.Envelope, ResultXdr: t.Result, FeeMetaXdr: emptyChangesXDR,
		MemoType: t.MemoType, Memo: t.Memo, MemoBytes: t.MemoBytes, Signatures: t.Signatures,
	}
	if out.Signatures == nil {
		out.Signatures = []string{}
	}
	if t.MinTime != nil && t.MaxTime != nil {
		tb := &hProtocol.TransactionPreconditionsTimebounds{MinTime: strconv.FormatUint(*t.MinTime, 10)}
		if *t.MaxTime != 0 {
			tb.MaxTime = strconv.FormatUint(*t.MaxTime, 10)
		}
		out.Preconditions = &hProtocol.TransactionPreconditions{TimeBounds: tb}
	}
	out.Links.Self = link(self)
	out.Links.Transaction = link(self)
	out.Links.Account = link(baseURL + "/accounts/" + t.Source)
	out.Links.Ledger = link(baseURL + "/ledgers/" + strconv.FormatUint(uint64(t.Ledger), 10))
	out.Links.Operations = templated(self + "/operations{?cursor,limit,order}")
	out.Links.Effects = templated(self + "/effects{?cursor,limit,order}")
	out.Links.Precedes = link(baseURL + "/transactions?order=asc&cursor=" + out.PT)
	out.Links.Succeeds = link(baseURL + "/transactions?order=desc&cursor=" + out.PT)
	return out
}

// renderOp returns the Horizon resource of an operation: typed for payments and account creations, the common
// base for the rest.
func renderOp(o *opRecord, baseURL string) any {
	id := strconv.FormatInt(o.ID, 10)
	b := operations.Base{
		ID: id, PT: id, TransactionSuccessful: o.Successful, SourceAccount: o.Source,
		Type: operations.TypeNames[xdr.OperationType(o.Type)], TypeI: o.Type, LedgerCloseTime: o.ClosedAt,
		TransactionHash: o.TxHash,
	}
	b.Links.Self = link(baseURL + "/operations/" + id)
	b.Links.Transaction = link(baseURL + "/transactions/" + o.TxHash)
	b.Links.Effects = link(baseURL + "/operations/" + id + "/effects")
	b.Links.Succeeds = link(baseURL + "/effects?order=desc&cursor=" + id)
	b.Links.Precedes = link(baseURL + "/effects?order=asc&cursor=" + id)
	switch xdr.OperationType(o.Type) {
	case xdr.OperationTypeCreateAccount:
		return operations.CreateAccount{Base: b, StartingBalance: amount.StringFromInt64(o.Amount), Funder: o.From, Account: o.To}
	case xdr.OperationTypePayment:
		k := assetKey{Code: o.AssetCode, Issuer: o.AssetIssuer}
		return operations.Payment{Base: b, Asset: base.Asset{Type: k.assetType(), Code: k.Code, Issuer: k.Issuer},
			From: o.From, To: o.To, Amount: amount.StringFromInt64(o.Amount)}
	}
	return b
}

func renderLedger(l *ledgerRecord, baseURL string) hProtocol.Ledger {
	self := baseURL + "/ledgers/" + strconv.FormatUint(uint64(l.Seq), 10)
	failed, setOps := l.FailedTx, l.TxSetOpCount
	out := hProtocol.Ledger{
		ID: l.Hash, PT: strconv.FormatInt(l.pagingToken(), 10), Hash: l.Hash, PrevHash: l.PrevHash,
		Sequence: int32(l.Seq), SuccessfulTransactionCount: l.SuccessfulTx, FailedTransactionCount: &failed,
		OperationCount: l.OpCount, TxSetOperationCount: &setOps, ClosedAt: l.ClosedAt,
		TotalCoins: amount.StringFromInt64(l.TotalCoins), FeePool: amount.StringFromInt64(l.FeePool),
		BaseFee: baseFee, BaseReserve: baseReserve, MaxTxSetSize: maxTxSetSize, ProtocolVersion: protocolVersion,
	}
	out.Links.Self = link(self)
	out.Links.Transactions = templated(self + "/transactions{?cursor,limit,order}")
	out.Links.Operations = templated(self + "/operations{?cursor,limit,order}")
	out.Links.Payments = templated(self + "/payments{?cursor,limit,order}")
	out.Links.Effects = templated(self + "/effects{?cursor,limit,order}")
	return out
}

func (n *Network) renderRootLocked(baseURL string) hProtocol.Root {
	l := n.hist.latest()
	out := hProtocol.Root{
		HorizonVersion: horizonVersion, StellarCoreVersion: coreVersion,
		IngestSequence: l.Seq, HorizonSequence: int32(l.Seq), HorizonLatestClosedAt: l.ClosedAt,
		HistoryElderSequence: 1, CoreSequence: int32(l.Seq), NetworkPassphrase: n.passphrase,
		CurrentProtocolVersion: protocolVersion, SupportedProtocolVersion: protocolVersion,
		CoreSupportedProtocolVersion: protocolVersion,
	}
	out.Links.Self = link(baseURL + "/")
	out.Links.Account = templated(baseURL + "/accounts/{account_id}")
	out.Links.AccountTransactions = templated(baseURL + "/accounts/{account_id}/transactions{?cursor,limit,order}")
	out.Links.FeeStats = link(baseURL + "/fee_stats")
	out.Links.Ledger = templated(baseURL + "/ledgers/{sequence}")
	out.Links.Ledgers = templated(baseURL + "/ledgers{?cursor,limit,order}")
	out.Links.Operation = templated(baseURL + "/operations/{id}")
	out.Links.Payments = templated(baseURL + "/payments{?cursor,limit,order}")
	out.Links.Transaction = templated(baseURL + "/transactions/{hash}")
	out.Links.Transactions = templated(baseURL + "/transactions{?cursor,limit,order}")
	return out
}

// renderFeeStats reports the fixed base fee: this network never surge-prices.
func renderFeeStats(lastLedger uint32) hProtocol.FeeStats {
	d := hProtocol.FeeDistribution{Max: baseFee, Min: baseFee, Mode: baseFee, P10: baseFee, P20: baseFee,
		P30: baseFee, P40: baseFee, P50: baseFee, P60: baseFee, P70: baseFee, P80: baseFee, P90: baseFee,
		P95: baseFee, P99: baseFee}
	return hProtocol.FeeStats{LastLedger: lastLedger, LastLedgerBaseFee: baseFee, FeeCharged: d, MaxFee: d}
}
