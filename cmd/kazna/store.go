package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/eventstore/esdb"
)

// openStore opens the event store the configuration names: the embedded store in the data directory by
// default, or a KurrentDB/EventStoreDB server.
func openStore(c *config) (eventstore.Store, string, error) {
	if esdb.IsURL(c.EventStore) {
		s, err := esdb.Open(c.EventStore)
		return s, "kurrentdb", err
	}
	path := c.EventStore
	if path == "" {
		if err := os.MkdirAll(c.Data, 0o700); err != nil {
			return nil, "", fmt.Errorf("create data directory: %w", err)
		}
		path = filepath.Join(c.Data, "events.db")
	}
	s, err := bolt.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("open embedded event store %s: %w", path, err)
	}
	return s, "embedded:" + path, nil
}

// storeCheck is the readiness check of an event store: it reads the tail of the global log.
func storeCheck(s eventstore.Store) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := s.ReadAll(ctx, eventstore.Backwards, eventstore.EndPosition, 1)
		return err
	}
}
