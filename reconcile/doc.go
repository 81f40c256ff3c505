// Package reconcile runs Kazna's two reconciliations and keeps their reports: the daily ledger-vs-Stellar
// reconciliation (Reconciler, scheduled by Schedule or started on demand) whose runs and typed discrepancies
// are events of a stream per run (Reports is their read model), and the inter-bank recons of guide §15
// (Interbank), computed by projections.Recons from settled payments. It reads projections and the Stellar
// port; it never writes to the chain and never changes the ledger except by appending reconciliation events.
package reconcile
