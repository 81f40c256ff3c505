package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/audit"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// The replay benchmark runs over a real embedded store holding about KAZNA_BENCH_REPLAY_EVENTS events
// (default 100,000) of a working ledger: two banks, one account per 100 events (key and opening, then a
// funding credit), and transfers between the accounts, each the six events of a settled payment
// (PaymentCreated, PaymentConfirmed, PaymentSettled on the payment's stream, AccountFundsReserved and
// AccountDebited on the sender's, AccountCredited on the receiver's). The file is generated once into
// KAZNA_BENCH_DIR (default the system's temporary directory) and kept for later runs; only -bench makes it.
const replayBenchFormat = "v1"

func replayBenchEvents() int {
	if v, err := strconv.Atoi(os.Getenv("KAZNA_BENCH_REPLAY_EVENTS")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

var (
	replayBenchOnce sync.Once
	replayBenchPath string
	replayBenchN    uint64
	replayBenchErr  error
)

// replayBenchStore returns the benchmark file and how many events it holds.
func replayBenchStore(b *testing.B) (string, uint64) {
	replayBenchOnce.Do(func() {
		dir := os.Getenv("KAZNA_BENCH_DIR")
		if dir == "" {
			dir = os.TempDir()
		}
		want := replayBenchEvents()
		replayBenchPath = filepath.Join(dir, fmt.Sprintf("kazna-bench-replay-%s-%d.db", replayBenchFormat, want))
		if _, err := os.Stat(replayBenchPath); err != nil {
			start := time.Now()
			tmp := replayBenchPath + ".tmp"
			os.Remove(tmp)
			if replayBenchErr = writeReplayLedger(tmp, want); replayBenchErr != nil {
				return
			}
			if replayBenchErr = os.Rename(tmp, replayBenchPath); replayBenchErr != nil {
				return
			}
			b.Logf("generated %s in %s", replayBenchPath, time.Since(start).Round(time.Millisecond))
		}
		s, err := bolt.Open(replayBenchPath)
		if err != nil {
			replayBenchErr = err
			return
		}
		replayBenchN = s.LastPosition().Commit
		replayBenchErr = s.Close()
	})
	if replayBenchErr != nil {
		b.Fatal(replayBenchErr)
	}
	return replayBenchPath, replayBenchN
}

// writeReplayLedger writes about n events; transfers go from 64 writers at once so that the store's group
// commit carries them (a single writer would wait for one fsync per append).
func writeReplayLedger(path string, n int) error {
	s, err := bolt.Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	meta := eventstore.Metadata{Actor: "bench", RequestID: "bench"}
	put := func(stream string, evs ...any) error {
		data := make([]eventstore.EventData, 0, len(evs))
		for _, e := range evs {
			var typ string
			var body []byte
			var err error
			switch e := e.(type) {
			case account.Event:
				typ, body, err = account.Events.Encode(e)
			case payment.Event:
				typ, body, err = payment.Events.Encode(e)
			case counterparty.Event:
				typ, body, err = counterparty.Events.Encode(e)
			}
			if err != nil {
				return err
			}
			m := meta
			m.Time = at
			data = append(data, eventstore.EventData{ID: uuid.New(), Type: typ, Data: body, Metadata: m})
		}
		_, err := s.Append(ctx, stream, eventstore.Any{}, data...)
		return err
	}
	banks := []string{uuid.NewString(), uuid.NewString()}
	for i, bank := range banks {
		if err := put(counterparty.Stream(uuid.MustParse(bank)), counterparty.Event(counterparty.CounterpartyRegistered{GUID: bank,
			Profile: counterparty.Profile{Name: "Bench bank " + strconv.Itoa(i)}, At: at})); err != nil {
			return err
		}
	}
	type acct struct{ guid, bank, address string }
	accounts := make([]acct, max(2, n/100))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	parallel := func(count int, do func(i int) error) {
		next := make(chan int)
		for range 64 {
			wg.Go(func() {
				for i := range next {
					if err := do(i); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			})
		}
		for i := range count {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	parallel(len(accounts), func(i int) error {
		a := acct{guid: uuid.NewString(), bank: banks[i%2], address: fmt.Sprintf("GBENCH%050d", i)}
		accounts[i] = a
		stream := account.Stream(uuid.MustParse(a.guid))
		if err := put(stream, account.Event(account.AccountKeyGenerated{GUID: a.guid, Kind: account.KindProcessing, CounterpartyGUID: a.bank,
			Address: a.address, SealedSeed: make([]byte, 90), At: at}), account.Event(account.AccountOpened{GUID: a.guid, Kind: account.KindProcessing,
			CounterpartyGUID: a.bank, Address: a.address, AssetCode: "eUAH", AssetIssuer: "GISSUER", At: at})); err != nil {
			return err
		}
		return put(stream, account.Event(account.AccountCredited{GUID: a.guid, Payment: uuid.NewString(), Amount: 1_000_000_00, At: at}))
	})
	transfers := max(0, (n-2-3*len(accounts))/6)
	parallel(transfers, func(i int) error {
		from, to := accounts[i%len(accounts)], accounts[(i*7+1)%len(accounts)]
		if from == to {
			to = accounts[(i+1)%len(accounts)]
		}
		pay := uuid.NewString()
		amount := int64(100 + i%10_000)
		if err := put(payment.Stream(uuid.MustParse(pay)),
			payment.Event(payment.PaymentCreated{GUID: pay, CounterpartyGUID: from.bank, Amount: amount, AssetCode: "eUAH", AssetIssuer: "GISSUER",
				Sender:   payment.Party{AccountGUID: from.guid, Kind: "processing", CounterpartyGUID: from.bank, Address: from.address},
				Receiver: payment.Party{AccountGUID: to.guid, Kind: "processing", CounterpartyGUID: to.bank, Address: to.address},
				Purpose:  "bench", At: at}),
			payment.Event(payment.PaymentConfirmed{GUID: pay, By: "bench", At: at}),
			payment.Event(payment.PaymentSettled{GUID: pay, Hash: fmt.Sprintf("%064x", i), Ledger: int32(i), At: at})); err != nil {
			return err
		}
		if err := put(account.Stream(uuid.MustParse(from.guid)),
			account.Event(account.AccountFundsReserved{GUID: from.guid, Payment: pay, Amount: amount, At: at}),
			account.Event(account.AccountDebited{GUID: from.guid, Payment: pay, Amount: amount, At: at})); err != nil {
			return err
		}
		return put(account.Stream(uuid.MustParse(to.guid)), account.Event(account.AccountCredited{GUID: to.guid, Payment: pay, Amount: amount, At: at}))
	})
	close(errs)
	return <-errs
}

// BenchmarkReplay replays the whole log through every read model kazna serve keeps (newReadModels) and
// lists the balances, as kazna replay does: runners-1 applies them all on one Runner, as serve and kazna
// replay do (with a lane per core, audit.ReplayOptions.Lanes), runners-1-one-lane on the Runner's goroutine
// alone, runners-2 shares them out over two side by side, runners-10 gives each its own. model/<name> replays
// through one read model alone. log-only replays the log through one
// projection that selects every event and does nothing: the cost of reading it, to tell it from the read
// models'.
func BenchmarkReplay(b *testing.B) {
	path, n := replayBenchStore(b)
	store, err := bolt.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	run := func(b *testing.B, runners, lanes int, models func() []projections.Projection, after func()) {
		var total, cpu time.Duration
		for b.Loop() {
			list := models()
			start, startCPU := time.Now(), processCPU()
			rep, err := audit.Replay(ctx, store, audit.ReplayOptions{Runners: runners, Lanes: lanes, Logger: quiet}, list...)
			if err != nil {
				b.Fatal(err)
			}
			if after != nil {
				after()
			}
			total += time.Since(start)
			cpu += processCPU() - startCPU
			if after != nil && rep.Last.Commit != n {
				b.Fatalf("replayed up to %v of %d", rep.Last, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "events/s")
		b.ReportMetric(float64(n), "events")
		// CPU time tells the cost apart from the machine's load: on a busy machine events/s falls, this does not.
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	}
	for _, c := range []struct {
		name           string
		runners, lanes int
	}{{"runners-1", 1, 0}, {"runners-1-one-lane", 1, 1}, {"runners-2", 2, 0}, {"runners-10", 10, 0}} {
		b.Run("read-models/"+c.name, func(b *testing.B) {
			var models *readModels
			run(b, c.runners, c.lanes, func() []projections.Projection {
				m, err := newReadModels(store, quiet)
				if err != nil {
					b.Fatal(err)
				}
				models = m
				return m.all()
			}, func() {
				rows, err := audit.Balances(ctx, models.counterparties, models.customers)
				if err != nil || len(rows) == 0 {
					b.Fatalf("balances: %d rows, %v", len(rows), err)
				}
			})
		})
	}
	// Each read model alone, on one Runner: where the time goes.
	m, err := newReadModels(store, quiet)
	if err != nil {
		b.Fatal(err)
	}
	for i, p := range m.all() {
		b.Run("model/"+p.Name(), func(b *testing.B) {
			run(b, 1, 1, func() []projections.Projection {
				fresh, err := newReadModels(store, quiet)
				if err != nil {
					b.Fatal(err)
				}
				return fresh.all()[i : i+1]
			}, nil) // a read model alone may select no event near the end
		})
	}
	b.Run("log-only", func(b *testing.B) {
		run(b, 1, 1, func() []projections.Projection { return []projections.Projection{discard{}} }, func() {})
	})
}

// processCPU is the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// discard is a projection of every event that keeps nothing.
type discard struct{}

func (discard) Name() string                         { return "discard" }
func (discard) Filter() eventstore.Filter            { return eventstore.Filter{} }
func (discard) Apply(eventstore.RecordedEvent) error { return nil }
