package esdb_test

import (
	"os"
	"testing"

	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/esdb"
	"github.com/kazna-ledger/kazna/eventstore/esdb/esdbtest"
)

// TestConformance runs the shared contract through the real KurrentDB client against the in-process test
// server, which speaks the server's gRPC protocol.
func TestConformance(t *testing.T) {
	srv := esdbtest.StartT(t)
	eventstore.RunConformance(t, func(t *testing.T) eventstore.Store {
		return open(t, srv.URL())
	})
}

// TestConformanceRealServer runs the same contract against a real EventStoreDB/KurrentDB when
// KAZNA_TEST_ESDB_URL names one (for example kurrentdb://127.0.0.1:2113?tls=false from docker compose).
func TestConformanceRealServer(t *testing.T) {
	url := os.Getenv("KAZNA_TEST_ESDB_URL")
	if url == "" {
		t.Skip("KAZNA_TEST_ESDB_URL is not set: no real KurrentDB/EventStoreDB to test against")
	}
	eventstore.RunConformance(t, func(t *testing.T) eventstore.Store {
		return open(t, url)
	})
}

func open(t testing.TB, url string) eventstore.Store {
	t.Helper()
	s, err := esdb.Open(url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenRefusesOtherURLs(t *testing.T) {
	for _, u := range []string{"", "./data/events.db", "http://127.0.0.1:2113", "postgres://x"} {
		if _, err := esdb.Open(u); err == nil {
			t.Fatalf("Open(%q) should refuse a non-KurrentDB URL", u)
		}
	}
	for _, u := range []string{"esdb://127.0.0.1:2113?tls=false", "kurrentdb://127.0.0.1:2113?tls=false", "esdb+discover://a:2113,b:2113"} {
		if !esdb.IsURL(u) {
			t.Fatalf("IsURL(%q) = false", u)
		}
	}
}

func TestClosedStoreRefuses(t *testing.T) {
	srv := esdbtest.StartT(t)
	s, err := esdb.Open(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.ReadAll(t.Context(), eventstore.Forwards, eventstore.StartPosition, 1); err != eventstore.ErrClosed {
		t.Fatalf("read after Close: want ErrClosed, got %v", err)
	}
}
