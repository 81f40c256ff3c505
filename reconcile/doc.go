// Package reconcile will hold the daily ledger-vs-Stellar and inter-bank reconciliation jobs and their
// reports (issue "Reconciliation and audit"). It reads projections and the Stellar port; it never writes to
// the chain and never changes the ledger except by appending reconciliation events.
package reconcile
