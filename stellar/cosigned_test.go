package stellar

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stellar/go-stellar-sdk/txnbuild"
	"github.com/stellar/go-stellar-sdk/xdr"
)

// cosignerFunc adapts a function to Cosigner.
type cosignerFunc func(ctx context.Context, req CosignRequest) (CosignAnswer, error)

func (f cosignerFunc) Cosign(ctx context.Context, req CosignRequest) (CosignAnswer, error) {
	return f(ctx, req)
}

// cosignedAccount is a holder whose payments need its own key, the platform's and the bank's (weights 1,
// thresholds 3), as multisignature sets customer accounts up.
func cosignedAccount(t *testing.T, tn *testNet) (holder, platform, bank *KeySigner) {
	t.Helper()
	holder, platform, bank = tn.holder(50_00), mustRandom(t), mustRandom(t)
	one := uint8(1)
	if _, err := tn.h.SetSigners(bg, SignerSetup{Account: holder.Signatory(), MasterWeight: &one,
		Signers:    []SignerWeight{{Address: platform.Address(), Weight: 1}, {Address: bank.Address(), Weight: 1}},
		Thresholds: &Thresholds{Low: 1, Medium: 3, High: 3}}); err != nil {
		t.Fatal(err)
	}
	return holder, platform, bank
}

func TestPayCosigned(t *testing.T) {
	tn := newTestNet(t, netOptions{channels: 1})
	tn.setUpAsset()
	holder, platform, bank := cosignedAccount(t, tn)
	dest := tn.holder(0)
	from := Signatory{Account: holder.Address(), Signers: []Signer{holder, platform}}
	pay := func(c Cosigner) (Receipt, error) {
		return tn.h.PayCosigned(bg, Payment{GUID: newGUID(), From: from, To: dest.Address(), Asset: tn.asset, AmountMinor: 1_00},
			[]string{bank.Address()}, c)
	}

	// The bank signs: the payment settles. The envelope it saw carries the payment_guid.
	var seenGUID string
	r, err := pay(cosignerFunc(func(_ context.Context, req CosignRequest) (CosignAnswer, error) {
		signed, guid, err := SignEnvelope(req.EnvelopeXDR, req.Passphrase, bank)
		seenGUID = guid
		return CosignAnswer{Addresses: []string{bank.Address()}, EnvelopeXDR: signed}, err
	}))
	if err != nil || r.Hash == "" || seenGUID == "" {
		t.Fatalf("cosigned payment: %+v %v (guid %q)", r, err, seenGUID)
	}
	if b := tn.balance(dest.Address()); b != 1_00 {
		t.Fatalf("destination %d", b)
	}

	// Answers that must never reach the network.
	other := mustRandom(t)
	cases := map[string]struct {
		answer   func(req CosignRequest) CosignAnswer
		wrongKey bool
	}{
		"signed with another key": {func(req CosignRequest) CosignAnswer {
			s, _, _ := SignEnvelope(req.EnvelopeXDR, req.Passphrase, other)
			return CosignAnswer{Addresses: []string{bank.Address()}, EnvelopeXDR: s}
		}, true},
		"names an address not asked for": {func(req CosignRequest) CosignAnswer {
			s, _, _ := SignEnvelope(req.EnvelopeXDR, req.Passphrase, other)
			return CosignAnswer{Addresses: []string{other.Address()}, EnvelopeXDR: s}
		}, true},
		"the right signature under another key's hint": {func(req CosignRequest) CosignAnswer {
			sig, _ := bank.Sign(bg, SignRequest{Hash: req.Hash})
			gt, _ := txnbuild.TransactionFromXDR(req.EnvelopeXDR)
			tx, _ := gt.Transaction()
			tx, _ = tx.AddSignatureDecorated(xdr.DecoratedSignature{Hint: xdr.SignatureHint(other.kp.Hint()), Signature: sig})
			s, _ := tx.Base64()
			return CosignAnswer{Addresses: []string{bank.Address()}, EnvelopeXDR: s}
		}, true},
		"another transaction": {func(req CosignRequest) CosignAnswer {
			gt, _ := txnbuild.TransactionFromXDR(req.EnvelopeXDR)
			tx, _ := gt.Transaction()
			acct := txnbuild.SimpleAccount{AccountID: tx.SourceAccount().AccountID, Sequence: tx.SequenceNumber() + 5}
			tx2, _ := txnbuild.NewTransaction(txnbuild.TransactionParams{SourceAccount: &acct, Operations: tx.Operations(),
				BaseFee: tx.BaseFee(), Preconditions: txnbuild.Preconditions{TimeBounds: tx.Timebounds()}})
			b64, _ := tx2.Base64()
			s, _, _ := SignEnvelope(b64, req.Passphrase, bank)
			return CosignAnswer{Addresses: []string{bank.Address()}, EnvelopeXDR: s}
		}, false},
		"no address": {func(req CosignRequest) CosignAnswer {
			s, _, _ := SignEnvelope(req.EnvelopeXDR, req.Passphrase, bank)
			return CosignAnswer{EnvelopeXDR: s}
		}, false},
		"not an envelope": {func(CosignRequest) CosignAnswer {
			return CosignAnswer{Addresses: []string{bank.Address()}, EnvelopeXDR: "bm90IGFuIGVudmVsb3Bl"}
		}, false},
	}
	for name, c := range cases {
		posts := tn.gate.posts.Load()
		_, err := pay(cosignerFunc(func(_ context.Context, req CosignRequest) (CosignAnswer, error) { return c.answer(req), nil }))
		var ce *CosignError
		if !errors.As(err, &ce) || ce.WrongKey != c.wrongKey || OutcomeUnknown(err) {
			t.Errorf("%s: %v", name, err)
		}
		if tn.gate.posts.Load() != posts {
			t.Errorf("%s: submitted", name)
		}
	}
	// The cosigner's own error passes through untouched, nothing sent.
	refused := errors.New("the bank said 404")
	posts := tn.gate.posts.Load()
	if _, err := pay(cosignerFunc(func(context.Context, CosignRequest) (CosignAnswer, error) { return CosignAnswer{}, refused })); !errors.Is(err, refused) {
		t.Errorf("cosigner error: %v", err)
	}
	if tn.gate.posts.Load() != posts {
		t.Error("submitted after the cosigner's error")
	}
	if b := tn.balance(dest.Address()); b != 1_00 {
		t.Fatalf("destination %d after the refusals", b)
	}
}

// BenchmarkPayCosigned: payments from cosigned accounts, each in its own transaction with the bank's signature
// fetched from an in-process cosigner (SignEnvelope + CheckCosigned: the cost of the platform's side, without
// the bank's network round trip), against the same payments signed by the account's key alone, also one per
// transaction. Localnet closes a ledger on every submission; benchChannels channels, 4 callers each.
func BenchmarkPayCosigned(b *testing.B) {
	for _, cosigned := range []bool{false, true} {
		name := "own-key"
		if cosigned {
			name = "cosigned"
		}
		b.Run(name, func(b *testing.B) {
			tn := newTestNet(b, netOptions{channels: benchChannels, tweak: func(c *Config) { c.RetryBackoff = 0 }})
			tn.setUpAsset()
			dest := tn.holder(0)
			type payer struct {
				from Signatory
				bank *KeySigner
			}
			var payers []payer
			for range benchChannels {
				holder, platform, bank := tn.holder(100_000_00), mustRandom(b), mustRandom(b)
				from := holder.Signatory()
				if cosigned {
					one := uint8(1)
					if _, err := tn.h.SetSigners(bg, SignerSetup{Account: holder.Signatory(), MasterWeight: &one,
						Signers:    []SignerWeight{{Address: platform.Address(), Weight: 1}, {Address: bank.Address(), Weight: 1}},
						Thresholds: &Thresholds{Low: 1, Medium: 3, High: 3}}); err != nil {
						b.Fatal(err)
					}
					from.Signers = append(from.Signers, platform)
				}
				payers = append(payers, payer{from: from, bank: bank})
			}
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					p := payers[i%int64(len(payers))]
					pay := Payment{GUID: benchGUID(i), From: p.from, To: dest.Address(), Asset: tn.asset, AmountMinor: 1}
					var err error
					if cosigned {
						_, err = tn.h.PayCosigned(bg, pay, []string{p.bank.Address()}, cosignerFunc(func(_ context.Context, req CosignRequest) (CosignAnswer, error) {
							s, _, err := SignEnvelope(req.EnvelopeXDR, req.Passphrase, p.bank)
							return CosignAnswer{Addresses: []string{p.bank.Address()}, EnvelopeXDR: s}, err
						}))
					} else {
						_, err = tn.h.Pay(bg, pay)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "payments/s")
		})
	}
}
