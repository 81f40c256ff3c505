package stellar

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The benchmark's mix: ten payers, one of them the processing account that sends half of all payments (to
// customers, like payouts), and nine customers that send the other half (to each other and to merchants), all
// paying fifty receiving accounts, eight channel accounts, localnet closing a ledger on every submission.

const (
	benchChannels  = 4
	benchPayees    = 50
	benchCustomers = 9
	benchWorkers   = 400 // concurrent callers: enough to fill 8 channels × 50 payments
)

type benchFixture struct {
	tn         *testNet
	processing *KeySigner
	customers  []*KeySigner
	payees     []*KeySigner
}

func newBenchFixture(b *testing.B) *benchFixture {
	b.Helper()
	tn := newTestNet(b, netOptions{channels: benchChannels, tweak: func(c *Config) { c.RetryBackoff = 0 }})
	tn.setUpAsset()
	f := &benchFixture{tn: tn}
	f.processing = tn.holder(100_000_000_00)
	for range benchCustomers {
		f.customers = append(f.customers, tn.holder(100_000_000_00))
	}
	for range benchPayees {
		f.payees = append(f.payees, tn.holder(0))
	}
	return f
}

// payment returns the i-th payment of the mix.
func (f *benchFixture) payment(i int64) Payment {
	from := f.processing
	if i%2 == 1 {
		from = f.customers[(i/2)%benchCustomers]
	}
	return Payment{GUID: benchGUID(i), From: from.Signatory(), To: f.payees[i%benchPayees].Address(), Asset: f.tn.asset, AmountMinor: 1}
}

// benchGUID makes a unique GUID without a crypto/rand call: Kazna creates GUIDs before settlement, so their
// cost is not the adapter's.
func benchGUID(i int64) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], uint64(i))
	binary.BigEndian.PutUint64(u[:8], benchRun)
	return u.String()
}

var benchRun = uint64(time.Now().UnixNano())

func runPayments(b *testing.B, f *benchFixture, pay func(context.Context, Payment) (Receipt, error)) {
	var next, failed atomic.Int64
	b.SetParallelism(benchWorkers / 2) // × GOMAXPROCS (2) goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := pay(context.Background(), f.payment(next.Add(1))); err != nil {
				failed.Add(1)
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d payments failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
}

func BenchmarkPaymentsBatched(b *testing.B) {
	f := newBenchFixture(b)
	batcher, err := f.tn.h.NewBatcher(BatcherConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer batcher.Close()
	runPayments(b, f, batcher.Pay)
	st := batcher.Stats()
	if st.Transactions > 0 {
		b.ReportMetric(float64(st.Payments)/float64(st.Transactions), "payments/tx")
	}
}

func BenchmarkPaymentsSingle(b *testing.B) {
	f := newBenchFixture(b)
	runPayments(b, f, f.tn.h.Pay)
}
