package localnet

import (
	"testing"

	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	"github.com/stellar/go-stellar-sdk/txnbuild"
)

// benchSubmit measures end-to-end payments through horizonclient over loopback HTTP: building and signing with
// txnbuild, submitting, and the network's decoding, checking, applying and (with a directory) persisting.
func benchSubmit(b *testing.B, cfg Config, perTx int, opts horizonclient.SubmitTxOpts) {
	h := newHarness(b, cfg)
	root := h.n.Root()
	dests := randomKeys(b, perTx)
	h.fund("10", dests...)
	acct := h.account(root.Address())
	src := &txnbuild.SimpleAccount{AccountID: root.Address(), Sequence: acct.Sequence}
	ops := make([]txnbuild.Operation, perTx)
	for i, d := range dests {
		ops[i] = &txnbuild.Payment{Destination: d.Address(), Amount: "0.0000001", Asset: txnbuild.NativeAsset{}}
	}
	b.ResetTimer()
	for range b.N {
		tx := h.buildAt(src, ops, root)
		if _, err := h.hc.SubmitTransactionWithOptions(tx, opts); err != nil {
			b.Fatalf("submit: %v %v", err, resultCodesOf(err))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*perTx)/b.Elapsed().Seconds(), "payments/s")
	for _, d := range dests {
		if got, want := balance(b, h.account(d.Address()), "", ""), int64(10*stroopsPerLumen+b.N); got != want {
			b.Fatalf("destination has %d stroops, want %d", got, want)
		}
	}
}

func BenchmarkSubmitBatch100(b *testing.B) {
	skip := horizonclient.SubmitTxOpts{SkipMemoRequiredCheck: true}
	b.Run("memory", func(b *testing.B) { benchSubmit(b, Config{}, 100, skip) })
	b.Run("disk", func(b *testing.B) { benchSubmit(b, Config{Dir: b.TempDir()}, 100, skip) })
	// horizonclient's default SEP-29 check asks for a data entry of every distinct destination first.
	b.Run("memory-sep29", func(b *testing.B) { benchSubmit(b, Config{}, 100, horizonclient.SubmitTxOpts{}) })
}

func BenchmarkSubmitSingle(b *testing.B) {
	skip := horizonclient.SubmitTxOpts{SkipMemoRequiredCheck: true}
	b.Run("memory", func(b *testing.B) { benchSubmit(b, Config{}, 1, skip) })
	b.Run("disk", func(b *testing.B) { benchSubmit(b, Config{Dir: b.TempDir()}, 1, skip) })
}
