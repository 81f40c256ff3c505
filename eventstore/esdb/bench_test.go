package esdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/esdb/esdbtest"
)

// These benchmarks measure the client path (gRPC, encoding, the adapter's tail read) against the in-process
// test server: they say what the adapter costs, not what a real KurrentDB cluster delivers.

func benchEvent(i int) eventstore.EventData {
	data, _ := json.Marshal(map[string]any{
		"payment_guid": uuid.NewString(), "amount_minor": 1000 + i, "asset_code": "UAH",
		"sender_account": "GBTWTZTFGXKQVOQN4WS5ZBRW2YIMXQAALZ5PHO6HOCFBLWUGGWVZD4FS", "purpose": "transfer between wallets",
	})
	return eventstore.EventData{ID: uuid.New(), Type: "FundsReserved", Data: data,
		Metadata: eventstore.Metadata{Actor: "employee-42", Counterparty: "bank-1", CorrelationID: uuid.NewString(), RequestID: uuid.NewString(), Time: time.Now().UTC()}}
}

func BenchmarkAppendSingle16Writers(b *testing.B) {
	srv := esdbtest.StartT(b)
	s := open(b, srv.URL())
	ctx := context.Background()
	const writers = 16
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			stream := fmt.Sprintf("bench-%d-%s", w, uuid.NewString())
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := s.Append(ctx, stream, eventstore.Any{}, benchEvent(int(i))); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func BenchmarkAppendBatch100(b *testing.B) {
	srv := esdbtest.StartT(b)
	s := open(b, srv.URL())
	ctx := context.Background()
	batch := make([]eventstore.EventData, 100)
	stream := "bench-batch-" + uuid.NewString()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range batch {
			batch[j] = benchEvent(j)
		}
		if _, err := s.Append(ctx, stream, eventstore.Any{}, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/time.Since(start).Seconds(), "events/s")
}

func BenchmarkReadAll(b *testing.B) {
	srv := esdbtest.StartT(b)
	s := open(b, srv.URL())
	ctx := context.Background()
	const total = 100_000
	batch := make([]eventstore.EventData, 500)
	for n := 0; n < total; n += len(batch) {
		for j := range batch {
			batch[j] = benchEvent(j)
		}
		if _, err := s.Append(ctx, fmt.Sprintf("bench-read-%d", n/5000), eventstore.Any{}, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	read := 0
	for i := 0; i < b.N; i++ {
		from := eventstore.StartPosition
		for {
			page, err := s.ReadAll(ctx, eventstore.Forwards, from, 4096)
			if err != nil {
				b.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			read += len(page)
			from = page[len(page)-1].Position
		}
	}
	if read != b.N*total {
		b.Fatalf("read %d events, want %d", read, b.N*total)
	}
	b.ReportMetric(float64(read)/time.Since(start).Seconds(), "events/s")
}
