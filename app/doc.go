// Package app is the application layer between the HTTP API and the domain: it runs use cases (start-up
// bootstrap of the platform, login) by loading aggregates, deciding with the pure domain and appending through
// command.Handle, and it drives the adapters (Stellar, custody) in an order that a crash can resume.
// It holds no business rule of its own beyond orchestration, never logs a password, token or seed (except the
// one-time display of a generated administrator password), and never imports the api package.
package app
