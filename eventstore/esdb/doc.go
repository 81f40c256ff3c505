// Package esdb is the event store adapter for EventStoreDB 23.10+ and KurrentDB, on the official
// KurrentDB-Client-Go client. It satisfies eventstore.Store, proven by the shared conformance suite against
// the in-process test server (esdbtest) and, when KAZNA_TEST_ESDB_URL is set, against a real server.
//
// It never decides business rules and never writes with a revision it has not checked: every append is sent
// with the exact revision its hash chain was computed against.
package esdb
