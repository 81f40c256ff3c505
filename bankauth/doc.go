// Package bankauth talks to a bank's authorization service (guide §4): the client Kazna uses to call a bank's
// /user_auth, /key and /external_id with a short session token in X-Session-ID, and a reference implementation of
// that service for demos and tests. Every call is bounded (1 s, 64 KiB); nothing here ever logs or puts into an
// error a session token or a customer's key.
package bankauth
