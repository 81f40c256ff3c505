// Package esdbtest is an in-process KurrentDB/EventStoreDB test server that speaks the real v1 gRPC
// protocol on 127.0.0.1, so the unchanged kurrentdb client can be tested against it without Docker.
// It keeps everything in memory and follows the real server's append, read, subscription and delete
// rules closely enough for a conformance suite. It is for tests only: it never persists anything,
// has no authentication and implements no persistent subscriptions, projections or gossip.
package esdbtest
