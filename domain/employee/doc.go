// Package employee is the aggregate of a bank's employee (an internal user): profile, branch, roles asked
// for, whether they may sign in, and the one-time verification token with which they set their password.
// One stream per employee: Stream(guid). Logins are unique within a counterparty through LoginStream and
// package uniqueness. It never does I/O, never reads a clock, and never sees a password: the app layer
// hashes it (auth.HashPassword) and generates the raw token; only the token's SHA-256 is stored.
package employee
