package bolt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
)

// benchData is about 200 bytes of JSON, the size of a typical Kazna event.
var benchData = json.RawMessage(fmt.Sprintf(
	`{"payment_id":"%s","account_id":"%s","amount_minor":1250075,"asset":"EURK","fee_minor":150,"reference":"INV-2026-11-004217","status":"settled"}`,
	uuid.New(), uuid.New()))

// benchEvent is an event with realistic metadata; the store stamps its time.
func benchEvent() eventstore.EventData {
	return eventstore.EventData{
		ID:   uuid.New(),
		Type: "PaymentSettled",
		Data: benchData,
		Metadata: eventstore.Metadata{
			Actor:         "employee-3f2b6c1e-8d4a-4b7e-9a61-2c5d8e0f7a93",
			Counterparty:  "counterparty-6a1d0e52-4c3b-4f8a-b2d7-91e0c4a5f816",
			CorrelationID: "c0a8f3e2-7b14-4d6e-a9c5-58f2e1b03d47",
			CausationID:   "9e4b7d21-3a6c-4f05-8e1d-b7c2a9f4e063",
			RequestID:     "req-01JD8X4K2M9Q7T3V5W6Y8Z0A1B",
		},
	}
}

func benchStore(b *testing.B) *bolt.Store {
	b.Helper()
	s, err := bolt.Open(filepath.Join(b.TempDir(), "events.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// runWriters runs appends from writers goroutines, each to a stream of its own, until ops appends were made.
func runWriters(b *testing.B, s *bolt.Store, writers, ops, eventsPerAppend int) time.Duration {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("account-%d-%s", w, uuid.New())
			var expected eventstore.ExpectedRevision = eventstore.NoStream{}
			batch := make([]eventstore.EventData, eventsPerAppend)
			for next.Add(1) <= int64(ops) {
				for i := range batch {
					batch[i] = benchEvent()
				}
				r, err := s.Append(ctx, stream, expected, batch...)
				if err != nil {
					b.Error(err)
					return
				}
				expected = eventstore.Exact(r.NextExpectedRevision)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	return elapsed
}

func BenchmarkAppendSingle16Writers(b *testing.B) {
	s := benchStore(b)
	elapsed := runWriters(b, s, 16, b.N, 1)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	st := s.Stats()
	b.ReportMetric(float64(st.Appends)/float64(max(st.Commits, 1)), "appends/commit")
}

func BenchmarkAppendBatch100(b *testing.B) {
	for _, writers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := benchStore(b)
			elapsed := runWriters(b, s, writers, b.N, 100)
			b.ReportMetric(float64(b.N*100)/elapsed.Seconds(), "events/s")
		})
	}
}

const readAllEvents = 1_000_000

var readAll struct {
	once  sync.Once
	dir   string
	store *bolt.Store
	err   error
}

// readAllStore is filled once per test binary with readAllEvents events, in appends of 1,000 (about as
// many of these as fit in one append's 1 MiB), and removed by TestMain.
func readAllStore(b *testing.B) *bolt.Store {
	readAll.once.Do(func() {
		readAll.dir, readAll.err = os.MkdirTemp("", "kazna-bolt-bench-")
		if readAll.err != nil {
			return
		}
		s, err := bolt.Open(filepath.Join(readAll.dir, "events.db"))
		if err != nil {
			readAll.err = err
			return
		}
		readAll.store = s
		const perAppend, writers = 1000, 4
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				batch := make([]eventstore.EventData, perAppend)
				for next.Add(perAppend) <= readAllEvents {
					for i := range batch {
						batch[i] = benchEvent()
					}
					if _, err := s.Append(context.Background(), "account-"+uuid.NewString(), eventstore.NoStream{}, batch...); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		readAll.err = <-errs
	})
	if readAll.err != nil {
		b.Fatal(readAll.err)
	}
	return readAll.store
}

func BenchmarkReadAll(b *testing.B) {
	s := readAllStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	from, read := eventstore.StartPosition, 0
	for read < b.N {
		evs, err := s.ReadAll(ctx, eventstore.Forwards, from, min(eventstore.MaxReadCount, b.N-read))
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) == 0 {
			from = eventstore.StartPosition // wrap around for b.N beyond the prefill
			continue
		}
		read += len(evs)
		from = evs[len(evs)-1].Position
	}
	b.ReportMetric(float64(read)/time.Since(start).Seconds(), "events/s")
}
